"""The estimator plumbing every `run_*.py` shares, written once.

Google's repo copies this into each script; here a task script keeps only its
own part (reading data, building features, its head, its outputs) and calls:

  * `define_common_flags()`            the flags every task has;
  * `quiet_tensorflow()`               no wall of C++ and deprecation logs;
  * `main_wrapper(main)`               bad input -> one line and exit code 2;
  * `num_train_steps(...)`             steps and warmup from epochs;
  * `check_init_checkpoint(...)`       checkpoint/config/vocab agree, early;
  * `cached_tfrecord(...)`             features -> TFRecord, written atomically
                                       and keyed by what produced them;
  * `input_fn_builder(...)`            tf.data reading for TPUEstimator;
  * `model_fn_builder(...)`            BertModel + a task head -> EstimatorSpec
                                       (init-from-checkpoint log, optimizer,
                                       progress log, eval metrics);
  * `make_estimator(...)`              RunConfig + TPUEstimator (CPU/GPU/TPU);
  * `export_saved_model(...)`          SavedModel whose serving signature
                                       takes ids and needs no labels;
  * `write_eval_results(...)`          eval_results.txt / .json + a table,
                                       and the numbers as TensorBoard scalars
                                       in output_dir/eval
                                       (`write_eval_summaries`).
"""

import collections
import errno
import hashlib
import json
import math
import os
import random
import re
import signal
import struct
import sys
import time
import traceback

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

import atomic_files
import modeling
import optimization
import run_settings
import tokenization

tf1 = tf.compat.v1
FLAGS = flags.FLAGS


class UserInputError(ValueError):
  """Bad input from the user: reported as one line, exit code 2."""


# ----------------------------------------------------------------------------
# Flags


def define_common_flags():
  """Registers the flags every task script has (Google's names).

  Idempotent: a process that imports two task scripts (tests) defines them
  once.
  """
  if "bert_config_file" in FLAGS:
    return
  f = flags
  f.DEFINE_string("bert_config_file", None,
                  "bert_config.json of the pre-trained model (its sizes).")
  f.DEFINE_string("vocab_file", None,
                  "vocab.txt the model was pre-trained with.")
  f.DEFINE_string("init_checkpoint", None,
                  "Checkpoint to start from, usually bert_model.ckpt of a "
                  "pre-trained model. Ignored once output_dir has checkpoints "
                  "of its own: training then resumes from those.")
  f.DEFINE_bool("do_lower_case", True,
                "Lower-case and strip accents; True for uncased models, "
                "False for cased ones.")
  f.DEFINE_integer("max_seq_length", 128,
                   "Word pieces per sequence after tokenisation, [CLS] and "
                   "[SEP] included; longer inputs are windowed or truncated.")
  f.DEFINE_bool("do_train", False, "Fine-tune on the training set.")
  f.DEFINE_bool("do_eval", False, "Evaluate on the dev set.")
  f.DEFINE_bool("do_predict", False, "Predict on the test set.")
  f.DEFINE_integer("train_batch_size", 32, "Sequences per training step.")
  f.DEFINE_integer("eval_batch_size", 8, "Sequences per eval step.")
  f.DEFINE_integer("predict_batch_size", 8, "Sequences per predict step.")
  f.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of the schedule.")
  f.DEFINE_float("num_train_epochs", 3.0, "Passes over the training set.")
  f.DEFINE_float("warmup_proportion", 0.1,
                 "Share of training steps spent warming the learning rate up "
                 "from 0 (0.1 = the first 10%).")
  f.DEFINE_enum("lr_schedule", "linear", list(optimization.SCHEDULES),
                "Learning-rate schedule after warmup; 'linear' is Google's "
                "(linear decay to 0).")
  f.DEFINE_float("weight_decay_rate", 0.01,
                 "Decoupled weight decay (AdamW); none on LayerNorm and bias.")
  f.DEFINE_integer("gradient_accumulation_steps", 1,
                   "Micro-batches whose gradients are averaged per update: "
                   "the update of a batch this many times larger.")
  f.DEFINE_bool("adam_bias_correction", False,
                "Adam's bias correction (as torch.optim.AdamW); off is "
                "Google's BERT update.")
  f.DEFINE_float("clip_norm", 1.0,
                 "Clip gradients to this global norm; 0 disables.")
  f.DEFINE_integer("save_checkpoints_steps", 1000,
                   "Steps between checkpoints (a killed run resumes from the "
                   "last one).")
  f.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept in output_dir.")
  f.DEFINE_integer("iterations_per_loop", 1000,
                   "Steps per TPU loop, also the host-call interval on TPU.")
  f.DEFINE_integer("log_every_n_steps", 50,
                   "Steps between progress lines (loss, learning rate, "
                   "examples/sec, ETA).")
  f.DEFINE_integer("save_summary_steps", None,
                   "Steps between TensorBoard summaries of training (loss, "
                   "learning_rate, gradient_norm, examples/sec) in "
                   "output_dir; default: --log_every_n_steps; 0 writes "
                   "none.")
  f.DEFINE_integer("random_seed", 12345,
                   "Seed of everything random in a run: new variables, "
                   "dropout masks, the order of the training records. The "
                   "same command and seed give bit-identical checkpoints on "
                   "CPU.")
  f.DEFINE_bool("deterministic", None,
                "TensorFlow's op determinism (tf.config.experimental."
                "enable_op_determinism): deterministic GPU kernels and "
                "tf.data. Default: on when no GPU is visible (on CPU it costs "
                "nothing measurable), off on GPUs, where it is slower; "
                "--deterministic turns it on there too.")
  f.DEFINE_bool("use_tpu", False, "Run on a Cloud TPU.")
  f.DEFINE_string("tpu_name", None, "Cloud TPU name or grpc:// address.")
  f.DEFINE_string("tpu_zone", None, "GCE zone of the TPU (found if unset).")
  f.DEFINE_string("gcp_project", None, "GCP project of the TPU (found if "
                  "unset).")
  f.DEFINE_string("master", None, "TensorFlow master URL.")
  f.DEFINE_integer("num_tpu_cores", 8, "TPU cores to use (with --use_tpu).")
  f.DEFINE_string("data_dir", None, "Folder with the task's data files.")
  f.DEFINE_string("output_dir", None,
                  "Folder for checkpoints, cached TFRecords, eval results and "
                  "predictions.")
  f.DEFINE_string("export_dir", None,
                  "If set, write a SavedModel for serving under this folder "
                  "(one timestamped sub-folder per export).")
  f.DEFINE_bool("overwrite_output_dir", False,
                "Train afresh in an output_dir that holds another run: first "
                "remove that run's checkpoints, cached records, results and "
                "run.json (only files the toolkit writes). Without it, a run "
                "whose settings differ from the folder's run.json stops.")
  f.DEFINE_string("output_prefix", None,
                  "Prefix of the prediction files (<prefix>_predictions.txt, "
                  "...). Default: Google's names for the first input "
                  "predicted into output_dir, the input's file name for any "
                  "other, so one input's results never overwrite another's.")
  _accept_level_names(FLAGS["verbosity"])
  app.usage = _grouped_usage


# The common flags as --help shows them, after the script's own flags.
COMMON_FLAG_GROUPS = (
    ("what to do", ("do_train", "do_eval", "do_predict", "export_dir")),
    ("model files", ("bert_config_file", "vocab_file", "init_checkpoint",
                     "do_lower_case", "max_seq_length")),
    ("folders", ("data_dir", "output_dir", "overwrite_output_dir",
                 "output_prefix")),
    ("training", ("train_batch_size", "learning_rate", "num_train_epochs",
                  "warmup_proportion", "lr_schedule", "weight_decay_rate",
                  "adam_bias_correction", "clip_norm",
                  "gradient_accumulation_steps", "random_seed",
                  "deterministic")),
    ("evaluation and prediction", ("eval_batch_size", "predict_batch_size")),
    ("checkpoints and logs", ("save_checkpoints_steps", "keep_checkpoint_max",
                              "log_every_n_steps", "save_summary_steps",
                              "verbosity")),
    ("TPU", ("use_tpu", "tpu_name", "tpu_zone", "gcp_project", "master",
             "num_tpu_cores", "iterations_per_loop")),
)
_absl_usage = app.usage


def _grouped_usage(shorthelp=False, writeto_stdout=False, detailed_error=None,
                   exitcode=None):
  """--help: the script's docstring, its own flags, then the common flags in
  groups (absl's own flags stay behind --helpfull)."""
  if not shorthelp:
    return _absl_usage(shorthelp, writeto_stdout, detailed_error, exitcode)
  out = sys.stdout if writeto_stdout else sys.stderr
  lines = [(sys.modules["__main__"].__doc__ or "").rstrip(), ""]
  script = os.path.basename(sys.argv[0])
  own = sorted(FLAGS.get_flags_for_module(sys.argv[0]), key=lambda f: f.name)
  # A script may also take a few common flags it set its own default for.
  own = [f for f in own if all(f.name not in names
                               for _, names in COMMON_FLAG_GROUPS)]
  sections = [("%s flags" % script, own)]
  for title, names in COMMON_FLAG_GROUPS:
    group = [FLAGS[n] for n in names if n in FLAGS]
    if group:
      sections.append(("common flags: " + title, group))
  for title, group in sections:
    if not group:
      continue
    lines.append(title + ":")
    FLAGS._render_flag_list(group, lines, prefix="  ")  # pylint: disable=protected-access
    lines.append("")
  out.write("\n".join(lines) + "\n")
  if detailed_error is not None:
    out.write("\n%s\n" % detailed_error)
  if exitcode is not None:
    sys.exit(exitcode)


_LEVEL_NAMES = {"debug": 1, "info": 0, "warning": -1, "error": -2,
                "fatal": -3}


class _LevelParser(flags.IntegerParser):
  """--verbosity as absl's integer or a level name (debug, info, ...)."""

  def parse(self, argument):
    if isinstance(argument, str) and argument.lower() in _LEVEL_NAMES:
      return _LEVEL_NAMES[argument.lower()]
    return super().parse(argument)


def _accept_level_names(flag):
  flag.parser = _LevelParser()
  flag.help = ("Log level: debug, info (default), warning, error, or "
               "absl's integer (1 = debug). debug also lists every "
               "variable and where it was initialised from.")


def debug_logging():
  """True when --verbosity asks for debug lines."""
  return FLAGS["verbosity"].value >= 1


def flag_error(message):
  raise UserInputError(message)


def require_flags(*names):
  missing = [n for n in names if getattr(FLAGS, n) in (None, "")]
  if missing:
    flag_error("missing required flag(s): %s"
               % ", ".join("--" + n for n in missing))


# ----------------------------------------------------------------------------
# Logs and errors


def quiet_tensorflow():
  """Keeps TensorFlow's own chatter out of the run's log.

  C++ INFO lines and Python deprecation notices drown the lines that matter
  (examples read, loss, metrics); they are switched off, not the estimator's
  own INFO log.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  try:
    from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
    deprecation._PRINT_DEPRECATION_WARNINGS = False  # pylint: disable=protected-access
  except ImportError:
    pass
  tf.get_logger().setLevel("ERROR")
  # INFO unless --verbosity says otherwise (absl applies the flag once it
  # parses the command line, after this).
  logging.set_verbosity(logging.INFO)
  import warnings  # pylint: disable=g-import-not-at-top
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  warnings.filterwarnings("ignore", category=UserWarning)


# Errors that mean "the input is wrong", reported without a traceback.
_USER_ERRORS = (UserInputError, modeling.BertConfigError)


def register_user_error(*exception_types):
  """Adds exception types that main_wrapper reports as one line."""
  global _USER_ERRORS
  _USER_ERRORS = tuple(_USER_ERRORS) + tuple(exception_types)


# What an OSError of a file the user named (or a folder to write in) means,
# by errno; others are bugs and keep their traceback.
_OS_ERROR_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space or write "
                  "elsewhere",
    errno.EFBIG: "the file size limit (ulimit -f) or the disk quota is "
                 "reached: raise it or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "this user may not read or write it: fix its permissions "
                  "or use another path",
    errno.EPERM: "this user may not read or write it: fix its permissions or "
                 "use another path",
    errno.ENOTDIR: "a file stands where a folder is expected",
    errno.EISDIR: "it is a folder; expected a file",
    errno.ENOENT: "check the path",
}


def describe_os_error(error):
  """One line for an OSError of a known kind (see _OS_ERROR_HINTS), naming
  the path; None for other errors."""
  hint = _OS_ERROR_HINTS.get(error.errno)
  if hint is None:
    return None
  # os.replace(tmp, final) names both: the final name is the one to show.
  path = error.filename2 or error.filename
  what = error.strerror or os.strerror(error.errno)
  if path is None:
    return "%s (%s)" % (what, hint)
  return "%s: %s (%s)" % (path, what, hint)


def os_error_from_tf(error, path=None):
  """The OSError behind a TensorFlow file-system error, or None.

  TensorFlow's POSIX file system reports `<path>; <strerror>` (e.g. a
  TFRecordWriter on a full disk: `out/.tmp-x; File too large`) without the
  errno; the strerror text gives it back. `path`, if given, replaces the
  file named in the message (the final name of a temp file).
  """
  message = getattr(error, "message", str(error))
  for number in _OS_ERROR_HINTS:
    text = os.strerror(number)
    if message.endswith(text) or ("; " + text) in message:
      named = message.split("; " + text)[0].strip().splitlines()[-1]
      named = named.rsplit("}}", 1)[-1].split(": ")[-1].strip()
      # TF's own temp names (graph.pbtxt.tmp<uuid>, *.tempstate<n>): the
      # file it was writing.
      named = re.sub(r"\.(tmp[0-9a-f]{32}|tempstate\d+)$", "", named)
      return OSError(number, text, path or named or None)
  return None


def main_wrapper(main):
  """Wraps an absl main so bad input is a one-line error and exit code 2.

  Bad input is a registered user error, or an OSError (or TensorFlow's
  file-system error) of a kind that _OS_ERROR_HINTS explains: a missing,
  unreadable or unwritable path, a full disk. --verbosity=debug also prints
  the traceback above the line.
  """

  def fail(message):
    if debug_logging():
      traceback.print_exc()
    sys.stderr.write("error: %s\n" % (message,))
    sys.stderr.flush()
    sys.exit(2)

  def wrapped(argv):
    try:
      return main(argv)
    except _USER_ERRORS as e:
      fail(e)
    except OSError as e:
      message = describe_os_error(e)
      if message is None and isinstance(e, (
          FileNotFoundError, IsADirectoryError, NotADirectoryError,
          PermissionError)):
        message = str(e)  # raised with a message of its own, no errno
      if message is None:
        raise
      fail(message)
    except tf.errors.OpError as e:
      cause = os_error_from_tf(e)
      if cause is None:
        raise
      fail(describe_os_error(cause))
    except KeyboardInterrupt:
      sys.stderr.write("interrupted; rerun with the same flags to resume "
                       "from the last checkpoint\n")
      sys.exit(130)

  return wrapped


# ----------------------------------------------------------------------------
# Killed runs: the tests' fault injection, and what a rerun tidies up

# Test-only fault injection: when this environment variable names a point,
# the process SIGKILLs itself there (unset, as in any real run, nothing
# happens). Points: "tfrecord_write" (a cached TFRecord half written),
# "checkpoint_write:<step>" (that checkpoint's data and index written, the
# `checkpoint` file not yet naming it), "export" (a SavedModel complete in its
# staging folder, not yet renamed into export_dir).
KILL_AT_ENV = "BERT_TOOLKIT_KILL_AT"


def kill_point(name):
  """Dies by SIGKILL if BERT_TOOLKIT_KILL_AT is `name` (tests only)."""
  if os.environ.get(KILL_AT_ENV) == name:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_checkpoint_kill_point():
  """BERT_TOOLKIT_KILL_AT=checkpoint_write:<step>: dies inside the save of
  that checkpoint, between its files and the `checkpoint` file's update (the
  next thing tf.compat.v1.train.Saver.save does)."""
  if not os.environ.get(KILL_AT_ENV, "").startswith("checkpoint_write:"):
    return
  from tensorflow.python.checkpoint import checkpoint_management  # pylint: disable=g-import-not-at-top
  update = checkpoint_management.update_checkpoint_state_internal
  if getattr(update, "kill_point", False):
    return

  def update_unless_killed(save_dir, model_checkpoint_path, *args, **kwargs):
    kill_point("checkpoint_write:" + model_checkpoint_path.rsplit("-", 1)[-1])
    return update(save_dir, model_checkpoint_path, *args, **kwargs)

  update_unless_killed.kill_point = True
  checkpoint_management.update_checkpoint_state_internal = update_unless_killed


_CHECKPOINT_FILE = re.compile(r"^model\.ckpt-(\d+)(\.|_temp)")
# TensorFlow's own temp names (file_io.atomic_write_string_to_file), for the
# `checkpoint` file, graph.pbtxt and each checkpoint's .meta.
_TF_TEMP_FILE = re.compile(
    r"^(checkpoint|graph\.pbtxt|model\.ckpt-\d+\.meta)\.tmp[0-9a-f]{32}$")


def discard_unfinished_checkpoints(output_dir, latest_step):
  """Removes what a killed checkpoint save left: files of checkpoints newer
  than the last complete one, and TensorFlow's temp files.

  A Saver names a checkpoint in output_dir/checkpoint only after writing its
  data and index, so files of a later step are a save a kill cut short (a
  `_temp` folder, data without an index, or both files never named). They
  are never restored; removed, no tool or user can take them for one. The
  `checkpoint` file, graph.pbtxt and .meta files are written to a
  `<name>.tmp<hex>` name and renamed; a kill can leave those behind. Called
  as training starts, when no other process writes to output_dir.

  Args:
    output_dir: the run's folder.
    latest_step: step of its last complete checkpoint; None (there is none)
      removes only the temp files.
  Returns:
    The names removed.
  """
  removed = []
  for name in sorted(tf.io.gfile.listdir(output_dir)):
    name = name.rstrip("/")
    match = _CHECKPOINT_FILE.match(name)
    if not _TF_TEMP_FILE.match(name) and (
        not match or latest_step is None or
        int(match.group(1)) <= latest_step):
      continue
    path = os.path.join(output_dir, name)
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    else:
      tf.io.gfile.remove(path)
    removed.append(name)
  if removed:
    logging.info("Removed %s of an unfinished checkpoint save in %s",
                 ", ".join(removed), output_dir)
  return removed


# ----------------------------------------------------------------------------
# Model, vocab and checkpoint checks


def check_mode_flags(*required, nothing_to_do_hint=""):
  """Flag checks every fine-tuning script shares, before any work starts.

  Something to do; the model files named; a checkpoint to start training
  from; and, when not training, a trained checkpoint to evaluate or predict
  with (else the model would silently run with random weights).

  Args:
    *required: further flag names the task needs.
    nothing_to_do_hint: appended to the "nothing to do" message.
  """
  if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict or
          FLAGS.export_dir):
    flag_error("nothing to do: pass at least one of --do_train, --do_eval, "
               "--do_predict, --export_dir" + nothing_to_do_hint)
  require_flags("output_dir")
  adopt_run_flags()
  if not FLAGS.do_train:
    _require_model_files()
  require_flags("vocab_file", "bert_config_file", *required)
  if FLAGS.do_train:
    require_flags("init_checkpoint")
  if (not FLAGS.do_train and not FLAGS.init_checkpoint and
      not tf.train.latest_checkpoint(FLAGS.output_dir)):
    flag_error("%s holds no trained checkpoint: run --do_train first (same "
               "--output_dir) or pass --init_checkpoint" % FLAGS.output_dir)
  check_sizes()
  check_writable_dir(FLAGS.output_dir, "output_dir")


def require_at_least(name, minimum, what=""):
  """--name must be >= minimum (an int flag)."""
  value = FLAGS[name].value
  if value is None or value < minimum:
    flag_error("--%s=%s: must be at least %d%s" % (name, value, minimum,
                                                  what))


def check_sizes():
  """Sizes and counts every script shares, checked before any work.

  Each flag is checked when the script defines it: max_seq_length >= 3
  ([CLS], a piece, [SEP]); batch sizes and gradient_accumulation_steps >= 1;
  num_train_epochs > 0 when training; doc_stride < max_seq_length (a stride
  of a whole window or more leaves no overlap between a long input's
  windows, so pieces near a window's edge never get context).
  """
  if "max_seq_length" in FLAGS and FLAGS.max_seq_length < 3:
    flag_error("--max_seq_length=%d: must be at least 3 ([CLS], one word "
               "piece, [SEP])" % FLAGS.max_seq_length)
  for name in ("train_batch_size", "eval_batch_size", "predict_batch_size",
               "batch_size", "gradient_accumulation_steps"):
    if name in FLAGS:
      require_at_least(name, 1)
  if ("do_train" in FLAGS and FLAGS.do_train and
      "num_train_epochs" in FLAGS and not FLAGS.num_train_epochs > 0):
    flag_error("--num_train_epochs=%g: must be greater than 0 (passes over "
               "the training set; 0.5 is half of it)"
               % FLAGS.num_train_epochs)
  if ("doc_stride" in FLAGS and "max_seq_length" in FLAGS and
      FLAGS.doc_stride >= FLAGS.max_seq_length):
    flag_error("--doc_stride=%d: must be smaller than --max_seq_length=%d "
               "(word pieces between the starts of a long input's windows; "
               "this leaves the windows no overlap)"
               % (FLAGS.doc_stride, FLAGS.max_seq_length))


def _blocking_file(path):
  """The first ancestor of `path` that exists and is not a folder, or None."""
  path = os.path.abspath(path)
  while True:
    if os.path.exists(path):
      return None if os.path.isdir(path) else path
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent


def check_writable_dir(path, flag):
  """Creates the folder `path` if needed and checks that files can be
  written in it, before any work: a run must not stop at its first write.

  Args:
    path: the folder (remote paths, gs://..., are only created).
    flag: the flag that named it, for the message (e.g. "output_dir"); or a
      phrase such as "the folder of --output_file".
  Raises:
    UserInputError: naming the folder (and the file in the way, if any).
  """
  name = ("--%s=%s" % (flag, path)) if flag.isidentifier() else (
      "%s %s" % (flag, path))
  if "://" in path:
    tf.io.gfile.makedirs(path)
    return
  blocker = _blocking_file(path)
  if blocker is not None:
    flag_error("%s: cannot create this folder: %s is a file (%s)" % (
        name, blocker, os.strerror(errno.ENOTDIR)))
  try:
    os.makedirs(path, exist_ok=True)
    os.remove(atomic_files.make_temp_file(path, prefix=".tmp-probe-"))
  except OSError as e:
    flag_error("%s: cannot write in this folder: %s (%s)" % (
        name, e.strerror or e, _OS_ERROR_HINTS.get(e.errno, "")))


# ----------------------------------------------------------------------------
# The run folder: settings recorded, checked and adopted (run_settings.py)


_RUN = {"task": None, "model_flags": (), "training_flags": (),
        "adopt_flags": (), "pending": None}


def register_run_settings(task, model_flags=(), training_flags=(),
                          adopt_flags=()):
  """Names the script's task and the flags its run folder records.

  Args:
    task: e.g. "ner"; a folder trained by another task is refused.
    model_flags: flags that shape the checkpoint (the head and its sizes);
      every later use of the folder must agree with them.
    training_flags: flags that shape the training run or its cached records
      (max_seq_length is always one); a rerun that trains must agree.
    adopt_flags: flags later runs take over when not given, unchecked
      (e.g. a generic file's column names).
  """
  _RUN.update(task=task, model_flags=tuple(model_flags),
              training_flags=tuple(training_flags),
              adopt_flags=tuple(adopt_flags))


def _recordable_flags():
  return (("do_lower_case", "max_seq_length") + _RUN["model_flags"] +
          _RUN["training_flags"] + _RUN["adopt_flags"])


def adopt_run_flags():
  """Evaluating, predicting or exporting from a trained output_dir: the
  flags not given on the command line take the run's values (model files,
  casing, max_seq_length, head), so --output_dir alone is enough. Training
  adopts nothing: it is checked against the run instead."""
  if FLAGS.do_train or not FLAGS.output_dir:
    return
  try:
    values = run_settings.recorded_flags(FLAGS.output_dir)
  except run_settings.RunSettingsError as e:
    flag_error(str(e))
  adopted = []
  for name, value in sorted(values.items()):
    if name not in FLAGS or FLAGS[name].present:
      continue
    if FLAGS[name].value != value:
      FLAGS[name].value = value
      adopted.append("--%s=%s" % (name, value))
  if adopted:
    logging.info("From %s: %s", os.path.join(FLAGS.output_dir,
                                             run_settings.RUN_FILE),
                 " ".join(adopted))


def _require_model_files():
  missing = [n for n in ("vocab_file", "bert_config_file")
             if not getattr(FLAGS, n)]
  if missing:
    flag_error("missing required flag(s): %s (%s has no %s of a training "
               "run to take them from)" % (
                   ", ".join("--" + n for n in missing), FLAGS.output_dir,
                   run_settings.RUN_FILE))


def _settings_now(train_data):
  """(model, training) settings of this run, for run.json."""
  model = {"task": _RUN["task"]}
  if FLAGS.bert_config_file and os.path.isfile(FLAGS.bert_config_file):
    try:
      with open(FLAGS.bert_config_file, encoding="utf-8") as f:
        model["bert_config"] = json.load(f)
    except ValueError:
      pass  # load_bert_config reports it.
  if FLAGS.vocab_file and os.path.isfile(FLAGS.vocab_file):
    model["vocab_sha256"] = file_fingerprint(FLAGS.vocab_file)
    model["do_lower_case"] = FLAGS.do_lower_case
  for name in _RUN["model_flags"]:
    model[name] = FLAGS[name].value
  training = {"max_seq_length": FLAGS.max_seq_length}
  for name in _RUN["training_flags"]:
    training[name] = FLAGS[name].value
  if train_data is not None:
    training["train_data"] = train_data
  return model, training


def train_data_fingerprint(paths):
  """One sha256 over the contents of the training files (in order)."""
  digest = hashlib.sha256()
  for path in paths:
    if not os.path.isfile(path):
      return None  # the reader reports it
    digest.update(file_fingerprint(path).encode("ascii"))
  return digest.hexdigest()


def check_run_settings(train_data=None):
  """Before any work: the output_dir's run and this one must agree.

  With --do_train --overwrite_output_dir the old run's files are removed
  first. Otherwise a folder whose run.json differs in any setting is refused
  with one line naming each difference. The settings are written to run.json
  only when training starts (record_run), once every input has passed its
  checks.

  Args:
    train_data: train_data_fingerprint of the training files, when training.
  """
  model, training = _settings_now(train_data)
  output_dir = FLAGS.output_dir
  if FLAGS.do_train and FLAGS.overwrite_output_dir:
    removed = run_settings.remove_run(output_dir)
    if removed:
      logging.info("--overwrite_output_dir: removed %d files of the previous "
                   "run from %s", len(removed), output_dir)
  else:
    try:
      run_settings.check(output_dir, model, training, FLAGS.do_train)
    except run_settings.RunSettingsError as e:
      flag_error(str(e))
    if (FLAGS.do_train and tf.train.latest_checkpoint(output_dir) and
        not (run_settings.load(output_dir) or {}).get("model")):
      logging.warning("%s holds checkpoints but no %s (an older toolkit "
                      "wrote it): its settings cannot be checked against "
                      "this run's", output_dir, run_settings.RUN_FILE)
  _RUN["pending"] = (model, training)


def record_run():
  """Writes run.json and copies bert_config.json / vocab.txt (training)."""
  model, training = _RUN["pending"] or _settings_now(None)
  tf.io.gfile.makedirs(FLAGS.output_dir)
  run_settings.record_training(
      FLAGS.output_dir, _RUN["task"], model, training,
      {name: FLAGS[name].value for name in _recordable_flags()},
      FLAGS.bert_config_file, FLAGS.vocab_file)


def prediction_prefix(default, source):
  """The prefix of the files predicted from `source` (see --output_prefix
  and run_settings.output_prefix): `default` for the task's own input, the
  file's stem for any other (default None)."""
  prefix = run_settings.output_prefix(FLAGS.output_dir, default, source,
                                      chosen=FLAGS.output_prefix)
  wanted = run_settings.file_stem(source) if default is None else default
  if not FLAGS.output_prefix and prefix != wanted:
    logging.info("%s holds the predictions of another input under %s: "
                 "those of %s are named %s_*", FLAGS.output_dir,
                 wanted + "_*" if wanted else "the default names", source,
                 prefix)
  return prefix


def load_model_files():
  """BertConfig, FullTokenizer and the checked --init_checkpoint (or None).

  Also creates --output_dir. Every mismatch between config, vocab and
  checkpoint is reported here, before any data is read or model built.
  """
  bert_config = load_bert_config(FLAGS.max_seq_length)
  tokenizer = load_tokenizer()
  checkpoint = None
  if FLAGS.init_checkpoint:
    checkpoint = check_init_checkpoint(FLAGS.init_checkpoint, bert_config,
                                       len(tokenizer.vocab))
  tf.io.gfile.makedirs(FLAGS.output_dir)
  return bert_config, tokenizer, checkpoint


def load_bert_config(max_seq_length):
  """Reads --bert_config_file and checks max_seq_length against it."""
  require_flags("bert_config_file")
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  if max_seq_length > config.max_position_embeddings:
    flag_error("--max_seq_length=%d is longer than max_position_embeddings=%d "
               "in %s" % (max_seq_length, config.max_position_embeddings,
                          FLAGS.bert_config_file))
  return config


def load_tokenizer():
  """FullTokenizer from --vocab_file/--do_lower_case, case checked."""
  require_flags("vocab_file")
  if FLAGS.init_checkpoint:
    try:
      tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case,
                                                    FLAGS.init_checkpoint)
    except ValueError as e:
      flag_error(str(e).strip())
  try:
    return tokenization.FullTokenizer(FLAGS.vocab_file, FLAGS.do_lower_case)
  except OSError as e:
    flag_error(describe_os_error(e) or str(e))
  except ValueError as e:
    flag_error(str(e))


def resolve_checkpoint(path):
  """A checkpoint prefix from a prefix or a folder; error if none is there."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest:
      return latest
    for name in ("bert_model.ckpt", "model.ckpt"):
      candidate = os.path.join(path, name)
      if tf.io.gfile.exists(candidate + ".index"):
        return candidate
    flag_error("%s: no checkpoint in this folder" % path)
  if not tf.io.gfile.exists(path + ".index"):
    flag_error("%s: checkpoint not found (expected %s.index)" % (path, path))
  return path


def check_checkpoint_complete(path):
  """Raises UserInputError when a checkpoint's data files are missing or
  shorter than its tensors (a copy or download cut short), which would
  otherwise fail deep inside training with a traceback.

  Only sizes are compared (the index lists every tensor's shape and dtype;
  the data files hold their bytes back to back), so nothing is read.
  """
  try:
    reader = tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    flag_error("%s: not a readable checkpoint (%s)" % (
        path, getattr(e, "message", e)))
  dtypes = reader.get_variable_to_dtype_map()
  needed = 0
  for name, shape in reader.get_variable_to_shape_map().items():
    dtype = dtypes[name]
    if dtype != tf.string:
      needed += int(math.prod(shape)) * dtype.size
  files = tf.io.gfile.glob(path + ".data-*-of-*")
  expected = int(files[0].rsplit("-of-", 1)[1]) if files else 1
  if len(files) != expected:
    flag_error("%s: %d of its %d data files (%s.data-*-of-%05d) are there; "
               "copy or download the checkpoint again" % (
                   path, len(files), expected, path, expected))
  have = sum(tf.io.gfile.stat(f).length for f in files)
  if have < needed:
    flag_error("%s: truncated checkpoint: its data files hold %d bytes but "
               "its tensors need %d; copy or download it again" % (
                   path, have, needed))


def check_init_checkpoint(init_checkpoint, bert_config, vocab_size):
  """Checks, before any training, that checkpoint, config and vocab agree.

  Args:
    init_checkpoint: checkpoint prefix or folder.
    bert_config: BertConfig.
    vocab_size: entries in the vocab file.
  Returns:
    The resolved checkpoint prefix.
  Raises:
    UserInputError: naming the tensor and the two shapes that disagree.
  """
  path = resolve_checkpoint(init_checkpoint)
  check_checkpoint_complete(path)
  shapes = dict(tf.train.list_variables(path))
  table = "bert/embeddings/word_embeddings"
  if table not in shapes:
    flag_error("%s: not a BERT checkpoint (no tensor %s)" % (path, table))
  rows, width = shapes[table]
  if rows != bert_config.vocab_size or width != bert_config.hidden_size:
    flag_error("%s: tensor %s is [%d, %d] but the BERT config says "
               "vocab_size=%d, hidden_size=%d" % (
                   path, table, rows, width, bert_config.vocab_size,
                   bert_config.hidden_size))
  if vocab_size != rows:
    flag_error("vocab file %s has %d entries but the checkpoint's %s has %d "
               "rows: the vocab does not belong to this checkpoint"
               % (FLAGS.vocab_file, vocab_size, table, rows))
  return path


# ----------------------------------------------------------------------------
# TFRecords


def int_feature(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def float_feature(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _to_tf_example(feature, spec):
  fields = collections.OrderedDict()
  for name, (kind, _) in spec.items():
    value = getattr(feature, name)
    if not isinstance(value, (list, tuple)):
      value = [value]
    fields[name] = (float_feature(value) if kind == "float"
                    else int_feature(value))
  return tf.train.Example(features=tf.train.Features(feature=fields))


def write_tfrecord(features, spec, path):
  """Writes features to `path` atomically (a temp file, then a rename).

  Args:
    features: iterable of objects with one attribute per spec entry.
    spec: OrderedDict name -> ("int"|"float", length).
    path: output file.
  Returns:
    Number of records written.
  """
  directory = os.path.dirname(path) or "."
  tmp_path = atomic_files.make_temp_file(directory)
  count = 0
  try:
    with tf.io.TFRecordWriter(tmp_path) as writer:
      for feature in features:
        writer.write(_to_tf_example(feature, spec).SerializeToString())
        count += 1
        if count == 1 and os.environ.get(KILL_AT_ENV) == "tfrecord_write":
          writer.flush()  # the tests' kill: one record on disk, then death
          kill_point("tfrecord_write")
    os.replace(tmp_path, path)
  except tf.errors.OpError as e:  # e.g. a full disk: name the final file
    cause = os_error_from_tf(e, path)
    if cause is None:
      raise
    raise cause from e
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
  return count


# Content hash (sha256 hex) of a file, for cache keys and run.json.
file_fingerprint = run_settings.sha256_of_file


def cached_tfrecord(output_dir, name, key, build_features, spec,
                    shuffle_seed=None):
  """Returns a TFRecord of features, reusing one built from the same inputs.

  The file name carries a hash of `key` (input file contents, vocab,
  max_seq_length, labels, ...), so a record is only reused for the exact
  inputs that produced it; a run killed while writing leaves only a temp file,
  never a half-written record under the final name.

  Args:
    output_dir: where records live.
    name: e.g. "train"; the file is `<name>-<hash>.tf_record`.
    key: JSON-serialisable dict of everything the features depend on.
    build_features: function () -> (list of features, info dict); called only
      when the record must be (re)built.
    spec: OrderedDict name -> ("int"|"float", length).
    shuffle_seed: if set, the records are written in a random order drawn
      from this seed (training data: files are often in document order, and
      the input_fn's shuffle buffer may hold only part of them).
  Returns:
    (path, num_records).
  """
  if shuffle_seed is not None:
    key = dict(key, shuffle_seed=shuffle_seed)
  blob = json.dumps(key, sort_keys=True).encode("utf-8")
  digest = hashlib.sha256(blob).hexdigest()[:16]
  path = os.path.join(output_dir, "%s-%s.tf_record" % (name, digest))
  meta_path = path + ".json"
  if tf.io.gfile.exists(path) and tf.io.gfile.exists(meta_path):
    with tf.io.gfile.GFile(meta_path) as f:
      count = json.load(f)["num_records"]
    logging.info("Reusing %s (%d records, same inputs)", path, count)
    return path, count
  atomic_files.remove_stale_temp(output_dir)  # e.g. a killed run's record
  features, _ = build_features()
  if shuffle_seed is not None:
    features = list(features)
    random.Random(shuffle_seed).shuffle(features)
  count = write_tfrecord(features, spec, path)
  write_json_atomic(meta_path, {"num_records": count, "key": key})
  logging.info("Wrote %d records to %s", count, path)
  return path, count


# Atomic, umask-respecting writers (kept here too: scripts call them as
# task_plumbing.write_*_atomic).
write_json_atomic = atomic_files.write_json_atomic
write_text_atomic = atomic_files.write_text_atomic


def name_to_features(spec):
  """tf.io parsing spec from our spec (OrderedDict name -> (kind, length))."""
  out = {}
  for name, (kind, length) in spec.items():
    dtype = tf.float32 if kind == "float" else tf.int64
    shape = [length] if length and length > 1 else []
    out[name] = tf.io.FixedLenFeature(shape, dtype)
  return out


def input_fn_builder(input_file, spec, is_training, drop_remainder,
                     shuffle_buffer=20000, seed=None):
  """Builds an input_fn reading `input_file` for TPUEstimator.

  The batch size comes from params["batch_size"], which TPUEstimator sets per
  mode (and per TPU core). Integers become int32: TPUs have no int64.

  Args:
    input_file: a TFRecord path or a list of them.
    spec: OrderedDict name -> ("int"|"float", length).
    is_training: repeat forever and shuffle.
    drop_remainder: only full batches (needed on TPU).
    shuffle_buffer: examples in the shuffle buffer. Large on purpose: a
      1000-record buffer over document-ordered CoNLL-2003 cost ~1 entity-F1
      point against a full shuffle (bench/results/ner_quality.md). Records
      are small (ids only), so 20000 of them take a few MB; training records
      are also written pre-shuffled (cached_tfrecord's shuffle_seed).
    seed: shuffle seed.
  Returns:
    input_fn(params, config=None) -> tf.data.Dataset of feature dicts. For
    training, when config.model_dir holds a checkpoint, the stream skips the
    records its global step has trained on: a resumed run (or the next chunk
    of a chunked one) sees the batches an uninterrupted run would.
  """
  parse_spec = name_to_features(spec)
  files = [input_file] if isinstance(input_file, str) else list(input_file)

  def decode(record):
    example = tf.io.parse_single_example(record, parse_spec)
    return {name: (tf.cast(t, tf.int32) if t.dtype == tf.int64 else t)
            for name, t in example.items()}

  def input_fn(params, config=None):
    batch_size = params["batch_size"]
    d = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 4))
    if is_training:
      # Shuffle before repeat: with a buffer as large as the data, every
      # epoch is then a full permutation (after repeat, the buffer would mix
      # epochs and an "epoch" would see only ~3/4 of the examples).
      d = d.shuffle(buffer_size=shuffle_buffer, seed=seed,
                    reshuffle_each_iteration=True)
      d = d.repeat()
      # Skipped before decoding: the records are only read, not parsed.
      d = d.skip(records_trained(config, params))
    d = d.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    return d.prefetch(tf.data.AUTOTUNE)

  return input_fn


def records_trained(config, params):
  """Training records consumed by the global step of config.model_dir's
  latest checkpoint (0 for a fresh run).

  Each step reads one batch of params["batch_size"] from this input
  pipeline, or on a TPU one per core of the host (PER_HOST_V2); with
  gradient accumulation a step is a micro-batch, as the global step counts.
  """
  model_dir = getattr(config, "model_dir", None)
  step = _checkpoint_step(model_dir) if model_dir else None
  if not step:
    return 0
  per_step = params["batch_size"]
  context = params.get("context")
  if context is not None:
    per_step *= getattr(context, "num_of_replicas_per_host", 1)
  logging.info("Input: skipping the %d training records of the %d steps "
               "trained already", step * per_step, step)
  return step * per_step


def num_padding_examples(num_examples, batch_size, use_tpu):
  """Fake examples to append so a TPU sees only full batches (else 0)."""
  if not use_tpu:
    return 0
  return (-num_examples) % batch_size


# ----------------------------------------------------------------------------
# The model function


TaskOutput = collections.namedtuple(
    "TaskOutput", ["loss", "predictions", "metric_fn", "metric_tensors"])
TaskOutput.__new__.__defaults__ = (None, None, None, None)


def optimizer_options():
  """create_optimizer keyword arguments from the common flags."""
  return dict(schedule=FLAGS.lr_schedule,
              weight_decay_rate=FLAGS.weight_decay_rate,
              clip_norm=FLAGS.clip_norm or None,
              gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
              bias_correction=FLAGS.adam_bias_correction)


def num_train_steps(num_examples, batch_size, num_epochs, warmup_proportion):
  steps = int(math.ceil(num_examples * num_epochs / float(batch_size)))
  return max(steps, 1), int(steps * warmup_proportion)


def init_from_checkpoint(init_checkpoint, use_tpu, log_variables=True,
                         own_checkpoint=None):
  """Sets initialisers from the checkpoint and says, in one line, where the
  trainable variables come from.

  Args:
    init_checkpoint: checkpoint prefix or None.
    use_tpu: initialise inside a scaffold_fn, as TPUs need.
    log_variables: log the summary line (training graphs); each variable's
      own line comes only with --verbosity=debug.
    own_checkpoint: the run's own latest checkpoint, when output_dir has one.
      The estimator restores every variable from it, so --init_checkpoint
      is not read at all.

  Returns:
    scaffold_fn for TPUEstimatorSpec (None when not on TPU).
  """
  tvars = tf1.trainable_variables()
  initialized = {}
  scaffold_fn = None
  if init_checkpoint and not own_checkpoint:
    assignment_map, initialized = (
        modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint))
    if use_tpu:
      def tpu_scaffold():
        tf1.train.init_from_checkpoint(init_checkpoint, assignment_map)
        return tf1.train.Scaffold()
      scaffold_fn = tpu_scaffold
    else:
      tf1.train.init_from_checkpoint(init_checkpoint, assignment_map)
  if not log_variables:
    return scaffold_fn
  for var in tvars:
    note = (", *RESTORED*" if own_checkpoint else
            ", *INIT_FROM_CKPT*" if var.name in initialized else "")
    logging.debug("  name = %s, shape = %s%s", var.name, var.shape, note)
  parameters = "{:,}".format(modeling.count_parameters(tvars))
  if own_checkpoint:
    logging.info("%d trainable variables (%s parameters) restored from the "
                 "run's own checkpoint %s", len(tvars), parameters,
                 own_checkpoint)
    return scaffold_fn
  fresh = [v.name for v in tvars if v.name not in initialized]
  if not init_checkpoint:
    logging.info("%d trainable variables (%s parameters), all newly "
                 "initialised (no --init_checkpoint)", len(tvars), parameters)
    return scaffold_fn
  shown = ", ".join(fresh[:12]) + (", and %d more" % (len(fresh) - 12)
                                   if len(fresh) > 12 else "")
  logging.info("%d of %d trainable variables (%s parameters) initialised "
               "from %s%s%s", len(tvars) - len(fresh), len(tvars), parameters,
               init_checkpoint,
               "" if debug_logging() else
               " (--verbosity=debug lists every variable)",
               "; newly initialised: " + shown if fresh else "")
  return scaffold_fn


class ProgressHook(tf1.train.SessionRunHook):
  """Logs step, loss, learning rate, examples/sec and ETA every N steps."""

  def __init__(self, loss, learning_rate, batch_size, total_steps, every_n):
    self._fetches = {"loss": loss, "lr": learning_rate,
                     "step": tf1.train.get_or_create_global_step()}
    self._batch_size = batch_size
    self._total_steps = total_steps
    self._every_n = max(1, every_n)
    self._last = None

  def before_run(self, run_context):
    return tf1.train.SessionRunArgs(self._fetches)

  def after_run(self, run_context, run_values):
    values = run_values.results
    step = int(values["step"]) + 1
    now = time.time()
    if self._last is None:
      self._last = (step, now)
      return
    if step % self._every_n and step < self._total_steps:
      return
    last_step, last_time = self._last
    rate = (step - last_step) / max(now - last_time, 1e-9)
    eta = max(self._total_steps - step, 0) / max(rate, 1e-9)
    logging.info("step %d/%d  loss %.4f  lr %.3g  %.1f examples/sec  ETA %s",
                 step, self._total_steps, values["loss"], values["lr"],
                 rate * self._batch_size, _format_seconds(eta))
    self._last = (step, now)


def _format_seconds(seconds):
  seconds = int(seconds)
  return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def model_fn_builder(bert_config, head_fn, init_checkpoint, learning_rate,
                     num_train_steps_, num_warmup_steps, use_tpu,
                     optimizer_options=None, log_every_n_steps=50,
                     train_batch_size=32, features_fn=None):
  """Returns a model_fn for TPUEstimator: BertModel + head + spec.

  Args:
    bert_config: BertConfig.
    head_fn: function (model, features, mode, params) -> TaskOutput; the task's
      head. `predictions` is a dict of tensors with a batch dimension (what the
      predict call and the SavedModel return); `metric_fn`/`metric_tensors`
      are the eval metrics as TPUEstimator expects them.
    init_checkpoint: checkpoint to initialise from (or None).
    learning_rate: peak learning rate.
    num_train_steps_: total training steps (micro-batches).
    num_warmup_steps: warmup steps.
    use_tpu: build for TPU (scaffold_fn, cross-shard optimizer).
    optimizer_options: dict of extra optimization.create_optimizer arguments
      (schedule, weight_decay_rate, gradient_accumulation_steps, ...).
    log_every_n_steps: progress log interval.
    train_batch_size: for examples/sec in the progress log.
    features_fn: optional function features -> the dict BertModel reads
      (input_ids, input_mask, segment_ids), e.g. multiple choice's reshape
      of [B, C, S] to [B*C, S]; head_fn still gets the original features.
  """

  def model_fn(features, labels, mode, params, config=None):  # pylint: disable=unused-argument
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    own = None
    if config is not None and config.model_dir:
      own = tf.train.latest_checkpoint(config.model_dir)
    inputs = features_fn(features) if features_fn else features
    if is_training and not use_tpu:
      # Masks keyed by the global step: a resumed run draws an uninterrupted
      # one's. Not on TPUs, whose cores share the step (and so would share
      # masks) outside tf.distribute.
      modeling.seed_dropout_by_step(tf1.train.get_or_create_global_step())
    model = modeling.BertModel(
        config=bert_config,
        is_training=is_training,
        input_ids=inputs["input_ids"],
        input_mask=inputs["input_mask"],
        token_type_ids=inputs["segment_ids"],
        use_one_hot_embeddings=use_tpu)
    out = head_fn(model, features, mode, params)
    scaffold_fn = init_from_checkpoint(init_checkpoint, use_tpu,
                                       log_variables=is_training,
                                       own_checkpoint=own)
    spec_cls = tf1.estimator.tpu.TPUEstimatorSpec

    if mode == tf.estimator.ModeKeys.TRAIN:
      train_op = optimization.create_optimizer(
          out.loss, learning_rate, num_train_steps_, num_warmup_steps,
          use_tpu, **(optimizer_options or {}))
      hooks = []
      if not use_tpu:
        lr = tf1.get_collection(optimization.LEARNING_RATE_COLLECTION)
        lr = lr[-1] if lr else tf.constant(learning_rate)
        hooks.append(ProgressHook(out.loss, lr, train_batch_size,
                                  num_train_steps_, log_every_n_steps))
      return spec_cls(mode=mode, loss=out.loss, train_op=train_op,
                      scaffold_fn=scaffold_fn, training_hooks=hooks)
    if mode == tf.estimator.ModeKeys.EVAL:
      return spec_cls(mode=mode, loss=out.loss,
                      eval_metrics=(out.metric_fn, out.metric_tensors),
                      scaffold_fn=scaffold_fn)
    return spec_cls(mode=mode, predictions=out.predictions,
                    scaffold_fn=scaffold_fn)

  return model_fn


# ----------------------------------------------------------------------------
# Estimator, export, results


def make_estimator(model_fn, params=None):
  """TPUEstimator from the common flags; use_tpu=False runs on CPU/GPU."""
  require_flags("output_dir")
  tpu_cluster_resolver = None
  if FLAGS.use_tpu and FLAGS.tpu_name:
    tpu_cluster_resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        FLAGS.tpu_name, zone=FLAGS.tpu_zone, project=FLAGS.gcp_project)
  set_determinism()
  _install_checkpoint_kill_point()
  session_config = tf1.ConfigProto(allow_soft_placement=True)
  session_config.gpu_options.allow_growth = True
  summary_steps = summary_interval()
  run_config = tf1.estimator.tpu.RunConfig(
      cluster=tpu_cluster_resolver,
      master=FLAGS.master,
      model_dir=FLAGS.output_dir,
      tf_random_seed=FLAGS.random_seed,
      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
      keep_checkpoint_max=FLAGS.keep_checkpoint_max,
      save_summary_steps=summary_steps,
      log_step_count_steps=_examples_per_sec_interval(summary_steps),
      session_config=session_config,
      tpu_config=tf1.estimator.tpu.TPUConfig(
          iterations_per_loop=FLAGS.iterations_per_loop,
          num_shards=FLAGS.num_tpu_cores,
          per_host_input_for_training=(
              tf1.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
  return tf1.estimator.tpu.TPUEstimator(
      use_tpu=FLAGS.use_tpu,
      model_fn=model_fn,
      config=run_config,
      params=params,
      train_batch_size=FLAGS.train_batch_size,
      eval_batch_size=FLAGS.eval_batch_size,
      predict_batch_size=FLAGS.predict_batch_size,
      # A second ("serve", "tpu") graph in the SavedModel would make a plain
      # tf.saved_model.load(path) fail for want of tags; add it only for TPUs.
      export_to_tpu=FLAGS.use_tpu)


def set_determinism():
  """Applies --deterministic; by default op determinism is on unless a GPU
  is visible.

  On CPU it changes nothing measurable (CPU kernels are deterministic
  already; it pins tf.data's order and refuses unseeded random ops); on GPUs
  it selects deterministic cuDNN algorithms and segment sums and runs scatter
  ops on the CPU, which costs time. It cannot be switched off again in the
  same process.

  Returns:
    Whether op determinism is on.
  """
  wanted = FLAGS.deterministic
  if wanted is None:
    wanted = not tf.config.list_physical_devices("GPU")
  if wanted:
    tf.config.experimental.enable_op_determinism()
  logging.debug("Op determinism %s", "on" if wanted else "off")
  return wanted


def summary_interval():
  """Steps between training summaries: --save_summary_steps, by default
  --log_every_n_steps; 0 = none."""
  steps = FLAGS.save_summary_steps
  if steps is None:
    steps = max(FLAGS.log_every_n_steps, 1)
  if steps < 0:
    flag_error("--save_summary_steps must be >= 0 (0 writes no summaries), "
               "got %d" % steps)
  return steps


def _examples_per_sec_interval(summary_steps):
  """RunConfig.log_step_count_steps that makes TPUEstimator's own
  ExamplesPerSecondHook (the `examples/sec` and `global_step/sec` summaries)
  fire every `summary_steps` steps.

  TPUEstimator divides the value by iterations_per_loop (rounding up), as a
  TPU session.run is a whole loop; on CPU/GPU a run is one step, so without
  the product it would fire on every step.
  """
  steps = summary_steps or max(FLAGS.log_every_n_steps, 1) * 10
  return steps if FLAGS.use_tpu else steps * max(FLAGS.iterations_per_loop, 1)


def log_resume_point(output_dir, max_steps):
  """Records the run (run.json, model files) as training starts, and says
  where it starts when output_dir holds checkpoints already.

  The estimator then restores every variable from the run's own last
  checkpoint (--init_checkpoint is not read), and trains on from its step;
  the input_fn skips the records trained on, and dropout masks are keyed by
  the step, so the rerun of a killed run ends where an uninterrupted one
  would. What a kill left half-written (temp files of dead processes,
  unfinished checkpoint saves) is removed first.

  Returns:
    The global step training starts from (0 for a fresh run).
  """
  record_run()
  atomic_files.remove_stale_temp(output_dir)
  latest = tf.train.latest_checkpoint(output_dir)
  if not latest:
    discard_unfinished_checkpoints(output_dir, None)
    return 0
  step = int(tf.train.load_variable(latest, "global_step"))
  discard_unfinished_checkpoints(output_dir, step)
  accumulation = FLAGS.gradient_accumulation_steps
  if accumulation > 1 and step % accumulation and step < max_steps:
    logging.warning(
        "Step %d is inside an accumulation of %d micro-batches, whose "
        "gradients checkpoints do not hold: the first update averages only "
        "the rest. A --save_checkpoints_steps multiple of "
        "--gradient_accumulation_steps keeps resumes exact.", step,
        accumulation)
  if step >= max_steps:
    logging.info("%s is at global step %d of %d: nothing left to train",
                 latest, step, max_steps)
  else:
    logging.info("Resuming training from %s (global step %d of %d)",
                 latest, step, max_steps)
  return step


def export_saved_model(estimator, export_dir, max_seq_length,
                       checkpoint_path=None, receiver_fn=None, log=True):
  """Writes a SavedModel whose `serving_default` takes ids, no labels.

  Inputs: int32 `input_ids`, `input_mask`, `segment_ids`, each [B, S]. The
  outputs are the task head's `predictions` dict. The estimator writes into a
  temp folder and renames it, so a killed export leaves nothing half-done.

  A task with other inputs (multiple choice's [B, C, S], a raw-text
  signature) passes its own `receiver_fn` returning a ServingInputReceiver.
  A caller that moves the result elsewhere passes log=False and logs the
  final path itself.

  Returns:
    The path of the new timestamped SavedModel folder.
  """

  def ids_receiver_fn():
    # Called inside the export graph, so placeholders are allowed here.
    inputs = {name: tf1.placeholder(tf.int32, [None, max_seq_length],
                                    name=name)
              for name in ("input_ids", "input_mask", "segment_ids")}
    return tf1.estimator.export.ServingInputReceiver(inputs, inputs)

  path = estimator.export_saved_model(export_dir,
                                      receiver_fn or ids_receiver_fn,
                                      checkpoint_path=checkpoint_path)
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  if log:
    logging.info("Exported SavedModel to %s", path)
  return path


def format_table(rows, headers):
  """Aligned plain-text table: rows is a list of tuples of cells."""
  cells = [list(map(str, headers))] + [[_cell(c) for c in r] for r in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
  lines = ["  ".join(c.rjust(w) if i else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths)))
           for r in cells]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def _cell(value):
  if isinstance(value, float):
    return "%.4f" % value
  return str(value)


def write_eval_results(output_dir, results, name="eval_results",
                       summaries=True):
  """Writes `<name>.txt` (Google's `key = value` lines) and `<name>.json`.

  With `summaries`, also every number of `results` as a TensorBoard scalar in
  eval_summary_dir(output_dir, name), at the evaluated step (see
  write_eval_summaries). A caller that writes its own summaries (one per
  evaluated checkpoint) passes summaries=False.
  """
  clean = {}
  for key, value in sorted(results.items()):
    if hasattr(value, "item"):
      value = value.item()
    clean[key] = value
  write_text_atomic(os.path.join(output_dir, name + ".txt"), "".join(
      "%s = %s\n" % (k, v) for k, v in clean.items()))
  write_json_atomic(os.path.join(output_dir, name + ".json"), clean)
  logging.info("***** %s *****\n%s", name, format_table(
      [(k, v) for k, v in clean.items()], ("metric", "value")))
  if summaries:
    write_eval_summaries(eval_summary_dir(output_dir, name), clean,
                         output_dir=output_dir)
  return clean


# Results keys that only rename what the estimator's evaluate already wrote
# to the same folder under another tag.
_SUMMARY_ALIASES = {"eval_loss": "loss"}


def eval_summary_dir(output_dir, name="eval_results"):
  """The TensorBoard folder of the results file `<name>.txt`.

  `eval_results` goes to output_dir/eval, where the estimator's evaluate
  writes its own metrics; `<prefix>_eval_results` or `<prefix>_results`
  (another input's scores) to output_dir/eval_<prefix>, so each input is its
  own run in TensorBoard.
  """
  stem = name
  for suffix in ("eval_results", "_results"):
    if stem.endswith(suffix):
      stem = stem[:-len(suffix)].rstrip("_")
      break
  return os.path.join(output_dir, "eval_" + stem if stem else "eval")


def _summary_values_at(directory, step):
  """{tag: set of values} the event files of `directory` hold at `step`."""
  found = collections.defaultdict(set)
  pattern = os.path.join(directory, "events.out.tfevents.*")
  for path in tf.io.gfile.glob(pattern):
    try:
      for event in tf1.train.summary_iterator(path):
        if event.step == step:
          for value in event.summary.value:
            if value.HasField("simple_value"):
              found[value.tag].add(_as_float32(value.simple_value))
    except tf.errors.DataLossError:
      pass  # A file cut short by a killed run: what it holds was read.
  return found


def _as_float32(number):
  """The number as an event file stores it (float32); NaN as None, so that
  two NaNs compare equal."""
  if math.isnan(number):
    return None
  try:
    return struct.unpack("f", struct.pack("f", number))[0]
  except OverflowError:  # beyond float32's range
    return math.copysign(math.inf, number)


def _checkpoint_step(output_dir):
  latest = output_dir and tf.train.latest_checkpoint(output_dir)
  if not latest:
    return None
  try:
    return int(tf.train.load_variable(latest, "global_step"))
  except (tf.errors.OpError, ValueError):
    return None


def write_eval_summaries(directory, results, step=None, output_dir=None):
  """Writes the numbers of `results` as TensorBoard scalars.

  Metrics the estimator's evaluate computes in the graph are in its eval
  folder already; this adds those computed in Python after predicting (NER's
  entity scores, SQuAD's EM/F1, a classifier's F1 or correlations), with
  the key as the tag. A value `directory` holds already under the same tag
  at the same step (the estimator's, or an earlier evaluation of the same
  checkpoint on the same data) is not written again, so no point shows
  twice. Non-numbers (paths) and `global_step` are left out.

  Args:
    directory: the folder for the event file, e.g. output_dir/eval.
    results: dict key -> value.
    step: the global step evaluated; None takes results["global_step"], else
      the step of the latest checkpoint in `output_dir`.
    output_dir: the run's folder (for the step).
  Returns:
    The sorted tags written; none when no step is known (scores of a
    predictions file with no checkpoint behind it).
  """
  if step is None:
    step = results.get("global_step")
  if step is None:
    step = _checkpoint_step(output_dir)
  if step is None:
    logging.debug("No checkpoint step for the scores: no TensorBoard summary")
    return []
  step = int(step)
  done = (_summary_values_at(directory, step) if tf.io.gfile.isdir(directory)
          else {})
  values = []
  for key, value in sorted(results.items()):
    if hasattr(value, "item"):
      value = value.item()
    if (key == "global_step" or isinstance(value, bool) or
        not isinstance(value, (int, float))):
      continue
    stored = _as_float32(float(value))
    if any(stored in done.get(tag, ()) for tag in (
        key, _SUMMARY_ALIASES.get(key))):
      continue
    values.append(tf1.Summary.Value(tag=key, simple_value=float(value)))
  if not values:
    return []
  tf.io.gfile.makedirs(directory)
  # The estimator keeps one open writer per eval folder: appending through it
  # keeps one event file per folder, in step order, which TensorBoard's
  # loaders expect of a folder written to in one process. A new file gets a
  # suffix of its own, in time order: two writers opened in the same second
  # would otherwise pick the same name, and the second would truncate the
  # first's file.
  cached = getattr(tf1.summary.FileWriterCache, "_cache", {}).get(directory)
  with tf.Graph().as_default():
    writer = cached or tf1.summary.FileWriter(
        directory, filename_suffix=".%019d.%d" % (time.time_ns(),
                                                   os.getpid()))
    writer.add_summary(tf1.Summary(value=values), step)
    writer.flush()
    if not cached:
      writer.close()
  return [v.tag for v in values]
