# coding=utf-8
r"""Pre-trains BERT, or continues pre-training a released checkpoint.

Reads the TFRecords of `create_pretraining_data.py` and trains the two
pretraining heads on the encoder, under Google's variable names, so Google's
pretraining checkpoints (which hold `cls/*`) continue where they stopped:

  cls/predictions/transform/dense/{kernel,bias}     masked-LM transform [H, H]
  cls/predictions/transform/LayerNorm/{gamma,beta}  its layer norm [H]
  cls/predictions/output_bias                       [V]; the output weights
                                                    are the word embeddings
  cls/seq_relationship/output_weights, output_bias  next sentence [2, H], [2]

  python run_pretraining.py --do_train --do_eval \
    --input_file='data/pretrain.tfrecord-*' \
    --bert_config_file=$BERT/bert_config.json \
    --init_checkpoint=$BERT/bert_model.ckpt --output_dir=/tmp/pretrain \
    --max_seq_length=128 --max_predictions_per_seq=20 \
    --train_batch_size=32 --learning_rate=2e-5 \
    --num_train_steps=10000 --num_warmup_steps=1000

A checkpoint without the heads (e.g. one converted from a plain BertModel)
still loads: the transform and the next-sentence layer then start from
random values, and the log says so. Training counts steps, not epochs
(--num_train_epochs and --warmup_proportion's steps are ignored unless
--num_warmup_steps is unset). Every optimizer and schedule flag of
task_plumbing applies.
"""

import collections
import hashlib
import json
import os
import struct

# Before TensorFlow is imported: keep its C++ start-up chatter (and, on CPU
# machines, the full wheel's cuDNN/cuFFT/cuBLAS registration errors) out of
# the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import tensorflow as tf

import modeling
import task_plumbing

tf1 = tf.compat.v1
FLAGS = flags.FLAGS

task_plumbing.define_common_flags()
flags.DEFINE_string("input_file", None,
                    "Comma-separated TFRecord files or globs from "
                    "create_pretraining_data.py (training data).")
flags.DEFINE_string("eval_input_file", None,
                    "TFRecords to evaluate on; default --input_file (as "
                    "Google's script), better a held-out set.")
flags.DEFINE_integer("max_predictions_per_seq", 20,
                     "Masked-LM predictions per sequence; must equal the "
                     "value the data was created with.")
flags.DEFINE_integer("num_train_steps", 100000, "Training steps (batches).")
flags.DEFINE_integer("num_warmup_steps", None,
                     "Steps of learning-rate warmup; default "
                     "--warmup_proportion of --num_train_steps.")
flags.DEFINE_integer("max_eval_steps", 100,
                     "Most eval batches; fewer if the eval data ends first.")

# --help lists the common flags too, after this script's own.
flags.adopt_module_key_flags(task_plumbing)
task_plumbing.register_run_settings(
    "pretraining", training_flags=("max_predictions_per_seq",))

NAME_TO_LENGTH = collections.OrderedDict([
    ("input_ids", "S"), ("input_mask", "S"), ("segment_ids", "S"),
    ("masked_lm_positions", "P"), ("masked_lm_ids", "P"),
    ("masked_lm_weights", "P"), ("next_sentence_labels", 1),
])


def feature_spec(max_seq_length, max_predictions_per_seq):
  """task_plumbing spec: name -> (kind, length) of the pretraining records."""
  lengths = {"S": max_seq_length, "P": max_predictions_per_seq}
  return collections.OrderedDict(
      (name, ("float" if name == "masked_lm_weights" else "int",
              lengths.get(length, length)))
      for name, length in NAME_TO_LENGTH.items())


# ----------------------------------------------------------------------------
# Heads


def gather_indexes(sequence_tensor, positions):
  """Picks the vectors at `positions` of each sequence.

  Args:
    sequence_tensor: [B, S, H].
    positions: int [B, P] positions within each sequence.
  Returns:
    [B*P, H].
  """
  batch_size, seq_length, width = modeling.get_shape_list(sequence_tensor, 3)
  positions = tf.reshape(positions, [batch_size, -1])
  flat_offsets = tf.reshape(tf.range(batch_size) * seq_length, [-1, 1])
  flat_positions = tf.reshape(positions + flat_offsets, [-1])
  flat_sequence = tf.reshape(sequence_tensor, [batch_size * seq_length, width])
  return tf.gather(flat_sequence, flat_positions)


def masked_lm_logits(bert_config, sequence_output, embedding_table,
                     positions):
  """Masked-LM scores over the vocabulary at the given positions.

  dense + activation + LayerNorm (the "transform"), then a product with the
  word-embedding table (tied output weights) plus an output bias.

  Args:
    bert_config: BertConfig (hidden_act, layer_norm_eps, initializer_range).
    sequence_output: [B, S, H].
    embedding_table: [V, H] word embeddings.
    positions: int [B, P].
  Returns:
    float32 [B*P, V] logits.
  """
  hidden = tf.cast(gather_indexes(sequence_output, positions), tf.float32)
  with tf1.variable_scope("cls/predictions"):
    with tf1.variable_scope("transform"):
      hidden = modeling.dense_layer(
          hidden, bert_config.hidden_size,
          modeling.get_activation(bert_config.hidden_act),
          bert_config.initializer_range, name="dense")
      hidden = modeling.layer_norm(
          hidden, name="LayerNorm",
          epsilon=getattr(bert_config, "layer_norm_eps", 1e-12))
    output_bias = tf1.get_variable("output_bias", [bert_config.vocab_size],
                                   initializer=tf1.zeros_initializer())
    logits = tf.matmul(hidden, tf.cast(embedding_table, tf.float32),
                       transpose_b=True)
    return tf.nn.bias_add(logits, output_bias)


def next_sentence_logits(bert_config, pooled_output):
  """Is-random-next scores from the pooled [CLS] vector.

  Args:
    bert_config: BertConfig.
    pooled_output: [B, H].
  Returns:
    float32 [B, 2] logits; class 1 means "B is a random sentence".
  """
  with tf1.variable_scope("cls/seq_relationship"):
    output_weights = tf1.get_variable(
        "output_weights", [2, bert_config.hidden_size],
        initializer=modeling.create_initializer(bert_config.initializer_range))
    output_bias = tf1.get_variable("output_bias", [2],
                                   initializer=tf1.zeros_initializer())
    logits = tf.matmul(tf.cast(pooled_output, tf.float32), output_weights,
                       transpose_b=True)
    return tf.nn.bias_add(logits, output_bias)


def cross_entropy(logits, labels):
  """Per-row loss and log-probabilities.

  Args:
    logits: [N, C]; labels: int [N].
  Returns:
    (loss [N], log_probs [N, C]).
  """
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  loss = -tf.reduce_sum(
      log_probs * tf.one_hot(labels, tf.shape(logits)[-1]), axis=-1)
  return loss, log_probs


def metric_fn(mlm_loss, mlm_predictions, mlm_ids, mlm_weights, nsp_loss,
              nsp_predictions, nsp_labels):
  """Google's four pretraining metrics; masked-LM ones weighted by real
  predictions ([B, P] inputs), next-sentence ones per sequence ([B])."""
  return {
      "masked_lm_accuracy": tf1.metrics.accuracy(
          mlm_ids, mlm_predictions, weights=mlm_weights),
      "masked_lm_loss": tf1.metrics.mean(mlm_loss, weights=mlm_weights),
      "next_sentence_accuracy": tf1.metrics.accuracy(nsp_labels,
                                                     nsp_predictions),
      "next_sentence_loss": tf1.metrics.mean(nsp_loss),
  }


def pretraining_head(bert_config):
  """Returns the head_fn: masked-LM + next-sentence losses and metrics.

  The loss is the masked-LM cross-entropy averaged over real predictions
  (masked_lm_weights) plus the next-sentence cross-entropy averaged over the
  batch.
  """

  def head_fn(model, features, mode, params):  # pylint: disable=unused-argument
    positions = features["masked_lm_positions"]
    batch_size = modeling.get_shape_list(positions)[0]
    ids = tf.reshape(features["masked_lm_ids"], [batch_size, -1])
    weights = tf.reshape(features["masked_lm_weights"], [batch_size, -1])
    mlm_logits = masked_lm_logits(bert_config, model.get_sequence_output(),
                                  model.get_embedding_table(), positions)
    nsp_logits = next_sentence_logits(bert_config, model.get_pooled_output())
    mlm_loss, _ = cross_entropy(mlm_logits, tf.reshape(ids, [-1]))
    mlm_loss = tf.reshape(mlm_loss, [batch_size, -1])  # [B, P]
    mlm_predictions = tf.reshape(
        tf.argmax(mlm_logits, axis=-1, output_type=tf.int32), [batch_size, -1])
    predictions = {"masked_lm_predictions": mlm_predictions,
                   "next_sentence_probabilities": tf.nn.softmax(nsp_logits)}
    if mode == tf.estimator.ModeKeys.PREDICT:
      return task_plumbing.TaskOutput(predictions=predictions)

    labels = tf.reshape(features["next_sentence_labels"], [-1])
    nsp_loss, _ = cross_entropy(nsp_logits, labels)
    # 1e-5 keeps a batch without real predictions (padding) finite.
    loss = (tf.reduce_sum(mlm_loss * weights) /
            (tf.reduce_sum(weights) + 1e-5) + tf.reduce_mean(nsp_loss))
    nsp_predictions = tf.argmax(nsp_logits, axis=-1, output_type=tf.int32)
    return task_plumbing.TaskOutput(
        loss=loss, predictions=predictions, metric_fn=metric_fn,
        metric_tensors=[mlm_loss, mlm_predictions, ids, weights, nsp_loss,
                        nsp_predictions, labels])

  return head_fn


# ----------------------------------------------------------------------------
# Data and checks


def expand_files(patterns, flag):
  """Comma-separated files or globs -> sorted paths; an error if none."""
  paths = []
  for pattern in [p.strip() for p in patterns.split(",") if p.strip()]:
    matches = sorted(tf.io.gfile.glob(pattern))
    if not matches:
      task_plumbing.flag_error("--%s: no file matches %s" % (flag, pattern))
    paths.extend(matches)
  return paths


def _masked_crc32c(data):
  """TFRecord's checksum of a few bytes: CRC-32C, rotated and offset."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def check_framing(path):
  """Walks the record headers of a local TFRecord file (no data is read):
  a folder, an unreadable file or one cut short (a copy or a
  create_pretraining_data.py run that died) stops the run here, naming the
  file and the record, instead of training on part of it or failing in the
  input pipeline. Remote files (gs://...) are left to the reader.
  """
  if "://" in path:
    return
  if os.path.isdir(path):
    task_plumbing.flag_error("%s: is a folder; expected a TFRecord file made "
                             "by create_pretraining_data.py" % path)
  size = os.path.getsize(path)
  offset = count = 0
  with open(path, "rb") as f:
    while offset < size:
      # Each record: length (uint64), its CRC (uint32), data, data CRC.
      header = f.read(12)
      if count == 0 and (len(header) < 12 or struct.unpack(
          "<I", header[8:])[0] != _masked_crc32c(header[:8])):
        task_plumbing.flag_error(
            "%s: not a TFRecord file (its first record header fails its "
            "checksum); expected records made by create_pretraining_data.py"
            % path)
      end = (offset + 12 + struct.unpack("<Q", header[:8])[0] + 4
             if len(header) == 12 else size + 1)
      if end > size:
        task_plumbing.flag_error(
            "%s: truncated: record %d (at byte %d) runs past the end of the "
            "file (%d bytes); expected whole records: make the file again "
            "with create_pretraining_data.py" % (path, count + 1, offset,
                                                 size))
      f.seek(end)
      offset, count = end, count + 1


def check_records(path, spec):
  """Reads the first record of `path` and checks it has the spec's shape.

  Catches data made with another --max_seq_length or
  --max_predictions_per_seq (or not pretraining data at all) before the
  graph is built, with a message that names the file and the flag.
  """
  try:
    record = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
  except tf.errors.OpError as e:
    task_plumbing.flag_error("%s: not a TFRecord file (%s)"
                             % (path, e.message.splitlines()[0]))
  if record is None:
    task_plumbing.flag_error("%s holds no records" % path)
  try:
    example = tf.train.Example.FromString(record.numpy())
  except Exception:  # pylint: disable=broad-except
    task_plumbing.flag_error("%s: records are not tf.train.Examples" % path)
  fields = example.features.feature
  missing = [name for name in spec if name not in fields]
  if missing:
    task_plumbing.flag_error("%s: not pretraining data (no %s); make it with "
                             "create_pretraining_data.py"
                             % (path, ", ".join(missing)))
  for name, flag in (("input_ids", "max_seq_length"),
                     ("masked_lm_positions", "max_predictions_per_seq")):
    field = fields[name]
    length = len(field.int64_list.value)
    if length != spec[name][1]:
      task_plumbing.flag_error(
          "%s: %s has length %d but --%s=%d; pass the value the data was "
          "created with" % (path, name, length, flag, spec[name][1]))


def log_missing_heads(checkpoint):
  """Says which pretraining heads the checkpoint lacks (they start fresh)."""
  names = {name for name, _ in tf.train.list_variables(checkpoint)}
  has = lambda scope: any(n.startswith(scope + "/") for n in names)
  if not has("cls/predictions"):
    logging.warning("%s has no cls/predictions variables: the masked-LM "
                    "transform (dense + LayerNorm) and output bias start from "
                    "random values; its output weights are the word "
                    "embeddings, which the checkpoint has", checkpoint)
  if not has("cls/seq_relationship"):
    logging.warning("%s has no cls/seq_relationship variables: the "
                    "next-sentence layer starts from random values",
                    checkpoint)


def validate_flags():
  if not (FLAGS.do_train or FLAGS.do_eval):
    task_plumbing.flag_error("nothing to do: pass --do_train and/or "
                             "--do_eval")
  if FLAGS.do_predict or FLAGS.export_dir:
    task_plumbing.flag_error("run_pretraining.py trains and evaluates only: "
                             "--do_predict and --export_dir are not "
                             "supported")
  task_plumbing.require_flags("input_file", "output_dir")
  task_plumbing.adopt_run_flags()
  task_plumbing.require_flags("bert_config_file")
  if FLAGS.max_predictions_per_seq < 1 or FLAGS.num_train_steps < 1:
    task_plumbing.flag_error("--max_predictions_per_seq and --num_train_steps "
                             "must be >= 1")
  task_plumbing.check_sizes()
  if (FLAGS.do_eval and not FLAGS.do_train and not FLAGS.init_checkpoint and
      not tf.train.latest_checkpoint(FLAGS.output_dir)):
    task_plumbing.flag_error("%s holds no checkpoint to evaluate: pass "
                             "--init_checkpoint or --do_train"
                             % FLAGS.output_dir)
  task_plumbing.check_writable_dir(FLAGS.output_dir, "output_dir")


def warmup_steps():
  if FLAGS.num_warmup_steps is not None:
    return FLAGS.num_warmup_steps
  return int(FLAGS.num_train_steps * FLAGS.warmup_proportion)


def main(_):
  validate_flags()
  train_files = expand_files(FLAGS.input_file, "input_file")
  # Names and sizes, not contents: pretraining shards run to gigabytes.
  task_plumbing.check_run_settings(hashlib.sha256(json.dumps(
      [(os.path.basename(p), tf.io.gfile.stat(p).length)
       for p in train_files]).encode("utf-8")).hexdigest()
                                   if FLAGS.do_train else None)
  bert_config = task_plumbing.load_bert_config(FLAGS.max_seq_length)
  spec = feature_spec(FLAGS.max_seq_length, FLAGS.max_predictions_per_seq)
  eval_files = (expand_files(FLAGS.eval_input_file, "eval_input_file")
                if FLAGS.eval_input_file else train_files)
  for path in sorted(set(train_files + eval_files)):
    check_framing(path)
  for path in sorted(set(train_files[:1] + eval_files[:1])):
    check_records(path, spec)
  checkpoint = None
  if FLAGS.init_checkpoint:
    checkpoint = task_plumbing.check_init_checkpoint(
        FLAGS.init_checkpoint, bert_config, bert_config.vocab_size)
    log_missing_heads(checkpoint)
  tf.io.gfile.makedirs(FLAGS.output_dir)

  num_warmup = warmup_steps()
  model_fn = task_plumbing.model_fn_builder(
      bert_config, pretraining_head(bert_config), checkpoint,
      FLAGS.learning_rate, FLAGS.num_train_steps, num_warmup, FLAGS.use_tpu,
      optimizer_options=task_plumbing.optimizer_options(),
      log_every_n_steps=FLAGS.log_every_n_steps,
      train_batch_size=FLAGS.train_batch_size)
  estimator = task_plumbing.make_estimator(model_fn)

  if FLAGS.do_train:
    task_plumbing.log_resume_point(FLAGS.output_dir, FLAGS.num_train_steps)
    logging.info("***** Training: %d files, batch %d, %d steps (%d warmup) "
                 "*****", len(train_files), FLAGS.train_batch_size,
                 FLAGS.num_train_steps, num_warmup)
    estimator.train(task_plumbing.input_fn_builder(
        train_files, spec, is_training=True, drop_remainder=True,
        seed=FLAGS.random_seed), max_steps=FLAGS.num_train_steps)

  if FLAGS.do_eval:
    logging.info("***** Evaluating: %d files, batch %d, at most %d steps "
                 "*****", len(eval_files), FLAGS.eval_batch_size,
                 FLAGS.max_eval_steps)
    result = dict(estimator.evaluate(
        task_plumbing.input_fn_builder(eval_files, spec, is_training=False,
                                       drop_remainder=FLAGS.use_tpu),
        steps=FLAGS.max_eval_steps))
    result["eval_loss"] = result.pop("loss")
    task_plumbing.write_eval_results(FLAGS.output_dir, result)


def run():
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
