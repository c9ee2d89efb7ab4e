#!/usr/bin/env bash
# Native unit tests: the step's logic against the SDK's FakeHost, no wasm needed.
set -euo pipefail
cd "$(dirname "$0")"
PYTHONPATH=../../sdk/python${PYTHONPATH:+:$PYTHONPATH} python3 -m unittest discover -s . -p 'test_*.py' "$@"
