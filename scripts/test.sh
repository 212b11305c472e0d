#!/usr/bin/env bash
# Install (if needed) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
eval "$(.venv/bin/python -m facetransfer.environment)"
exec .venv/bin/python -m pytest "$@"
