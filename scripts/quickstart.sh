#!/usr/bin/env bash
# The main job on the embedded defaults: install mros, then `mros run --quick` on the shared Home Depot
# data: labeler, Stage 1, Stage 2, evaluation against BM25 / base model / MNRL, learned boundaries,
# int8 ONNX export, a local OpenSearch node (assembled from Maven Central), deploy, in-engine
# evaluation and the report (runs/quickstart/report/index.html). Drop --quick (or pass other
# arguments, e.g. `--url https://host:9200`) for the full run: bash scripts/quickstart.sh --out runs/main
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_install.sh
source scripts/_install.sh
if [ "$#" -eq 0 ]; then
  set -- --quick --out runs/quickstart
fi
exec "$VENV/bin/mros" run "$@"
