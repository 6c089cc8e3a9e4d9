#!/usr/bin/env bash
# Installs everything for the tests (scripts/setup.sh: also Xvfb and the node tools), then runs
# ruff and the whole test suite offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
# The whole suite includes building the desktop bundle and starting it under Xvfb (~1.5-2.5 min);
# a developer running pytest directly skips that unless they set it too.
export QUARRY_BUNDLE_TEST=${QUARRY_BUNDLE_TEST:-1}
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n 2 "$@"
