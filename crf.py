# coding=utf-8
"""Linear-chain conditional random field in graph-mode TensorFlow.

The functions keep the names and signatures of the old `tf.contrib.crf`, so
code written against it ports by changing the import. Scores are used as
given (no tanh or other squashing), the way BERT-CRF taggers feed logits.

Shape legend:
  B: batch size
  T: max sequence length in the batch (may be unknown until run time)
  C: number of tags (must be known when the graph is built)

A sequence of length L uses positions [0, L); later positions are padding and
never touch the result, whatever they hold. Length 0 scores 0 everywhere.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import numpy as np
import tensorflow as tf


def _num_tags(inputs):
  num_tags = inputs.shape[-1]
  if num_tags is None:
    raise ValueError("the number of tags (last dimension of %s) must be "
                     "known when the graph is built" % inputs.name)
  return int(num_tags)


def _mask(sequence_lengths, max_len, dtype):
  """[B, T] mask with 1 at real positions and 0 at padding."""
  return tf.sequence_mask(sequence_lengths, maxlen=max_len, dtype=dtype)


def crf_unary_score(tag_indices, sequence_lengths, inputs):
  """Sum of the unary scores of the given tags over real positions.

  Args:
    tag_indices: int Tensor [B, T] of tag ids (padding may hold anything).
    sequence_lengths: int Tensor [B].
    inputs: float Tensor [B, T, C] of unary scores.

  Returns:
    float Tensor [B].
  """
  num_tags = _num_tags(inputs)
  mask = _mask(sequence_lengths, tf.shape(inputs)[1], inputs.dtype)
  # A one-hot product rather than a gather: out-of-range padding ids give 0
  # instead of an error, and the gradient is dense like `inputs`.
  picked = tf.reduce_sum(
      inputs * tf.one_hot(tag_indices, num_tags, dtype=inputs.dtype), axis=2)
  return tf.reduce_sum(picked * mask, axis=1)


def crf_binary_score(tag_indices, sequence_lengths, transition_params):
  """Sum of the transition scores along the given tag paths.

  Args:
    tag_indices: int Tensor [B, T].
    sequence_lengths: int Tensor [B].
    transition_params: float Tensor [C, C]; entry [i, j] scores tag i
      followed by tag j.

  Returns:
    float Tensor [B].
  """
  num_tags = int(transition_params.shape[0])
  max_len = tf.shape(tag_indices)[1]
  mask = _mask(sequence_lengths, max_len, tf.bool)
  # Padding ids may be out of range; they are masked out below anyway.
  tags = tf.where(mask, tf.cast(tag_indices, tf.int32),
                  tf.zeros_like(tag_indices, dtype=tf.int32))
  # Pair (t-1, t) is real when position t is real: mask[:, 1:].
  flat_pairs = tags[:, :-1] * num_tags + tags[:, 1:]
  scores = tf.gather(tf.reshape(transition_params, [-1]), flat_pairs)
  # A variable in TF1 mode has dtype float32_ref; NumPy arrays are accepted.
  pair_mask = tf.cast(mask[:, 1:],
                      tf.as_dtype(transition_params.dtype).base_dtype)
  return tf.reduce_sum(scores * pair_mask, axis=1)


def crf_sequence_score(inputs, tag_indices, sequence_lengths,
                       transition_params):
  """Unnormalised score of the given tag paths: unary plus transitions.

  Args:
    inputs: float Tensor [B, T, C] of unary scores.
    tag_indices: int Tensor [B, T].
    sequence_lengths: int Tensor [B].
    transition_params: float Tensor [C, C].

  Returns:
    float Tensor [B].
  """
  return (crf_unary_score(tag_indices, sequence_lengths, inputs) +
          crf_binary_score(tag_indices, sequence_lengths, transition_params))


def _step_loop(inputs, sequence_lengths, step_fn, state, frozen_output=None):
  """Runs `step_fn` over positions 1..T-1, freezing finished sequences.

  Args:
    inputs: float Tensor [B, T, C].
    sequence_lengths: int32 Tensor [B].
    step_fn: maps (state [B, C], inputs_t [B, C]) to (new_state [B, C],
      output [B, C] int32 or None).
    state: float Tensor [B, C], the state after position 0.
    frozen_output: int32 Tensor [B, C] recorded instead of the step's output
      once a sequence has ended; None to record no outputs.

  Returns:
    final_state: float Tensor [B, C], the state at each sequence's last
      real position.
    outputs: TensorArray of T-1 int32 [B, C] elements, output t-1 coming
      from position t (empty unless `frozen_output` is given).
  """
  max_len = tf.shape(inputs)[1]
  num_outputs = max_len - 1 if frozen_output is not None else 0
  # Outputs are read back one by one, never stacked: stacking fails on the
  # empty array that T = 1 gives.
  outputs = tf.TensorArray(tf.int32, size=tf.maximum(num_outputs, 0))

  def body(t, state, outputs):
    new_state, out = step_fn(state, tf.gather(inputs, t, axis=1))
    alive = tf.expand_dims(t < sequence_lengths, 1)  # [B, 1]
    state = tf.where(alive, new_state, state)
    if frozen_output is not None:
      outputs = outputs.write(t - 1, tf.where(alive, out, frozen_output))
    return t + 1, state, outputs

  _, state, outputs = tf.while_loop(
      lambda t, *_: t < max_len, body, (tf.constant(1), state, outputs))
  return state, outputs


def crf_log_norm(inputs, sequence_lengths, transition_params):
  """Log partition function: logsumexp of the scores of all tag paths.

  Computed with the forward algorithm; alpha[b, j] is the log-sum of the
  scores of all paths through the prefix that end in tag j.

  Args:
    inputs: float Tensor [B, T, C] of unary scores.
    sequence_lengths: int Tensor [B].
    transition_params: float Tensor [C, C].

  Returns:
    float Tensor [B]; 0 where the length is 0.
  """
  trans = tf.expand_dims(transition_params, 0)  # [1, C, C]

  def step(alpha, unary_t):
    # [B, C, 1] + [1, C, C] -> logsumexp over the previous tag -> [B, C].
    scores = tf.expand_dims(alpha, 2) + trans
    return tf.reduce_logsumexp(scores, axis=1) + unary_t, None

  sequence_lengths = tf.cast(sequence_lengths, tf.int32)
  alpha, _ = _step_loop(inputs, sequence_lengths, step, inputs[:, 0])
  log_norm = tf.reduce_logsumexp(alpha, axis=1)
  return tf.where(sequence_lengths > 0, log_norm, tf.zeros_like(log_norm))


def crf_log_likelihood(inputs, tag_indices, sequence_lengths,
                       transition_params=None):
  """Log-likelihood of tag paths under a linear-chain CRF.

  Args:
    inputs: float Tensor [B, T, C] of unary scores (e.g. logits).
    tag_indices: int Tensor [B, T] of gold tags.
    sequence_lengths: int Tensor [B].
    transition_params: optional float Tensor [C, C]; when None, a trainable
      variable named 'transitions' is created in the current variable scope
      with Glorot-uniform initialisation.

  Returns:
    log_likelihood: float Tensor [B]; the loss is usually its negated mean.
    transition_params: the [C, C] transition Tensor or variable used.
  """
  num_tags = _num_tags(inputs)
  if transition_params is None:
    transition_params = tf.compat.v1.get_variable(
        "transitions", [num_tags, num_tags], dtype=inputs.dtype,
        initializer=tf.compat.v1.glorot_uniform_initializer())
  sequence_lengths = tf.cast(sequence_lengths, tf.int32)
  score = crf_sequence_score(inputs, tag_indices, sequence_lengths,
                             transition_params)
  log_norm = crf_log_norm(inputs, sequence_lengths, transition_params)
  return score - log_norm, transition_params


def crf_decode(potentials, transition_params, sequence_lengths):
  """Viterbi decoding in the graph: the best tag path of each sequence.

  Args:
    potentials: float Tensor [B, T, C] of unary scores.
    transition_params: float Tensor [C, C].
    sequence_lengths: int Tensor [B].

  Returns:
    decode_tags: int32 Tensor [B, T], 0 at padded positions.
    best_score: float Tensor [B], the score of that path; 0 for length 0.
  """
  num_tags = _num_tags(potentials)
  sequence_lengths = tf.cast(sequence_lengths, tf.int32)
  trans = tf.expand_dims(transition_params, 0)  # [1, C, C]
  batch = tf.shape(potentials)[0]
  # After a sequence ends, backpointers map each tag to itself, so the
  # backtrack carries the last real tag unchanged through the padding.
  identity = tf.tile(tf.range(num_tags)[tf.newaxis], [batch, 1])

  def step(delta, unary_t):
    scores = tf.expand_dims(delta, 2) + trans  # [B, C_prev, C]
    best_prev = tf.argmax(scores, axis=1, output_type=tf.int32)
    return tf.reduce_max(scores, axis=1) + unary_t, best_prev

  delta, backpointers = _step_loop(
      potentials, sequence_lengths, step, potentials[:, 0],
      frozen_output=identity)
  last_tag = tf.argmax(delta, axis=1, output_type=tf.int32)  # [B]
  max_len = tf.shape(potentials)[1]
  tags = _backtrack(backpointers, last_tag, max_len)  # [B, T]
  mask = _mask(sequence_lengths, max_len, tf.int32)
  best_score = tf.reduce_max(delta, axis=1)
  best_score = tf.where(sequence_lengths > 0, best_score,
                        tf.zeros_like(best_score))
  return tags * mask, best_score


# Added to the score of a forbidden start, transition or end. Finite, so no
# NaN or inf arises; large enough that any path with a forbidden step scores
# below every allowed path (scores of real paths are nowhere near 1e29).
_FORBIDDEN = -1e30


def crf_constrained_decode(potentials, transition_params, sequence_lengths,
                           allowed_transitions, allowed_start=None,
                           allowed_end=None):
  """Viterbi decoding restricted to the allowed tag paths.

  The best path among those whose every transition, first tag and last tag
  is allowed (e.g. no I-PER after O in BIO); see
  ner_metrics.allowed_transitions for the masks of a tag scheme. With zero
  transition_params and log-probabilities as potentials it is the most
  probable valid path of a softmax tagger.

  Args:
    potentials: float Tensor [B, T, C] of unary scores.
    transition_params: float Tensor [C, C] (zeros for a softmax tagger).
    sequence_lengths: int Tensor [B].
    allowed_transitions: bool Tensor or array [C, C]; [i, j] True if tag j
      may follow tag i.
    allowed_start: None (any tag may start), or bool [C] or [B, C]: the tags
      each sequence may start with.
    allowed_end: None, or bool [C] or [B, C]: the tags each sequence may end
      with (at position length - 1).

  Returns:
    decode_tags: int32 Tensor [B, T], 0 at padded positions.
    best_score: float Tensor [B], the score of that path (transition_params
      included, masks not, when an allowed path exists); 0 for length 0.
  """
  potentials = tf.convert_to_tensor(potentials)
  dtype = potentials.dtype.base_dtype

  def penalty(allowed):
    allowed = tf.cast(allowed, tf.bool)
    return tf.where(allowed, tf.zeros_like(allowed, dtype),
                    tf.fill(tf.shape(allowed), tf.constant(_FORBIDDEN, dtype)))

  transitions = tf.cast(transition_params, dtype) + penalty(
      allowed_transitions)
  sequence_lengths = tf.cast(sequence_lengths, tf.int32)
  max_len = tf.shape(potentials)[1]
  positions = tf.range(max_len)[tf.newaxis, :, tf.newaxis]  # [1, T, 1]
  for allowed, position in ((allowed_start, tf.zeros_like(sequence_lengths)),
                            (allowed_end, sequence_lengths - 1)):
    if allowed is None:
      continue
    pen = penalty(allowed)
    if pen.shape.rank == 1:
      pen = pen[tf.newaxis]
    # The [B or 1, C] penalty lands at one position of each sequence.
    at = tf.equal(positions, position[:, tf.newaxis, tf.newaxis])  # [B, T, 1]
    potentials += tf.where(at, pen[:, tf.newaxis, :],
                           tf.zeros_like(pen[:, tf.newaxis, :]))
  tags, _ = crf_decode(potentials, transitions, sequence_lengths)
  # The score without the masks' penalties (they are 0 on an allowed path).
  best_score = crf_sequence_score(potentials, tags, sequence_lengths,
                                  tf.cast(transition_params, dtype))
  return tags, best_score


def _backtrack(backpointers, last_tag, max_len):
  """Follows backpointers from the last position to the first.

  Args:
    backpointers: TensorArray of T-1 int32 [B, C] elements; element t-1,
      entry [b, j], is the best tag at position t-1 given tag j at t.
    last_tag: int32 Tensor [B], the best tag at position T-1.
    max_len: int32 scalar T.

  Returns:
    int32 Tensor [B, T].
  """
  path = tf.TensorArray(tf.int32, size=max_len)
  path = path.write(max_len - 1, last_tag)

  def body(t, tag, path):
    prev = tf.gather(backpointers.read(t - 1), tag, batch_dims=1)
    return t - 1, prev, path.write(t - 1, prev)

  _, _, path = tf.while_loop(
      lambda t, *_: t > 0, body, (max_len - 1, last_tag, path))
  return tf.transpose(path.stack(), [1, 0])


def viterbi_decode(score, transition_params):
  """Best tag path of one sequence in NumPy, for use outside a graph.

  Args:
    score: float array [T, C] of unary scores (T >= 1).
    transition_params: float array [C, C].

  Returns:
    viterbi: list of T int tag ids.
    viterbi_score: float, the score of that path.
  """
  score = np.asarray(score)
  transition_params = np.asarray(transition_params)
  delta = score[0]
  backpointers = []
  for unary_t in score[1:]:
    scores = delta[:, None] + transition_params  # [C_prev, C]
    backpointers.append(np.argmax(scores, axis=0))
    delta = np.max(scores, axis=0) + unary_t
  path = [int(np.argmax(delta))]
  for best_prev in reversed(backpointers):
    path.append(int(best_prev[path[-1]]))
  path.reverse()
  return path, float(np.max(delta))
