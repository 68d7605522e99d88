"""Runs many short script invocations fast: import TensorFlow once, fork.

Each `run_*.py` run pays ~5 s of imports (TensorFlow, the estimator, the
project's modules) before it looks at its flags; a table of a hundred bad
inputs that each fail in a fraction of a second would spend minutes there.
This server imports all of that once, then runs each job in a forked child
as `python script args...` would: `runpy.run_path(script, run_name=
"__main__")` with `sys.argv` set, stdout and stderr on pipes (os.dup2) that
the server copies to files, and the exit status of the script's SystemExit.

Forking is sound here because the server never runs TensorFlow: importing it
starts no session, no eager context and no op thread pools (checked at start
and again before every fork); every child builds its own from scratch. With
numpy's BLAS pool held to one thread, the server has no thread but its main
one when it forks (it reports the count; the tests check it is 1). The
pytest process itself is no place to fork from (other test files in the same
session run TF sessions in it), so the server is a fresh subprocess.

Per job, a child can also get:
  * `fsize`: RLIMIT_FSIZE in bytes (SIGXFSZ ignored, so a write past the
    limit fails with EFBIG) - a full disk for every writer, Python's and
    TensorFlow's C++ ones alike. Output goes through pipes, which the limit
    does not touch;
  * `enospc`: a failing writer - every file that `atomic_files` opens for
    writing raises OSError(ENOSPC) once more than this many bytes went in;
  * `drop_dac`: the child drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and
    CAP_FOWNER, so file modes bind even when the tests run as root (a no-op
    for other users, who never had them).

Protocol (JSON lines): the server prints {"ready": ...}; each request line is
{"jobs": [job, ...], "parallel": N}; the answer is one line {"results":
[{"returncode": int, "seconds": float}, ...]} in the jobs' order. A job is a
dict: script (path) or code (Python source run as __main__), args, cwd, env,
stdout, stderr (file paths), timeout, and the fault keys above.
"""

import ctypes
import errno
import json
import os
import resource
import runpy
import selectors
import signal
import sys
import time
import traceback

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS_DIR = os.path.join(REPO_ROOT, "tests")

# What the scripts import: loaded once, in the server.
PRELOAD = ("tensorflow", "tensorflow_estimator", "numpy", "absl.app",
           "absl.flags", "absl.logging", "atomic_files", "run_settings",
           "modeling", "optimization", "tokenization", "task_plumbing",
           "crf", "ner_data", "ner_metrics", "tf_metrics", "classifier_data",
           "keep_best", "text_serving", "squad_data", "squad_eval",
           "create_pretraining_data", "convert_checkpoint", "helpers")


# ----------------------------------------------------------------------------
# The server


def _no_tensorflow_runtime():
  """True while this process has made no eager context or session."""
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  return context._context is None or context._context._context_handle is None  # pylint: disable=protected-access


# Thread pools that numpy's BLAS would start at import: with one thread the
# server is single-threaded when it forks (checked: `threads` in the ready
# line). Children get the environment back as it was.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_SAVED_ENV = {}


def preload():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  for name in _ONE_THREAD:
    _SAVED_ENV[name] = os.environ.get(name)
    os.environ[name] = "1"
  for path in (REPO_ROOT, TESTS_DIR):
    if path not in sys.path:
      sys.path.insert(0, path)
  import importlib  # pylint: disable=g-import-not-at-top
  for name in PRELOAD:
    importlib.import_module(name)
  # The estimator package is imported lazily by tf.compat.v1.estimator.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.compat.v1.estimator.tpu.TPUEstimator  # pylint: disable=pointless-statement
  assert _no_tensorflow_runtime(), "a TF runtime exists before forking"


class _Running(object):
  """A forked child: its pid, pipes, output files and deadline."""

  def __init__(self, index, job, pid, pipes):
    self.index, self.job, self.pid = index, job, pid
    self.start = time.time()
    self.deadline = self.start + float(job.get("timeout", 300))
    self.files = {}
    self.open_pipes = set()
    for fd, name in pipes:
      self.files[fd] = open(job[name], "wb")
      self.open_pipes.add(fd)


def run_jobs(jobs, parallel):
  """Runs the jobs, at most `parallel` at once; returns their results."""
  results = [None] * len(jobs)
  pending = list(enumerate(jobs))
  running = {}  # pid -> _Running
  selector = selectors.DefaultSelector()
  while pending or running:
    while pending and len(running) < parallel:
      index, job = pending.pop(0)
      child = _fork(index, job, running)
      running[child.pid] = child
      for fd in child.open_pipes:
        selector.register(fd, selectors.EVENT_READ, child)
    for key, _ in selector.select(timeout=0.2):
      child = key.data
      data = os.read(key.fd, 65536)
      if data:
        child.files[key.fd].write(data)
        continue
      selector.unregister(key.fd)
      os.close(key.fd)
      child.files[key.fd].close()
      child.open_pipes.discard(key.fd)
    now = time.time()
    for pid, child in list(running.items()):
      if now > child.deadline:
        os.kill(pid, signal.SIGKILL)
        child.deadline = float("inf")
        child.timed_out = True
      if child.open_pipes:
        continue
      _, status = os.waitpid(pid, 0)
      del running[pid]
      results[child.index] = {
          "returncode": (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                         else -os.WTERMSIG(status)),
          "seconds": round(time.time() - child.start, 2),
          "timed_out": getattr(child, "timed_out", False)}
  selector.close()
  return results


def _fork(index, job, running):
  assert _no_tensorflow_runtime(), "a TF runtime exists before forking"
  out_r, out_w = os.pipe()
  err_r, err_w = os.pipe()
  sys.stdout.flush()
  sys.stderr.flush()
  pid = os.fork()
  if pid == 0:  # The child: never returns.
    try:
      for other in running.values():
        for fd in other.open_pipes:
          os.close(fd)
      os.close(out_r)
      os.close(err_r)
      os.dup2(out_w, 1)
      os.dup2(err_w, 2)
      os.close(out_w)
      os.close(err_w)
      code = _child(job)
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
      code = 120
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    finally:
      os._exit(code)  # pylint: disable=protected-access
  os.close(out_w)
  os.close(err_w)
  return _Running(index, job, pid, [(out_r, "stdout"), (err_r, "stderr")])


# ----------------------------------------------------------------------------
# The child


def _child(job):
  """Sets the job's stage and faults, runs it as __main__; the exit code."""
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  for name, value in _SAVED_ENV.items():
    if value is None:
      os.environ.pop(name, None)
    else:
      os.environ[name] = value
  os.chdir(job.get("cwd") or REPO_ROOT)
  os.environ.update(job.get("env") or {})
  if job.get("drop_dac"):
    drop_dac_capabilities()
  if job.get("enospc") is not None:
    fail_atomic_writes_after(int(job["enospc"]))
  if job.get("fsize") is not None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["fsize"], job["fsize"]))
  if job.get("code") is not None:
    sys.argv = ["-c"] + list(job.get("args") or [])
    target = None
  else:
    target = os.path.join(REPO_ROOT, job["script"])
    sys.argv = [target] + list(job.get("args") or [])
  try:
    if target is None:
      exec(compile(job["code"], "<job>", "exec"), {"__name__": "__main__"})  # pylint: disable=exec-used
    else:
      runpy.run_path(target, run_name="__main__")
    return 0
  except SystemExit as e:
    return _exit_code(e.code)
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()  # As the interpreter prints an uncaught error.
    return 1


def _exit_code(code):
  """The status `python script` exits with for SystemExit(code)."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code & 0xff
  sys.stderr.write("%s\n" % (code,))
  return 1


class _CapHeader(ctypes.Structure):
  _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
  _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
              ("inheritable", ctypes.c_uint32)]


def drop_dac_capabilities():
  """Drops the capabilities that let root ignore file modes (this thread;
  threads started later inherit it)."""
  libc = ctypes.CDLL(None, use_errno=True)
  header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
  data = (_CapData * 2)()
  if libc.capget(ctypes.byref(header), data) != 0:
    raise OSError(ctypes.get_errno(), "capget failed")
  # CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2, CAP_FOWNER = 3.
  keep = ~((1 << 1) | (1 << 2) | (1 << 3)) & 0xffffffff
  data[0].effective &= keep
  data[0].permitted &= keep
  data[0].inheritable &= keep
  if libc.capset(ctypes.byref(header), data) != 0:
    raise OSError(ctypes.get_errno(), "capset failed")


class _FullDiskFile(object):
  """A file object whose writes fail with ENOSPC past a byte budget."""

  def __init__(self, f, budget):
    self._f = f
    self._budget = budget

  def write(self, data):
    self._budget -= len(data)
    if self._budget < 0:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._f.name)
    return self._f.write(data)

  def __getattr__(self, name):
    return getattr(self._f, name)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return self._f.__exit__(*exc)


def fail_atomic_writes_after(budget):
  """Makes atomic_files' writes fail with ENOSPC after `budget` bytes."""
  import builtins  # pylint: disable=g-import-not-at-top
  import atomic_files  # pylint: disable=g-import-not-at-top

  def faulty_open(path, mode="r", *args, **kwargs):
    f = builtins.open(path, mode, *args, **kwargs)
    if any(c in mode for c in "wax+"):
      return _FullDiskFile(f, budget)
    return f

  atomic_files.open = faulty_open


# ----------------------------------------------------------------------------
# The client (used by the tests)


class ForkServer(object):
  """Starts the server in a fresh interpreter; `run(jobs)` runs a batch."""

  def __init__(self, log_path):
    import subprocess  # pylint: disable=g-import-not-at-top
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    self._log = open(log_path, "wb")
    self._proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__)], cwd=REPO_ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
    line = self._proc.stdout.readline()
    if not line:
      raise RuntimeError("fork server did not start; see %s" % log_path)
    self.info = json.loads(line)

  def run(self, jobs, parallel=2):
    self._proc.stdin.write((json.dumps({"jobs": jobs, "parallel": parallel})
                            + "\n").encode("utf-8"))
    self._proc.stdin.flush()
    line = self._proc.stdout.readline()
    if not line:
      raise RuntimeError("fork server died")
    return json.loads(line)["results"]

  def close(self):
    if self._proc.poll() is None:
      self._proc.stdin.close()
      self._proc.wait(timeout=60)
    self._log.close()


def serve():
  start = time.time()
  preload()
  threads = len(os.listdir("/proc/self/task"))
  out = sys.stdout
  out.write(json.dumps({"ready": True, "pid": os.getpid(),
                        "import_seconds": round(time.time() - start, 2),
                        "threads": threads}) + "\n")
  out.flush()
  for line in sys.stdin:
    request = json.loads(line)
    results = run_jobs(request["jobs"], int(request.get("parallel", 2)))
    out.write(json.dumps({"results": results}) + "\n")
    out.flush()


if __name__ == "__main__":
  serve()
