#!/usr/bin/env bash
# Install collector into ./.venv and run it on the embedded SQLite database.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/collector serve "$@"
