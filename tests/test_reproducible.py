# coding=utf-8
"""--random_seed makes runs reproducible: each task script, run twice with
the same command on CPU, ends with bit-identical checkpoints (every variable,
optimizer slots included) and identical predictions; another seed gives
other weights.

Every run trains a tiny random BERT with dropout on (TINY_BERT_CONFIG's 0.1)
for a few steps over shuffled records. All runs go at the same time, the two
of a script under different PYTHONHASHSEEDs, so neither thread scheduling
under load nor Python's string hashing may leak into the result.
"""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import create_pretraining_data as cpd
import helpers
import ner_data
import test_create_pretraining_data as cpd_tests
import test_run_classifier
import test_run_ner
import test_run_squad
import test_squad_data

SEED, OTHER_SEED = 7, 8


# ----------------------------------------------------------------------------
# One small job per script: its data, its flags, the files it predicts


def ner_job(root):
  data = os.path.join(root, "data")
  os.makedirs(data)
  ner_data.write_sample_ner_data(data, num_train=16, num_dev=4, num_test=4)
  model = helpers.write_tiny_bert(root, test_run_ner.vocab_tokens(data))
  flags = ["--do_train", "--do_predict", "--data_dir=" + data,
           "--max_seq_length=32", "--train_batch_size=4",
           "--num_train_epochs=1.5"]
  return ("run_ner.py", flags + helpers.model_flags(model),
          ["test_predictions.txt", "test_entities.jsonl"])


def classifier_job(root):
  data = os.path.join(root, "data")
  os.makedirs(data)
  test_run_classifier.write_mrpc(data, random.Random("mrpc"))
  model = helpers.write_tiny_bert(
      root, test_run_classifier.vocab_tokens(root))
  flags = ["--do_train", "--do_predict", "--task_name=mrpc",
           "--data_dir=" + data, "--max_seq_length=24",
           "--train_batch_size=8", "--learning_rate=1e-3",
           "--num_train_epochs=1.5"]
  return ("run_classifier.py", flags + helpers.model_flags(model),
          ["test_results.tsv"])


def squad_job(root):
  vocab = test_squad_data.write_vocab(os.path.join(root, "vocab.txt"))
  model = helpers.write_tiny_bert(root, vocab_file=vocab,
                                  max_position_embeddings=128)
  train, dev = test_run_squad.squad_v2_files(root)
  flags = ["--do_train", "--do_predict", "--train_file=" + train,
           "--predict_file=" + dev, "--version_2_with_negative",
           "--max_seq_length=64", "--doc_stride=24", "--max_query_length=16",
           "--train_batch_size=8", "--learning_rate=1e-3",
           "--num_train_epochs=1"]
  return ("run_squad.py", flags + helpers.model_flags(model),
          ["predictions.json", "nbest_predictions.json", "null_odds.json"])


def pretraining_job(root):
  words = sorted({w for s in pretraining_sentences() for w in
                  s.split()})
  model = helpers.write_tiny_bert(root, cpd_tests.SPECIAL + words)
  corpus = os.path.join(root, "corpus.txt")
  rng = random.Random(3)
  sentences = pretraining_sentences()
  lines = []
  for _ in range(24):
    lines += [rng.choice(sentences) for _ in range(rng.randint(3, 6))] + [""]
  helpers.write_lines(corpus, lines)
  records = os.path.join(root, "train.tfrecord")
  cpd.create_pretraining_data(
      [corpus], [records], model["vocab"], True,
      cpd_tests.options(max_seq_length=32, max_predictions_per_seq=5,
                        random_seed=1), 2)
  flags = ["--do_train", "--do_eval", "--input_file=" + records,
           "--max_seq_length=32", "--max_predictions_per_seq=5",
           "--train_batch_size=8", "--num_train_steps=6",
           "--num_warmup_steps=1", "--max_eval_steps=2"]
  return ("run_pretraining.py", flags + helpers.model_flags(model),
          ["eval_results.json"])


def pretraining_sentences():
  return ["the cat sat on the mat .", "the dog ran in the park .",
          "a bird flew over the old house .", "she read a book by the river .",
          "he ate an apple at the table ."]


JOBS = {"ner": ner_job, "classifier": classifier_job, "squad": squad_job,
        "pretraining": pretraining_job}
# Third runs: ner with another seed; the classifier trained in chunks
# (--keep_best_metric evaluates every 2 steps, each chunk a new estimator.train
# that restores the last checkpoint), which must train as one run does.
EXTRA_RUNS = {"ner": [["--random_seed=%d" % OTHER_SEED]],
              "classifier": [["--do_eval", "--keep_best_metric=accuracy",
                              "--save_checkpoints_steps=2"]]}


# ----------------------------------------------------------------------------
# Running and comparing


def start(script, args, env, log_path):
  """Starts `python script args` with env added; stderr goes to log_path
  (a file, not a pipe: nine runs at once could fill a pipe and stall)."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env)
  with open(log_path, "w") as log:
    return subprocess.Popen([sys.executable, script] + args,
                            cwd=helpers.REPO_ROOT, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=log)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Every script's runs, all started at once (the machine's cores are
  shared; a test waiting on one pair at a time would mostly wait):
  {name: (output_dirs, files to compare)}. The first two output dirs of a
  script are its same-seed runs; then come EXTRA_RUNS."""
  jobs, procs = {}, []
  for name, job in sorted(JOBS.items()):
    root = tmp_path_factory.mktemp(name)
    script, flags, outputs = job(str(root))
    extra = [[], []] + EXTRA_RUNS.get(name, [])
    outs = []
    for i, more in enumerate(extra):
      outs.append(str(root / ("out_%d" % i)))
      log = str(root / ("log_%d.txt" % i))
      procs.append(("%s run %d" % (name, i), log, start(
          script, flags + ["--output_dir=" + outs[-1]] + (
              more if "--random_seed" in " ".join(more) else
              more + ["--random_seed=%d" % SEED]),
          {"PYTHONHASHSEED": str(i + 1)}, log)))
    jobs[name] = (outs, outputs)
  for what, log, proc in procs:
    proc.wait(timeout=900)
    assert proc.returncode == 0, "%s: exit %d\n%s" % (
        what, proc.returncode, helpers.read_text(log)[-4000:])
  return jobs


def checkpoint_tensors(output_dir):
  """{name: array} of every tensor of output_dir's latest checkpoint."""
  path = tf.train.latest_checkpoint(output_dir)
  assert path, os.listdir(output_dir)
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


def bit_differences(a, b):
  """Names whose arrays differ in dtype, shape or any bit."""
  assert sorted(a) == sorted(b)
  return [name for name in sorted(a)
          if a[name].dtype != b[name].dtype or a[name].shape != b[name].shape
          or a[name].tobytes() != b[name].tobytes()]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_same_seed_same_bits(runs, name):
  """Two runs of one command: every checkpoint tensor and prediction equal."""
  outs, outputs = runs[name]
  first, second = checkpoint_tensors(outs[0]), checkpoint_tensors(outs[1])
  assert int(first["global_step"]) > 1
  assert bit_differences(first, second) == []
  for output in outputs:
    with open(os.path.join(outs[0], output), "rb") as a, open(
        os.path.join(outs[1], output), "rb") as b:
      assert a.read() == b.read(), output


def test_keep_best_chunks_train_as_one_run(runs):
  outs, _ = runs["classifier"]
  with open(os.path.join(outs[2], "best", "best.json")) as f:
    assert '"step": ' in f.read()
  assert bit_differences(checkpoint_tensors(outs[0]),
                         checkpoint_tensors(outs[2])) == []


def test_other_seed_other_weights(runs):
  outs, _ = runs["ner"]
  assert_other_weights(checkpoint_tensors(outs[0]),
                       checkpoint_tensors(outs[2]))


def assert_other_weights(first, other):
  """Another seed (other dropout masks, record order and new variables)
  trains other weights: most trainable tensors differ."""
  trainable = [n for n in first if not n.endswith(("adam_m", "adam_v"))
               and n != "global_step"]
  changed = [n for n in bit_differences(first, other) if n in trainable]
  assert len(changed) > len(trainable) // 2, (len(changed), len(trainable))
  assert int(other["global_step"]) == int(first["global_step"])
  for name in ("bert/embeddings/LayerNorm/gamma", "ner/output/kernel"):
    assert not np.allclose(first[name], other[name], rtol=0, atol=1e-6), name


def test_dropout_masks_are_a_function_of_seed_scope_and_step():
  """seed_dropout_by_step: the mask of a dropout depends on (graph seed, its
  name scope, step) only, so a new session (a resumed run) draws the same
  one for the same step; without it, dropout stays TF's stateful op."""
  import modeling  # pylint: disable=g-import-not-at-top
  tf1 = tf.compat.v1

  def masks(seed, steps, stateless=True):
    with tf.Graph().as_default():
      tf1.set_random_seed(seed)
      step = tf1.placeholder(tf.int64, [])
      if stateless:
        modeling.seed_dropout_by_step(step)
      ones = tf.ones([8, 256])
      with tf1.variable_scope("layer_0"):
        first = modeling.dropout(ones, 0.25)
      with tf1.variable_scope("layer_1"):
        second = modeling.dropout(ones, 0.25)
      with tf1.Session() as session:
        return [session.run([first, second], {step: s}) for s in steps]

  a = masks(1, [5, 6, 5])
  again = masks(1, [5])[0]
  for x, y in zip(a[0], again):
    np.testing.assert_array_equal(x, y)  # a new session, the same masks
  np.testing.assert_array_equal(a[0][0], a[2][0])  # same step, same mask
  assert not np.array_equal(a[0][0], a[1][0])  # another step
  assert not np.array_equal(a[0][0], a[0][1])  # another layer
  assert not np.array_equal(a[0][0], masks(2, [5])[0][0])  # another seed
  kept = a[0][0][a[0][0] > 0]
  np.testing.assert_allclose(kept, 1 / 0.75)
  assert 0.7 < kept.size / a[0][0].size < 0.8
  stateful = masks(1, [5, 5], stateless=False)
  assert not np.array_equal(stateful[0][0], stateful[1][0])
