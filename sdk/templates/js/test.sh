#!/usr/bin/env bash
# Runs the plugin's unit tests under plain Node 20+ (no wasm, no componentize-js needed).
set -euo pipefail
cd "$(dirname "$0")"
node --test "$@"
