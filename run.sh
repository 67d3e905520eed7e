#!/usr/bin/env bash
# Install collector into ./.venv and run it on the embedded SQLite database: the
# dashboard and API on http://127.0.0.1:5000/ with one download worker in-process.
# Arguments go to `collector serve` (--host, --port, --workers); Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/collector serve "$@"
