# coding=utf-8
"""Converts BERT checkpoints between Google's TF layout and Hugging Face's.

Google's release layout (what `modeling.BertModel` and `init_from_checkpoint`
read):

  bert_model.ckpt.index, bert_model.ckpt.data-*   TF checkpoint, Google names
  bert_config.json                                Google's config keys
  vocab.txt

Hugging Face's layout (what `transformers.BertModel.from_pretrained` reads):

  config.json, model.safetensors (or pytorch_model.bin), vocab.txt

Usage:

  python convert_checkpoint.py --direction=hf_to_tf \\
      --input_dir=all-MiniLM-L6-v2 --output_dir=minilm_tf
  python convert_checkpoint.py --direction=tf_to_hf \\
      --input_dir=uncased_L-12_H-768_A-12 --output_dir=bert_base_hf

The converter works on tensors by name; it never builds a model. Every name
pair comes from `param_table`, so both directions agree by construction:
TF dense kernels are [in, out] and torch Linear weights are [out, in]
(transposed); embeddings, LayerNorm and the next-sentence head are not.

Outputs are written to a temporary folder beside `output_dir` and renamed into
place, so a half-written output folder is never left behind to be reused.

Config values pass through unchanged, `hidden_act` included: "gelu" meant the
tanh approximation in Google's code and the exact erf form in transformers;
the converter does not guess which one a checkpoint was trained with.
"""

import collections
import json
import os
import re
import shutil
import struct

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files

FLAGS = flags.FLAGS

TF_CKPT_NAME = "bert_model.ckpt"
TF_CONFIG_NAME = "bert_config.json"
HF_CONFIG_NAME = "config.json"
HF_WEIGHTS_NAME = "model.safetensors"
HF_SHARD_INDEX_NAME = "model.safetensors.index.json"
HF_PICKLE_NAME = "pytorch_model.bin"
VOCAB_NAME = "vocab.txt"
# Written last into a finished output; `ensure_converted` trusts only folders
# that hold it.
MARKER_NAME = "conversion_info.json"
_MARKER_VERSION = 1

# Google's bert_config.json keys, in the order Google's releases list them.
GOOGLE_CONFIG_KEYS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
    "hidden_size", "initializer_range", "intermediate_size",
    "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
    "type_vocab_size", "vocab_size")
# Without these a config does not describe a BERT encoder.
_CORE_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size")
# transformers.BertConfig defaults: a `model_type: bert` config may omit keys.
_HF_DEFAULTS = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2,
    "vocab_size": 30522}
# modeling.BertConfig defaults (Google's), for keys a bert_config.json omits.
_GOOGLE_DEFAULTS = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "initializer_range": 0.02,
    "max_position_embeddings": 512, "type_vocab_size": 16}

# Table groups: the encoder is required; each pretraining head is optional
# but must then be complete.
ENCODER, MLM_HEAD, NSP_HEAD = "encoder", "mlm_head", "nsp_head"
_GROUPS = (ENCODER, MLM_HEAD, NSP_HEAD)

# Top-level submodules of a transformers BertModel; a BertModel saved on its
# own writes them without the `bert.` prefix.
_BERT_SUBMODULES = ("embeddings.", "encoder.", "pooler.")
# How many names an error message spells out before "and N more".
_MAX_NAMES_IN_MESSAGE = 12


class ConversionError(ValueError):
  """A folder or checkpoint that cannot be converted.

  Attributes:
    names: the offending tensor names (or file names), possibly empty.
  """

  def __init__(self, message, names=()):
    super().__init__(message)
    self.names = list(names)


Param = collections.namedtuple(
    "Param", ["tf_name", "hf_name", "tf_shape", "transpose", "group"])
Param.__doc__ = """One tensor in both layouts.

tf_name / hf_name: its names; tf_shape: its shape in the TF layout (the HF
shape is reversed when `transpose`); group: ENCODER, MLM_HEAD or NSP_HEAD.
"""


def hf_shape(param):
  """The shape of `param` in the HF layout."""
  return tuple(reversed(param.tf_shape)) if param.transpose else param.tf_shape


def _dense(tf_scope, hf_scope, n_in, n_out, group):
  """A dense layer: TF kernel [n_in, n_out] <-> torch weight [n_out, n_in]."""
  return [Param(tf_scope + "/kernel", hf_scope + ".weight", (n_in, n_out),
                True, group),
          Param(tf_scope + "/bias", hf_scope + ".bias", (n_out,), False, group)]


def _layer_norm(tf_scope, hf_scope, width, group):
  """A layer norm: gamma/beta <-> weight/bias."""
  return [Param(tf_scope + "/gamma", hf_scope + ".weight", (width,), False,
                group),
          Param(tf_scope + "/beta", hf_scope + ".bias", (width,), False, group)]


def _encoder_layer(n, h, i):
  """The 16 tensors of encoder layer `n` (hidden `h`, intermediate `i`)."""
  tf_s, hf_s = "bert/encoder/layer_%d" % n, "bert.encoder.layer.%d" % n
  params = []
  for part in ("query", "key", "value"):
    params += _dense(tf_s + "/attention/self/" + part,
                     hf_s + ".attention.self." + part, h, h, ENCODER)
  params += _dense(tf_s + "/attention/output/dense",
                   hf_s + ".attention.output.dense", h, h, ENCODER)
  params += _layer_norm(tf_s + "/attention/output/LayerNorm",
                        hf_s + ".attention.output.LayerNorm", h, ENCODER)
  params += _dense(tf_s + "/intermediate/dense", hf_s + ".intermediate.dense",
                   h, i, ENCODER)
  params += _dense(tf_s + "/output/dense", hf_s + ".output.dense", i, h,
                   ENCODER)
  params += _layer_norm(tf_s + "/output/LayerNorm", hf_s + ".output.LayerNorm",
                        h, ENCODER)
  return params


def param_table(config):
  """Every tensor a BERT checkpoint may hold, with its names in both layouts.

  Args:
    config: dict with Google's config keys (vocab_size V, hidden_size H,
      max_position_embeddings P, type_vocab_size T, intermediate_size I,
      num_hidden_layers L).

  Returns:
    A list of `Param`: the encoder (embeddings, L layers, pooler), then the
    masked-LM head and the next-sentence head.
  """
  v, h = config["vocab_size"], config["hidden_size"]
  p, t = config["max_position_embeddings"], config["type_vocab_size"]
  params = [
      Param("bert/embeddings/word_embeddings",
            "bert.embeddings.word_embeddings.weight", (v, h), False, ENCODER),
      Param("bert/embeddings/token_type_embeddings",
            "bert.embeddings.token_type_embeddings.weight", (t, h), False,
            ENCODER),
      Param("bert/embeddings/position_embeddings",
            "bert.embeddings.position_embeddings.weight", (p, h), False,
            ENCODER),
  ]
  params += _layer_norm("bert/embeddings/LayerNorm",
                        "bert.embeddings.LayerNorm", h, ENCODER)
  for n in range(config["num_hidden_layers"]):
    params += _encoder_layer(n, h, config["intermediate_size"])
  params += _dense("bert/pooler/dense", "bert.pooler.dense", h, h, ENCODER)
  params += _dense("cls/predictions/transform/dense",
                   "cls.predictions.transform.dense", h, h, MLM_HEAD)
  params += _layer_norm("cls/predictions/transform/LayerNorm",
                        "cls.predictions.transform.LayerNorm", h, MLM_HEAD)
  params += [
      Param("cls/predictions/output_bias", "cls.predictions.bias", (v,),
            False, MLM_HEAD),
      # Google's output_weights is [2, H], already torch's [out, in].
      Param("cls/seq_relationship/output_weights",
            "cls.seq_relationship.weight", (2, h), False, NSP_HEAD),
      Param("cls/seq_relationship/output_bias", "cls.seq_relationship.bias",
            (2,), False, NSP_HEAD),
  ]
  return params


def _name_list(names):
  """`names` joined for a one-line message, cut after a dozen."""
  names = list(names)
  shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGE])
  if len(names) > _MAX_NAMES_IN_MESSAGE:
    shown += ", ... and %d more" % (len(names) - _MAX_NAMES_IN_MESSAGE)
  return shown


def match_tensors(table, shapes, side, source):
  """Finds the table's tensors among `shapes`; raises on any gap.

  Args:
    table: list of `Param` from `param_table`.
    shapes: {name: shape} of the tensors on offer, names in the `side` layout.
    side: "tf" or "hf".
    source: the folder or checkpoint read, for error messages.

  Returns:
    (params, groups): the `Param`s present, and the set of groups present.

  Raises:
    ConversionError: a required tensor, or part of a head that is present, is
      missing, or a shape differs from the config's.
  """
  name_of = (lambda p: p.tf_name) if side == "tf" else (lambda p: p.hf_name)
  shape_of = (lambda p: p.tf_shape) if side == "tf" else hf_shape
  found, missing, mismatched, groups = [], [], [], set()
  for group in _GROUPS:
    members = [p for p in table if p.group == group]
    if group != ENCODER and not any(name_of(p) in shapes for p in members):
      continue  # An optional head that is absent as a whole.
    groups.add(group)
    for p in members:
      name = name_of(p)
      if name not in shapes:
        missing.append(name)
      elif tuple(shapes[name]) != tuple(shape_of(p)):
        mismatched.append((name, tuple(shapes[name]), tuple(shape_of(p))))
      else:
        found.append(p)
  if not found and not mismatched:
    raise ConversionError(
        "cannot convert %s: it holds none of BERT's tensors (found e.g. %s)"
        % (source, _name_list(sorted(shapes)[:3]) or "nothing"),
        names=missing)
  _raise_on_gaps(missing, mismatched, source)
  return found, groups


def _raise_on_gaps(missing, mismatched, source):
  """Raises one ConversionError naming every missing or misshapen tensor."""
  if not missing and not mismatched:
    return
  parts = []
  if missing:
    parts.append("missing tensors: " + _name_list(missing))
  if mismatched:
    parts.append("shape mismatches vs the config: " + _name_list(
        "%s is %s (config: %s)" % (n, _dims(got), _dims(want))
        for n, got, want in mismatched))
  raise ConversionError("cannot convert %s: %s" % (source, "; ".join(parts)),
                        names=missing + [m[0] for m in mismatched])


def _dims(shape):
  """[768, 3072] as '768x3072' (commas would blur a list of names)."""
  return "x".join(str(d) for d in shape) or "scalar"


def _raise_unexpected(names, prefix, source):
  """Raises if names under the encoder's prefix are not in the table."""
  if names:
    raise ConversionError(
        "cannot convert %s: tensors under %r that the config does not "
        "describe (wrong num_hidden_layers or an unsupported variant?): %s"
        % (source, prefix, _name_list(sorted(names))), names=sorted(names))


# ----------------------------------------------------------------------------
# Configs.
# ----------------------------------------------------------------------------


def _read_json(path, input_dir):
  """Loads a JSON object from `path`; a bad file is a ConversionError."""
  try:
    with open(path, encoding="utf-8") as f:
      value = json.load(f)
  except UnicodeDecodeError as e:
    raise ConversionError("%s is not a BERT model: %s is not UTF-8 (byte "
                          "0x%02x at offset %d); expected a JSON file"
                          % (input_dir, os.path.basename(path),
                             e.object[e.start], e.start)) from None
  except (OSError, ValueError) as e:
    raise ConversionError("%s is not a BERT model: cannot read %s: %s"
                          % (input_dir, os.path.basename(path), e)) from None
  if not isinstance(value, dict):
    raise ConversionError("%s is not a BERT model: %s is not a JSON object"
                          % (input_dir, os.path.basename(path)))
  return value


def _check_config_values(config, input_dir):
  """Raises unless the sizes in `config` are positive integers that fit."""
  bad = [k for k in _CORE_KEYS + ("max_position_embeddings", "type_vocab_size")
         if not isinstance(config[k], int) or isinstance(config[k], bool)
         or config[k] <= 0]
  if bad:
    raise ConversionError("%s is not a BERT model: config sizes must be "
                          "positive integers: %s" % (input_dir, ", ".join(bad)),
                          names=bad)
  if config["hidden_size"] % config["num_attention_heads"]:
    raise ConversionError(
        "%s: hidden_size %d is not a multiple of num_attention_heads %d"
        % (input_dir, config["hidden_size"], config["num_attention_heads"]))


def google_config_from_hf(hf_config, input_dir):
  """Maps a transformers config.json dict to Google's bert_config.json dict.

  Raises:
    ConversionError: the config is not a plain BERT encoder.
  """
  model_type = hf_config.get("model_type")
  if model_type is None:
    absent = [k for k in _CORE_KEYS if k not in hf_config]
    if absent:
      raise ConversionError(
          "%s is not a BERT model: config.json has no model_type and lacks "
          "BERT keys: %s" % (input_dir, ", ".join(absent)), names=absent)
  elif model_type != "bert":
    raise ConversionError("%s is not a BERT model: model_type is %r, expected "
                          "'bert'" % (input_dir, model_type))
  position_type = hf_config.get("position_embedding_type", "absolute")
  if position_type != "absolute":
    raise ConversionError("%s: position_embedding_type %r is not supported "
                          "(Google's BERT has absolute positions only)"
                          % (input_dir, position_type))
  config = {k: hf_config.get(k, _HF_DEFAULTS[k]) for k in GOOGLE_CONFIG_KEYS}
  if "layer_norm_eps" in hf_config:
    config["layer_norm_eps"] = hf_config["layer_norm_eps"]
  _check_config_values(config, input_dir)
  return config


def read_google_config(path, input_dir):
  """Reads a bert_config.json, filling Google's defaults for omitted keys."""
  raw = _read_json(path, input_dir)
  absent = [k for k in _CORE_KEYS if k not in raw]
  if absent:
    raise ConversionError("%s is not a BERT model: %s lacks %s"
                          % (input_dir, os.path.basename(path),
                             ", ".join(absent)), names=absent)
  config = dict(_GOOGLE_DEFAULTS)
  config.update(raw)
  _check_config_values(config, input_dir)
  return config


def hf_config_from_google(config, groups):
  """Maps Google's config dict to a transformers config.json dict.

  Args:
    config: Google's config keys (plus layer_norm_eps if known).
    groups: the table groups present; they pick `architectures`.
  """
  if MLM_HEAD in groups and NSP_HEAD in groups:
    architecture = "BertForPreTraining"
  elif MLM_HEAD in groups:
    architecture = "BertForMaskedLM"
  else:
    architecture = "BertModel"
  hf_config = {"architectures": [architecture], "model_type": "bert"}
  hf_config.update({k: config[k] for k in GOOGLE_CONFIG_KEYS})
  hf_config.update({
      "layer_norm_eps": config.get("layer_norm_eps", 1e-12),
      "pad_token_id": 0,
      "position_embedding_type": "absolute",
      # Google ties the masked-LM decoder to the word embeddings.
      "tie_word_embeddings": True,
  })
  return hf_config


# ----------------------------------------------------------------------------
# Reading Hugging Face weights.
# ----------------------------------------------------------------------------

# safetensors dtype codes; BF16 is widened by hand since numpy lacks it.
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
    "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


class SafetensorsFile(object):
  """Reads tensors from a .safetensors file into numpy, no torch needed.

  The format: an 8-byte little-endian header length, a JSON header
  {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
  """

  def __init__(self, path):
    self.path = path
    try:
      with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error) as e:
      raise ConversionError("cannot read %s: %s" % (path, e)) from None
    header.pop("__metadata__", None)
    self._data_start = 8 + length
    self._entries = header

  def shapes(self):
    """{name: shape} of every tensor in the file."""
    return {k: tuple(e["shape"]) for k, e in self._entries.items()}

  def read(self, name):
    """The tensor `name` as a numpy array (BF16 widened to float32)."""
    entry = self._entries[name]
    code = entry["dtype"]
    if code not in _SAFETENSORS_DTYPES:
      raise ConversionError("%s: tensor %s has unsupported dtype %s"
                            % (self.path, name, code), names=[name])
    begin, end = entry["data_offsets"]
    with open(self.path, "rb") as f:
      f.seek(self._data_start + begin)
      buf = f.read(end - begin)
    dtype = np.dtype(_SAFETENSORS_DTYPES[code])
    if len(buf) != int(np.prod(entry["shape"])) * dtype.itemsize:
      raise ConversionError("%s: tensor %s is truncated or corrupt"
                            % (self.path, name), names=[name])
    value = np.frombuffer(buf, dtype=dtype)
    if code == "BF16":  # bfloat16 is the top half of a float32.
      value = (value.astype(np.uint32) << 16).view(np.float32)
    return value.reshape(entry["shape"])


def _open_safetensors(paths):
  """(shapes, read) over one or more .safetensors files."""
  files = {}
  for path in paths:
    st = SafetensorsFile(path)
    for name in st.shapes():
      files[name] = st
  shapes = {name: st.shapes()[name] for name, st in files.items()}
  return shapes, lambda name: files[name].read(name)


def _unpickling_reason(error):
  """The line of torch's weights_only error that names the refused object."""
  lines = [re.sub(r"\x1b\[[0-9;]*m", "", l).strip()
           for l in str(error).splitlines()]
  lines = [l for l in lines if l] or [repr(error)]
  for line in lines:
    if "Unsupported" in line or "GLOBAL" in line:
      return line.split(" Please use")[0]  # Drop torch's how-to-allow advice.
  return lines[0]


def _load_pickled_state_dict(path):
  """Loads a pytorch_model.bin state dict without running pickled code.

  torch.load(weights_only=True) unpickles only tensors and plain containers:
  any other pickled object (which could run arbitrary code) is refused.
  """
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConversionError("%s needs torch to read; convert it to "
                          "model.safetensors or install torch" % path) from None
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise ConversionError("refusing %s: it is not a plain tensor dict "
                          "(weights_only load failed: %s)"
                          % (path, _unpickling_reason(e))) from None
  if not isinstance(state, dict):
    raise ConversionError("refusing %s: it holds a %s, not a dict of tensors"
                          % (path, type(state).__name__))
  bad = sorted(str(k) for k, v in state.items()
               if not isinstance(k, str) or not isinstance(v, torch.Tensor))
  if bad:
    raise ConversionError("refusing %s: entries that are not tensors: %s"
                          % (path, _name_list(bad)), names=bad)
  arrays = {}
  for name, tensor in state.items():
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16.
      tensor = tensor.to(torch.float32)
    arrays[name] = tensor.detach().cpu().numpy()
  return arrays


def hf_weight_files(input_dir):
  """The weight files of a Hugging Face folder, safetensors preferred."""
  single = os.path.join(input_dir, HF_WEIGHTS_NAME)
  index = os.path.join(input_dir, HF_SHARD_INDEX_NAME)
  pickled = os.path.join(input_dir, HF_PICKLE_NAME)
  if os.path.exists(single):
    return [single]
  if os.path.exists(index):
    weight_map = _read_json(index, input_dir).get("weight_map", {})
    shards = sorted(set(weight_map.values()))
    return [os.path.join(input_dir, f) for f in shards]
  if os.path.exists(pickled):
    return [pickled]
  raise ConversionError("%s is not a BERT model: no %s, %s or %s"
                        % (input_dir, HF_WEIGHTS_NAME, HF_SHARD_INDEX_NAME,
                           HF_PICKLE_NAME))


def open_hf_weights(input_dir):
  """(shapes, read): {raw name: shape} and a reader of one tensor by name."""
  paths = hf_weight_files(input_dir)
  if paths[0].endswith(".bin"):
    arrays = _load_pickled_state_dict(paths[0])
    return {k: tuple(v.shape) for k, v in arrays.items()}, arrays.__getitem__
  return _open_safetensors(paths)


def normalise_hf_name(name):
  """A transformers tensor name with the `bert.` prefix and modern LayerNorm.

  BertModel saved on its own has no `bert.` prefix; very old checkpoints call
  the LayerNorm parameters gamma/beta.
  """
  if name.startswith(_BERT_SUBMODULES):
    name = "bert." + name
  if name.endswith("LayerNorm.gamma"):
    name = name[:-len("gamma")] + "weight"
  elif name.endswith("LayerNorm.beta"):
    name = name[:-len("beta")] + "bias"
  return name


# ----------------------------------------------------------------------------
# hf_to_tf.
# ----------------------------------------------------------------------------


def _resolve_decoder(names, read):
  """Folds transformers' masked-LM decoder tensors into Google's layout.

  Google ties the decoder matrix to the word embeddings and keeps one output
  bias; transformers may also save `decoder.weight` / `decoder.bias`.

  Args:
    names: {normalised name: raw name}, changed in place.
    read: reader of a tensor by raw name.

  Returns:
    The raw names dropped.
  """
  dropped = []
  weight = names.pop("cls.predictions.decoder.weight", None)
  if weight is not None:
    dropped.append(weight)
    embeddings = names.get("bert.embeddings.word_embeddings.weight")
    if embeddings is None or not np.array_equal(read(weight), read(embeddings)):
      logging.warning("cls.predictions.decoder.weight differs from the word "
                      "embeddings; Google's layout ties them, so it is dropped")
  bias = names.pop("cls.predictions.decoder.bias", None)
  if bias is not None:
    if "cls.predictions.bias" in names:
      dropped.append(bias)
    else:
      names["cls.predictions.bias"] = bias
  return dropped


def _normalised_names(raw_shapes):
  """{normalised name: raw name}; raises if two raw names collide."""
  names = {}
  for raw in raw_shapes:
    name = normalise_hf_name(raw)
    if name in names:
      raise ConversionError("tensors %s and %s are the same after adding the "
                            "'bert.' prefix" % (names[name], raw),
                            names=[names[name], raw])
    names[name] = raw
  return names


def hf_to_tf_arrays(input_dir, config):
  """Reads a Hugging Face folder's tensors under Google's names.

  Args:
    input_dir: folder with model.safetensors (or pytorch_model.bin).
    config: Google's config dict (from `google_config_from_hf`).

  Returns:
    (arrays, skipped): {Google name: float32 array in TF layout}, and the raw
    HF names that were not converted.
  """
  raw_shapes, read = open_hf_weights(input_dir)
  names = _normalised_names(raw_shapes)
  skipped = [names.pop(n) for n in list(names) if n.endswith("position_ids")]
  skipped += _resolve_decoder(names, read)
  shapes = {n: raw_shapes[raw] for n, raw in names.items()}
  table = param_table(config)
  params, _ = match_tensors(table, shapes, "hf", input_dir)
  used = {p.hf_name for p in params}
  _raise_unexpected([n for n in names if n.startswith("bert.")
                     and n not in used], "bert.", input_dir)
  skipped += sorted(raw for n, raw in names.items() if n not in used)
  arrays = collections.OrderedDict()
  for p in params:
    value = read(names[p.hf_name])
    if p.transpose:
      value = value.T
    arrays[p.tf_name] = np.ascontiguousarray(value, dtype=np.float32)
  return arrays, skipped


def write_tf_checkpoint(arrays, ckpt_path):
  """Writes {name: array} as a TF1 checkpoint whose variables have exactly
  those names, so tf.train.load_checkpoint and init_from_checkpoint see them.

  Values go in through placeholders so that large embeddings never become
  graph constants (a GraphDef is capped at 2 GB).
  """
  with tf.Graph().as_default():
    feeds, var_list = {}, {}
    for name, value in arrays.items():
      holder = tf.compat.v1.placeholder(tf.as_dtype(value.dtype), value.shape)
      var_list[name] = tf.compat.v1.Variable(holder, name=name,
                                             trainable=False)
      feeds[holder] = value
    saver = tf.compat.v1.train.Saver(var_list=var_list, sharded=False,
                                     save_relative_paths=True)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
      saver.save(sess, ckpt_path, write_meta_graph=False)


def _copy_vocab(input_dir, output_dir, vocab_size):
  """Copies vocab.txt, checked: a folder without one cannot be used to
  tokenize, and one with more entries than the embedding table has rows
  would look up ids past its end."""
  vocab = os.path.join(input_dir, VOCAB_NAME)
  if not os.path.isfile(vocab):
    raise ConversionError("%s has no %s" % (input_dir, VOCAB_NAME))
  with open(vocab, "rb") as f:
    data = f.read()
  try:
    data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise ConversionError("%s:%d: not UTF-8 (byte 0x%02x); expected one "
                          "token a line in UTF-8" % (vocab, line,
                                                     data[e.start]))
  entries = len(data.splitlines())
  if entries > vocab_size:
    raise ConversionError(
        "%s has %d entries but bert/embeddings/word_embeddings has %d rows "
        "(vocab_size): the vocab does not belong to this model"
        % (vocab, entries, vocab_size))
  shutil.copyfile(vocab, os.path.join(output_dir, VOCAB_NAME))


def _write_json(value, path):
  with open(path, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.write("\n")


def _log_summary(direction, arrays, skipped, output_dir):
  """Logs what was converted and what was left out."""
  n_params = sum(int(np.prod(a.shape)) for a in arrays.values())
  logging.info("%s: converted %d tensors (%.2fM parameters) into %s",
               direction, len(arrays), n_params / 1e6, output_dir)
  if skipped:
    logging.info("%s: skipped %d tensors: %s", direction, len(skipped),
                 _name_list(skipped))


def _build_tf(input_dir, tmp_dir):
  """Writes Google's release layout for the HF folder `input_dir`."""
  hf_config = _read_json(os.path.join(input_dir, HF_CONFIG_NAME), input_dir)
  config = google_config_from_hf(hf_config, input_dir)
  arrays, skipped = hf_to_tf_arrays(input_dir, config)
  _copy_vocab(input_dir, tmp_dir, config["vocab_size"])
  write_tf_checkpoint(arrays, os.path.join(tmp_dir, TF_CKPT_NAME))
  _write_json(config, os.path.join(tmp_dir, TF_CONFIG_NAME))
  return arrays, skipped


def _hf_sources(input_dir):
  """The files an hf_to_tf conversion reads."""
  return ([os.path.join(input_dir, HF_CONFIG_NAME),
           os.path.join(input_dir, VOCAB_NAME)] + hf_weight_files(input_dir))


def convert_hf_to_tf(input_dir, output_dir, overwrite=False):
  """Converts a Hugging Face BERT folder to Google's release layout.

  Args:
    input_dir: folder with config.json, vocab.txt and model.safetensors
      (or model.safetensors.index.json shards, or pytorch_model.bin).
    output_dir: folder to create with bert_model.ckpt.*, bert_config.json
      and vocab.txt. If it already holds a finished conversion of the same
      input files, it is left as it is.
    overwrite: replace a non-empty `output_dir`, even a finished one.

  Returns:
    The path of the checkpoint prefix, `output_dir`/bert_model.ckpt.

  Raises:
    ConversionError: the input is not a BERT model, a tensor is missing or
      has the wrong shape, or `output_dir` is in the way.
  """
  ckpt = os.path.join(output_dir, TF_CKPT_NAME)
  if not overwrite and is_finished_conversion(output_dir, input_dir):
    logging.info("%s already holds this conversion of %s; nothing to do",
                 output_dir, input_dir)
    return ckpt
  _check_output_dir(output_dir, overwrite)
  return _hf_to_tf(input_dir, output_dir, overwrite)


def _hf_to_tf(input_dir, output_dir, overwrite, keep_existing=None):
  """convert_hf_to_tf's work; `keep_existing` as in `_publish`."""
  _check_input_dir(input_dir, HF_CONFIG_NAME, "hf_to_tf")

  def build(tmp_dir):
    arrays, skipped = _build_tf(input_dir, tmp_dir)
    _write_marker(tmp_dir, "hf_to_tf", _hf_sources(input_dir))
    return arrays, skipped

  arrays, skipped = _publish(build, output_dir, overwrite, keep_existing)
  _log_summary("hf_to_tf", arrays, skipped, output_dir)
  return os.path.join(output_dir, TF_CKPT_NAME)


# ----------------------------------------------------------------------------
# tf_to_hf.
# ----------------------------------------------------------------------------


def find_tf_checkpoint(input_dir, checkpoint=None):
  """The checkpoint prefix to read: `checkpoint`, bert_model.ckpt or latest."""
  if checkpoint:
    if not tf.io.gfile.exists(checkpoint + ".index"):
      raise ConversionError("no TF checkpoint at %s (no %s.index)"
                            % (checkpoint, checkpoint))
    return checkpoint
  release = os.path.join(input_dir, TF_CKPT_NAME)
  if os.path.exists(release + ".index"):
    return release
  latest = tf.train.latest_checkpoint(input_dir)
  if latest:
    return latest
  raise ConversionError("%s is not a BERT model: no %s.index and no "
                        "checkpoint state file" % (input_dir, TF_CKPT_NAME))


def _is_slot_of(name, table_names):
  """True for optimizer slots and averages, e.g. `.../kernel/adam_m`."""
  parts = name.split("/")
  return any("/".join(parts[:k]) in table_names for k in range(1, len(parts)))


def tf_to_hf_arrays(ckpt_path, config):
  """Reads a TF checkpoint's BERT tensors under transformers' names.

  Optimizer slots (adam_m/adam_v), global_step and task heads are skipped.

  Returns:
    (arrays, skipped, groups): {HF name: array in torch layout}, the skipped
    checkpoint names, and the table groups present.
  """
  try:
    reader = tf.train.load_checkpoint(ckpt_path)
  except (tf.errors.OpError, ValueError) as e:
    raise ConversionError("cannot read TF checkpoint %s: %s"
                          % (ckpt_path, e.message if hasattr(e, "message")
                             else e)) from None
  shapes = reader.get_variable_to_shape_map()
  table = param_table(config)
  params, groups = match_tensors(table, shapes, "tf", ckpt_path)
  used = {p.tf_name for p in params}
  all_names = {p.tf_name for p in table}
  slots = [n for n in shapes if n not in used and _is_slot_of(n, all_names)]
  _raise_unexpected([n for n in shapes if n.startswith("bert/")
                     and n not in used and n not in slots], "bert/",
                    ckpt_path)
  others = sorted(n for n in shapes if n not in used and n not in slots)
  arrays = collections.OrderedDict()
  for p in params:
    try:
      value = reader.get_tensor(p.tf_name)
    except (tf.errors.OpError, IndexError, ValueError) as e:
      raise ConversionError("%s: tensor %s is truncated or corrupt (%s); "
                            "copy or download the checkpoint again"
                            % (ckpt_path, p.tf_name, e)) from None
    if value.dtype != np.float32:
      value = value.astype(np.float32)  # bfloat16/float16 mixed precision.
    arrays[p.hf_name] = np.ascontiguousarray(value.T if p.transpose else value)
  return arrays, others + sorted(slots), groups


def write_safetensors(arrays, path):
  """Writes {name: array} as safetensors in the form transformers reads."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  try:
    save_file(dict(arrays), path, metadata={"format": "pt"})
  except Exception as e:  # pylint: disable=broad-except
    # safetensors' own error type says "... (os error 28)": give the OSError
    # (a full disk, a file size limit) back, naming the file.
    number = re.search(r"\(os error (\d+)\)", str(e))
    if not number:
      raise
    code = int(number.group(1))
    raise OSError(code, os.strerror(code), path) from e
  os.chmod(path, 0o644)  # save_file makes it private, unlike its neighbours.


def _build_hf(input_dir, ckpt_path, tmp_dir):
  """Writes the transformers layout for a TF checkpoint."""
  config = read_google_config(os.path.join(input_dir, TF_CONFIG_NAME),
                              input_dir)
  arrays, skipped, groups = tf_to_hf_arrays(ckpt_path, config)
  _copy_vocab(input_dir, tmp_dir, config["vocab_size"])
  write_safetensors(arrays, os.path.join(tmp_dir, HF_WEIGHTS_NAME))
  _write_json(hf_config_from_google(config, groups),
              os.path.join(tmp_dir, HF_CONFIG_NAME))
  return arrays, skipped


def convert_tf_to_hf(input_dir, output_dir, checkpoint=None, overwrite=False):
  """Converts Google's release layout to a Hugging Face BERT folder.

  Args:
    input_dir: folder with bert_config.json, vocab.txt and a checkpoint.
    output_dir: folder to create with config.json, model.safetensors and
      vocab.txt; left as it is if it holds a finished conversion of the same
      files.
    checkpoint: checkpoint prefix to read instead of `input_dir`/
      bert_model.ckpt or the latest checkpoint in `input_dir`.
    overwrite: replace a non-empty `output_dir`, even a finished one.

  Returns:
    `output_dir`.

  Raises:
    ConversionError: as `convert_hf_to_tf`.
  """
  _check_input_dir(input_dir, TF_CONFIG_NAME, "tf_to_hf")
  ckpt_path = find_tf_checkpoint(input_dir, checkpoint)
  sources = [os.path.join(input_dir, TF_CONFIG_NAME),
             os.path.join(input_dir, VOCAB_NAME), ckpt_path + ".index"]
  if not overwrite and _is_finished(output_dir, "tf_to_hf", sources):
    logging.info("%s already holds this conversion of %s; nothing to do",
                 output_dir, ckpt_path)
    return output_dir
  _check_output_dir(output_dir, overwrite)

  def build(tmp_dir):
    arrays, skipped = _build_hf(input_dir, ckpt_path, tmp_dir)
    _write_marker(tmp_dir, "tf_to_hf", sources)
    return arrays, skipped

  logging.info("tf_to_hf: reading %s", ckpt_path)
  arrays, skipped = _publish(build, output_dir, overwrite)
  _log_summary("tf_to_hf", arrays, skipped, output_dir)
  return output_dir


# ----------------------------------------------------------------------------
# Folders: checks, atomic publication, reuse.
# ----------------------------------------------------------------------------


def _check_input_dir(input_dir, config_name, direction):
  """Raises a one-line error for a missing folder or the wrong direction."""
  if not os.path.isdir(input_dir):
    raise ConversionError("%s is not a BERT model: no such folder" % input_dir)
  if os.path.exists(os.path.join(input_dir, config_name)):
    return
  other = TF_CONFIG_NAME if config_name == HF_CONFIG_NAME else HF_CONFIG_NAME
  hint = ""
  if os.path.exists(os.path.join(input_dir, other)):
    hint = " (it has %s: try --direction=%s)" % (
        other, "tf_to_hf" if direction == "hf_to_tf" else "hf_to_tf")
  raise ConversionError("%s is not a BERT model: no %s%s"
                        % (input_dir, config_name, hint))


def _is_nonempty_dir(path):
  return os.path.isdir(path) and bool(os.listdir(path))


def _check_output_dir(output_dir, overwrite):
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise ConversionError("output %s exists and is not a folder" % output_dir)
  if _is_nonempty_dir(output_dir) and not overwrite:
    raise ConversionError("output folder %s is not empty; pass --overwrite "
                          "to replace it" % output_dir)


def _fingerprint(paths):
  """{basename: [size, mtime_ns]} of the source files."""
  result = {}
  for path in paths:
    st = os.stat(path)
    result[os.path.basename(path)] = [st.st_size, st.st_mtime_ns]
  return result


def _write_marker(tmp_dir, direction, sources):
  """Records what was converted from what; written last, before the rename."""
  files = {name: os.path.getsize(os.path.join(tmp_dir, name))
           for name in sorted(os.listdir(tmp_dir))}
  _write_json({"version": _MARKER_VERSION, "direction": direction,
               "sources": _fingerprint(sources), "files": files},
              os.path.join(tmp_dir, MARKER_NAME))


def _publish(build, output_dir, overwrite, keep_existing=None):
  """Runs build(tmp_dir) in a fresh folder beside `output_dir`, then renames
  it to `output_dir`. Nothing is left at `output_dir` if build fails.

  Args:
    build: function of the temp folder; its result is returned.
    output_dir: final folder.
    overwrite: replace a non-empty `output_dir`.
    keep_existing: optional function; if it returns True just before the
      rename (another process finished first), the new build is discarded.
  """
  output_dir = os.path.abspath(output_dir)
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  tmp_dir = atomic_files.make_temp_dir(
      parent, prefix=".%s.tmp-" % os.path.basename(output_dir))
  try:
    try:
      result = build(tmp_dir)
    except (OSError, tf.errors.OpError) as e:
      # A full disk while writing: name the file in `output_dir`, not in the
      # temp folder (removed below).
      if isinstance(e, tf.errors.OpError):
        import task_plumbing  # pylint: disable=g-import-not-at-top
        cause = task_plumbing.os_error_from_tf(e)
        if cause is None:
          raise
        e = cause
      if not (e.errno and e.filename and str(e.filename).startswith(tmp_dir)):
        raise
      raise OSError(e.errno, e.strerror, output_dir + str(e.filename)[
          len(tmp_dir):]) from None
    if keep_existing is not None and keep_existing():
      return result
    _swap_in(tmp_dir, output_dir, overwrite)
    return result
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)  # Gone after a rename.


def _swap_in(tmp_dir, output_dir, overwrite):
  """Renames `tmp_dir` to `output_dir`, moving an old output aside first."""
  if os.path.isdir(output_dir) and not os.listdir(output_dir):
    os.rmdir(output_dir)
  if os.path.exists(output_dir):
    if not overwrite:
      raise ConversionError("output folder %s appeared while converting"
                            % output_dir)
    old = tmp_dir + ".old"
    os.rename(output_dir, old)
    os.rename(tmp_dir, output_dir)
    shutil.rmtree(old, ignore_errors=True)
  else:
    os.rename(tmp_dir, output_dir)


def _is_finished(out_dir, direction, sources):
  """True if `out_dir` holds a complete `direction` conversion of `sources`
  as they are now: the marker is there, the source files have the recorded
  sizes and mtimes, and every output file has its recorded size.
  """
  try:
    with open(os.path.join(out_dir, MARKER_NAME), encoding="utf-8") as f:
      marker = json.load(f)
    if (marker.get("version") != _MARKER_VERSION or
        marker.get("direction") != direction or
        marker.get("sources") != _fingerprint(sources)):
      return False
    return all(os.path.getsize(os.path.join(out_dir, name)) == size
               for name, size in marker["files"].items())
  except (OSError, ValueError, KeyError, TypeError, AttributeError):
    return False


def is_finished_conversion(out_dir, hf_dir):
  """True if `out_dir` holds a complete hf_to_tf conversion of `hf_dir`."""
  try:
    sources = _hf_sources(hf_dir)
  except ConversionError:
    return False
  return _is_finished(out_dir, "hf_to_tf", sources)


def ensure_converted(hf_dir, out_dir):
  """Converts the Hugging Face folder `hf_dir` to Google's layout once.

  A finished conversion of the same source in `out_dir` is reused; anything
  else there (a half-written or stale folder) is replaced. Safe to call from
  several processes at once: each builds in its own temp folder and the first
  to finish wins.

  Returns:
    The checkpoint prefix, `out_dir`/bert_model.ckpt, for init_checkpoint.
  """
  ckpt = os.path.join(out_dir, TF_CKPT_NAME)
  if is_finished_conversion(out_dir, hf_dir):
    logging.info("Reusing converted checkpoint %s (from %s)", ckpt, hf_dir)
    return ckpt
  if os.path.exists(out_dir):
    logging.info("Replacing incomplete or stale conversion in %s", out_dir)
  return _hf_to_tf(hf_dir, out_dir, overwrite=True,
                   keep_existing=lambda: is_finished_conversion(out_dir,
                                                                hf_dir))


# ----------------------------------------------------------------------------
# Command line.
# ----------------------------------------------------------------------------


def define_flags():
  """Defines the CLI flags (only when run as a script, so that importing this
  module next to run_*.py never clashes with their --output_dir)."""
  flags.DEFINE_enum(
      "direction", None, ["hf_to_tf", "tf_to_hf"],
      "hf_to_tf: Hugging Face folder (config.json, model.safetensors) to "
      "Google's layout (bert_model.ckpt, bert_config.json); tf_to_hf: back.")
  flags.DEFINE_string("input_dir", None, "Folder to convert from.")
  flags.DEFINE_string("output_dir", None,
                      "Folder to create; written to a temp folder beside it "
                      "and renamed, so it is never left half-written.")
  flags.DEFINE_string(
      "checkpoint", None,
      "tf_to_hf only: checkpoint prefix to read (e.g. a fine-tuned "
      "output_dir/model.ckpt-1000). Default: input_dir/bert_model.ckpt, else "
      "the latest checkpoint in input_dir.")
  flags.DEFINE_bool("overwrite", False,
                    "Replace output_dir if it exists and is not empty.")
  flags.mark_flags_as_required(["direction", "input_dir", "output_dir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Unexpected arguments: %s" % " ".join(argv[1:]))
  import task_plumbing  # pylint: disable=g-import-not-at-top
  task_plumbing.check_writable_dir(
      os.path.dirname(os.path.abspath(FLAGS.output_dir)),
      "the folder of --output_dir")
  if FLAGS.direction == "hf_to_tf":
    if FLAGS.checkpoint:
      raise ConversionError("--checkpoint applies to --direction=tf_to_hf")
    convert_hf_to_tf(FLAGS.input_dir, FLAGS.output_dir, FLAGS.overwrite)
  else:
    convert_tf_to_hf(FLAGS.input_dir, FLAGS.output_dir, FLAGS.checkpoint,
                     FLAGS.overwrite)


def run():
  """Entry point of the console script and of `python convert_checkpoint.py`.

  Bad input, as in every script of the toolkit: one line `error: ...`, exit
  code 2 (task_plumbing.main_wrapper; --verbosity=debug adds the traceback).
  """
  import task_plumbing  # pylint: disable=g-import-not-at-top
  define_flags()
  task_plumbing.register_user_error(ConversionError)
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
