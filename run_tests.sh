#!/usr/bin/env bash
# Sets up .venv (once) with the CPU build and the test extra, then runs the
# whole test suite. Usage: bash run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[cpu,test]"
export TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/python" -m pytest -q tests "$@"
