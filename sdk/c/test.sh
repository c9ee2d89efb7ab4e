#!/usr/bin/env bash
# Native tests of the C SDK (alur_step.c, the fake host, cJSON as vendored) with the host's C compiler, under
# AddressSanitizer and UBSan when the compiler has them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/../../target/c-build/sdk"
mkdir -p "$work"
CC="${CC:-cc}"
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
echo 'int main(void){return 0;}' > "$work/probe.c"
"$CC" "${san[@]}" "$work/probe.c" -o "$work/probe" 2>/dev/null && "$work/probe" || san=()
"$CC" -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror "${san[@]}" -I"$here" -I"$here/vendor/cjson" \
  "$here/test_sdk.c" "$here/alur_step.c" "$here/alur_step_fake.c" "$here/vendor/cjson/cJSON.c" -lm -o "$work/test_sdk"
"$work/test_sdk"
