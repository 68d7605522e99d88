"""Constrained decoding never emits a tag path the scheme forbids.

Checked against brute force: the masks of ner_metrics.allowed_transitions
against validate_tags on every short path, and crf.crf_constrained_decode
against the best valid path by enumeration, for a softmax tagger (sum of
log-probabilities, no transitions) and for a CRF (its transitions).
"""
import itertools

import numpy as np
import pytest
import tensorflow as tf

import crf
import ner_metrics

TYPES = ("PER", "LOC")
LABELS = {
    # 'E-PER' is not an IOB2 tag: it must never be allowed there.
    "IOB1": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOB2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-PER"],
    "IOBES": ["O"] + ["%s-%s" % (p, t) for t in TYPES for p in "BIES"],
}


def _path_allowed(masks, path):
  start, transitions, end = masks
  return (start[path[0]] and end[path[-1]] and
          all(transitions[a][b] for a, b in zip(path[:-1], path[1:])))


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIO", "IOBES", "BIOES"])
def test_masks_match_validate_tags_on_every_short_path(scheme):
  labels = LABELS[ner_metrics._canonical_scheme(scheme)]  # pylint: disable=protected-access
  masks = ner_metrics.allowed_transitions(labels, scheme)
  num_valid = 0
  for length in range(1, 5):
    for path in itertools.product(range(len(labels)), repeat=length):
      valid = ner_metrics.validate_tags([labels[i] for i in path],
                                        scheme) is None
      assert _path_allowed(masks, path) == valid, [labels[i] for i in path]
      num_valid += valid
  assert num_valid > 10  # The test would be empty if nothing were valid.


def test_masks_examples():
  labels = LABELS["IOB2"]
  start, transitions, end = ner_metrics.allowed_transitions(labels, "BIO")
  index = {tag: i for i, tag in enumerate(labels)}
  assert not start[index["I-PER"]] and start[index["B-PER"]]
  assert not transitions[index["O"]][index["I-PER"]]
  assert not transitions[index["B-LOC"]][index["I-PER"]]
  assert transitions[index["B-PER"]][index["I-PER"]]
  assert not any(row[index["E-PER"]] for row in transitions)
  assert all(end[:-1]) and not end[index["E-PER"]]
  labels = LABELS["IOBES"]
  start, transitions, end = ner_metrics.allowed_transitions(labels, "IOBES")
  index = {tag: i for i, tag in enumerate(labels)}
  assert not end[index["B-PER"]] and end[index["E-PER"]]
  assert not transitions[index["B-PER"]][index["O"]]


def _best_valid(unary, trans, length, masks):
  """Best allowed path of unary[:length] and its score, by enumeration."""
  best, best_score = None, -np.inf
  for path in itertools.product(range(unary.shape[1]), repeat=length):
    if not _path_allowed(masks, path):
      continue
    score = sum(unary[t, tag] for t, tag in enumerate(path))
    score += sum(trans[a, b] for a, b in zip(path[:-1], path[1:]))
    if score > best_score:
      best, best_score = list(path), score
  return best, best_score


def _decode(unary, trans, lengths, masks, log_softmax):
  start, transitions, end = (np.array(m) for m in masks)
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, None, unary.shape[2]])
    n = tf.compat.v1.placeholder(tf.int32, [None])
    scores = tf.nn.log_softmax(x) if log_softmax else x
    # A [B, C] start mask: the last sequence may start anywhere.
    starts = np.tile(start[None], [len(lengths), 1])
    starts[-1] = True
    tags, best = crf.crf_constrained_decode(
        scores, tf.constant(trans), n, transitions, starts, end)
    with tf.compat.v1.Session() as sess:
      return sess.run((tags, best), {x: unary, n: lengths}), starts


@pytest.mark.parametrize("scheme,use_crf,seed", [
    ("IOB2", False, 0), ("IOB2", True, 1), ("IOBES", False, 2),
    ("IOBES", True, 3), ("IOB1", False, 4), ("IOB1", True, 5)])
def test_constrained_viterbi_matches_brute_force(scheme, use_crf, seed):
  labels = LABELS[scheme][:5]  # O B-PER I-PER B-LOC I-LOC; IOBES: O B I E S
  masks = ner_metrics.allowed_transitions(labels, scheme)
  rng = np.random.RandomState(seed)
  batch, max_len, num_tags = 6, 4, len(labels)
  # Logits that favour I- tags, so that unconstrained decoding breaks the
  # scheme and the masks have work to do.
  unary = rng.randn(batch, max_len, num_tags).astype(np.float32) * 2
  unary[:, :, 2] += 2.0
  trans = (rng.randn(num_tags, num_tags).astype(np.float32) if use_crf else
           np.zeros([num_tags, num_tags], np.float32))
  lengths = np.array([4, 3, 2, 1, 4, 3], np.int32)
  unary[1, 3:] = 50.0  # Padding must not leak.
  (tags, best), starts = _decode(unary, trans, lengths, masks,
                                 log_softmax=not use_crf)
  scores = unary
  if not use_crf:
    scores = unary - np.log(np.exp(unary).sum(-1, keepdims=True))
  for b, length in enumerate(lengths):
    row_masks = (starts[b], masks[1], masks[2])
    expected, expected_score = _best_valid(scores[b], trans, length,
                                           row_masks)
    assert list(tags[b, :length]) == expected, b
    assert list(tags[b, length:]) == [0] * (max_len - length)
    np.testing.assert_allclose(best[b], expected_score, rtol=1e-5, atol=1e-4)
  # The unconstrained best path breaks the scheme somewhere, else this test
  # would prove nothing.
  plain = [list(np.argmax(scores[b, :n], -1)) if not use_crf else
           crf.viterbi_decode(scores[b, :n], trans)[0]
           for b, n in enumerate(lengths)]
  assert any(not _path_allowed(masks, p) for p in plain)
