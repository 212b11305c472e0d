#!/usr/bin/env bash
# Install (if needed) and run the whole test suite, as CI does. Extra arguments go to pytest.
#
#   ./scripts/test.sh            everything: unit, data and the end-to-end pipeline tests (CI)
#   ./scripts/test.sh --fast     only the fast tests (no `slow` end-to-end runs; a few minutes)
#   ./scripts/test.sh tests/unit/test_models.py -k aspp     any pytest selection
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
eval "$(.venv/bin/python -m facetransfer.environment)"
if [ "${1:-}" = "--fast" ]; then
    shift
    exec .venv/bin/python -m pytest -m "not slow" "$@"
fi
exec .venv/bin/python -m pytest "$@"
