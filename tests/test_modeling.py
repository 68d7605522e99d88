"""modeling.py: shapes, names, reachability, config errors (tiny random BERT)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import modeling

tf1 = tf.compat.v1
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")


def tiny_config(**overrides):
  values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=16, type_vocab_size=2)
  values.update(overrides)
  return modeling.BertConfig(**values)


def build(config, batch=None, seq=7, is_training=False):
  input_ids = tf1.placeholder(tf.int32, [batch, seq], name="input_ids")
  input_mask = tf1.placeholder(tf.int32, [batch, seq], name="input_mask")
  segment_ids = tf1.placeholder(tf.int32, [batch, seq], name="segment_ids")
  model = modeling.BertModel(config, is_training, input_ids, input_mask,
                             segment_ids)
  return model, (input_ids, input_mask, segment_ids)


def random_feed(placeholders, batch, seq, vocab, rng):
  ids = rng.randint(0, vocab, size=(batch, seq))
  mask = np.ones((batch, seq), np.int32)
  mask[0, seq // 2:] = 0
  segs = rng.randint(0, 2, size=(batch, seq))
  return dict(zip(placeholders, (ids, mask, segs)))


def test_output_shapes_with_dynamic_batch():
  config = tiny_config()
  with tf.Graph().as_default():
    model, phs = build(config, batch=None, seq=7)
    assert model.get_pooled_output().shape.as_list() == [None, 32]
    assert model.get_sequence_output().shape.as_list() == [None, 7, 32]
    assert len(model.get_all_encoder_layers()) == 2
    assert model.get_embedding_table().shape.as_list() == [99, 32]
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      rng = np.random.RandomState(0)
      for batch in (1, 3):
        pooled, seq, emb = sess.run(
            [model.get_pooled_output(), model.get_sequence_output(),
             model.get_embedding_output()],
            random_feed(phs, batch, 7, 99, rng))
        assert pooled.shape == (batch, 32)
        assert seq.shape == (batch, 7, 32)
        assert emb.shape == (batch, 7, 32)
        assert np.all(np.abs(pooled) <= 1.0)  # tanh pooler


def test_variable_names_are_googles():
  config = tiny_config()
  with tf.Graph().as_default():
    build(config)
    names = {v.name[:-2]: v.shape.as_list()
             for v in tf1.trainable_variables()}
  expected = {
      "bert/embeddings/word_embeddings": [99, 32],
      "bert/embeddings/token_type_embeddings": [2, 32],
      "bert/embeddings/position_embeddings": [16, 32],
      "bert/embeddings/LayerNorm/beta": [32],
      "bert/embeddings/LayerNorm/gamma": [32],
      "bert/pooler/dense/kernel": [32, 32],
      "bert/pooler/dense/bias": [32],
  }
  for layer in range(2):
    prefix = "bert/encoder/layer_%d/" % layer
    for part in ("query", "key", "value"):
      expected[prefix + "attention/self/%s/kernel" % part] = [32, 32]
      expected[prefix + "attention/self/%s/bias" % part] = [32]
    expected[prefix + "attention/output/dense/kernel"] = [32, 32]
    expected[prefix + "attention/output/dense/bias"] = [32]
    expected[prefix + "attention/output/LayerNorm/beta"] = [32]
    expected[prefix + "attention/output/LayerNorm/gamma"] = [32]
    expected[prefix + "intermediate/dense/kernel"] = [32, 37]
    expected[prefix + "intermediate/dense/bias"] = [37]
    expected[prefix + "output/dense/kernel"] = [37, 32]
    expected[prefix + "output/dense/bias"] = [32]
    expected[prefix + "output/LayerNorm/beta"] = [32]
    expected[prefix + "output/LayerNorm/gamma"] = [32]
  assert names == expected


def test_every_variable_reaches_the_loss():
  config = tiny_config()
  with tf.Graph().as_default():
    model, _ = build(config, batch=2, is_training=True)
    loss = (tf.reduce_sum(model.get_pooled_output()) +
            tf.reduce_sum(model.get_sequence_output()))
    tvars = tf1.trainable_variables()
    grads = tf.gradients(loss, tvars)
    unreached = [v.name for v, g in zip(tvars, grads) if g is None]
    assert not unreached


def test_dropout_only_when_training():
  config = tiny_config(hidden_dropout_prob=0.5,
                       attention_probs_dropout_prob=0.5)
  rng = np.random.RandomState(1)
  for is_training, expect_same in ((False, True), (True, False)):
    with tf.Graph().as_default():
      tf1.set_random_seed(3)
      model, phs = build(config, batch=2, is_training=is_training)
      feed = random_feed(phs, 2, 7, 99, rng)
      with tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        a = sess.run(model.get_sequence_output(), feed)
        b = sess.run(model.get_sequence_output(), feed)
    assert np.array_equal(a, b) == expect_same


def test_padding_does_not_change_real_positions():
  """Outputs at real tokens ignore what the padded positions hold."""
  config = tiny_config()
  with tf.Graph().as_default():
    model, (ids_ph, mask_ph, seg_ph) = build(config, batch=1, seq=7)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      ids = np.array([[5, 6, 7, 8, 0, 0, 0]])
      mask = np.array([[1, 1, 1, 1, 0, 0, 0]])
      seg = np.zeros_like(ids)
      out_a = sess.run(model.get_sequence_output(),
                       {ids_ph: ids, mask_ph: mask, seg_ph: seg})
      ids_b = ids.copy()
      ids_b[0, 4:] = [40, 41, 42]
      out_b = sess.run(model.get_sequence_output(),
                       {ids_ph: ids_b, mask_ph: mask, seg_ph: seg})
  np.testing.assert_allclose(out_a[0, :4], out_b[0, :4], atol=1e-5)


def test_sequence_longer_than_positions_is_a_clear_error():
  config = tiny_config(max_position_embeddings=8)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="max_position_embeddings"):
      build(config, seq=9)


def test_dynamic_sequence_longer_than_positions_fails_at_run_time():
  config = tiny_config(max_position_embeddings=8)
  with tf.Graph().as_default():
    model, (ids_ph, mask_ph, seg_ph) = build(config, batch=1, seq=None)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      ok = np.ones((1, 8), np.int32)
      sess.run(model.get_pooled_output(),
               {ids_ph: ok, mask_ph: ok, seg_ph: 0 * ok})
      bad = np.ones((1, 9), np.int32)
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match="max_position_embeddings"):
        sess.run(model.get_pooled_output(),
                 {ids_ph: bad, mask_ph: bad, seg_ph: 0 * bad})


def test_gelu_forms():
  x = np.linspace(-6, 6, 101).astype(np.float32)
  with tf.Graph().as_default(), tf1.Session() as sess:
    exact, approx = sess.run([modeling.gelu(tf.constant(x)),
                              modeling.gelu_tanh(tf.constant(x))])
  from scipy.special import erf  # scipy comes with scikit-learn
  np.testing.assert_allclose(exact, 0.5 * x * (1 + erf(x / np.sqrt(2))),
                             atol=1e-6)
  assert 1e-4 < np.max(np.abs(exact - approx)) < 5e-3
  assert modeling.get_activation("gelu") is modeling.gelu
  assert modeling.get_activation("gelu_new") is modeling.gelu_tanh
  assert modeling.get_activation("linear") is None
  with pytest.raises(ValueError, match="Unsupported activation"):
    modeling.get_activation("nope")


def test_config_round_trip_and_errors(tmp_path):
  config = modeling.BertConfig.from_json_file(
      os.path.join(CONFIGS, "bert_config_tiny.json"))
  assert (config.num_hidden_layers, config.hidden_size) == (2, 128)
  again = modeling.BertConfig.from_dict(json.loads(config.to_json_string()))
  assert again.to_dict() == config.to_dict()

  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(modeling.BertConfigError, match="bad.json.*JSON"):
    modeling.BertConfig.from_json_file(str(bad))
  missing = tmp_path / "missing_key.json"
  missing.write_text(json.dumps({"hidden_size": 8}))
  with pytest.raises(modeling.BertConfigError,
                     match="missing_key.json.*vocab_size"):
    modeling.BertConfig.from_json_file(str(missing))
  with pytest.raises(modeling.BertConfigError, match="not found"):
    modeling.BertConfig.from_json_file(str(tmp_path / "absent.json"))
  with pytest.raises(modeling.BertConfigError, match="multiple"):
    modeling.BertConfig.from_dict(dict(vocab_size=10, hidden_size=30,
                                       num_hidden_layers=1,
                                       num_attention_heads=4))


@pytest.mark.parametrize("name", sorted(os.listdir(CONFIGS)))
def test_shipped_configs_load(name):
  if not name.endswith(".json"):
    return
  config = modeling.BertConfig.from_json_file(os.path.join(CONFIGS, name))
  assert config.hidden_size % config.num_attention_heads == 0


def test_assignment_map_from_checkpoint(tmp_path):
  config = tiny_config()
  with tf.Graph().as_default():
    build(config)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      path = tf1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
  with tf.Graph().as_default():
    build(config)
    with tf1.variable_scope("head"):
      tf1.get_variable("extra", [3])
    tvars = tf1.trainable_variables()
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
        tvars, path)
  assert "head/extra" not in assignment_map
  assert "bert/pooler/dense/kernel" in assignment_map
  assert "bert/pooler/dense/kernel:0" in initialized
  assert len(assignment_map) == len(tvars) - 1
