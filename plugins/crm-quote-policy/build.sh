#!/usr/bin/env bash
# Builds $OUT_DIR/crm-quote-policy.wasm (default ../../target/plugins) with the pinned componentize-js that
# .ci/setup-js installs into sdk/js/node_modules.
#
# The plugin's modules are staged beside the SDK files a scaffolded plugin carries (sdk/templates/js/SDK_FILES),
# so the in-repo plugin builds exactly like one made from the template, without committed copies of the SDK.
# An unchanged plugin is not rebuilt: componentize-js takes tens of seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name="$(basename "$here")"
OUT_DIR="${OUT_DIR:-$here/../../target/plugins}"
mkdir -p "$OUT_DIR"
out="$OUT_DIR/$name.wasm"

cjs="$root/sdk/js/node_modules/.bin/componentize-js"
if [ ! -x "$cjs" ]; then
  echo "componentize-js is not installed: run .ci/setup-js" >&2
  exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
for f in "$here"/*.js; do
  case "$f" in *.test.js) ;; *) cp "$f" "$stage/" ;; esac
done
while read -r f; do
  [ -n "$f" ] && cp "$root/sdk/js/$f" "$stage/"
done <"$root/sdk/templates/js/SDK_FILES"
# componentize-js reads the WIT (and resolves the entry's imports) only inside its working directory.
mkdir "$stage/wit"
cp "$root/sdk/wit/alur-step.wit" "$stage/wit/"

stamp="$OUT_DIR/.$name.inputs"
inputs="$( (cd "$stage" && sha256sum ./*.js wit/alur-step.wit && "$cjs" --version) | sha256sum | cut -d' ' -f1)"
if [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  echo "$out is up to date"
  exit 0
fi

(cd "$stage" && "$cjs" alur-entry.js --wit wit --world-name step -d http fetch-event -o "$name.wasm")
mv "$stage/$name.wasm" "$out"
echo "$inputs" >"$stamp"
