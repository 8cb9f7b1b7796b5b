#!/usr/bin/env bash
# The test command (README "Quickstart", CI's .ci/run): installs mros and its test dependencies into
# a virtual environment (reused between runs), checks lint, then runs the whole test suite, the
# integration tests against a real OpenSearch node included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_install.sh
source scripts/_install.sh
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
