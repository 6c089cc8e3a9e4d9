#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then starts the desktop app on the embedded network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/quarry-app "$@"
