"""Tests for convert_checkpoint.py.

Oracles: the MiniLM safetensors read with the `safetensors` library (not the
converter's own reader), transformers.BertModel / BertForPreTraining outputs,
and Google's variable names spelled out here independently of the converter.
"""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from safetensors import safe_open
from safetensors.numpy import save_file
from safetensors.torch import save_file as torch_save_file

import convert_checkpoint as cc
import helpers

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64, type_vocab_size=2)


def google_names(num_layers, heads=False):
  """Google's checkpoint names, written out as in the released checkpoints."""
  names = ["bert/embeddings/word_embeddings",
           "bert/embeddings/token_type_embeddings",
           "bert/embeddings/position_embeddings",
           "bert/embeddings/LayerNorm/gamma", "bert/embeddings/LayerNorm/beta",
           "bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
  for n in range(num_layers):
    s = "bert/encoder/layer_%d/" % n
    for part in ("query", "key", "value"):
      names += [s + "attention/self/%s/kernel" % part,
                s + "attention/self/%s/bias" % part]
    for dense in ("attention/output/dense", "intermediate/dense",
                  "output/dense"):
      names += [s + dense + "/kernel", s + dense + "/bias"]
    for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
      names += [s + norm + "/gamma", s + norm + "/beta"]
  if heads:
    names += helpers.PRETRAINING_HEAD_NAMES
  return names


def hf_name_for(google_name):
  """The transformers name of a Google name, by string rules."""
  name = google_name.replace("bert/encoder/layer_", "bert/encoder/layer/")
  name = name.replace("/", ".")
  for old, new in ((".kernel", ".weight"), (".gamma", ".weight"),
                   (".beta", ".bias"), ("word_embeddings", "word_embeddings."
                                        "weight"),
                   ("type_embeddings", "type_embeddings.weight"),
                   ("position_embeddings", "position_embeddings.weight"),
                   ("predictions.output_bias", "predictions.bias"),
                   ("output_weights", "weight"), ("output_bias", "bias")):
    name = name.replace(old, new)
  return name


def st_tensors(path):
  """{name with `bert.` prefix: array} of a safetensors file, position_ids
  dropped, read with the safetensors library."""
  out = {}
  with safe_open(path, framework="np") as f:
    for name in f.keys():
      if not name.endswith("position_ids"):
        out[cc.normalise_hf_name(name)] = f.get_tensor(name)
  return out


def ckpt_tensors(ckpt):
  reader = tf.train.load_checkpoint(ckpt)
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def write_vocab(folder, size):
  with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("".join("[unused%d]\n" % i for i in range(size)))


@pytest.fixture(scope="module")
def minilm_tf(minilm_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("minilm") / "tf")
  cc.convert_hf_to_tf(minilm_dir, out)
  return out


@pytest.fixture(scope="module")
def minilm_back(minilm_tf, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("minilm_back") / "hf")
  cc.convert_tf_to_hf(minilm_tf, out)
  return out


@pytest.fixture(scope="module")
def tiny_pretraining(tmp_path_factory):
  """A tiny random BertForPreTraining saved by transformers, with vocab.txt."""
  torch.manual_seed(0)
  model = transformers.BertForPreTraining(transformers.BertConfig(**TINY))
  # Random, not the init's zeros/ones, so that every tensor is checked.
  with torch.no_grad():
    for p in model.parameters():
      p.add_(torch.randn_like(p) * 0.1)
  out = str(tmp_path_factory.mktemp("tiny") / "hf")
  model.save_pretrained(out)
  write_vocab(out, TINY["vocab_size"])
  return out


@pytest.fixture
def tiny_copy(tiny_pretraining, tmp_path):
  """A private copy of the tiny model folder, to break."""
  path = str(tmp_path / "tiny")
  shutil.copytree(tiny_pretraining, path)
  return path


def edit_json(path, **changes):
  with open(path) as f:
    value = json.load(f)
  value.update(changes)
  with open(path, "w") as f:
    json.dump(value, f)


# ---------------------------------------------------------------------------
# hf_to_tf on the real MiniLM.
# ---------------------------------------------------------------------------


def test_hf_to_tf_names_shapes_values(minilm_dir, minilm_tf):
  tensors = ckpt_tensors(os.path.join(minilm_tf, "bert_model.ckpt"))
  assert sorted(tensors) == sorted(google_names(6))
  source = st_tensors(os.path.join(minilm_dir, "model.safetensors"))
  h, i = 384, 1536
  assert tensors["bert/embeddings/word_embeddings"].shape == (30522, h)
  assert tensors["bert/embeddings/position_embeddings"].shape == (512, h)
  assert tensors["bert/embeddings/token_type_embeddings"].shape == (2, h)
  assert tensors["bert/encoder/layer_3/intermediate/dense/kernel"].shape == (
      h, i)
  assert tensors["bert/encoder/layer_3/output/dense/kernel"].shape == (i, h)
  for name, value in tensors.items():
    assert value.dtype == np.float32, name
    expected = source[hf_name_for(name)]
    if name.endswith("/kernel"):
      expected = expected.T  # torch [out, in] vs TF [in, out].
    np.testing.assert_array_equal(value, expected, err_msg=name)


def test_hf_to_tf_config_and_vocab(minilm_dir, minilm_tf):
  with open(os.path.join(minilm_tf, "bert_config.json")) as f:
    config = json.load(f)
  assert set(config) == set(cc.GOOGLE_CONFIG_KEYS) | {"layer_norm_eps"}
  assert (config["hidden_size"], config["num_hidden_layers"],
          config["num_attention_heads"], config["intermediate_size"],
          config["vocab_size"], config["type_vocab_size"]) == (
              384, 6, 12, 1536, 30522, 2)
  with open(os.path.join(minilm_dir, "vocab.txt"), "rb") as a, open(
      os.path.join(minilm_tf, "vocab.txt"), "rb") as b:
    assert a.read() == b.read()
  # init_from_checkpoint and latest_checkpoint find it like a Google release.
  assert tf.train.latest_checkpoint(minilm_tf) == os.path.join(
      minilm_tf, "bert_model.ckpt")
  leftovers = [n for n in os.listdir(os.path.dirname(minilm_tf))
               if ".tmp-" in n]
  assert not leftovers


def test_init_from_checkpoint_sees_google_names(minilm_tf):
  """A graph with Google-named variables initialises from the conversion."""
  ckpt = os.path.join(minilm_tf, "bert_model.ckpt")
  with tf.Graph().as_default():
    with tf.compat.v1.variable_scope("bert/encoder/layer_5/output/dense"):
      kernel = tf.compat.v1.get_variable("kernel", [1536, 384])
    tf.compat.v1.train.init_from_checkpoint(ckpt, {"bert/": "bert/"})
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      value = sess.run(kernel)
  expected = tf.train.load_checkpoint(ckpt).get_tensor(
      "bert/encoder/layer_5/output/dense/kernel")
  np.testing.assert_array_equal(value, expected)


# ---------------------------------------------------------------------------
# Round trips.
# ---------------------------------------------------------------------------


def test_round_trip_is_bit_identical(minilm_dir, minilm_back):
  original = st_tensors(os.path.join(minilm_dir, "model.safetensors"))
  back = st_tensors(os.path.join(minilm_back, "model.safetensors"))
  assert sorted(back) == sorted(original)
  assert all(n.startswith("bert.") for n in back)
  for name, value in original.items():
    assert back[name].dtype == value.dtype, name
    assert back[name].tobytes() == value.tobytes(), name


def test_transformers_loads_tf_to_hf_output(minilm_dir, minilm_back):
  ours, info = transformers.BertModel.from_pretrained(
      minilm_back, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"]
  assert not info["mismatched_keys"]
  reference = transformers.BertModel.from_pretrained(minilm_dir)
  ids = torch.tensor([[101, 7592, 1010, 2088, 999, 102, 0, 0],
                      [101, 1996, 4248, 2829, 3899, 2003, 2182, 102]])
  mask = (ids != 0).long()
  with torch.no_grad():
    got = ours.eval()(input_ids=ids, attention_mask=mask)
    want = reference.eval()(input_ids=ids, attention_mask=mask)
  assert torch.equal(got.last_hidden_state, want.last_hidden_state)
  assert torch.equal(got.pooler_output, want.pooler_output)


def test_pretraining_heads_round_trip(tiny_pretraining, tmp_path):
  tf_dir, hf_dir = str(tmp_path / "tf"), str(tmp_path / "hf")
  ckpt = cc.convert_hf_to_tf(tiny_pretraining, tf_dir)
  tensors = ckpt_tensors(ckpt)
  assert sorted(tensors) == sorted(google_names(2, heads=True))
  h = TINY["hidden_size"]
  assert tensors["cls/predictions/output_bias"].shape == (TINY["vocab_size"],)
  assert tensors["cls/seq_relationship/output_weights"].shape == (2, h)
  source = st_tensors(os.path.join(tiny_pretraining, "model.safetensors"))
  np.testing.assert_array_equal(tensors["cls/seq_relationship/output_weights"],
                                source["cls.seq_relationship.weight"])
  np.testing.assert_array_equal(
      tensors["cls/predictions/transform/dense/kernel"],
      source["cls.predictions.transform.dense.weight"].T)

  cc.convert_tf_to_hf(tf_dir, hf_dir)
  back = st_tensors(os.path.join(hf_dir, "model.safetensors"))
  assert sorted(back) == sorted(source)
  for name, value in source.items():
    assert back[name].tobytes() == value.tobytes(), name

  with open(os.path.join(hf_dir, "config.json")) as f:
    assert json.load(f)["architectures"] == ["BertForPreTraining"]
  ours = transformers.BertForPreTraining.from_pretrained(hf_dir).eval()
  reference = transformers.BertForPreTraining.from_pretrained(
      tiny_pretraining).eval()
  ids = torch.tensor([[2, 5, 7, 11, 3]])
  with torch.no_grad():
    got, want = ours(input_ids=ids), reference(input_ids=ids)
  assert torch.equal(got.prediction_logits, want.prediction_logits)
  assert torch.equal(got.seq_relationship_logits, want.seq_relationship_logits)


def test_pytorch_bin_and_bf16_safetensors(tiny_pretraining, tmp_path):
  """pytorch_model.bin (weights_only) and bfloat16 safetensors both convert."""
  model = transformers.BertForPreTraining.from_pretrained(tiny_pretraining)
  state = {k: v.clone() for k, v in model.state_dict().items()}
  reference = ckpt_tensors(cc.convert_hf_to_tf(tiny_pretraining,
                                               str(tmp_path / "ref")))

  bin_dir = str(tmp_path / "bin")
  shutil.copytree(tiny_pretraining, bin_dir)
  os.remove(os.path.join(bin_dir, "model.safetensors"))
  torch.save(state, os.path.join(bin_dir, "pytorch_model.bin"))
  got = ckpt_tensors(cc.convert_hf_to_tf(bin_dir, str(tmp_path / "bin_tf")))
  assert sorted(got) == sorted(reference)
  for name, value in reference.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)

  bf16_dir = str(tmp_path / "bf16")
  shutil.copytree(tiny_pretraining, bf16_dir)
  bf16 = {k: v.to(torch.bfloat16) for k, v in state.items()
          if v.is_floating_point() and "decoder" not in k}
  torch_save_file(bf16, os.path.join(bf16_dir, "model.safetensors"))
  got = ckpt_tensors(cc.convert_hf_to_tf(bf16_dir, str(tmp_path / "bf16_tf")))
  kernel = "bert/encoder/layer_1/attention/self/key/kernel"
  expected = bf16["bert.encoder.layer.1.attention.self.key.weight"].float().T
  np.testing.assert_array_equal(got[kernel], expected.numpy())
  assert got[kernel].dtype == np.float32


def test_sharded_safetensors(tiny_copy, tiny_pretraining, tmp_path):
  path = os.path.join(tiny_copy, "model.safetensors")
  tensors = st_tensors(path)
  os.remove(path)
  names = sorted(tensors)
  weight_map = {}
  for shard, part in enumerate((names[:20], names[20:])):
    shard_name = "model-%05d-of-00002.safetensors" % (shard + 1)
    save_file({n: tensors[n] for n in part},
              os.path.join(tiny_copy, shard_name))
    weight_map.update({n: shard_name for n in part})
  with open(os.path.join(tiny_copy, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {}, "weight_map": weight_map}, f)
  got = ckpt_tensors(cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "a")))
  want = ckpt_tensors(cc.convert_hf_to_tf(tiny_pretraining,
                                          str(tmp_path / "b")))
  assert sorted(got) == sorted(want)
  for name, value in want.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_tf_to_hf_skips_optimizer_slots_and_task_heads(minilm_tf, tmp_path):
  tensors = ckpt_tensors(os.path.join(minilm_tf, "bert_model.ckpt"))
  extras = {"global_step": np.array(7, np.int64),
            "output_weights": np.ones((3, 384), np.float32),
            "output_bias": np.zeros((3,), np.float32),
            "bert/pooler/dense/kernel/adam_m": np.ones((384, 384), np.float32),
            "bert/pooler/dense/kernel/adam_v": np.ones((384, 384), np.float32)}
  fine_tuned = str(tmp_path / "fine_tuned")
  os.makedirs(fine_tuned)
  cc.write_tf_checkpoint(dict(tensors, **extras),
                         os.path.join(fine_tuned, "model.ckpt-7"))
  shutil.copy(os.path.join(minilm_tf, "bert_config.json"), fine_tuned)
  shutil.copy(os.path.join(minilm_tf, "vocab.txt"), fine_tuned)
  out = cc.convert_tf_to_hf(fine_tuned, str(tmp_path / "hf"))  # Latest ckpt.
  back = st_tensors(os.path.join(out, "model.safetensors"))
  assert sorted(back) == sorted(hf_name_for(n) for n in tensors)
  out = cc.convert_tf_to_hf(minilm_tf, str(tmp_path / "hf2"),
                            checkpoint=os.path.join(fine_tuned, "model.ckpt-7"))
  assert sorted(st_tensors(os.path.join(out, "model.safetensors"))) == sorted(
      back)


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


def test_non_bert_config_is_refused(tiny_copy, tmp_path):
  edit_json(os.path.join(tiny_copy, "config.json"), model_type="gpt2")
  with pytest.raises(cc.ConversionError, match="is not a BERT model.*gpt2"):
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")
  assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_missing_tensors_are_named(tiny_copy, tmp_path):
  path = os.path.join(tiny_copy, "model.safetensors")
  tensors = st_tensors(path)
  gone = ["bert.encoder.layer.1.attention.self.query.weight",
          "bert.pooler.dense.bias", "cls.seq_relationship.bias"]
  save_file({k: v for k, v in tensors.items() if k not in gone}, path)
  with pytest.raises(cc.ConversionError) as e:
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))
  assert sorted(e.value.names) == sorted(gone)
  for name in gone:
    assert name in str(e.value)
  assert not os.path.exists(tmp_path / "out")


def test_weights_of_another_model_are_refused(tiny_copy, tmp_path):
  save_file({"transformer.h.0.attn.c_attn.weight": np.zeros((2, 2), "f4")},
            os.path.join(tiny_copy, "model.safetensors"))
  with pytest.raises(cc.ConversionError, match="none of BERT's tensors"):
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))


def test_shape_mismatch_is_named(tiny_copy, tmp_path):
  edit_json(os.path.join(tiny_copy, "config.json"), intermediate_size=40)
  with pytest.raises(cc.ConversionError, match="shape mismatch") as e:
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))
  assert "bert.encoder.layer.0.intermediate.dense.weight" in e.value.names
  assert "bert.encoder.layer.1.output.dense.weight" in e.value.names
  assert "bert.pooler.dense.weight" not in e.value.names


def test_layers_beyond_the_config_are_named(tiny_copy, tmp_path):
  edit_json(os.path.join(tiny_copy, "config.json"), num_hidden_layers=1)
  with pytest.raises(cc.ConversionError, match="does not describe") as e:
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))
  assert "bert.encoder.layer.1.output.dense.weight" in e.value.names


class RunsCode(object):
  """Unpickling this would create a folder: weights_only must refuse it."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.makedirs, (self.path,))


@pytest.mark.parametrize("content", ["object", "list_value"])
def test_pickle_that_is_not_a_tensor_dict_is_refused(tiny_copy, tmp_path,
                                                     content):
  os.remove(os.path.join(tiny_copy, "model.safetensors"))
  if content == "object":
    obj = {"bert.pooler.dense.bias": RunsCode(str(tmp_path / "pwned"))}
  else:
    obj = {"bert.pooler.dense.bias": torch.zeros(32), "extra": [1, 2]}
  torch.save(obj, os.path.join(tiny_copy, "pytorch_model.bin"))
  with pytest.raises(cc.ConversionError, match="refusing") as e:
    cc.convert_hf_to_tf(tiny_copy, str(tmp_path / "out"))
  assert "pytorch_model.bin" in str(e.value)
  assert not os.path.exists(tmp_path / "pwned")
  if content == "list_value":
    assert e.value.names == ["extra"]


def test_tf_to_hf_missing_and_misshapen(minilm_tf, tmp_path):
  tensors = ckpt_tensors(os.path.join(minilm_tf, "bert_model.ckpt"))
  gone = "bert/encoder/layer_2/attention/output/LayerNorm/beta"
  del tensors[gone]
  broken = str(tmp_path / "broken")
  os.makedirs(broken)
  cc.write_tf_checkpoint(tensors, os.path.join(broken, "bert_model.ckpt"))
  shutil.copy(os.path.join(minilm_tf, "vocab.txt"), broken)
  shutil.copy(os.path.join(minilm_tf, "bert_config.json"), broken)
  with pytest.raises(cc.ConversionError, match="missing") as e:
    cc.convert_tf_to_hf(broken, str(tmp_path / "out"))
  assert e.value.names == [gone]

  edit_json(os.path.join(broken, "bert_config.json"), vocab_size=30000)
  with pytest.raises(cc.ConversionError, match="shape mismatch") as e:
    cc.convert_tf_to_hf(broken, str(tmp_path / "out"))
  assert "bert/embeddings/word_embeddings" in e.value.names
  assert not os.path.exists(tmp_path / "out")


def test_tf_to_hf_rerun_keeps_a_finished_output(minilm_tf, minilm_back,
                                                monkeypatch):
  monkeypatch.setattr(cc, "_build_hf", None)  # Calling it would fail.
  assert cc.convert_tf_to_hf(minilm_tf, minilm_back) == minilm_back
  with pytest.raises(TypeError):  # overwrite=True does rebuild.
    cc.convert_tf_to_hf(minilm_tf, minilm_back, overwrite=True)
  assert os.path.exists(os.path.join(minilm_back, "model.safetensors"))


def test_tf_folder_without_bert_config_is_refused(tmp_path):
  with pytest.raises(cc.ConversionError, match="is not a BERT model"):
    cc.convert_tf_to_hf(str(tmp_path), str(tmp_path / "out"))


def test_non_empty_output_needs_overwrite(tiny_pretraining, tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "precious.txt").write_text("keep")
  with pytest.raises(cc.ConversionError, match="not empty"):
    cc.convert_hf_to_tf(tiny_pretraining, str(out))
  cc.convert_hf_to_tf(tiny_pretraining, str(out), overwrite=True)
  assert not (out / "precious.txt").exists()
  assert (out / "bert_model.ckpt.index").exists()


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def run_cli(*args):
  return helpers.run_script(
      args, os.path.join(helpers.REPO_ROOT, "convert_checkpoint.py"),
      cwd=None, timeout=120)


def test_cli_bad_folder_exits_2_with_one_line(tmp_path):
  (tmp_path / "config.json").write_text('{"model_type": "t5"}')
  result = run_cli("--direction=hf_to_tf", "--input_dir=%s" % tmp_path,
                   "--output_dir=%s" % (tmp_path / "out"))
  # The line reads "error: ..." (task_plumbing.main_wrapper).
  helpers.assert_one_line_error(result, "is not a BERT model", "t5",
                                returncode=2, anywhere=True)
  assert not os.path.exists(tmp_path / "out")


def test_cli_converts(tiny_pretraining, tmp_path):
  result = run_cli("--direction=hf_to_tf", "--input_dir=" + tiny_pretraining,
                   "--output_dir=%s" % (tmp_path / "tf"))
  assert result.returncode == 0, result.stderr
  assert "converted 46 tensors" in result.stderr
  assert os.path.exists(tmp_path / "tf" / "bert_model.ckpt.index")
  # Rerunning a script (e.g. quickstart.sh) into a finished output is fine.
  result = run_cli("--direction=hf_to_tf", "--input_dir=" + tiny_pretraining,
                   "--output_dir=%s" % (tmp_path / "tf"))
  assert result.returncode == 0, result.stderr
  assert "nothing to do" in result.stderr


# ---------------------------------------------------------------------------
# ensure_converted.
# ---------------------------------------------------------------------------


def test_ensure_converted_reuses_a_finished_conversion(tiny_pretraining,
                                                       tmp_path, monkeypatch):
  out = str(tmp_path / "tf")
  ckpt = cc.ensure_converted(tiny_pretraining, out)
  assert ckpt == os.path.join(out, "bert_model.ckpt")
  data = os.path.join(out, "bert_model.ckpt.data-00000-of-00001")
  before = os.stat(data).st_mtime_ns

  def fail(*unused_args):
    raise AssertionError("converted again")

  monkeypatch.setattr(cc, "_build_tf", fail)
  assert cc.ensure_converted(tiny_pretraining, out) == ckpt
  assert os.stat(data).st_mtime_ns == before


@pytest.mark.parametrize("damage", ["no_marker", "truncated", "missing_file"])
def test_ensure_converted_redoes_an_incomplete_one(tiny_pretraining, tmp_path,
                                                   damage):
  out = str(tmp_path / "tf")
  cc.ensure_converted(tiny_pretraining, out)
  expected = ckpt_tensors(os.path.join(out, "bert_model.ckpt"))
  data = os.path.join(out, "bert_model.ckpt.data-00000-of-00001")
  if damage == "no_marker":  # E.g. copied by hand, or an older tool.
    os.remove(os.path.join(out, cc.MARKER_NAME))
  elif damage == "truncated":
    with open(data, "r+b") as f:
      f.truncate(100)
  else:
    os.remove(os.path.join(out, "bert_config.json"))
  assert not cc.is_finished_conversion(out, tiny_pretraining)
  cc.ensure_converted(tiny_pretraining, out)
  assert cc.is_finished_conversion(out, tiny_pretraining)
  got = ckpt_tensors(os.path.join(out, "bert_model.ckpt"))
  for name, value in expected.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_ensure_converted_redoes_a_stale_one(tiny_copy, tmp_path):
  out = str(tmp_path / "tf")
  cc.ensure_converted(tiny_copy, out)
  path = os.path.join(tiny_copy, "model.safetensors")
  tensors = st_tensors(path)
  tensors["bert.pooler.dense.bias"] = tensors["bert.pooler.dense.bias"] + 1
  save_file(tensors, path)
  ckpt = cc.ensure_converted(tiny_copy, out)
  np.testing.assert_array_equal(
      tf.train.load_checkpoint(ckpt).get_tensor("bert/pooler/dense/bias"),
      tensors["bert.pooler.dense.bias"])
