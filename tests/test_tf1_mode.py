"""The model, every task head, the CRF and the optimizer in classic TF1 mode.

Programs written for TF 1.x call `tf.compat.v1.disable_v2_behavior()`: their
variables are reference variables (`var.dtype` is `float32_ref`) and their
control flow is v1 (Switch/Merge, not functional cond and while). The switch
is process-wide and cannot be undone, so one subprocess (this file run as a
script) does every check in that mode and writes what it saw to a folder;
the tests below read it and compare with this process, which runs in
TensorFlow 2's default graph mode.
"""
import importlib
import json
import os
import sys

from absl import flags
import numpy as np
import pytest

if __name__ == "__main__":  # the subprocess: the repo root is not on the path
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

import helpers
import modeling
import test_modeling_vs_transformers as oracle
import tokenization

tf1 = tf.compat.v1

TINY_CONFIG = os.path.join(helpers.REPO_ROOT, "configs", "bert_config_tiny.json")
BATCH, SEQ, NUM_TAGS, NUM_STEPS = 4, 16, 5, 4
LENGTHS = np.array([SEQ, SEQ - 3, SEQ // 2, 5])  # real tokens of each row
# Updates that always change the variables (loss on a fixed batch, no
# dropout), and with 2 micro-batches per update: every second step applies.
EVERY_STEP = [True] * NUM_STEPS
EVERY_SECOND_STEP = [False, True] * (NUM_STEPS // 2)

# name -> (optimizer options, which steps update the variables). Between them
# the cases cover both schedule code paths (Google's linear one and the
# warmup + formula one), gradient accumulation and Adam's bias correction.
CASES = {
    "ner_softmax": (dict(schedule="linear"), EVERY_STEP),
    "ner_crf": (dict(schedule="cosine", gradient_accumulation_steps=2),
                EVERY_SECOND_STEP),
    "classifier": (dict(schedule="polynomial", bias_correction=True),
                   EVERY_STEP),
    "squad": (dict(schedule="linear", gradient_accumulation_steps=2,
                   bias_correction=True), EVERY_SECOND_STEP),
    "pretraining": (dict(schedule="constant_with_warmup"), EVERY_STEP),
}


# ----------------------------------------------------------------------------
# The subprocess (TF1 mode)


def _minilm_inputs(tf_dir):
  tokenizer = tokenization.FullTokenizer(
      os.path.join(tf_dir, "vocab.txt"), do_lower_case=True)
  return oracle.encode(tokenizer)


def _import_script(name):
  """Imports a run_*.py script, then frees the flag names it defined.

  The scripts define their flags at import and several share names
  (train_file, head_dropout), so a second one would not import next to the
  first. The heads built here read no flags.
  """
  before = set(flags.FLAGS)
  module = importlib.import_module(name)
  for flag in set(flags.FLAGS) - before:
    delattr(flags.FLAGS, flag)
  return module


def _features(rng, vocab_size, **extra):
  """NumPy BertModel inputs for BATCH padded rows of SEQ ids, plus extra."""
  mask = (np.arange(SEQ)[None, :] < LENGTHS[:, None]).astype(np.int32)
  features = dict(
      input_ids=rng.randint(1000, vocab_size, [BATCH, SEQ]) * mask,
      input_mask=mask,
      segment_ids=(np.arange(SEQ)[None, :] >= LENGTHS[:, None] // 2) * mask,
      is_real_example=np.ones([BATCH]))
  features.update(extra)
  return {k: np.asarray(v, np.float32 if k.endswith("weights") else np.int32)
          for k, v in features.items()}


def _head_cases(config):
  """name -> (head_fn, features) for every task head on the tiny config."""
  rng = np.random.RandomState(0)
  vocab_size = config.vocab_size
  # First pieces of words: every other real position after [CLS].
  label_mask = np.zeros([BATCH, SEQ], np.int32)
  label_mask[:, 1::2] = 1
  label_mask *= np.arange(SEQ)[None, :] < LENGTHS[:, None]
  ner_features = lambda: _features(
      rng, vocab_size, label_ids=rng.randint(0, NUM_TAGS, [BATCH, SEQ]),
      label_mask=label_mask)
  ner_options = dict(use_crf=False, lstm_size=8, lstm_layers=1,
                     layer_fusion=True, head_dropout=0.0)
  run_ner = _import_script("run_ner")
  cases = {
      "ner_softmax": (run_ner.ner_head(config, NUM_TAGS, [1, 2, 3, 4],
                                       ner_options), ner_features()),
      "ner_crf": (run_ner.ner_head(config, NUM_TAGS, [1, 2, 3, 4],
                                   dict(ner_options, use_crf=True,
                                        lstm_size=0, layer_fusion=False)),
                  ner_features()),
  }
  run_classifier = _import_script("run_classifier")
  task = run_classifier.Task("tf1", "classification", ["a", "b", "c"], 0,
                             True)
  cases["classifier"] = (run_classifier.classifier_head(task, 0.0),
                         _features(rng, vocab_size,
                                   label_ids=rng.randint(0, 3, [BATCH])))
  run_squad = _import_script("run_squad")
  cases["squad"] = (run_squad.squad_head(config), _features(
      rng, vocab_size, start_position=[1, 2, 3, 0],
      end_position=[3, 2, 4, 0]))
  run_pretraining = _import_script("run_pretraining")
  cases["pretraining"] = (run_pretraining.pretraining_head(config), _features(
      rng, vocab_size, masked_lm_positions=rng.randint(1, 5, [BATCH, 3]),
      masked_lm_ids=rng.randint(1000, vocab_size, [BATCH, 3]),
      masked_lm_weights=[[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]],
      next_sentence_labels=[[0], [1], [1], [0]]))
  return cases


def _train(config, head_fn, features, optimizer_options):
  """Builds model_fn's train spec and runs NUM_STEPS steps on one batch.

  Returns:
    dict: losses (before each step and after the last), changed (per step:
    how many trainable variables it changed), num_trainable, global_step,
    variable_dtypes.
  """
  import task_plumbing  # pylint: disable=g-import-not-at-top
  model_fn = task_plumbing.model_fn_builder(
      config, head_fn, None, 1e-3, 100, 0, False,
      optimizer_options=optimizer_options, train_batch_size=BATCH)
  features = {k: tf.constant(v) for k, v in features.items()}
  spec = model_fn(features, None, tf.estimator.ModeKeys.TRAIN, {})
  tvars = tf1.trainable_variables()
  out = dict(losses=[], changed=[], num_trainable=len(tvars),
             variable_dtypes=sorted(
                 {v.dtype.name for v in tf1.global_variables()}))
  with tf1.Session() as session:
    session.run([tf1.global_variables_initializer(),
                 tf1.local_variables_initializer()])
    values = session.run(tvars)
    for _ in range(NUM_STEPS):
      out["losses"].append(float(session.run(spec.loss)))
      session.run(spec.train_op)
      new_values = session.run(tvars)
      out["changed"].append(sum(not np.array_equal(a, b)
                                for a, b in zip(values, new_values)))
      values = new_values
    out["losses"].append(float(session.run(spec.loss)))
    out["global_step"] = int(session.run(tf1.train.get_global_step()))
  return out


def _crf_decode_check():
  """Viterbi in the graph with a variable's transitions, and in NumPy."""
  import crf  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(3)
  scores = rng.randn(3, 6, NUM_TAGS).astype(np.float32)
  lengths = np.array([6, 4, 1], np.int32)
  with tf.Graph().as_default():
    transitions = tf1.get_variable(
        "transitions", [NUM_TAGS, NUM_TAGS],
        initializer=tf1.random_normal_initializer(seed=5))
    tags, _ = crf.crf_decode(tf.constant(scores), transitions, lengths)
    log_likelihood, _ = crf.crf_log_likelihood(
        tf.constant(scores), tags, lengths, transitions)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      tags, log_likelihood, trans = session.run(
          [tags, log_likelihood, transitions])
  expected = [crf.viterbi_decode(s[:n], trans)[0]
              for s, n in zip(scores, lengths)]
  return dict(variable_dtype=transitions.dtype.name,
              tags=[t[:n].tolist() for t, n in zip(tags, lengths)],
              expected=expected, log_likelihood=log_likelihood.tolist())


def run_in_tf1_mode(out_dir, minilm_tf_dir):
  """Everything the tests check, in TF1 mode; results go to out_dir."""
  tf1.disable_v2_behavior()
  ids, mask, segs = _minilm_inputs(minilm_tf_dir)
  seq, pooled, _ = oracle.ours(minilm_tf_dir, ids, mask, segs)
  np.savez(os.path.join(out_dir, "minilm.npz"), seq=seq, pooled=pooled)

  config = modeling.BertConfig.from_json_file(TINY_CONFIG)
  # No dropout: the loss on a fixed batch then moves only through updates.
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
  results = {}
  for name, (head_fn, features) in _head_cases(config).items():
    with tf.Graph().as_default():
      tf1.set_random_seed(1)
      results[name] = _train(config, head_fn, features, CASES[name][0])
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(dict(heads=results, crf_decode=_crf_decode_check()), f)


# ----------------------------------------------------------------------------
# The tests (default mode)


@pytest.fixture(scope="module")
def tf1_results(minilm_tf_dir, tmp_path_factory):
  """Runs this file as a script in TF1 mode once; returns its out folder."""
  out_dir = str(tmp_path_factory.mktemp("tf1_mode"))
  helpers.run_script([out_dir, minilm_tf_dir], script=os.path.abspath(__file__),
                     check=True, timeout=300)
  with open(os.path.join(out_dir, "results.json")) as f:
    return out_dir, json.load(f)


def test_bert_outputs_equal_default_mode(tf1_results, minilm_tf_dir):
  out_dir, _ = tf1_results
  tf1_outputs = np.load(os.path.join(out_dir, "minilm.npz"))
  ids, mask, segs = _minilm_inputs(minilm_tf_dir)
  seq, pooled, _ = oracle.ours(minilm_tf_dir, ids, mask, segs)
  real = mask.astype(bool)
  assert not real.all()  # padded rows
  assert np.abs(seq[real]).mean() > 0.05  # real activations, not zeros
  assert tf1_outputs["seq"].shape == seq.shape
  assert np.max(np.abs(tf1_outputs["seq"][real] - seq[real])) <= 1e-5
  assert np.max(np.abs(tf1_outputs["pooled"] - pooled)) <= 1e-5


def test_the_subprocess_used_reference_variables(tf1_results):
  _, results = tf1_results
  assert set(results["heads"]) == set(CASES)
  for name, result in results["heads"].items():
    assert "float32_ref" in result["variable_dtypes"], name
    assert "float32" not in result["variable_dtypes"], name
  assert results["crf_decode"]["variable_dtype"] == "float32_ref"


def test_crf_decode_with_reference_variable_equals_numpy(tf1_results):
  _, results = tf1_results
  check = results["crf_decode"]
  assert check["tags"] == check["expected"]
  assert len(set(map(tuple, check["tags"]))) > 1  # not one constant path
  log_likelihood = np.array(check["log_likelihood"])
  # Log-probabilities of the best paths: finite, negative, and the longest
  # sequence (most competing paths) the least likely.
  assert np.all(np.isfinite(log_likelihood)) and np.all(log_likelihood < 0)
  assert np.argmin(log_likelihood) == 0, log_likelihood


@pytest.mark.parametrize("name", sorted(CASES))
def test_head_trains(tf1_results, name):
  _, results = tf1_results
  result = results["heads"][name]
  losses = np.array(result["losses"])
  assert np.all(np.isfinite(losses)), losses
  assert result["global_step"] == NUM_STEPS
  # An update changes every trainable variable (token-level heads leave the
  # unused pooler's kernel and bias alone); an accumulation step none.
  updates = [changed > 0 for changed in result["changed"]]
  assert updates == CASES[name][1], result["changed"]
  for changed in result["changed"]:
    assert changed == 0 or changed >= result["num_trainable"] - 2, result
  # The loss on the fixed batch moves exactly with the variables, and the
  # first few updates lower it.
  for step, updated in enumerate(updates):
    moved = abs(losses[step + 1] - losses[step]) > 1e-6 * abs(losses[step])
    assert moved == updated, (step, losses)
  assert losses[-1] < losses[0], losses


if __name__ == "__main__":
  run_in_tf1_mode(sys.argv[1], sys.argv[2])
