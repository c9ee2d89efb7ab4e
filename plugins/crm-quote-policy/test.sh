#!/usr/bin/env bash
# Runs the plugin's native unit tests with `node --test` (Node 20+); no wasm, no componentize-js.
# The SDK files are staged beside the plugin's modules, as in a plugin made from sdk/templates/js.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$here"/*.js "$here/package.json" "$stage/"
while read -r f; do
  [ -n "$f" ] && cp "$root/sdk/js/$f" "$stage/"
done <"$root/sdk/templates/js/SDK_FILES"
cd "$stage"
node --test "$@"
