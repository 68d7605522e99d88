"""The Python that quickstart.sh and run_tests.sh pick for their venv.

scripts/venv.sh runs here against fake interpreters: small shell scripts named
python3, python3.12, python3.10, uv ... in a temporary folder that print a
version. PATH holds only that folder and one with the few tools the scripts
call (rm, ls, mkdir, chmod, dirname): /usr/bin and the pyenv shims are left
out on purpose, since /usr/bin holds a real python3.11 on these machines.
"""
import os
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_SH = os.path.join(REPO_ROOT, "scripts", "venv.sh")
BASH = "/bin/bash"
TOOLS = ("rm", "ls", "mkdir", "chmod", "dirname")

# A fake interpreter: prints its version for any -c; with `-m venv DIR` makes
# DIR/bin/python, a fake of the same version, and notes that it did.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho %(version)s\\n' > "$3/bin/python"
  chmod +x "$3/bin/python"
  : > "$3/pyvenv.cfg"
  echo "%(name)s -m venv $3" >> "%(log)s"
  exit 0
fi
echo %(version)s
"""

# A fake uv: `uv venv -q --seed --python 3.11 DIR` makes a 3.11 venv.
FAKE_UV = """#!/bin/sh
echo "uv $*" >> "%(log)s"
for last; do :; done
mkdir -p "$last/bin"
printf '#!/bin/sh\\necho 3.11.9\\n' > "$last/bin/python"
chmod +x "$last/bin/python"
: > "$last/pyvenv.cfg"
"""

# What a pyenv shim does for a version that is not selected.
BROKEN_SHIM = """#!/bin/sh
echo "pyenv: python3.11: command not found" >&2
exit 127
"""


@pytest.fixture()
def fake(tmp_path):
  """Makes fake interpreters; returns (add(name, version), run(script))."""
  bin_dir = tmp_path / "fakebin"
  tools_dir = tmp_path / "tools"
  bin_dir.mkdir()
  tools_dir.mkdir()
  for tool in TOOLS:
    for prefix in ("/usr/bin", "/bin"):
      if os.path.exists(os.path.join(prefix, tool)):
        os.symlink(os.path.join(prefix, tool), str(tools_dir / tool))
        break
  log = tmp_path / "made.log"
  log.write_text("")

  def add(name, version=None, text=None):
    if text is None:
      text = FAKE_UV if name == "uv" else FAKE_PYTHON
    path = bin_dir / name
    path.write_text(text % {"version": version, "name": name,
                            "log": str(log)})
    path.chmod(0o755)

  def run(script, python_env=None):
    env = {"PATH": "%s:%s" % (bin_dir, tools_dir), "HOME": str(tmp_path)}
    if python_env is not None:
      env["PYTHON"] = python_env
    result = subprocess.run(
        [BASH, "-c", "source %s\n%s" % (VENV_SH, script)], env=env,
        cwd=str(tmp_path), capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr, log.read_text()

  return add, run


CHOOSE = 'choose_python && echo "$CHOSEN_PYTHON $CHOSEN_VERSION"'


def test_the_path_holds_no_real_python(fake):
  _, run = fake
  rc, out, _, _ = run("command -v python3 python3.11 python3.10 python3.9 "
                      "uv || echo none")
  assert out.strip() == "none", out


# Which interpreter the selection takes: (fakes on PATH as (name, version);
# a version of None is a pyenv shim that does not run, "" a uv), expected
# choice, and whether stderr must be empty.
CHOICES = {
    "python3_3_11_is_taken": (
        [("python3", "3.11.7"), ("python3.10", "3.10.13")],
        "python3 3.11.7", True),
    "3_12_and_3_10_takes_3_10": (
        [("python3", "3.12.1"), ("python3.12", "3.12.1"),
         ("python3.10", "3.10.13")], "python3.10 3.10.13", True),
    "a_shim_that_does_not_run_is_skipped": (
        [("python3", "3.13.0"), ("python3.11", None), ("python3.9", "3.9.18")],
        "python3.9 3.9.18", False),
    "uv_comes_after_a_supported_python": (
        [("python3", "3.12.1"), ("python3.11", "3.11.7"), ("uv", "")],
        "python3.11 3.11.7", False),
}


@pytest.mark.parametrize("case", sorted(CHOICES))
def test_the_choice(fake, case):
  fakes, expected, quiet = CHOICES[case]
  add, run = fake
  for name, version in fakes:
    if version is None:
      add(name, text=BROKEN_SHIM)
    elif version:
      add(name, version)
    else:
      add(name)
  rc, out, err, _ = run(CHOOSE)
  assert (rc, out.strip()) == (0, expected)
  if quiet:
    assert err == ""


def test_3_12_only_stops_naming_it_and_the_ways_to_3_11(fake):
  add, run = fake
  add("python3", "3.12.1")
  add("python3.12", "3.12.1")
  rc, out, err, _ = run(CHOOSE)
  assert rc == 1 and out == ""
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert "found python3 3.12.1" in lines[0]
  for way in ("uv python install 3.11", "pyenv", "conda"):
    assert way in lines[0]
  assert "3.9-3.11" in lines[0]


def test_no_python_at_all_stops(fake):
  _, run = fake
  rc, out, err, _ = run(CHOOSE)
  assert rc == 1 and out == ""
  assert len(err.strip().splitlines()) == 1
  assert "found no python3" in err
  assert "uv python install 3.11" in err


def test_uv_only_makes_a_3_11_venv_with_uv(fake):
  add, run = fake
  add("uv")
  rc, out, _, _ = run(CHOOSE)
  assert (rc, out.strip()) == (0, "uv 3.11")
  rc, _, err, made = run('ensure_venv venv && venv/bin/python')
  assert rc == 0, err
  assert made.strip() == "uv venv -q --seed --python 3.11 venv"


def test_python_env_var_wins(fake, tmp_path):
  add, run = fake
  add("python3", "3.11.7")
  mine = tmp_path / "mine" / "python"
  mine.parent.mkdir()
  mine.write_text("#!/bin/sh\necho 3.10.4\n")
  mine.chmod(0o755)
  rc, out, err, _ = run(CHOOSE, python_env=str(mine))
  assert (rc, out.strip(), err) == (0, "%s 3.10.4" % mine, "")


def test_python_env_var_unsupported_stops(fake):
  add, run = fake
  add("python3", "3.11.7")
  add("python3.12", "3.12.1")
  rc, _, err, _ = run(CHOOSE, python_env="python3.12")
  assert rc == 1
  assert "found PYTHON=python3.12 (3.12.1)" in err


def test_a_venv_of_a_supported_python_is_kept(fake, tmp_path):
  add, run = fake
  add("python3", "3.10.13")
  run("ensure_venv venv")
  rc, _, err, made = run("ensure_venv venv")
  assert rc == 0 and err == ""
  assert made.strip() == "python3 -m venv venv"  # made once, then kept


def test_a_venv_of_an_unsupported_python_is_rebuilt(fake, tmp_path):
  add, run = fake
  add("python3", "3.12.1")
  add("python3.11", "3.11.7")
  old = tmp_path / "venv"
  (old / "bin").mkdir(parents=True)
  (old / "pyvenv.cfg").write_text("")
  (old / "stale").write_text("")
  (old / "bin" / "python").write_text("#!/bin/sh\necho 3.12.1\n")
  (old / "bin" / "python").chmod(0o755)
  rc, out, err, made = run("ensure_venv venv && venv/bin/python")
  assert rc == 0, err
  assert "made with 3.12.1 (not 3.9-3.11); rebuilding it" in err
  assert made.strip() == "python3.11 -m venv venv"
  assert out.strip() == "3.11.7"
  assert not (old / "stale").exists()


@pytest.mark.parametrize("script", ["quickstart.sh", "run_tests.sh"])
def test_the_scripts_stop_before_installing_on_3_12(fake, tmp_path, script):
  add, run = fake
  add("python3", "3.12.1")
  add("python3.12", "3.12.1")
  env_venv = tmp_path / "never"
  rc, out, err, made = run("VENV=%s %s %s" % (
      env_venv, BASH, os.path.join(REPO_ROOT, script)))
  assert rc != 0
  assert err.strip().splitlines() == [err.strip()], err
  assert "found python3 3.12.1" in err
  assert not env_venv.exists() and made == ""
