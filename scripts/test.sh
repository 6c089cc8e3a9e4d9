#!/usr/bin/env bash
# Installs everything for the tests (scripts/setup.sh: also Xvfb and the node tools), then runs
# ruff and the whole test suite offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n 2 "$@"
