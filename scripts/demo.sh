#!/usr/bin/env bash
# The whole set-up on a fresh machine, then the main job on the embedded demo data:
# install -> ZenML stack + MLflow store + DVC remote + demo data -> `zenml pipeline run` -> summary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
eval "$(.venv/bin/python -m facetransfer.environment)"

.venv/bin/facetransfer setup
config=${FACETRANSFER_CONFIG:-zenml_config.yaml}
start=$(date +%s)
.venv/bin/zenml pipeline run pipelines.transfer_pipeline -c "$config"
echo "pipeline wall time: $(( $(date +%s) - start )) s"
.venv/bin/facetransfer status
