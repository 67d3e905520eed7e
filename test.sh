#!/usr/bin/env bash
# Run collector's checks: install into ./.venv, lint, check the import layers
# (lint-imports, the contracts in pyproject.toml), then the test suite.
# The browser tests (tests/e2e) drive Debian's chromium with Playwright, and some
# tests make their own small media with ffmpeg; when /usr/bin/chromium or ffmpeg is
# missing this installs Debian's packages with apt-get (through sudo when not root).
# Playwright itself comes with the `dev` extra.
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${COLLECTOR_CHROMIUM:-/usr/bin/chromium}"

# install_packages WHAT PACKAGE...: Debian's packages, for WHAT (said when it fails).
install_packages() {
    local what="$1"
    shift
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "test.sh: $what is missing and this user can neither apt-get nor sudo;" \
                "install it with: apt-get install -y $*" >&2
            return 0
        fi
        as_root=(sudo)
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: $what is missing and there is no apt-get here; install: $*" >&2
        return 0
    fi
    echo "test.sh: installing Debian's $* for the tests" >&2
    local apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    if ! "${apt[@]}" install -y -qq "$@" >/dev/null; then
        "${apt[@]}" update -qq || true
        "${apt[@]}" install -y -qq "$@" >/dev/null ||
            echo "test.sh: could not install $*; the tests that need $what will fail" >&2
    fi
}

[ -x "$CHROMIUM" ] || install_packages "$CHROMIUM (set COLLECTOR_CHROMIUM to another)" \
    chromium chromium-driver
command -v ffmpeg >/dev/null 2>&1 || install_packages ffmpeg ffmpeg

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
