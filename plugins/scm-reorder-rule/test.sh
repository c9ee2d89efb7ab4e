#!/usr/bin/env bash
# Native unit tests: the plugin compiled with the host's C compiler against the SDK's fake host (no wasm).
# Under AddressSanitizer and UBSan when the compiler has them, so a leak-free, UB-free run is part of passing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sdk="$root/sdk/c"
work="$root/target/c-build/scm-reorder-rule"
mkdir -p "$work"
CC="${CC:-cc}"
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
echo 'int main(void){return 0;}' > "$work/probe.c"
"$CC" "${san[@]}" "$work/probe.c" -o "$work/probe" 2>/dev/null && "$work/probe" || san=()
"$CC" -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror "${san[@]}" \
  -I"$sdk" -I"$sdk/vendor/cjson" \
  "$here/reorder_rule.c" "$here/test_reorder_rule.c" "$sdk/alur_step.c" "$sdk/alur_step_fake.c" "$sdk/vendor/cjson/cJSON.c" \
  -lm -o "$work/test_reorder_rule"
"$work/test_reorder_rule"
