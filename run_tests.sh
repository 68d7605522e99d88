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
# tensorflow-text (raw-text serving) beside the light tensorflow-cpu: its wheel
# requires the full `tensorflow` package, which would overlay tensorflow-cpu,
# so it goes in without its dependencies; tensorflow-hub, which it imports,
# needs pkg_resources (setuptools < 82). See the "text" extra in setup.py.
"$VENV/bin/python" -m pip install -q "tensorflow-hub>=0.13,<0.16" "setuptools<82"
"$VENV/bin/python" -m pip install -q --no-deps "tensorflow-text==2.15.*"
export TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/python" -m pytest -q tests "$@"
