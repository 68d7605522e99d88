#!/usr/bin/env bash
# Sets up .venv (once) with the cpu and test extras, then runs the whole
# test suite. Usage: bash run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
# Python 3.9-3.11 for the venv, chosen as in scripts/venv.sh; the test extra
# brings the oracles (torch 2.13.0, the CPU build, is the only torch asked
# for) and the MiniLM goes in without its dependencies.
source scripts/venv.sh
ensure_venv "$VENV"
install_toolkit "$VENV" cpu,test
export TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/python" -m pytest -q tests "$@"
