#!/usr/bin/env bash
# Builds {{name}}.wasm (into $OUT_DIR when set, else into this folder) from alur-entry.js, which exports app.js's
# step as the component's `run`.
#
# componentize-js (pinned to 0.23.0 by package.json and package-lock.json): $COMPONENTIZE_JS when set (a
# componentize-js binary shared by several plugins), else ./node_modules/.bin/componentize-js, installed here with
# `npm ci` on the first build (about 150 packages, ~400 MB).
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT_DIR:-.}/{{name}}.wasm"
mkdir -p "$(dirname "$out")"

if [ -n "${COMPONENTIZE_JS:-}" ]; then
  cjs="$COMPONENTIZE_JS"
else
  if [ ! -x node_modules/.bin/componentize-js ]; then
    npm ci --no-audit --no-fund
  fi
  cjs=node_modules/.bin/componentize-js
fi

# componentize-js reads the WIT and the entry's imports relative to the working directory (this folder).
"$cjs" alur-entry.js --wit wit --world-name step -d http fetch-event -o "$out"
echo "built $out"
