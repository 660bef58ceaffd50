#!/usr/bin/env bash
# Release check: build the wheel and sdist, `twine check` them, install the wheel into a NEW
# virtual environment (nothing from this checkout on its path) and run scripts/smoke_test.py there.
# Usage: scripts/check_release.sh [VENV_DIR]   (needs `build` and `twine`: pip install build twine)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-$(mktemp -d)/venv}"
rm -rf dist && python -m build --outdir dist . >/dev/null
python -m twine check dist/*
python -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# a Qt binding as napari users install one (napari[all] or pyqt5); torch from the default index
"$venv/bin/pip" install -q dist/*.whl pyqt5
# the wheel just built, even where a venv given again holds an older build of the same version
"$venv/bin/pip" install -q --force-reinstall --no-deps dist/*.whl
cd "$(mktemp -d)"  # away from the source tree
if command -v xvfb-run >/dev/null; then runner="xvfb-run -a"; else runner=""; export QT_QPA_PLATFORM=offscreen; fi
$runner "$venv/bin/python" "$OLDPWD/scripts/smoke_test.py"
