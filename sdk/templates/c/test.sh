#!/usr/bin/env bash
# Native unit tests: step.c compiled with the host's C compiler ($CC, default cc) against the SDK's fake host,
# under AddressSanitizer and UBSan when the compiler has them, so leaks and undefined behaviour fail the run.
set -euo pipefail
cd "$(dirname "$0")"
CC="${CC:-cc}"
cjson=vendor/cjson
[ -f "$cjson/cJSON.c" ] || cjson=.
mkdir -p build
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
echo 'int main(void){return 0;}' > build/probe.c
"$CC" "${san[@]}" build/probe.c -o build/probe 2>/dev/null && build/probe || san=()
"$CC" -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror "${san[@]}" -I. -I"$cjson" \
  step.c test_step.c alur_step.c alur_step_fake.c "$cjson/cJSON.c" -lm -o build/test_step
build/test_step
