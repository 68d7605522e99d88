"""Security: no code from data files, no shell, nothing private in an export.

  * a crafted pytorch_model.bin whose unpickling would run code (it writes a
    marker file) is refused by convert_checkpoint.py, one line, exit 2, and
    the code never runs; loaded the unsafe way, the same file does run it;
  * a scan of the project's own modules and scripts (their syntax trees, not
    their text, so comments and docstrings do not count): no pickle, no
    torch.load without weights_only=True, no numpy pickle loading, no
    eval/exec, no os.system/os.popen or shell=True, subprocess only with an
    argument list; and the scanner itself catches each of those;
  * a SavedModel exported by run_ner.py and by run_classifier.py (with its
    raw-text signature, which carries the vocab) holds, in any byte of any
    file, neither the run's uniquely named folder, nor the machine's home or
    working directory, nor marker words only the training data contains;
    label maps are JSON.
"""

import ast
import glob
import json
import os
import random
import subprocess
import sys
import uuid

import pytest

import helpers
import ner_data
import test_run_classifier
import test_run_ner

# ----------------------------------------------------------------------------
# (a) A malicious pytorch_model.bin


class WritesMarker(object):
  """Unpickling this runs Python code that creates `path`."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (exec, ("open(%r, 'w').write('code ran')" % self.path,))


def write_malicious_folder(folder, marker):
  """A Hugging Face-style BERT folder whose weights file runs code."""
  import torch  # pylint: disable=g-import-not-at-top
  os.makedirs(folder)
  config = dict(helpers.tiny_bert_config(8), model_type="bert",
                architectures=["BertModel"])
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(config, f)
  helpers.write_lines(os.path.join(folder, "vocab.txt"),
                      ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a",
                       "b", "c"])
  state = {"bert.embeddings.word_embeddings.weight": torch.zeros(8, 32),
           "bert.pooler.dense.bias": WritesMarker(marker)}
  path = os.path.join(folder, "pytorch_model.bin")
  torch.save(state, path)
  return path


def test_malicious_pytorch_bin_is_refused(tmp_path):
  marker = str(tmp_path / "code_ran_during_conversion")
  path = write_malicious_folder(str(tmp_path / "hf"), marker)
  out = tmp_path / "converted"
  proc = helpers.run_script(
      ["--direction=hf_to_tf", "--input_dir=" + str(tmp_path / "hf"),
       "--output_dir=" + str(out)],
      os.path.join(helpers.REPO_ROOT, "convert_checkpoint.py"))
  helpers.assert_one_line_error(proc, "refusing", path, returncode=2,
                                anywhere=True)
  assert not os.path.exists(marker)
  assert not out.exists()

  # The file is truly malicious: a plain (unsafe) load runs its code.
  import torch  # pylint: disable=g-import-not-at-top
  torch.load(path, weights_only=False)
  with open(marker) as f:
    assert f.read() == "code ran"


# ----------------------------------------------------------------------------
# (b) Source scan

# Modules whose loading runs code from the data.
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill",
                  "joblib", "marshal", "shelve"}
# Calls that hand a string to a shell (or replace the process).
SHELL_CALLS = {"os.system", "os.popen", "os.execl", "os.execle", "os.execlp",
               "os.execv", "os.execve", "os.execvp", "os.spawnl",
               "os.spawnlp", "os.spawnv", "os.spawnvp", "commands.getoutput",
               "subprocess.getoutput", "subprocess.getstatusoutput"}
SUBPROCESS_CALLS = {"subprocess.run", "subprocess.call",
                    "subprocess.check_call", "subprocess.check_output",
                    "subprocess.Popen"}


def dotted_name(node):
  """'os.system' for the expression os.system, None for anything else."""
  parts = []
  while isinstance(node, ast.Attribute):
    parts.append(node.attr)
    node = node.value
  if not isinstance(node, ast.Name):
    return None
  return ".".join([node.id] + parts[::-1])


def keyword(call, name):
  for kw in call.keywords:
    if kw.arg == name:
      return kw.value
  return None


def is_true(node):
  return isinstance(node, ast.Constant) and node.value is True


def is_string_expression(node):
  """A command written as one string (for a shell), not an argument list."""
  if isinstance(node, ast.Constant):
    return isinstance(node.value, str)
  if isinstance(node, ast.JoinedStr):
    return True
  if isinstance(node, ast.BinOp):
    return is_string_expression(node.left)
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
    return (node.func.attr in ("format", "join") and
            is_string_expression(node.func.value))
  return False


def unsafe_calls(source, filename="<source>"):
  """The unsafe constructs of one Python source: list of 'file:line what'."""
  found = []

  def report(node, what):
    found.append("%s:%d %s" % (filename, node.lineno, what))

  # Names bound to the modules by `import numpy as np` and the like.
  aliases = {}
  tree = ast.parse(source, filename)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        aliases[alias.asname or alias.name] = alias.name
        if alias.name.split(".")[0] in PICKLE_MODULES:
          report(node, "import " + alias.name)
    elif isinstance(node, ast.ImportFrom):
      module = node.module or ""
      if module.split(".")[0] in PICKLE_MODULES:
        report(node, "from %s import" % module)
      for alias in node.names:
        aliases[alias.asname or alias.name] = module + "." + alias.name
  for node in ast.walk(tree):
    if not isinstance(node, ast.Call):
      continue
    name = dotted_name(node.func)
    if name:
      head, _, rest = name.partition(".")
      name = aliases.get(head, head) + ("." + rest if rest else "")
    if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
      report(node, name + "()")
    if name in SHELL_CALLS:
      report(node, name + "()")
    shell = keyword(node, "shell")
    if shell is not None and not (isinstance(shell, ast.Constant) and
                                  shell.value is False):
      report(node, "shell=")
    if name in SUBPROCESS_CALLS:
      command = node.args[0] if node.args else keyword(node, "args")
      if command is None or is_string_expression(command):
        report(node, name + "() without an argument list")
    if name == "torch.load" and not is_true(keyword(node, "weights_only")):
      report(node, "torch.load() without weights_only=True")
    if name == "numpy.load" and keyword(node, "allow_pickle") is not None:
      if not (isinstance(keyword(node, "allow_pickle"), ast.Constant) and
              keyword(node, "allow_pickle").value is False):
        report(node, "numpy.load(allow_pickle=...)")
    if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
      report(node, name + "()")
  return found


def project_sources():
  """The toolkit's modules and scripts (top level, bench/, scripts/)."""
  paths = []
  for pattern in ("*.py", "bench/*.py", "scripts/*.py"):
    paths += glob.glob(os.path.join(helpers.REPO_ROOT, pattern))
  return sorted(paths)


def test_scanner_catches_each_unsafe_construct():
  bad = """
import pickle
from dill import loads
import numpy as np
import subprocess as sp
import os, torch, yaml
eval(text)
exec(text)
os.system("ls " + path)
os.popen(path)
sp.run("ls %s" % path, shell=True)
subprocess.call(f"ls {path}")
subprocess.Popen(" ".join(args))
torch.load(path)
torch.load(path, weights_only=False)
np.load(path, allow_pickle=True)
yaml.load(text)
"""
  found = unsafe_calls(bad)
  for what in ["import pickle", "from dill import", "eval()", "exec()",
               "os.system()", "os.popen()", "shell=",
               "subprocess.run() without", "subprocess.call() without",
               "subprocess.Popen() without",
               "numpy.load(allow_pickle=...)", "yaml.load()"]:
    assert any(what in line for line in found), (what, found)
  assert sum("torch.load()" in line for line in found) == 2
  # What the project does is fine.
  good = """
import subprocess
import numpy as np
import torch
subprocess.call(command, stdout=out, cwd=ROOT)
subprocess.run([sys.executable, script] + args, check=True)
torch.load(path, map_location="cpu", weights_only=True)
np.load(path)
model.eval()
# os.system("in a comment") and "eval(" in a string
"""
  assert unsafe_calls(good) == []


def test_project_sources_have_no_unsafe_calls():
  sources = project_sources()
  names = {os.path.relpath(p, helpers.REPO_ROOT) for p in sources}
  # The scan covers the scripts and the pickle-reading converter.
  assert {"convert_checkpoint.py", "run_ner.py", "task_plumbing.py",
          "text_serving.py", "bench/bench_common.py"} <= names
  found = []
  for path in sources:
    with open(path, encoding="utf-8") as f:
      found += unsafe_calls(f.read(), os.path.relpath(path,
                                                      helpers.REPO_ROOT))
  assert found == []


# ----------------------------------------------------------------------------
# (c) What an export holds


@pytest.fixture(scope="module")
def private(tmp_path_factory):
  """A uniquely named run folder and marker words of the training data."""
  tag = uuid.uuid4().hex[:12]
  root = str(tmp_path_factory.mktemp("security") / ("privaterun" + tag))
  os.makedirs(root)
  markers = ["qzmarker%sner" % tag, "qzmarker%scls" % tag]
  return dict(root=root, tag=tag, markers=markers)


def append_lines(path, lines):
  with open(path, "a", encoding="utf-8") as f:
    f.write("\n" + "\n".join(lines) + "\n")


def prepare_ner(private):
  """Data, tiny BERT and command of run_ner.py train + export; the training
  file holds a marker word."""
  data = os.path.join(private["root"], "ner_data")
  ner_data.write_sample_ner_data(data, num_train=16, num_dev=4, num_test=4)
  model = helpers.write_tiny_bert(os.path.join(private["root"]),
                                  test_run_ner.vocab_tokens(data))
  marker = private["markers"][0]
  append_lines(os.path.join(data, "train.txt"),
               ["Visitors O", "from O", "%s B-ORG" % marker.capitalize(),
                "arrived O", ". O"])
  out = os.path.join(private["root"], "ner_out")
  args = (["run_ner.py", "--do_train", "--data_dir=" + data,
           "--output_dir=" + out,
           "--export_dir=" + os.path.join(out, "export"),
           "--num_train_epochs=1"] +
          helpers.model_flags(model, max_seq_length=32, train_batch_size=8))
  return args, dict(out=out, vocab=model["vocab"],
                    train=os.path.join(data, "train.txt"))


def prepare_classifier(private):
  """The same for run_classifier.py (CoLA), exported with serve_text."""
  data_root = os.path.join(private["root"], "cls_data")
  data = os.path.join(data_root, "cola")
  os.makedirs(data)
  test_run_classifier.write_cola(data, random.Random(7))
  bert_dir = os.path.join(private["root"], "cls_bert")
  os.makedirs(bert_dir)
  model = helpers.write_tiny_bert(bert_dir,
                                  test_run_classifier.vocab_tokens(data_root))
  marker = private["markers"][1]
  append_lines(os.path.join(data, "train.tsv"),
               ["src\t1\t\tThe %s film was fine" % marker.capitalize(),
                "src\t0\t*\tFilm the %s was" % marker])
  out = os.path.join(private["root"], "cls_out")
  args = (["run_classifier.py", "--task_name=cola", "--do_train",
           "--data_dir=" + data, "--output_dir=" + out,
           "--export_dir=" + os.path.join(out, "export"),
           "--num_train_epochs=1"] +
          helpers.model_flags(model, max_seq_length=24, train_batch_size=8))
  return args, dict(out=out, vocab=model["vocab"],
                    train=os.path.join(data, "train.tsv"))


@pytest.fixture(scope="module")
def exports(private):
  """Both runs, started side by side (most of each is TensorFlow's start)."""
  runs = {"ner": prepare_ner(private),
          "classifier": prepare_classifier(private)}
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  procs = {}
  for name, (args, _) in runs.items():
    log = open(os.path.join(private["root"], name + ".log"), "w+")
    procs[name] = (subprocess.Popen([sys.executable] + args,
                                    cwd=helpers.REPO_ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT),
                   log)
  done = {}
  for name, (proc, log) in procs.items():
    code = proc.wait(timeout=600)
    log.seek(0)
    assert code == 0, "%s: exit %d\n%s" % (name, code, log.read()[-4000:])
    log.close()
    run = runs[name][1]
    done[name] = dict(run, export=helpers.saved_model_path(
        os.path.join(run["out"], "export")))
  return done


def private_strings(private):
  """Byte strings no export may contain."""
  needles = [private["root"], "privaterun" + private["tag"],
             os.path.dirname(private["root"]), helpers.REPO_ROOT,
             os.getcwd(), os.path.expanduser("~"), sys.prefix]
  needles = [n for n in needles if n and n not in ("/", ".")]
  needles += private["markers"]
  return sorted(set(needles))


def scan_export(export, needles):
  """(file, needle) pairs of every needle found in any byte of any file."""
  found = []
  files = [os.path.join(d, name) for d, _, names in os.walk(export)
           for name in names]
  assert any(p.endswith("saved_model.pb") for p in files), files
  for path in files:
    with open(path, "rb") as f:
      data = f.read()
    for needle in needles:
      for form in {needle, needle.lower(), needle.capitalize()}:
        if form.encode("utf-8") in data:
          found.append((os.path.relpath(path, export), form))
  return found


def asset_paths(export):
  """The asset file names every meta graph records (must be relative)."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  model = saved_model_pb2.SavedModel()
  with open(os.path.join(export, "saved_model.pb"), "rb") as f:
    model.ParseFromString(f.read())
  paths = []
  for meta_graph in model.meta_graphs:
    paths += [a.filename for a in meta_graph.asset_file_def]
  return paths


@pytest.mark.parametrize("which", ["ner", "classifier"])
def test_export_holds_no_paths_or_training_data(which, private, exports):
  run = exports[which]
  needles = private_strings(private)
  # The markers are in the training data only, not in the vocab (which a
  # text signature carries, as it must).
  with open(run["vocab"], encoding="utf-8") as f:
    vocab = f.read()
  marker = private["markers"][0 if which == "ner" else 1]
  assert marker not in vocab.lower()
  with open(run["train"], encoding="utf-8") as f:
    assert marker in f.read().lower()
  assert os.path.join(private["root"], "") in run["out"] + os.sep
  assert scan_export(run["export"], needles) == []
  for path in asset_paths(run["export"]):
    assert not os.path.isabs(path) and os.sep not in path, path

  # Label maps and settings are JSON (no pickle anywhere in the run folder).
  for folder in (run["out"], run["export"]):
    for _, _, names in os.walk(folder):
      for name in names:
        assert not name.endswith((".pkl", ".pickle", ".npy", ".bin")), name
  for path in (os.path.join(run["out"], "label_map.json"),
               os.path.join(run["export"], "assets.extra", "label_map.json")):
    with open(path, encoding="utf-8") as f:
      assert isinstance(json.load(f), dict), path
