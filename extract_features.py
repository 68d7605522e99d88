"""Per-token BERT activations as JSON lines (Google's extract_features.py).

Input: a text file, one sequence per line; `text_a ||| text_b` for a pair.
Output: one JSON object per input line:

  {"linex_index": 0,
   "features": [{"token": "[CLS]",
                 "layers": [{"index": -1, "values": [0.1, ...]}, ...]}, ...]}

Example:
  python extract_features.py --input_file=input.txt --output_file=out.jsonl \\
    --vocab_file=$BERT/vocab.txt --bert_config_file=$BERT/bert_config.json \\
    --init_checkpoint=$BERT/bert_model.ckpt --layers=-1,-2,-3,-4 \\
    --max_seq_length=128 --batch_size=8
"""

import collections
import json
import os
import re

# Before TensorFlow is imported: keep its C++ start-up chatter (and, on CPU
# machines, the full wheel's cuDNN/cuFFT/cuBLAS registration errors) out of
# the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import input_limits
import task_plumbing
import tokenization

FLAGS = flags.FLAGS

flags.DEFINE_string("input_file", None, "Text file, one sequence per line; "
                    "'text_a ||| text_b' for a pair.")
flags.DEFINE_string("output_file", None, "JSON-lines output file.")
flags.DEFINE_string("layers", "-1,-2,-3,-4",
                    "Encoder layers to output, negative counts from the top "
                    "(-1 = last layer).")
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model.")
flags.DEFINE_string("vocab_file", None, "vocab.txt of the model.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint (prefix or folder).")
flags.DEFINE_bool("do_lower_case", True, "True for uncased models.")
flags.DEFINE_integer("max_seq_length", 128,
                     "Word pieces per sequence, [CLS]/[SEP] included; longer "
                     "inputs are truncated (the count is logged).")
flags.DEFINE_integer("batch_size", 32, "Sequences per predict batch.")
flags.DEFINE_integer("round_digits", 6, "Decimals kept in the JSON values.")


class InputExample(object):
  """One input line: a sequence or a pair."""

  def __init__(self, unique_id, text_a, text_b=None):
    self.unique_id = unique_id
    self.text_a = text_a
    self.text_b = text_b


class InputFeatures(object):
  """Ids of one example, padded to max_seq_length, and its tokens."""

  def __init__(self, unique_id, tokens, input_ids, input_mask, segment_ids):
    self.unique_id = unique_id
    self.tokens = tokens
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids


def read_examples(input_file):
  """Reads `text_a` or `text_a ||| text_b` lines (blank lines are skipped)."""
  examples = []
  long_line = input_limits.find_long_line(input_file)
  if long_line is not None:
    raise task_plumbing.UserInputError("%s:%d: %s" % (
        input_file, long_line, input_limits.line_too_long()))
  with open(input_file, "rb") as reader:
    data = reader.read()
  if data.startswith(b"\xef\xbb\xbf"):
    data = data[3:]  # a byte order mark is no part of the first line
  try:
    lines = data.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    raise task_plumbing.UserInputError(
        "%s:%d: not UTF-8 text (byte 0x%02x at offset %d); expected UTF-8, "
        "one sequence a line" % (input_file, data[:e.start].count(b"\n") + 1,
                                 data[e.start], e.start))
  for line_number, line in enumerate(lines, 1):
    line = tokenization.convert_to_unicode(line).strip()
    if not line:
      continue
    match = re.match(r"^(.*) \|\|\| (.*)$", line)
    if match:
      text_a, text_b = match.group(1), match.group(2)
    else:
      text_a, text_b = line, None
    examples.append(InputExample(line_number - 1, text_a, text_b))
  if not examples:
    raise task_plumbing.UserInputError("%s: no text lines" % input_file)
  return examples


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Trims the longer of the two lists, one token at a time, in place."""
  while len(tokens_a) + len(tokens_b) > max_length:
    longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    longer.pop()


def convert_examples_to_features(examples, seq_length, tokenizer):
  """Tokenises, adds [CLS]/[SEP] and pads. Returns (features, n_truncated)."""
  features = []
  truncated = 0
  for example in examples:
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    before = len(tokens_a) + len(tokens_b or [])
    if tokens_b is not None:
      truncate_seq_pair(tokens_a, tokens_b, seq_length - 3)
    else:
      del tokens_a[seq_length - 2:]
    truncated += before != len(tokens_a) + len(tokens_b or [])
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b is not None:
      tokens += tokens_b + ["[SEP]"]
      segment_ids += [1] * (len(tokens_b) + 1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    padding = seq_length - len(input_ids)
    features.append(InputFeatures(
        unique_id=example.unique_id, tokens=tokens,
        input_ids=input_ids + [0] * padding,
        input_mask=[1] * len(input_ids) + [0] * padding,
        segment_ids=segment_ids + [0] * padding))
  return features, truncated


def parse_layers(text, num_hidden_layers):
  """'-1,-2' -> [-1, -2], each checked against the model's depth."""
  try:
    layers = [int(x) for x in text.split(",") if x.strip()]
  except ValueError:
    raise task_plumbing.UserInputError(
        "--layers=%s: expected comma-separated integers" % text)
  for layer in layers:
    if not -num_hidden_layers <= layer < num_hidden_layers:
      raise task_plumbing.UserInputError(
          "--layers: %d is out of range for a %d-layer model"
          % (layer, num_hidden_layers))
  return layers


def input_fn_builder(features):
  """An in-memory input_fn (the inputs are small; no TFRecord needed)."""
  columns = collections.OrderedDict(
      unique_ids=[f.unique_id for f in features],
      input_ids=[f.input_ids for f in features],
      input_mask=[f.input_mask for f in features],
      segment_ids=[f.segment_ids for f in features])

  def input_fn(params):
    tensors = {k: tf.constant(np.asarray(v, np.int32)) for k, v in
               columns.items()}
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    return dataset.batch(params["batch_size"], drop_remainder=False)

  return input_fn


def layers_head(layer_indexes):
  """A head_fn whose predictions are the chosen encoder layers."""

  def head_fn(model, features, mode, params):  # pylint: disable=unused-argument
    all_layers = model.get_all_encoder_layers()
    predictions = {"unique_id": features["unique_ids"]}
    for layer in layer_indexes:
      predictions["layer_output_%d" % len(predictions)] = all_layers[layer]
    return task_plumbing.TaskOutput(predictions=predictions)

  return head_fn


def feature_json(feature, result, layer_indexes, digits):
  """The JSON object for one input line."""
  tokens = []
  for i, token in enumerate(feature.tokens):
    layers = []
    for j, layer_index in enumerate(layer_indexes):
      values = result["layer_output_%d" % (j + 1)][i]
      layers.append({"index": layer_index,
                     "values": [round(float(x), digits) for x in values]})
    tokens.append({"token": token, "layers": layers})
  return {"linex_index": feature.unique_id, "features": tokens}


def main(_):
  task_plumbing.require_flags("input_file", "output_file", "vocab_file",
                              "bert_config_file", "init_checkpoint")
  task_plumbing.check_sizes()
  if os.path.isdir(FLAGS.output_file):
    task_plumbing.flag_error("--output_file=%s is a folder; expected the path "
                             "of the JSON-lines file to write"
                             % FLAGS.output_file)
  task_plumbing.check_writable_dir(
      os.path.dirname(os.path.abspath(FLAGS.output_file)),
      "the folder of --output_file")
  bert_config = task_plumbing.load_bert_config(FLAGS.max_seq_length)
  layer_indexes = parse_layers(FLAGS.layers, bert_config.num_hidden_layers)
  tokenizer = task_plumbing.load_tokenizer()
  checkpoint = task_plumbing.check_init_checkpoint(
      FLAGS.init_checkpoint, bert_config, len(tokenizer.vocab))

  examples = read_examples(FLAGS.input_file)
  features, truncated = convert_examples_to_features(
      examples, FLAGS.max_seq_length, tokenizer)
  logging.info("Read %d lines from %s (%d truncated to %d word pieces)",
               len(examples), FLAGS.input_file, truncated,
               FLAGS.max_seq_length)

  model_fn = task_plumbing.model_fn_builder(
      bert_config, layers_head(layer_indexes), checkpoint, learning_rate=0.0,
      num_train_steps_=1, num_warmup_steps=0, use_tpu=False)
  run_config = tf.compat.v1.estimator.tpu.RunConfig()
  estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
      use_tpu=False, model_fn=model_fn, config=run_config,
      predict_batch_size=FLAGS.batch_size)

  by_id = {f.unique_id: f for f in features}
  lines = []
  for result in estimator.predict(
      input_fn_builder(features),
      yield_single_examples=True):
    feature = by_id[int(result["unique_id"])]
    lines.append(json.dumps(feature_json(feature, result, layer_indexes,
                                         FLAGS.round_digits)))
  task_plumbing.write_text_atomic(FLAGS.output_file, "\n".join(lines) + "\n")
  logging.info("Wrote activations of %d lines (layers %s) to %s", len(lines),
               ",".join(map(str, layer_indexes)), FLAGS.output_file)


def run():
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
