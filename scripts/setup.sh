#!/usr/bin/env bash
# Installs what Quarry needs on a fresh machine, idempotently.
#   bash scripts/setup.sh --app   the app only: Qt's shared libraries (Debian-like systems) and a
#                                 virtual environment in .venv with the project (scripts/app.sh)
#   bash scripts/setup.sh         everything for the tests: also Xvfb, the test and cluster extras, and the
#                                 pinned node packages (solc, OpenZeppelin, anvil; scripts/test.sh)
# The app itself needs no node, compiler or system package at run time: the compiled contracts
# are committed and ship in the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=test
[ "${1:-}" = "--app" ] && mode=app

# Qt's xcb/offscreen plugins need a few shared libraries that minimal images lack.
debs=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 fonts-dejavu-core
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
      libxcb-render-util0 libxcb-image0)
# the bundle's smoke test and benchmarks.startup --window run the app on a virtual X display
[ "$mode" = test ] && debs+=(xvfb x11-utils)
if command -v dpkg-query >/dev/null; then  # elsewhere (macOS, Windows, other Linuxes) Qt's wheels suffice
  missing=()
  for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null; then
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "setup: please install these Debian packages: ${missing[*]}" >&2
    fi
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
extras='[test,cluster]'  # cluster: tests/test_cluster.py runs a real Dask LocalCluster
[ "$mode" = app ] && extras=''
# pinned to the versions the suite last passed with (a newer release is taken deliberately,
# by regenerating the file, not by whatever the registry serves that day)
.venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".$extras" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import wallet, trainer, web3, phe, PySide6" || { echo "setup: python install failed" >&2; exit 1; }

if [ "$mode" = test ] && [ -f package-lock.json ]; then
  if ! command -v npm >/dev/null; then
    echo "setup: npm is missing; installing Debian's nodejs and npm" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
echo "setup: done"
