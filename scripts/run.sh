#!/usr/bin/env bash
# Run fieldline on the embedded default: a local PostgreSQL+PostGIS cluster and S3 store in
# .data/, migrated, with demo data, serving the API on http://127.0.0.1:8000 (docs at /schema).
# Extra arguments go to `fsm dev` (e.g. --port 8080, --no-serve).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec .venv/bin/fsm dev "$@"
