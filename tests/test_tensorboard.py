"""TensorBoard summaries of training and evaluation, read back from the event
files.

Training (every task, through task_plumbing and optimization): `loss`,
`learning_rate`, `gradient_norm` (before clipping) and TPUEstimator's
`examples/sec` / `global_step/sec`, every --save_summary_steps steps, in
output_dir. Evaluation: every number of eval_results, in output_dir/eval at
the evaluated checkpoint's step; the metrics computed in Python after
predicting (NER's entity scores per type, SQuAD's EM/F1) included.

Two script runs (NER train + eval, SQuAD train + predict-and-score on a tiny
random BERT), and the gradient accumulation case in-process.
"""

import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

import helpers
import ner_data
import ner_metrics
import optimization
import test_run_ner
import test_run_squad
import test_squad_data

tf1 = tf.compat.v1

# ----------------------------------------------------------------------------
# Reading event files


def read_scalars(folder):
  """{tag: [(step, value), ...]} of every event file directly in `folder`.

  Both encodings are read: simple_value (what the estimator and
  task_plumbing write) and a scalar tensor (TF2's tf.summary).
  """
  paths = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
  assert paths, "no event file in %s" % folder
  scalars = {}
  for path in paths:
    for event in tf1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField("simple_value"):
          number = value.simple_value
        elif value.HasField("tensor") and value.tensor.dtype in (
            tf.float32.as_datatype_enum, tf.float64.as_datatype_enum):
          number = float(tf.make_ndarray(value.tensor))
        else:
          continue  # e.g. the estimator's checkpoint_path string
        scalars.setdefault(value.tag, []).append((event.step, number))
  return scalars


def checkpoint_step(output_dir):
  return int(tf.train.load_variable(tf.train.latest_checkpoint(output_dir),
                                    "global_step"))


def google_linear_lr(peak, step, total, warmup):
  """Google's schedule, written out: linear warmup, then linear decay."""
  if step < warmup:
    return peak * step / warmup
  return peak * (1.0 - min(step, total) / total)


def assert_all_finite(scalars):
  for tag, points in scalars.items():
    for step, value in points:
      assert math.isfinite(value), (tag, step, value)


def assert_once_per_step(scalars):
  """No tag written twice at one step (the estimator's and ours)."""
  for tag, points in scalars.items():
    steps = [s for s, _ in points]
    assert len(steps) == len(set(steps)), (tag, steps)


# ----------------------------------------------------------------------------
# NER: train + eval


NER_PEAK_LR = 1e-3
NER_WARMUP_PROPORTION = 0.25


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("tb_ner"))
  data = os.path.join(root, "data")
  os.makedirs(data)
  ner_data.write_sample_ner_data(data, num_train=32, num_dev=8, num_test=8)
  model = helpers.write_tiny_bert(os.path.join(root),
                                  test_run_ner.vocab_tokens(data))
  out = os.path.join(root, "out")
  # Progress lines every 50 steps, summaries every 2: the flags are apart.
  helpers.run_script(
      ["--do_train", "--do_eval", "--data_dir=" + data, "--output_dir=" + out,
       "--num_train_epochs=2", "--learning_rate=%g" % NER_PEAK_LR,
       "--warmup_proportion=%g" % NER_WARMUP_PROPORTION,
       "--save_summary_steps=2", "--log_every_n_steps=50"] +
      helpers.model_flags(model, max_seq_length=32, train_batch_size=4,
                          eval_batch_size=8),
      "run_ner.py", check=True)
  return dict(out=out, data=data)


def test_ner_training_summaries(ner_run):
  out = ner_run["out"]
  total = checkpoint_step(out)
  assert total == 16  # 32 sentences, batch 4, 2 epochs.
  warmup = int(total * NER_WARMUP_PROPORTION)
  scalars = read_scalars(out)
  for tag in ("loss", "learning_rate", "gradient_norm", "examples/sec",
              "global_step/sec"):
    assert tag in scalars, sorted(scalars)
  assert_all_finite(scalars)
  assert_once_per_step(scalars)

  # Every 2 steps, not every step (TPUEstimator's examples/sec hook fires on
  # every CPU step unless told otherwise) and not every 50.
  for tag in ("learning_rate", "examples/sec"):
    steps = [s for s, _ in scalars[tag]]
    assert 4 <= len(steps) <= total // 2 + 1, (tag, steps)
    assert all(b - a >= 2 for a, b in zip(steps, steps[1:])), (tag, steps)

  # The value recorded at global step s is the rate that step s used: the
  # schedule at s - 1 (the step counter increments after the update).
  lrs = scalars["learning_rate"]
  for step, value in lrs:
    want = google_linear_lr(NER_PEAK_LR, step - 1, total, warmup)
    assert value == pytest.approx(want, rel=1e-5, abs=1e-12), (step, value)
  assert any(0 < s - 1 < warmup for s, _ in lrs)  # seen warming up
  assert any(s - 1 > warmup for s, _ in lrs)  # and decaying

  assert all(v > 0 for _, v in scalars["gradient_norm"])
  assert all(v > 0 for _, v in scalars["examples/sec"])
  assert all(v > 0 for _, v in scalars["loss"])


def test_ner_eval_summaries(ner_run):
  out = ner_run["out"]
  step = checkpoint_step(out)
  scalars = read_scalars(os.path.join(out, "eval"))
  assert_all_finite(scalars)
  assert_once_per_step(scalars)
  with open(os.path.join(out, "eval_results.json")) as f:
    results = json.load(f)

  types = set()
  for example in ner_data.read_conll(os.path.join(ner_run["data"],
                                                  "dev.txt")):
    types.update(t for t, _, _ in ner_metrics.get_entities(example.labels))
  assert len(types) >= 3, types
  wanted = ["entity_precision", "entity_recall", "entity_f1", "token_f1"]
  for entity_type in sorted(types):
    wanted += ["entity_%s/%s" % (name, entity_type)
               for name in ("precision", "recall", "f1")]
  for tag in wanted:
    assert tag in scalars, (tag, sorted(scalars))
    (got_step, value), = scalars[tag]
    assert got_step == step
    assert 0.0 <= value <= 1.0
    # The same number as eval_results.json (float32 in the event file).
    assert value == pytest.approx(results[tag], rel=1e-6, abs=1e-7)
  # The eval loss is the estimator's `loss`, at the same step.
  assert scalars["loss"][0] == (step, pytest.approx(results["eval_loss"],
                                                    rel=1e-6))


# ----------------------------------------------------------------------------
# SQuAD 2.0: train + predict, scored in Python


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("tb_squad"))
  model = helpers.write_tiny_bert(
      root, vocab_file=test_squad_data.write_vocab(
          os.path.join(root, "vocab.txt")),
      max_position_embeddings=128)
  train, dev = test_run_squad.squad_v2_files(root)
  out = os.path.join(root, "out")
  helpers.run_script(
      ["--do_train", "--do_predict", "--train_file=" + train,
       "--predict_file=" + dev, "--output_dir=" + out,
       "--version_2_with_negative", "--max_seq_length=64", "--doc_stride=24",
       "--max_query_length=16", "--train_batch_size=8",
       "--num_train_epochs=1", "--learning_rate=1e-3",
       "--save_summary_steps=1"] + helpers.model_flags(model),
      "run_squad.py", check=True)
  return dict(out=out)


def test_squad_summaries(squad_run):
  out = squad_run["out"]
  step = checkpoint_step(out)
  training = read_scalars(out)
  for tag in ("loss", "learning_rate", "gradient_norm", "examples/sec"):
    assert tag in training, sorted(training)
  assert_all_finite(training)
  assert all(v > 0 for _, v in training["gradient_norm"])

  scalars = read_scalars(os.path.join(out, "eval"))
  assert_all_finite(scalars)
  assert_once_per_step(scalars)
  with open(os.path.join(out, "eval_results.json")) as f:
    results = json.load(f)
  numbers = {k for k, v in results.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
  assert {"exact_match", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact",
          "NoAns_f1", "best_exact", "best_f1", "total"} <= numbers
  assert set(scalars) == numbers
  for tag in numbers:
    (got_step, value), = scalars[tag]
    assert got_step == step
    assert value == pytest.approx(results[tag], rel=1e-6, abs=1e-6)
  for tag in ("exact_match", "f1", "HasAns_f1", "NoAns_f1", "best_f1"):
    assert 0.0 <= scalars[tag][0][1] <= 100.0


# ----------------------------------------------------------------------------
# gradient_norm with gradient accumulation (in-process, a linear model)


def test_gradient_norm_with_accumulation():
  """The norm of the applied mean gradient, before clipping, held between
  updates (0 before the first)."""
  accum, micro_steps = 2, 7
  rng = np.random.RandomState(0)
  batches = [(rng.normal(size=(4, 3)).astype(np.float32) * 3,
              rng.normal(size=(4, 2)).astype(np.float32))
             for _ in range(micro_steps)]
  graph = tf.Graph()
  with graph.as_default():
    x = tf1.placeholder(tf.float32, [None, 3])
    y = tf1.placeholder(tf.float32, [None, 2])
    kernel = tf1.get_variable("kernel", initializer=tf.ones([3, 2]))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, kernel) - y))
    train_op = optimization.create_optimizer(
        loss, 0.05, 10 * accum, 0, False, clip_norm=1.0,
        gradient_accumulation_steps=accum)
    grad, = tf.gradients(loss, [kernel])
    merged = tf1.summary.merge_all()
    with tf1.Session(graph=graph) as sess:
      sess.run([tf1.global_variables_initializer(),
                tf1.local_variables_initializer()])
      expected, seen, pending, last = [], [], [], 0.0
      for batch_x, batch_y in batches:
        feed = {x: batch_x, y: batch_y}
        pending.append(sess.run(grad, feed))  # at the variables it will use
        _, summary = sess.run([train_op, merged], feed)
        if len(pending) == accum:
          last = float(np.linalg.norm(np.mean(pending, axis=0)))
          pending = []
        expected.append(last)
        values = {v.tag: v.simple_value
                  for v in tf1.Summary.FromString(summary).value}
        seen.append(values["gradient_norm"])
  assert expected[0] == 0.0 and max(expected) > 1.0  # above clip_norm
  np.testing.assert_allclose(seen, expected, rtol=1e-5)


# ----------------------------------------------------------------------------
# write_eval_summaries: the step, and no point written twice


def test_write_eval_summaries_step_and_duplicates(tmp_path):
  import task_plumbing  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path / "eval")
  # What the estimator's evaluate writes first: its loss at step 5.
  with tf.Graph().as_default():
    writer = tf1.summary.FileWriter(folder)
    writer.add_summary(tf1.Summary(value=[
        tf1.Summary.Value(tag="loss", simple_value=0.75)]), 5)
    writer.close()
  results = {"global_step": 5, "eval_loss": 0.75, "entity_f1": 0.5,
             "checkpoint": "/x/model.ckpt-5", "flag": True}
  written = task_plumbing.write_eval_summaries(folder, results)
  # eval_loss is the estimator's loss under another name; text and booleans
  # are no scalars; global_step is the step.
  assert written == ["entity_f1"]
  assert task_plumbing.write_eval_summaries(folder, results) == []
  # The same step scored on other data: a new point.
  assert task_plumbing.write_eval_summaries(
      folder, dict(results, entity_f1=0.25)) == ["entity_f1"]
  assert task_plumbing.write_eval_summaries(
      folder, {"entity_f1": 0.5}, step=7) == ["entity_f1"]
  scalars = read_scalars(folder)
  assert scalars == {"loss": [(5, 0.75)],
                     "entity_f1": [(5, 0.5), (5, 0.25), (7, 0.5)]}
  # No global_step and no checkpoint in output_dir: no step to put it at.
  assert task_plumbing.write_eval_summaries(
      folder, {"f1": 80.0}, output_dir=str(tmp_path)) == []
  # The results files' folders: eval for the dev set, eval_<prefix> else.
  assert task_plumbing.eval_summary_dir("o") == os.path.join("o", "eval")
  assert task_plumbing.eval_summary_dir("o", "test_results") == os.path.join(
      "o", "eval_test")
  assert task_plumbing.eval_summary_dir(
      "o", "dev2_eval_results") == os.path.join("o", "eval_dev2")
