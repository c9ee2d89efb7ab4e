#!/usr/bin/env bash
# Runs the native unit tests (test_*.py) with the SDK's FakeHost: no wasm, no componentize-py needed.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m unittest discover -s . -p 'test_*.py' "$@"
