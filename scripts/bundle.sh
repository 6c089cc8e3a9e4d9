#!/usr/bin/env bash
# Builds the desktop bundle for the platform it runs on: dist/Quarry/, one folder with the
# executable `quarry-app` (PyInstaller --onedir), the contract artifacts, icons and demo data,
# and on Linux a quarry-app.desktop entry. It is made from the built wheel, installed into a
# build environment of its own (build/bundle-venv), so the bundle holds what the package ships.
#   bash scripts/bundle.sh            # then: dist/Quarry/quarry-app
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
venv=build/bundle-venv
[ -d "$venv" ] || "$PY" -m venv "$venv"
bin="$venv/bin"; [ -d "$venv/Scripts" ] && bin="$venv/Scripts"  # Windows (Git Bash)
# pip's own failures stop the script (pipefail); only its notes about missing local indexes go
pip_install() { "$bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
"$bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
pip_install "pyinstaller>=6.5" build

# setuptools copies into build/lib first: clear it so files deleted since cannot ship
rm -rf build/wheel build/lib build/bdist.*
"$bin/python" -m build --wheel --outdir build/wheel . >build/wheel.log 2>&1 || {
  tail -20 build/wheel.log >&2; echo "bundle: building the wheel failed" >&2; exit 1; }
wheel=$(ls build/wheel/quarry_wallet-*.whl)
pip_install "$wheel"
pip_install --force-reinstall --no-deps "$wheel"

# the packages' data, taken from the installed wheel (not from this checkout)
site=$("$bin/python" -c "import common, pathlib; print(pathlib.Path(common.__file__).parents[1])")
sep=":"; case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) sep=";" ;; esac
icon=()
[ "$(uname -s)" = Darwin ] && icon=(--icon "$site/resources/icons/quarry.svg")
# Imports the app defers until needed are still found (PyInstaller reads every import in the
# code), but py-evm and eth-tester import some by name (gas estimators, backends): collected.
# Entry points and package versions read at run time (eth-bloom, web3, the devnet's plugin
# group) need the distributions' metadata: all of the build environment's, a few kB each.
meta=$("$bin/python" -c "
import importlib.metadata as m
skip = {'pip', 'build', 'pyproject-hooks', 'pyinstaller', 'pyinstaller-hooks-contrib', 'altgraph'}
names = {d.metadata['Name'] for d in m.distributions()}
print(' '.join('--copy-metadata=' + n for n in sorted(names) if n.lower().replace('_', '-') not in skip))")
(cd build && "../$bin/pyinstaller" --noconfirm --log-level WARN --onedir --windowed \
  --name Quarry --distpath ../dist --workpath pyinstaller --specpath . "${icon[@]}" \
  --add-data "$site/resources${sep}resources" \
  $meta \
  --collect-submodules devnet --collect-submodules trainer --collect-submodules practitioner \
  --collect-submodules wallet --collect-submodules ui --collect-submodules common \
  --collect-submodules selftest \
  --collect-submodules eth --collect-submodules eth_tester \
  ../scripts/bundle_entry.py)
[ -e dist/Quarry/Quarry ] && mv dist/Quarry/Quarry dist/Quarry/quarry-app

if [ "$(uname -s)" = Linux ]; then
  here=$(cd dist/Quarry && pwd)
  cp "$site/resources/icons/quarry.svg" dist/Quarry/quarry.svg
  cat > dist/Quarry/quarry-app.desktop <<DESKTOP
[Desktop Entry]
Type=Application
Name=Quarry
Comment=Sell what your data teaches, never the data
Exec="$here/quarry-app"
StartupWMClass=quarry-app
Icon=$here/quarry.svg
Terminal=false
Categories=Office;Finance;
DESKTOP
  echo "bundle: dist/Quarry/quarry-app (menu entry: cp dist/Quarry/quarry-app.desktop ~/.local/share/applications/)"
else
  echo "bundle: dist/Quarry/"
fi
du -sh dist/Quarry | awk '{print "bundle: " $1}'
