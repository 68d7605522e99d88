"""tf_metrics equals sklearn's precision_recall_fscore_support."""
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import precision_recall_fscore_support

import tf_metrics

AVERAGES = ("micro", "macro", "weighted")


def _sklearn(y_true, y_pred, pos_indices, weights, average, beta):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=pos_indices, average=average, beta=beta,
        zero_division=0, sample_weight=weights)
  return p, r, f


def _random_case(seed):
  """Labels/predictions [N, T] fed as N batches of [T], plus the settings."""
  rng = np.random.RandomState(seed)
  num_classes = rng.randint(2, 8)
  n_batches, seq_len = rng.randint(1, 5), rng.randint(1, 12)
  labels = rng.randint(0, num_classes, size=(n_batches, 3, seq_len))
  # Predictions right half the time, so scores are far from 0 and 1.
  noise = rng.randint(0, num_classes, size=labels.shape)
  predictions = np.where(rng.rand(*labels.shape) < 0.5, labels, noise)
  weights = (rng.rand(*labels.shape) < 0.7).astype(np.float32)
  n_pos = rng.randint(1, num_classes + 1)
  pos_indices = sorted(rng.choice(num_classes, n_pos, replace=False).tolist())
  return num_classes, labels, predictions, weights, pos_indices


def _run_streaming(fn, num_classes, labels, predictions, weights, **kwargs):
  """Feeds labels[i] ([B, T]) as update i; returns the final value."""
  with tf.Graph().as_default():
    lab = tf.compat.v1.placeholder(tf.int32, [None, None])
    pred = tf.compat.v1.placeholder(tf.int64, [None, None])
    w = tf.compat.v1.placeholder(tf.float32, [None, None])
    value, update_op = fn(lab, pred, num_classes, weights=w, **kwargs)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      for i in range(labels.shape[0]):
        sess.run(update_op, {lab: labels[i], pred: predictions[i],
                             w: weights[i]})
      return sess.run(value)


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn_on_random_data(seed):
  num_classes, labels, predictions, weights, pos = _random_case(seed)
  y_true, y_pred, w = labels.ravel(), predictions.ravel(), weights.ravel()
  # One graph with every metric: building 24 graphs would dominate the time.
  with tf.Graph().as_default():
    lab = tf.compat.v1.placeholder(tf.int32, [None, None])
    pred = tf.compat.v1.placeholder(tf.int32, [None, None])
    wt = tf.compat.v1.placeholder(tf.float32, [None, None])
    pairs = {}
    for avg in AVERAGES:
      args = (lab, pred, num_classes, pos, wt, avg)
      pairs[avg, "p"] = tf_metrics.precision(*args)
      pairs[avg, "r"] = tf_metrics.recall(*args)
      pairs[avg, "f1"] = tf_metrics.f1(*args)
      pairs[avg, "f2"] = tf_metrics.fbeta(*args, beta=2)
    values = {k: v[0] for k, v in pairs.items()}
    updates = [v[1] for v in pairs.values()]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      for i in range(labels.shape[0]):
        sess.run(updates, {lab: labels[i], pred: predictions[i],
                           wt: weights[i]})
      got = sess.run(values)
  for avg in AVERAGES:
    p, r, f1 = _sklearn(y_true, y_pred, pos, w, avg, 1)
    _, _, f2 = _sklearn(y_true, y_pred, pos, w, avg, 2)
    for key, want in (("p", p), ("r", r), ("f1", f1), ("f2", f2)):
      assert got[avg, key] == pytest.approx(want, abs=1e-6), (avg, key)


def test_update_op_returns_running_value():
  labels = np.array([[0, 1, 2, 2]])
  preds = np.array([[0, 2, 2, 2]])
  with tf.Graph().as_default():
    value, update_op = tf_metrics.precision(
        tf.constant(labels), tf.constant(preds), 3, pos_indices=[2])
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      assert sess.run(value) == 0.0
      assert sess.run(update_op) == pytest.approx(2. / 3.)
      assert sess.run(value) == pytest.approx(2. / 3.)


def test_default_pos_indices_and_no_weights():
  rng = np.random.RandomState(7)
  labels = rng.randint(0, 4, size=(2, 3, 20))
  preds = np.where(rng.rand(2, 3, 20) < 0.6, labels,
                   rng.randint(0, 4, (2, 3, 20)))
  got = _run_streaming(tf_metrics.f1, 4, labels, preds,
                       np.ones_like(labels, np.float32), average="macro")
  _, _, want = _sklearn(labels.ravel(), preds.ravel(), None, None, "macro", 1)
  assert got == pytest.approx(want, abs=1e-6)


def test_zero_division_gives_zero():
  # Class 2 is never predicted nor true: every score over it is 0, not NaN.
  labels = np.array([[[0, 1, 0]]])
  preds = np.array([[[1, 1, 0]]])
  for fn in (tf_metrics.precision, tf_metrics.recall, tf_metrics.f1):
    for avg in AVERAGES:
      got = _run_streaming(fn, 3, labels, preds, np.ones((1, 1, 3), np.float32),
                           pos_indices=[2], average=avg)
      assert got == 0.0


def test_streaming_confusion_matrix_with_broadcast_weights():
  labels = np.array([[0, 1, 1], [2, 2, 0]])
  preds = np.array([[0, 1, 2], [2, 0, 0]])
  row_weights = np.array([[1.], [0.]])  # [B, 1] masks the second row.
  with tf.Graph().as_default():
    cm, update_op = tf_metrics.streaming_confusion_matrix(
        tf.constant(labels), tf.constant(preds), 3,
        weights=tf.constant(row_weights))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      sess.run(update_op)
      sess.run(update_op)
      got = sess.run(cm)
  want = np.array([[2, 0, 0], [0, 2, 2], [0, 0, 0]])
  np.testing.assert_array_equal(got, want)


def test_bad_arguments_raise():
  with tf.Graph().as_default():
    x = tf.constant([0, 1])
    with pytest.raises(ValueError, match="average"):
      tf_metrics.precision(x, x, 2, average="samples")
    with pytest.raises(ValueError, match="pos_indices"):
      tf_metrics.recall(x, x, 2, pos_indices=[2])
    with pytest.raises(ValueError, match="pos_indices"):
      tf_metrics.f1(x, x, 2, pos_indices=[])


def test_variables_are_local_metric_variables():
  with tf.Graph().as_default():
    x = tf.constant([0, 1])
    tf_metrics.f1(x, x, 2)
    tf_metrics.f1(x, x, 2)
    assert not tf.compat.v1.trainable_variables()
    assert not tf.compat.v1.global_variables()
    local = tf.compat.v1.local_variables()
    assert len(local) == 2 and local[0].name != local[1].name
    assert tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.METRIC_VARIABLES) == local
