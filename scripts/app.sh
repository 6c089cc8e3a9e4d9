#!/usr/bin/env bash
# Installs what the app needs (scripts/setup.sh --app: Qt's libraries on Debian-like systems and
# .venv; no node tools), then starts the desktop app on the embedded network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --app
exec .venv/bin/quarry-app "$@"
