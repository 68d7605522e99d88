"""What a run folder (`--output_dir`) remembers about the run that made it.

A training run writes `run.json` into its output_dir, with every setting that
shapes its checkpoints or its cached features, and copies the model's
`bert_config.json` and `vocab.txt` beside it. From then on:

  * a rerun with the same settings resumes; one with other settings stops
    before doing anything, with one line naming each difference
    (`max_seq_length: 64 in this output_dir, 32 now`), unless it passes
    `--overwrite_output_dir`, which first removes what the old run wrote;
  * evaluating, predicting and exporting need only `--output_dir`: flags not
    given on the command line take the run's values, and the model files
    are the copies in the folder;
  * each predicted input gets its own output names (`outputs` in run.json),
    so predicting a second file never overwrites the first one's results.

Settings come in two scopes. "model" settings (task, BERT config, vocab,
casing, the head and its sizes) define the checkpoint: every later use of the
folder must agree with them. "training" settings (max_seq_length, the
training file, ...) define the training run: a rerun that trains must agree
with them too, while prediction may use, say, another max_seq_length.

Pure functions over dicts: task_plumbing does the flag handling.
"""

import fnmatch
import hashlib
import json
import os
import re
import shutil

import atomic_files

RUN_FILE = "run.json"
CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"

# What a toolkit run writes into output_dir, removed by --overwrite_output_dir.
# Folders: the estimator's eval summaries and keep_best's copy.
_TOOLKIT_FILES = (
    "checkpoint", "model.ckpt-*", "graph.pbtxt", "events.out.tfevents.*",
    "*.tf_record", "*.tf_record.json", ".tmp-*", RUN_FILE, CONFIG_NAME,
    VOCAB_NAME, "label_map.json", "eval_results*.txt", "eval_results*.json",
    "*_results.txt", "*_results.json", "*_results.tsv", "test_results*.tsv",
    "*_predictions.txt", "*_entities.jsonl", "predictions.json",
    "nbest_predictions.json", "null_odds.json", "*_predictions.json",
    "*_nbest_predictions.json", "*_null_odds.json")
_TOOLKIT_DIRS = ("eval", "eval_*", "best")


class RunSettingsError(ValueError):
  """The output_dir holds a run whose settings differ from this one's."""


def sha256_of_file(path):
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def load(output_dir):
  """run.json of output_dir as a dict, or None when there is none."""
  path = os.path.join(output_dir, RUN_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise RunSettingsError("%s: not a readable run record (%s); remove it or "
                           "pass --overwrite_output_dir" % (path, e))
  if not isinstance(record, dict):
    raise RunSettingsError("%s: expected a JSON object" % path)
  return record


def save(output_dir, record):
  atomic_files.write_json_atomic(os.path.join(output_dir, RUN_FILE), record)


def _short(value):
  """A setting's value as the difference line shows it."""
  if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
    return "sha256 " + value[:12]
  if isinstance(value, bool):
    return "True" if value else "False"
  return json.dumps(value, sort_keys=True) if isinstance(
      value, (list, dict)) else str(value)


def differences(recorded, current, prefix=""):
  """Lines `name: A in this output_dir, B now` for every differing setting.

  Nested dicts (the BERT config) are compared key by key, so the line names
  the size that differs (`bert_config.hidden_size: 384 ..., 128 now`).
  A setting the record lacks is not a difference (older records).
  """
  lines = []
  for name in sorted(current):
    if name not in recorded:
      continue
    old, new = recorded[name], current[name]
    if isinstance(old, dict) and isinstance(new, dict):
      lines.extend(differences(old, new, prefix + name + "."))
    elif old != new:
      lines.append("%s%s: %s in this output_dir, %s now"
                   % (prefix, name, _short(old), _short(new)))
  return lines


def check(output_dir, model, training, is_training):
  """Compares this run's settings with the recorded ones.

  Args:
    output_dir: the run folder.
    model: dict of "model"-scope settings of this run.
    training: dict of "training"-scope settings (checked when training).
    is_training: this run trains.
  Raises:
    RunSettingsError: one line naming every difference.
  """
  record = load(output_dir)
  if not record:
    return
  lines = differences(record.get("model", {}), model)
  if is_training:
    lines += differences(record.get("training", {}), training)
  if lines:
    what = ("resume it with the same settings" if is_training else
            "use the run's settings")
    raise RunSettingsError(
        "%s holds a run with other settings (%s; %s, pass "
        "--overwrite_output_dir to replace that run, or use another "
        "--output_dir)" % (output_dir, "; ".join(lines), what))


def record_training(output_dir, task, model, training, flag_values,
                    bert_config_file, vocab_file):
  """Writes run.json and copies the model files into output_dir.

  Args:
    output_dir: the run folder (exists).
    task: the script's task name ("ner", "classifier", ...).
    model, training: the two scopes' settings (see check).
    flag_values: dict flag name -> value that later runs adopt when the flag
      is not given (casing, sizes, heads, ...).
    bert_config_file, vocab_file: copied as bert_config.json / vocab.txt
      (vocab_file may be None: pretraining needs no vocab).
  """
  for source, name in ((bert_config_file, CONFIG_NAME),
                       (vocab_file, VOCAB_NAME)):
    if not source:
      continue
    target = os.path.join(output_dir, name)
    if os.path.abspath(source) == os.path.abspath(target):
      continue
    with open(source, "rb") as f:
      atomic_files.write_bytes_atomic(target, f.read())
  old = load(output_dir) or {}
  save(output_dir, {"task": task, "model": model, "training": training,
                    "flags": flag_values, "outputs": old.get("outputs", {})})


def recorded_flags(output_dir):
  """(flag name -> value to adopt, model file paths) from the run record.

  The model files are output_dir's copies, when they are there.
  """
  record = load(output_dir) or {}
  values = dict(record.get("flags", {}))
  for flag, name in (("bert_config_file", CONFIG_NAME),
                     ("vocab_file", VOCAB_NAME)):
    path = os.path.join(output_dir, name)
    if record and os.path.exists(path):
      values[flag] = path
  return values


def output_prefix(output_dir, default, source, chosen=None):
  """The prefix of the files predicted from `source`, never another's.

  `source` gets `default` (Google's names: "test" for the task's own test
  file, "" for SQuAD's predictions.json) unless another input's predictions
  hold it, or when default is None; then its own file stem ("sentences" for
  sentences.raw), with _2, _3, ... when two inputs share a stem. The same
  input always gets the same prefix back. `chosen` (--output_prefix) is
  taken as it is. Recorded under "outputs" in run.json.

  Returns:
    The prefix ("" or e.g. "test").
  """
  source = os.path.abspath(source)
  record = load(output_dir) or {}
  owners = record.get("outputs", {})
  stem = file_stem(source)
  candidates = ([chosen] if chosen else []) + (
      [] if default is None else [default]) + [stem] + [
          "%s_%d" % (stem, k) for k in range(2, 1000)]
  for prefix in candidates:
    if prefix == chosen or owners.get(prefix, source) == source:
      break
  owners[prefix] = source
  record["outputs"] = owners
  save(output_dir, record)
  return prefix


def file_stem(path):
  """The name part of a file name, safe as a prefix ("sentences.raw" ->
  "sentences")."""
  return re.sub(r"[^\w.-]+", "_", os.path.splitext(
      os.path.basename(path))[0]) or "predict"


def toolkit_files(output_dir):
  """Paths in output_dir (top level) that a toolkit run writes."""
  found = []
  for name in sorted(os.listdir(output_dir)):
    path = os.path.join(output_dir, name)
    patterns = _TOOLKIT_DIRS if os.path.isdir(path) else _TOOLKIT_FILES
    if any(fnmatch.fnmatch(name, p) for p in patterns):
      found.append(path)
  return found


def remove_run(output_dir):
  """Removes the old run's checkpoints, caches, results and record.

  Only files the toolkit writes (by name); anything else the user keeps in
  the folder (an export folder, their own notes) stays.

  Returns:
    The removed paths.
  """
  if not os.path.isdir(output_dir):
    return []
  removed = toolkit_files(output_dir)
  for path in removed:
    if os.path.isdir(path):
      shutil.rmtree(path)
    else:
      os.remove(path)
  return removed
