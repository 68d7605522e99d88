"""Helpers shared by the end-to-end tests of the command-line scripts.

  * a tiny random BERT in Google's layout (vocab.txt, bert_config.json,
    bert_model.ckpt) for the run_*.py tests: `write_tiny_bert`;
  * running a script in a fresh interpreter, as a user runs it, and checking
    how it ended: `run_script`, `assert_ok`, `assert_one_line_error`;
  * small file helpers (`write_lines`, `read_text`, `saved_model_path`) and
    the names of Google's pretraining heads.

TensorFlow and modeling are imported inside the functions that need them, so
that importing this module stays cheap for tests that only run scripts.
"""
import glob
import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# 2 layers, hidden 32: every run of a script on it takes seconds.
TINY_BERT_CONFIG = dict(hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        hidden_act="gelu", hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1,
                        max_position_embeddings=64, type_vocab_size=2,
                        initializer_range=0.02)

# The variables of BertForPreTraining's heads, as Google's checkpoints name
# them (spelled out here, independently of the converter).
PRETRAINING_HEAD_NAMES = ["cls/predictions/transform/dense/kernel",
                          "cls/predictions/transform/dense/bias",
                          "cls/predictions/transform/LayerNorm/gamma",
                          "cls/predictions/transform/LayerNorm/beta",
                          "cls/predictions/output_bias",
                          "cls/seq_relationship/output_weights",
                          "cls/seq_relationship/output_bias"]

# ----------------------------------------------------------------------------
# Files


def write_lines(path, lines):
  """Writes one entry a line (UTF-8, final newline); returns the path."""
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return str(path)


def read_text(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def saved_model_path(export_dir):
  """The one timestamped SavedModel folder an estimator export wrote."""
  paths = [p for p in glob.glob(os.path.join(export_dir, "*"))
           if os.path.exists(os.path.join(p, "saved_model.pb"))]
  assert len(paths) == 1, paths
  return paths[0]


# ----------------------------------------------------------------------------
# A tiny random BERT


def tiny_bert_config(vocab_size, **overrides):
  """TINY_BERT_CONFIG for a vocab of vocab_size, with overrides."""
  config = dict(TINY_BERT_CONFIG, vocab_size=vocab_size)
  config.update(overrides)
  return config


def save_random_bert(config, path, seq_length=8):
  """Saves a randomly initialised BertModel (no heads) as a Google-layout
  checkpoint at path; returns the checkpoint prefix."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import modeling  # pylint: disable=g-import-not-at-top
  tf1 = tf.compat.v1
  with tf.Graph().as_default():
    ids = tf1.placeholder(tf.int32, [None, seq_length])
    modeling.BertModel(modeling.BertConfig.from_dict(config), False, ids)
    saver = tf1.train.Saver()
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      return saver.save(session, str(path), write_meta_graph=False)


def write_tiny_bert(folder, vocab_tokens=None, vocab_file=None,
                    **config_overrides):
  """vocab.txt, bert_config.json and bert_model.ckpt of a tiny random BERT.

  The vocab is vocab_tokens written to folder/vocab.txt, or an existing
  vocab_file used as it is; its size sets vocab_size. config_overrides
  change TINY_BERT_CONFIG. Returns dict(vocab, config, ckpt, vocab_size):
  the three paths, as the flags --vocab_file, --bert_config_file and
  --init_checkpoint take them, and the number of vocab entries.
  """
  folder = str(folder)
  if (vocab_tokens is None) == (vocab_file is None):
    raise ValueError("pass exactly one of vocab_tokens and vocab_file")
  if vocab_file is None:
    vocab_tokens = list(vocab_tokens)
    vocab_file = write_lines(os.path.join(folder, "vocab.txt"), vocab_tokens)
    vocab_size = len(vocab_tokens)
  else:
    vocab_size = len(read_text(vocab_file).splitlines())
  config = tiny_bert_config(vocab_size, **config_overrides)
  config_path = os.path.join(folder, "bert_config.json")
  with open(config_path, "w") as f:
    json.dump(config, f)
  ckpt = save_random_bert(config, os.path.join(folder, "bert_model.ckpt"))
  return dict(vocab=str(vocab_file), config=config_path, ckpt=ckpt,
              vocab_size=vocab_size)


def model_flags(model, **values):
  """--name=value flags naming a write_tiny_bert model, then values; a
  value of None leaves its flag out (e.g. init_checkpoint=None)."""
  flags = dict(vocab_file=model["vocab"], bert_config_file=model["config"],
               init_checkpoint=model["ckpt"])
  flags.update(values)
  return ["--%s=%s" % (k, v) for k, v in flags.items() if v is not None]


# ----------------------------------------------------------------------------
# Running scripts


def run_command(command, cwd=REPO_ROOT, env=None, timeout=600):
  """Runs command (a list) with TF's C++ logging quiet and env's entries
  added to the environment; returns the CompletedProcess (text output)."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  full_env.update(env or {})
  return subprocess.run(list(command), cwd=cwd, env=full_env,
                        capture_output=True, text=True, timeout=timeout)


def run_script(args, script=None, cwd=REPO_ROOT, env=None, timeout=600,
               check=False):
  """`python [script] args...` in a fresh interpreter (see run_command);
  with check, it must exit 0 (assert_ok).

  Each run_*.py defines its flags at import, so two of them cannot share the
  test process: a subprocess is also how a user runs them.
  """
  command = [sys.executable] + ([script] if script else []) + list(args)
  proc = run_command(command, cwd=cwd, env=env, timeout=timeout)
  return assert_ok(proc) if check else proc


def assert_ok(proc, what="", tail=4000):
  """The process exited 0; otherwise fails with the end of its stderr."""
  assert proc.returncode == 0, "%sexit %d\n%s" % (
      what + ": " if what else "", proc.returncode, proc.stderr[-tail:])
  return proc


def last_line(proc):
  """The last line of the process's stderr (where a one-line error is)."""
  return proc.stderr.strip().splitlines()[-1]


def assert_one_line_error(proc, *needles, returncode=None, anywhere=False):
  """The process failed cleanly: a non-zero exit (or exactly returncode),
  no traceback, and exactly one line of stderr that starts with `error:`
  (with anywhere=True: that holds `error:`, e.g. after a `prog: ` prefix),
  holding every needle. Returns that line."""
  if returncode is None:
    assert proc.returncode != 0, proc.stderr[-4000:]
  else:
    assert proc.returncode == returncode, proc.stderr[-4000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
  lines = proc.stderr.splitlines()
  if anywhere:
    errors = [l for l in lines if "error:" in l]
  else:
    errors = [l for l in lines if l.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-4000:]
  for needle in needles:
    assert needle in errors[0], errors[0]
  return errors[0]
