"""task_plumbing: cached TFRecords, the training input order, result files."""
import collections
import json
import os

import numpy as np
import tensorflow as tf

import task_plumbing

SPEC = collections.OrderedDict([("input_ids", ("int", 3)),
                                ("is_real_example", ("int", 1))])
Feature = collections.namedtuple("Feature", ["input_ids", "is_real_example"])


def make_features(n):
  return [Feature([i, i + 1, i + 2], 1) for i in range(n)]


def read_first_ids(path, n):
  input_fn = task_plumbing.input_fn_builder(path, SPEC, is_training=False,
                                            drop_remainder=False)
  return [int(x["input_ids"][0]) for x in
          input_fn({"batch_size": 1}).unbatch().take(n).as_numpy_iterator()]


def test_cached_tfrecord_reuses_only_the_same_inputs(tmp_path):
  calls = []

  def build():
    calls.append(1)
    return make_features(5), None

  out = str(tmp_path)
  a, n = task_plumbing.cached_tfrecord(out, "train", {"k": 1}, build, SPEC)
  b, _ = task_plumbing.cached_tfrecord(out, "train", {"k": 1}, build, SPEC)
  c, _ = task_plumbing.cached_tfrecord(out, "train", {"k": 2}, build, SPEC)
  assert (n, a == b, a == c, len(calls)) == (5, True, False, 2)
  assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]
  assert read_first_ids(a, 5) == [0, 1, 2, 3, 4]


def test_training_records_are_a_seeded_permutation(tmp_path):
  out = str(tmp_path)
  build = lambda: (make_features(50), None)
  a, _ = task_plumbing.cached_tfrecord(out, "t", {}, build, SPEC,
                                       shuffle_seed=1)
  order = read_first_ids(a, 50)
  assert sorted(order) == list(range(50)) and order != list(range(50))
  again = task_plumbing.write_tfrecord(make_features(0), SPEC,
                                       os.path.join(out, "empty"))
  assert again == 0
  b, _ = task_plumbing.cached_tfrecord(str(tmp_path / "other"), "t", {},
                                       build, SPEC, shuffle_seed=1)
  assert read_first_ids(b, 50) == order


def test_each_training_epoch_is_a_full_permutation(tmp_path):
  """Shuffle before repeat: an epoch holds every example exactly once."""
  path = os.path.join(str(tmp_path), "r.tf_record")
  task_plumbing.write_tfrecord(make_features(40), SPEC, path)
  input_fn = task_plumbing.input_fn_builder(path, SPEC, is_training=True,
                                            drop_remainder=True, seed=3)
  batches = input_fn({"batch_size": 8}).take(15).as_numpy_iterator()
  ids = np.concatenate([b["input_ids"][:, 0] for b in batches])
  epochs = ids.reshape(3, 40)
  for epoch in epochs:
    assert sorted(epoch.tolist()) == list(range(40))
  assert epochs[0].tolist() != epochs[1].tolist()  # reshuffled each epoch


def test_eval_result_files_and_steps(tmp_path):
  out = str(tmp_path)
  clean = task_plumbing.write_eval_results(
      out, {"eval_loss": np.float32(0.5), "global_step": np.int64(7)})
  assert clean == {"eval_loss": 0.5, "global_step": 7}
  with open(os.path.join(out, "eval_results.txt")) as f:
    assert f.read() == "eval_loss = 0.5\nglobal_step = 7\n"
  with open(os.path.join(out, "eval_results.json")) as f:
    assert json.load(f) == clean
  assert task_plumbing.num_train_steps(100, 32, 2.0, 0.1) == (7, 0)
  assert task_plumbing.num_train_steps(1000, 10, 1.0, 0.1) == (100, 10)
  assert task_plumbing.num_padding_examples(10, 4, use_tpu=True) == 2
  assert task_plumbing.num_padding_examples(10, 4, use_tpu=False) == 0
  table = task_plumbing.format_table([("f1", 0.91234)], ("metric", "value"))
  assert table.splitlines()[2].split() == ["f1", "0.9123"]
