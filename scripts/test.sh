#!/usr/bin/env bash
# Lint, type-check and run every test. The tests start their own throw-away PostgreSQL+PostGIS
# cluster and SeaweedFS S3 server on loopback and remove them at the end.
# Extra arguments go to pytest (e.g. -k sites, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy" && .venv/bin/mypy
echo "== import contracts" && .venv/bin/lint-imports --no-cache
echo "== pytest" && .venv/bin/python -m pytest -p no:cacheprovider "$@"
