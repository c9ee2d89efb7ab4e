#!/usr/bin/env bash
# Builds {{name}}.wasm (into $OUT_DIR when set, else into this folder).
#
# Needs clang-19 with wasi-libc (Debian: clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32) and alur-c, the
# Alur C build tool ($ALUR_C when set, else alur-c on PATH; from an Alur checkout: cargo install --path tools/alur-c).
# alur-c generates the alur:step bindings from wit/ and wraps the core module into a component.
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT_DIR:-.}/{{name}}.wasm"
ALUR_C="${ALUR_C:-alur-c}"
CC="${WASM_CC:-clang-19}"
# SDK_FILES keeps vendor/cjson/ as a folder; a copy that flattened it put cJSON here.
cjson=vendor/cjson
[ -f "$cjson/cJSON.c" ] || cjson=.
mkdir -p build "$(dirname "$out")"

"$ALUR_C" bindings wit build/bindings >/dev/null
# A reactor has no main: the host calls the exported `run`. --strip-all drops wasi-libc's debug info but keeps
# the component-type section; a 1 MiB stack placed first lets deep JSON trap cleanly instead of reaching the heap.
"$CC" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra \
  -I. -I"$cjson" -Ibuild/bindings \
  step.c alur_step.c alur_step_wasm.c "$cjson/cJSON.c" build/bindings/step.c build/bindings/step_component_type.o \
  -Wl,--strip-all -Wl,--stack-first -Wl,-z,stack-size=1048576 \
  -o build/{{name}}.core.wasm
"$ALUR_C" componentize build/{{name}}.core.wasm -o "$out" >/dev/null
echo "built $out"
