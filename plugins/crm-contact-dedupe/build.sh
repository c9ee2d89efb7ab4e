#!/usr/bin/env bash
# Builds the component into "$OUT_DIR/crm-contact-dedupe.wasm" with componentize-py (.ci/setup-python installs
# it). The SDK helper and the WIT contract are taken from the repository, not copied.
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT_DIR:-../../target/plugins}"
mkdir -p "$out"
componentize-py -d ../../sdk/wit -w step componentize app -p . -p ../../sdk/python -o "$out/crm-contact-dedupe.wasm"
