"""The CRF equals brute force over every tag path on small cases."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

import crf


def _path_score(unary, trans, path):
  """Score of one path: unary [L, C] along `path` plus its transitions."""
  score = sum(unary[t, tag] for t, tag in enumerate(path))
  return score + sum(trans[a, b] for a, b in zip(path[:-1], path[1:]))


def _brute_force(unary, trans, length):
  """(log_norm, best_path, best_score) of unary[:length] by enumeration."""
  if length == 0:
    return 0.0, [], 0.0
  num_tags = unary.shape[1]
  paths = list(itertools.product(range(num_tags), repeat=length))
  scores = np.array([_path_score(unary, trans, p) for p in paths])
  best = int(np.argmax(scores))
  log_norm = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()
  return log_norm, list(paths[best]), scores[best]


def _random_case(seed, batch=5, max_len=4, num_tags=3, min_len=1):
  rng = np.random.RandomState(seed)
  unary = rng.randn(batch, max_len, num_tags).astype(np.float32) * 2
  trans = rng.randn(num_tags, num_tags).astype(np.float32)
  lengths = rng.randint(min_len, max_len + 1, size=batch).astype(np.int32)
  lengths[0] = max_len  # Always one full-length and one length-1 sequence.
  lengths[-1] = 1 if min_len > 0 else 0
  # Padding holds junk (large scores, out-of-range tags) that must not leak.
  tags = rng.randint(0, num_tags, size=(batch, max_len)).astype(np.int32)
  for b, n in enumerate(lengths):
    unary[b, n:] = 100.
    tags[b, n:] = -1
  return unary, trans, tags, lengths


def _run_crf(unary, trans, tags, lengths, static_shapes):
  """Log-likelihood, decoded tags and best score from the graph."""
  with tf.Graph().as_default():
    shape = unary.shape if static_shapes else [None, None, unary.shape[2]]
    x = tf.compat.v1.placeholder(tf.float32, shape)
    y = tf.compat.v1.placeholder(tf.int32, shape[:2])
    n = tf.compat.v1.placeholder(tf.int32, shape[:1])
    t = tf.constant(trans)
    ll, _ = crf.crf_log_likelihood(x, y, n, t)
    decoded, best = crf.crf_decode(x, t, n)
    with tf.compat.v1.Session() as sess:
      return sess.run((ll, decoded, best), {x: unary, y: tags, n: lengths})


@pytest.mark.parametrize("static_shapes", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force(seed, static_shapes):
  unary, trans, tags, lengths = _random_case(seed, min_len=0)
  ll, decoded, best = _run_crf(unary, trans, tags, lengths, static_shapes)
  for b, length in enumerate(lengths):
    log_norm, path, score = _brute_force(unary[b], trans, length)
    gold = _path_score(unary[b], trans, list(tags[b, :length]))
    if length == 0:
      gold = 0.0
    assert ll[b] == pytest.approx(gold - log_norm, abs=1e-5)
    assert list(decoded[b]) == path + [0] * (len(tags[b]) - length)
    assert best[b] == pytest.approx(score, abs=1e-5)
    assert np.isfinite(ll[b])


def test_sequence_score_and_log_norm_alone():
  unary, trans, tags, lengths = _random_case(10, batch=4, max_len=3,
                                             num_tags=2)
  with tf.Graph().as_default():
    score = crf.crf_sequence_score(unary, tags, lengths, trans)
    log_norm = crf.crf_log_norm(unary, lengths, trans)
    with tf.compat.v1.Session() as sess:
      score, log_norm = sess.run((score, log_norm))
  for b, length in enumerate(lengths):
    want_norm, _, _ = _brute_force(unary[b], trans, length)
    want_score = _path_score(unary[b], trans, list(tags[b, :length]))
    assert score[b] == pytest.approx(want_score, abs=1e-5)
    assert log_norm[b] == pytest.approx(want_norm, abs=1e-5)


def test_single_step_batch():
  unary, trans, tags, lengths = _random_case(3, batch=3, max_len=1)
  ll, decoded, best = _run_crf(unary, trans, tags, lengths, False)
  for b in range(3):
    log_norm, path, score = _brute_force(unary[b], trans, 1)
    assert ll[b] == pytest.approx(unary[b, 0, tags[b, 0]] - log_norm,
                                  abs=1e-5)
    assert list(decoded[b]) == path
    assert best[b] == pytest.approx(score, abs=1e-5)


def test_creates_transitions_variable_and_gradients_flow():
  unary, _, tags, lengths = _random_case(5, min_len=0)
  with tf.Graph().as_default():
    x = tf.constant(unary)
    with tf.compat.v1.variable_scope("crf_head"):
      ll, trans = crf.crf_log_likelihood(x, tags, lengths)
    assert trans.name == "crf_head/transitions:0"
    assert trans.shape.as_list() == [3, 3]
    assert trans in tf.compat.v1.trainable_variables()
    loss = -tf.reduce_mean(ll)
    grads = tf.gradients(loss, [x, trans])
    assert all(g is not None for g in grads)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      trans_value = sess.run(trans)
      grad_x, grad_t = sess.run(grads)
  assert np.all(np.abs(trans_value) <= np.sqrt(6. / 6.))  # Glorot bound.
  assert np.all(np.isfinite(grad_x)) and np.all(np.isfinite(grad_t))
  assert np.abs(grad_t).sum() > 0
  # Padded positions, including the whole length-0 row, get no gradient.
  for b, length in enumerate(lengths):
    assert np.all(grad_x[b, length:] == 0)
    assert np.abs(grad_x[b, :length]).sum() > 0 or length == 0


def test_numpy_viterbi_matches_brute_force():
  rng = np.random.RandomState(0)
  for length in (1, 2, 3, 4):
    score = rng.randn(length, 3)
    trans = rng.randn(3, 3)
    path, best = crf.viterbi_decode(score, trans)
    _, want_path, want_best = _brute_force(score, trans, length)
    assert path == want_path
    assert best == pytest.approx(want_best, abs=1e-9)


def test_unknown_num_tags_raises():
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, None, None])
    with pytest.raises(ValueError, match="number of tags"):
      crf.crf_log_likelihood(x, tf.zeros([1, 1], tf.int32), [1])
