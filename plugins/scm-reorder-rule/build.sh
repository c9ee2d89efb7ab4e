#!/usr/bin/env bash
# Builds $OUT_DIR/scm-reorder-rule.wasm: clang-19 compiles the plugin, the C SDK and the generated alur:step
# bindings for wasm32-wasi as a reactor (no main; the host calls `run`), then alur-c wraps the core module into a
# component with the WASI preview1 reactor adapter. Toolchain: .ci/setup-c.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name=scm-reorder-rule
OUT_DIR="${OUT_DIR:-$root/target/plugins}"
CC="${WASM_CC:-clang-19}"
sdk="$root/sdk/c"
work="$root/target/c-build/$name"
mkdir -p "$work" "$OUT_DIR"

# Inside the repo the build tool comes from the workspace; ALUR_C overrides it (e.g. an installed alur-c).
alur_c() {
  if [ -n "${ALUR_C:-}" ]; then "$ALUR_C" "$@"; else cargo run -q --release --manifest-path "$root/Cargo.toml" -p alur-c -- "$@"; fi
}

alur_c bindings "$root/sdk/wit" "$work/bindings" >/dev/null
# -Wl,--strip-all drops debug info and names (wasi-libc ships with DWARF) but keeps the component-type section.
# A 1 MiB stack with the stack first: cJSON recurses per nesting level, and overflowing a stack placed first
# traps cleanly instead of running into the heap.
"$CC" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra \
  -I"$sdk" -I"$sdk/vendor/cjson" -I"$work/bindings" \
  "$here/reorder_rule.c" "$sdk/alur_step.c" "$sdk/alur_step_wasm.c" "$sdk/vendor/cjson/cJSON.c" \
  "$work/bindings/step.c" "$work/bindings/step_component_type.o" \
  -Wl,--strip-all -Wl,--stack-first -Wl,-z,stack-size=1048576 \
  -o "$work/$name.core.wasm"
alur_c componentize "$work/$name.core.wasm" -o "$OUT_DIR/$name.wasm" >/dev/null
