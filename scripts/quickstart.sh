#!/usr/bin/env bash
# The main job on the embedded defaults: install mros, start a local OpenSearch node (assembled from
# Maven Central), train Stage 1 on the shared Home Depot data with the quick profile, evaluate it
# against BM25 / base model / MNRL, and export it for ML Commons. Output: runs/quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_install.sh
source scripts/_install.sh
"$VENV/bin/mros" opensearch up
"$VENV/bin/mros" train --config configs/quick.yaml --out "${1:-runs/quickstart}"
"$VENV/bin/mros" opensearch status
