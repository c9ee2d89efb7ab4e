#!/usr/bin/env bash
# Builds the component "$OUT_DIR/{{name}}.wasm" (OUT_DIR defaults to this folder) from app.py, alur_step.py
# and wit/alur-step.wit. Needs componentize-py 0.25.1: `python3 -m pip install componentize-py==0.25.1`.
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT_DIR:-.}"
mkdir -p "$out"
componentize-py -d wit -w step componentize app -p . -o "$out/{{name}}.wasm"
