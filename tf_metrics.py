# coding=utf-8
"""Streaming multi-class precision, recall and F-scores for tf.compat.v1.

The API is the one users know from Guillaume Genthial's `tf_metrics`:

  precision, precision_op = tf_metrics.precision(
      labels, predictions, num_classes, pos_indices=[1, 2], weights=mask,
      average='micro')

Each function returns `(value, update_op)` like `tf.compat.v1.metrics.*`, so
the pair can go straight into an Estimator's `eval_metric_ops`. All of them
read one streaming confusion matrix held in a local variable; the numbers
equal `sklearn.metrics.precision_recall_fscore_support(y_true, y_pred,
labels=pos_indices, average=..., sample_weight=weights, zero_division=0)`.

Shapes: labels, predictions and weights share any shape (typically [B] for
classification or [B, T] for tagging); C is `num_classes`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import tensorflow as tf

_AVERAGES = ("micro", "macro", "weighted")

# Counts are accumulated in float64: weighted float32 sums lose whole counts
# past 2**24 tokens, which a large NER eval set reaches.
_CM_DTYPE = tf.float64


def streaming_confusion_matrix(labels, predictions, num_classes, weights=None):
  """Accumulates a confusion matrix over batches in a local variable.

  Args:
    labels: int Tensor of true class ids, any shape.
    predictions: int Tensor of predicted class ids, same shape as `labels`.
    num_classes: Python int C.
    weights: optional Tensor broadcastable to `labels`; each element's count
      is multiplied by its weight (0 drops padding).

  Returns:
    total_cm: float64 Tensor [C, C], rows true class, columns predicted class,
      holding the counts accumulated so far.
    update_op: Tensor [C, C] that adds this batch and returns the new total.
  """
  # Broadcast before flattening, so a [B, 1] weight can mask whole rows of
  # [B, T] labels.
  weights = _broadcast_weights(weights, labels)
  if weights is not None:
    weights = tf.reshape(weights, [-1])
  labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
  predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
  total_cm = tf.compat.v1.Variable(
      lambda: tf.zeros([num_classes, num_classes], dtype=_CM_DTYPE),
      trainable=False,
      collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
                   tf.compat.v1.GraphKeys.METRIC_VARIABLES],
      name="total_confusion_matrix")
  batch_cm = tf.math.confusion_matrix(
      labels, predictions, num_classes=num_classes, weights=weights,
      dtype=_CM_DTYPE)
  update_op = tf.compat.v1.assign_add(total_cm, batch_cm)
  return tf.convert_to_tensor(total_cm), update_op


def _broadcast_weights(weights, labels):
  """Returns `weights` broadcast to the shape of `labels`, or None."""
  if weights is None:
    return None
  weights = tf.cast(weights, _CM_DTYPE)
  return weights * tf.ones_like(labels, dtype=_CM_DTYPE)


def _check_args(num_classes, pos_indices, average, beta=1):
  """Validates arguments and returns the positive class ids as a list."""
  if average not in _AVERAGES:
    raise ValueError("average must be one of %s, got %r" %
                     (", ".join(_AVERAGES), average))
  if beta < 0:
    raise ValueError("beta must be >= 0, got %r" % (beta,))
  if pos_indices is None:
    return list(range(num_classes))
  pos_indices = [int(i) for i in pos_indices]
  if not pos_indices:
    raise ValueError("pos_indices must name at least one class")
  for i in pos_indices:
    if not 0 <= i < num_classes:
      raise ValueError("pos_indices holds %d, outside [0, %d)" %
                       (i, num_classes))
  return pos_indices


def _class_counts(cm, pos_indices):
  """Per positive class counts from a confusion matrix.

  Args:
    cm: float Tensor [C, C], rows true, columns predicted.
    pos_indices: list of P class ids.

  Returns:
    (tp, n_pred, n_true), each a float Tensor [P]: correct predictions,
    predictions of the class, true members of the class (its support).
  """
  idx = tf.constant(pos_indices, dtype=tf.int32)
  tp = tf.gather(tf.linalg.diag_part(cm), idx)
  n_pred = tf.gather(tf.reduce_sum(cm, axis=0), idx)
  n_true = tf.gather(tf.reduce_sum(cm, axis=1), idx)
  return tp, n_pred, n_true


def _scores(tp, n_pred, n_true, beta):
  """Precision, recall and F-beta from counts; x / 0 is 0 (sklearn's way)."""
  beta2 = float(beta) ** 2
  p = tf.math.divide_no_nan(tp, n_pred)
  r = tf.math.divide_no_nan(tp, n_true)
  # F from counts, (1 + b^2) tp / (b^2 n_true + n_pred), equals the harmonic
  # form whenever that is defined and gives 0 where it is not.
  f = tf.math.divide_no_nan((1. + beta2) * tp, beta2 * n_true + n_pred)
  return p, r, f


def _average(per_class, n_true, average):
  """Averages per-class scores [P] into a scalar the way sklearn does."""
  if average == "macro":
    return tf.reduce_mean(per_class)
  # Weighted by support; when no positive class has support sklearn falls
  # back to the plain mean, which we copy.
  total = tf.reduce_sum(n_true)
  weighted = tf.math.divide_no_nan(tf.reduce_sum(per_class * n_true), total)
  return tf.where(total > 0, weighted, tf.reduce_mean(per_class))


def metrics_from_confusion_matrix(cm, pos_indices=None, average="micro",
                                  beta=1):
  """Precision, recall and F-beta as float32 scalars from a confusion matrix.

  Micro averaging sums counts over `pos_indices` only, so with a subset of
  classes precision and recall differ (unlike accuracy), as in sklearn.

  Args:
    cm: float Tensor [C, C], rows true, columns predicted; C must be static.
    pos_indices: class ids to score; None means every class.
    average: 'micro', 'macro' or 'weighted'.
    beta: weight of recall in the F-score.

  Returns:
    (precision, recall, fbeta): float32 scalar Tensors.
  """
  num_classes = int(cm.shape[0])
  pos_indices = _check_args(num_classes, pos_indices, average, beta)
  cm = tf.cast(cm, _CM_DTYPE)
  tp, n_pred, n_true = _class_counts(cm, pos_indices)
  if average == "micro":
    tp, n_pred, n_true = [tf.reduce_sum(x) for x in (tp, n_pred, n_true)]
    p, r, f = _scores(tp, n_pred, n_true, beta)
  else:
    p, r, f = [_average(x, n_true, average)
               for x in _scores(tp, n_pred, n_true, beta)]
  return tuple(tf.cast(x, tf.float32) for x in (p, r, f))


def _metric(which, labels, predictions, num_classes, pos_indices, weights,
            average, beta, name):
  """Builds one streaming metric; `which` picks 0 P, 1 R or 2 F."""
  _check_args(num_classes, pos_indices, average, beta)
  with tf.compat.v1.variable_scope(name):
    cm, update_op = streaming_confusion_matrix(
        labels, predictions, num_classes, weights)
    value = metrics_from_confusion_matrix(cm, pos_indices, average, beta)
    update = metrics_from_confusion_matrix(
        update_op, pos_indices, average, beta)
  return value[which], update[which]


def precision(labels, predictions, num_classes, pos_indices=None,
              weights=None, average="micro"):
  """Streaming precision over the classes in `pos_indices`.

  Args:
    labels: int Tensor of true class ids, e.g. [B] or [B, T].
    predictions: int Tensor of predicted ids, same shape as `labels`.
    num_classes: Python int C.
    pos_indices: list of class ids to score (e.g. every tag but 'O');
      None scores all C classes.
    weights: optional Tensor broadcastable to `labels`, 0 masks out padding.
    average: 'micro', 'macro' or 'weighted' (by true-class support).

  Returns:
    (value, update_op): float32 scalar Tensors as in tf.compat.v1.metrics.
  """
  return _metric(0, labels, predictions, num_classes, pos_indices, weights,
                 average, 1, "precision")


def recall(labels, predictions, num_classes, pos_indices=None, weights=None,
           average="micro"):
  """Streaming recall; arguments and returns as in `precision`."""
  return _metric(1, labels, predictions, num_classes, pos_indices, weights,
                 average, 1, "recall")


def fbeta(labels, predictions, num_classes, pos_indices=None, weights=None,
          average="micro", beta=1):
  """Streaming F-beta score; `beta` > 1 favours recall, < 1 precision.

  Other arguments and the returns are as in `precision`.
  """
  return _metric(2, labels, predictions, num_classes, pos_indices, weights,
                 average, beta, "fbeta")


def f1(labels, predictions, num_classes, pos_indices=None, weights=None,
       average="micro"):
  """Streaming F1 score; arguments and returns as in `precision`."""
  return _metric(2, labels, predictions, num_classes, pos_indices, weights,
                 average, 1, "f1")
