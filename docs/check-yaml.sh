#!/usr/bin/env bash
# Deploys every ```yaml block of docs/*.md to a throwaway `alur serve`, so that a process definition quoted in the
# docs that no longer deploys (a renamed key, a removed plugin) fails here instead of in a reader's hands. A block
# whose `name:` is one of examples/processes/*.yaml must also be that file verbatim, minus its leading comment
# block: the docs quote the library, they do not keep a second copy that drifts.
#
#   docs/check-yaml.sh            every docs/*.md, with target/release/alur and target/plugins/*.wasm (plugins/build)
#   docs/check-yaml.sh FILE.md...  only these files
#   ALUR=/path/to/alur docs/check-yaml.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
alur="${ALUR:-$root/target/release/alur}"
plugins="$root/target/plugins"
admin=docs-check

[ -x "$alur" ] || { echo "no alur binary at $alur (cargo build --release -p alur-runtime)" >&2; exit 1; }
compgen -G "$plugins/*.wasm" >/dev/null || { echo "no plugins in $plugins (run plugins/build)" >&2; exit 1; }

if [ $# -gt 0 ]; then docs=("$@"); else docs=("$root"/docs/*.md); fi

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/snippets"
for doc in "${docs[@]}"; do
  awk -v out="$work/snippets/$(basename "$doc" .md)" '
    /^```yaml[[:space:]]*$/ { n++; file = sprintf("%s.%02d.yaml", out, n); inside = 1; printf "" > file; next }
    /^```[[:space:]]*$/ && inside { inside = 0; close(file); next }
    inside { print > file }
  ' "$doc"
done
# Only the plugins the snippets name are uploaded: compiling the Python and JavaScript ones takes seconds each.
used="$(cat "$work"/snippets/*.yaml 2>/dev/null | sed -n 's/^[[:space:]-]*plugin:[[:space:]]*\([a-z0-9-]*\).*/\1/p' | sort -u)"

ALUR_ADMIN_KEY=$admin "$alur" serve --listen 127.0.0.1:0 --data "$work/data" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
base=""
for _ in $(seq 100); do
  base="$(sed -n 's/^alur listening on //p' "$work/serve.out")"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "alur serve did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }

key="$(curl -fsS -X POST "$base/v1/tenants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"docs"}' | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')"
[ -n "$key" ] || { echo "could not create a tenant" >&2; exit 1; }
for name in $used; do
  wasm="$plugins/$name.wasm"
  [ -f "$wasm" ] || { echo "a snippet uses plugin $name, but $wasm does not exist (plugins/build $name)" >&2; exit 1; }
  curl -fsS -o /dev/null -X PUT "$base/v1/plugins/$name" -H "Authorization: Bearer $key" \
    -H 'content-type: application/wasm' --data-binary @"$wasm"
done

checked=0
failed=0
for snippet in "$work"/snippets/*.yaml; do
  [ -e "$snippet" ] || continue
  label="$(basename "$snippet")"
  name="$(sed -n 's/^name:[[:space:]]*//p' "$snippet" | head -n 1)"
  if [ -z "$name" ]; then
    echo "FAIL $label: no top-level name:" >&2; failed=$((failed + 1)); continue
  fi
  status="$(curl -sS -o "$work/response" -w '%{http_code}' -X PUT "$base/v1/processes/$name" \
    -H "Authorization: Bearer $key" -H 'content-type: application/yaml' --data-binary @"$snippet")"
  if [ "$status" != 201 ] && [ "$status" != 200 ]; then
    echo "FAIL $label ($name): HTTP $status $(cat "$work/response")" >&2; failed=$((failed + 1)); continue
  fi
  example="$root/examples/processes/$name.yaml"
  if [ -f "$example" ] && ! awk 'body || !/^#/ { body = 1; print }' "$example" | cmp -s - "$snippet"; then
    echo "FAIL $label ($name): not a verbatim copy of examples/processes/$name.yaml (minus its header comment)" >&2
    failed=$((failed + 1)); continue
  fi
  echo "ok   $label ($name)"
  checked=$((checked + 1))
done

echo "$checked deployed, $failed failed"
[ "$failed" -eq 0 ] && [ "$checked" -gt 0 ]
