"""BERT for named-entity recognition: fine-tune, evaluate, tag, export.

Data (`--data_dir`): `train.txt`, `dev.txt`, `test.txt` as CoNLL columns
(word ... tag, blank line between sentences; `-DOCSTART-` skipped) or
char-per-line files for Chinese. `--predict_file` may also hold raw text,
one sentence per line (`--predict_format=raw`).

  python run_ner.py --do_train --do_eval --do_predict \\
    --data_dir=$DATA --vocab_file=$BERT/vocab.txt \\
    --bert_config_file=$BERT/bert_config.json \\
    --init_checkpoint=$BERT/bert_model.ckpt --max_seq_length=128 \\
    --train_batch_size=32 --learning_rate=5e-5 --num_train_epochs=3 \\
    --use_crf --output_dir=/tmp/ner --export_dir=/tmp/ner/export

The loss and predictions sit on the first word piece of each word; padding
and continuation pieces never count. Sentences longer than max_seq_length
are cut into overlapping windows so every word gets exactly one prediction.
Evaluation is entity-level, by the CoNLL scorer's rules.
"""

import collections
import json
import os

# Before TensorFlow is imported: keep its C++ start-up chatter (and, on CPU
# machines, the full wheel's cuDNN/cuFFT/cuBLAS registration errors) out of
# the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import crf
import modeling
import ner_data
import ner_metrics
import task_plumbing
import text_serving
import tf_metrics

tf1 = tf.compat.v1
FLAGS = flags.FLAGS

task_plumbing.define_common_flags()
flags.DEFINE_string("train_file", "train.txt", "Training file in data_dir.")
flags.DEFINE_string("dev_file", "dev.txt", "Dev file in data_dir (--do_eval).")
flags.DEFINE_string("test_file", "test.txt",
                    "Test file in data_dir (--do_predict).")
flags.DEFINE_string("predict_file", None,
                    "File to tag instead of data_dir/test_file (any path).")
flags.DEFINE_enum("predict_format", "auto", ["auto", "conll", "raw"],
                  "Format of the file to tag: CoNLL columns (with or without "
                  "gold tags), raw text one sentence per line, or auto: "
                  "'raw' for a .raw/.text/.sents file name, else 'conll'.")
flags.DEFINE_integer("tag_column", -1,
                     "Column of the tag in CoNLL files (-1 = last).")
flags.DEFINE_enum("tag_scheme", "IOB2", ["IOB1", "IOB2", "BIO", "IOBES",
                                         "BIOES"],
                  "Tag scheme of the data; checked before training.")
flags.DEFINE_enum("scheme_violations", "error", ["error", "warn", "repair"],
                  "What to do when gold tags break --tag_scheme (e.g. I-PER "
                  "after O): stop with file:line, log a warning, or repair "
                  "them by the CoNLL scorer's reading (I- after O starts an "
                  "entity) and log the count.")
flags.DEFINE_string("labels_file", None,
                    "One label per line; default: the tags of the training "
                    "data. Saved to output_dir/label_map.json either way.")
flags.DEFINE_bool("use_crf", False,
                  "CRF on top of the token scores: trained by its "
                  "log-likelihood, decoded by Viterbi.")
flags.DEFINE_bool("constrained_decoding", True,
                  "Decode only tag sequences that --tag_scheme allows (no "
                  "I-ORG after O or B-PER): Viterbi over the words' "
                  "log-probabilities (softmax) or scores plus transitions "
                  "(CRF) with the forbidden starts, transitions and (IOBES) "
                  "ends masked. On by default, since the scheme's rules "
                  "hold for every real sentence; --noconstrained_decoding "
                  "gives the plain argmax / unconstrained Viterbi.")
flags.DEFINE_integer("lstm_size", 0,
                     "Units of each direction of a BiLSTM under the output "
                     "layer; 0 means no BiLSTM.")
flags.DEFINE_integer("lstm_layers", 1, "Stacked BiLSTM layers.")
flags.DEFINE_bool("layer_fusion", False,
                  "Feed the head a learned per-token softmax mix of all "
                  "encoder layers instead of the last one.")
flags.DEFINE_float("head_dropout", 0.1, "Dropout before the output layer.")
flags.DEFINE_bool("truncate", False,
                  "Cut sentences longer than max_seq_length instead of "
                  "windowing them; the cut words are tagged 'O' (counted).")
flags.DEFINE_integer("doc_stride", 0,
                     "Word pieces between window starts for long sentences; "
                     "0 means half the window.")

task_plumbing.register_user_error(ner_data.NerDataError)
# --help lists the common flags too, after this script's own.
flags.adopt_module_key_flags(task_plumbing)
task_plumbing.register_run_settings(
    "ner",
    model_flags=("use_crf", "lstm_size", "lstm_layers", "layer_fusion",
                 "tag_scheme"),
    training_flags=("truncate", "doc_stride", "tag_column"))

FEATURE_SPEC = collections.OrderedDict([
    ("input_ids", ("int", None)), ("input_mask", ("int", None)),
    ("segment_ids", ("int", None)), ("label_ids", ("int", None)),
    ("label_mask", ("int", None)), ("is_real_example", ("int", 1)),
])


def feature_spec(max_seq_length):
  return collections.OrderedDict(
      (k, (kind, length or max_seq_length))
      for k, (kind, length) in FEATURE_SPEC.items())


# ----------------------------------------------------------------------------
# Head


def fuse_layers(all_layers, initializer_range):
  """Dynamic fusion: a per-token softmax over layers weights their outputs.

  Args:
    all_layers: list of L tensors [B, S, H].
    initializer_range: stddev of the scoring layer's initialiser.
  Returns:
    [B, S, H] the weighted sum over the L layers.
  """
  stacked = tf.stack(all_layers, axis=2)  # [B, S, L, H]
  scores = modeling.dense_layer(stacked, 1, None, initializer_range,
                                "layer_logits")  # [B, S, L, 1]
  weights = tf.nn.softmax(scores, axis=2)
  return tf.reduce_sum(weights * stacked, axis=2)


def lstm_direction(inputs, lengths, units, reverse, name):
  """One LSTM direction over [B, S, D] inputs; padding stays at the end.

  The backward pass reverses each sequence within its own length, so its
  first step is the last real token, not padding.

  Returns:
    [B, S, units] hidden states.
  """
  with tf1.variable_scope(name):
    width = modeling.get_shape_list(inputs)[-1]
    kernel = tf1.get_variable("kernel", [width + units, 4 * units],
                              initializer=tf1.glorot_uniform_initializer())
    bias = tf1.get_variable("bias", [4 * units],
                            initializer=tf1.zeros_initializer())
    if reverse:
      inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
    batch = tf.shape(inputs)[0]
    zeros = tf.zeros([batch, units], inputs.dtype)

    def step(state, x_t):
      c, h = state
      gates = tf.nn.bias_add(tf.matmul(tf.concat([x_t, h], 1), kernel), bias)
      i, g, f, o = tf.split(gates, 4, axis=1)
      # +1 on the forget gate: remember by default early in training.
      c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(g)
      h = tf.sigmoid(o) * tf.tanh(c)
      return c, h

    _, hidden = tf.scan(step, tf.transpose(inputs, [1, 0, 2]),
                        initializer=(zeros, zeros))
    hidden = tf.transpose(hidden, [1, 0, 2])
    if reverse:
      hidden = tf.reverse_sequence(hidden, lengths, seq_axis=1, batch_axis=0)
    return hidden


def bilstm(inputs, lengths, units, num_layers):
  """Stacked bidirectional LSTM: [B, S, D] -> [B, S, 2 * units]."""
  output = inputs
  for layer in range(num_layers):
    with tf1.variable_scope("bilstm_%d" % layer):
      forward = lstm_direction(output, lengths, units, False, "fw")
      backward = lstm_direction(output, lengths, units, True, "bw")
      output = tf.concat([forward, backward], axis=-1)
  return output


def compact(values, mask):
  """Moves the positions where mask is 1 to the front, keeping their order.

  The CRF runs over words, not word pieces: its transitions must link one
  word to the next, so the first-piece positions are gathered together.

  Args:
    values: [B, S, ...] tensor.
    mask: int32 [B, S].
  Returns:
    (compacted [B, S, ...], order [B, S] the gather indices used).
  """
  order = tf.argsort(1 - mask, axis=1, stable=True)
  return tf.gather(values, order, batch_dims=1), order


def uncompact(values, order):
  """Inverse of compact for [B, S] values."""
  inverse = tf.argsort(order, axis=1, stable=True)
  return tf.gather(values, inverse, batch_dims=1)


def word_start_table(vocab):
  """[V] int32 table: 1 for ids that can start a word, 0 for '##' pieces and
  the special tokens. A serving_default request carries no label_mask; this
  recovers it from the ids, the way the featurizer sets it for words that are
  one basic token (first piece of each word)."""
  table = np.ones([len(vocab)], np.int32)
  for token, index in vocab.items():
    if token.startswith("##") or token in ("[CLS]", "[SEP]", "[PAD]"):
      table[index] = 0
  return table


def token_scores(model, features, is_training, bert_config, num_labels,
                 options):
  """[B, S, C] tag scores from the encoder (fusion, BiLSTM, dropout, dense)."""
  if options["layer_fusion"]:
    output = fuse_layers(model.get_all_encoder_layers(),
                         bert_config.initializer_range)
  else:
    output = model.get_sequence_output()
  if options["lstm_size"]:
    lengths = tf.reduce_sum(features["input_mask"], axis=1)
    output = bilstm(output, lengths, options["lstm_size"],
                    options["lstm_layers"])
  if is_training:
    output = modeling.dropout(output, options["head_dropout"])
  return modeling.dense_layer(output, num_labels, None,
                              bert_config.initializer_range, "output")


def constrained_viterbi(word_scores, transitions, num_words, label_mask,
                        constraints):
  """Best tag path of each window among those the tag scheme allows.

  The start mask applies where the window holds its sentence's first word
  (label_mask 1 right after [CLS]); a later window of a long sentence
  starts mid-sentence, where an I- may continue the window before. The end
  mask (IOBES) applies at each window's last word: exact for sentences that
  fit in one window, while the seam between two windows is not constrained.

  Args:
    word_scores: float [B, S, C] per-word scores, compacted (see compact).
    transitions: float [C, C] transition scores (zeros for softmax).
    num_words: int [B] words per window.
    label_mask: int [B, S] as in the features (not compacted).
    constraints: (start [C], transitions [C][C], end [C]) lists of bools,
      from ner_metrics.allowed_transitions.
  Returns:
    int32 [B, S] compacted tag ids, 0 past num_words.
  """
  start, allowed, end = (np.array(m, dtype=bool) for m in constraints)
  # [B, C]: a window not at its sentence's start may begin with any tag.
  mid_sentence = tf.not_equal(label_mask[:, 1:2], 1)
  allowed_start = tf.logical_or(mid_sentence, tf.constant(start)[tf.newaxis])
  tags, _ = crf.crf_constrained_decode(
      tf.cast(word_scores, tf.float32), transitions, num_words, allowed,
      allowed_start, None if end.all() else end)
  return tags


def ner_head(bert_config, num_labels, pos_indices, options):
  """Returns the head_fn: token scores, loss, decoding and metrics.

  Args:
    bert_config: BertConfig.
    num_labels: C, the number of tags.
    pos_indices: tag ids counted by the token-level metrics (all but 'O').
    options: dict with use_crf, lstm_size, lstm_layers, layer_fusion,
      head_dropout, and optionally constraints: None, or the (start,
      transitions, end) masks of ner_metrics.allowed_transitions, which
      restrict decoding to the tag paths the scheme allows.
  Features carry label_mask (1 at the first piece of each word a window
  owns): from the TFRecords, or from the serving receiver.
  """

  def head_fn(model, features, mode, params):  # pylint: disable=unused-argument
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    label_mask = features["label_mask"]
    with tf1.variable_scope("ner"):
      logits = token_scores(model, features, is_training, bert_config,
                            num_labels, options)  # [B, S, C]
      constraints = options.get("constraints")
      if options["use_crf"] or constraints:
        # The CRF and constrained decoding run over words: first pieces
        # gathered to the front.
        word_logits, order = compact(logits, label_mask)
        num_words = tf.reduce_sum(label_mask, axis=1)
      if options["use_crf"]:
        transitions = tf1.get_variable(
            "transitions", [num_labels, num_labels],
            initializer=tf1.glorot_uniform_initializer())
        if constraints:
          word_tags = constrained_viterbi(word_logits, transitions, num_words,
                                          label_mask, constraints)
        else:
          word_tags, _ = crf.crf_decode(word_logits, transitions, num_words)
        predicted = uncompact(word_tags, order)
      elif constraints:
        # The most probable allowed path: Viterbi over log-probabilities
        # with no transition scores, only the scheme's masks.
        word_tags = constrained_viterbi(
            tf.nn.log_softmax(tf.cast(word_logits, tf.float32)),
            tf.zeros([num_labels, num_labels]), num_words, label_mask,
            constraints)
        predicted = uncompact(word_tags, order)
      else:
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    predicted = predicted * label_mask
    predictions = {"tag_ids": predicted, "label_mask": label_mask}
    if mode == tf.estimator.ModeKeys.PREDICT:
      return task_plumbing.TaskOutput(predictions=predictions)

    real = tf.cast(features["is_real_example"], tf.float32)
    if options["use_crf"]:
      word_labels, _ = compact(features["label_ids"], label_mask)
      log_likelihood, _ = crf.crf_log_likelihood(
          word_logits, word_labels, num_words, transitions)
      # The likelihood is of a whole sentence: mean over real sentences.
      loss = tf.reduce_sum(-log_likelihood * real) / tf.maximum(
          tf.reduce_sum(real), 1.0)
    else:
      # Cross-entropy at first pieces only, mean over the batch's words.
      token_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=features["label_ids"], logits=logits)
      weights = tf.cast(label_mask, tf.float32) * real[:, None]
      loss = tf.reduce_sum(token_loss * weights) / tf.maximum(
          tf.reduce_sum(weights), 1.0)

    def metric_fn(label_ids, predicted_ids, label_mask, is_real_example):
      weights = tf.cast(label_mask, tf.float32) * tf.cast(
          is_real_example, tf.float32)[:, None]
      return {name: fn(label_ids, predicted_ids, num_labels,
                       pos_indices=pos_indices, weights=weights,
                       average="micro")
              for name, fn in (("token_precision", tf_metrics.precision),
                               ("token_recall", tf_metrics.recall),
                               ("token_f1", tf_metrics.f1))}

    return task_plumbing.TaskOutput(
        loss=loss, predictions=predictions, metric_fn=metric_fn,
        metric_tensors=[features["label_ids"], predicted, label_mask,
                        features["is_real_example"]])

  return head_fn


# ----------------------------------------------------------------------------
# Data


def data_path(name):
  task_plumbing.require_flags("data_dir")
  return os.path.join(FLAGS.data_dir, name)


def read_examples(path, fmt="conll"):
  if fmt == "raw":
    return ner_data.read_raw_text(path)
  return ner_data.read_conll(path, tag_column=FLAGS.tag_column)


def build_label_map(train_examples):
  """The label list: --labels_file, the saved map, or the training tags."""
  saved = os.path.join(FLAGS.output_dir, "label_map.json")
  if FLAGS.labels_file:
    labels = ner_data.read_labels_file(FLAGS.labels_file)
  elif train_examples is not None:
    labels = ner_data.collect_labels(train_examples)
  elif tf.io.gfile.exists(saved):
    label_map = ner_data.LabelMap.load(saved)
    logging.info("Labels from %s: %s", saved, " ".join(label_map.labels))
    return label_map
  else:
    task_plumbing.flag_error(
        "no labels: pass --labels_file, or --do_train, or an --output_dir "
        "holding label_map.json from training")
  label_map = ner_data.LabelMap(labels, scheme=FLAGS.tag_scheme)
  if tf.io.gfile.exists(saved):
    previous = ner_data.LabelMap.load(saved)
    if previous.labels != label_map.labels:
      task_plumbing.flag_error(
          "%s holds a run with other labels (labels: %s in this output_dir, "
          "%s now; pass --overwrite_output_dir to replace that run, or use "
          "another --output_dir)" % (FLAGS.output_dir,
                                     " ".join(previous.labels),
                                     " ".join(label_map.labels)))
  logging.info("%d labels: %s", len(label_map), " ".join(label_map.labels))
  return label_map


def check_examples(examples, label_map):
  """Tags in the label list and following the scheme (see the flags)."""
  labelled = [e for e in examples if e.labels is not None]
  if not labelled:
    return
  ner_data.check_labels(labelled, label_map.labels)
  if FLAGS.scheme_violations == "error":
    ner_data.check_scheme(labelled, FLAGS.tag_scheme)
    return
  errors = ner_data.find_scheme_violations(labelled, FLAGS.tag_scheme)
  if not errors:
    return
  logging.warning("%d sentences break the %s scheme, the first at %s",
                  len(errors), FLAGS.tag_scheme, errors[0])
  if FLAGS.scheme_violations == "repair":
    for example in labelled:
      example.labels = ner_metrics.convert_scheme(
          example.labels, FLAGS.tag_scheme, FLAGS.tag_scheme)
    logging.warning("Repaired them by the CoNLL scorer's reading")


def make_features(examples, tokenizer, label_map, name):
  """Features and a cached TFRecord for one split; logs what happened."""
  features, stats = ner_data.convert_examples(
      examples, tokenizer, label_map, FLAGS.max_seq_length,
      truncate=FLAGS.truncate, doc_stride=FLAGS.doc_stride or None)
  logging.info("%s: %d sentences -> %d features (%d split into windows, %d "
               "truncated losing %d words, %d over-long words clipped)",
               name, stats["examples"], stats["features"],
               stats["windowed_sentences"], stats["truncated_sentences"],
               stats["truncated_words"], stats["clipped_words"])
  return features


def record_for(features, name, source, label_map, pad_to=None,
               shuffle=False):
  """Writes (or reuses) the TFRecord of `features`."""
  if pad_to:
    features = features + [ner_data.padding_features(FLAGS.max_seq_length)
                           for _ in range(pad_to)]
  key = {"source": source,
         "source_sha256": task_plumbing.file_fingerprint(source),
         "vocab_sha256": task_plumbing.file_fingerprint(FLAGS.vocab_file),
         "do_lower_case": FLAGS.do_lower_case,
         "max_seq_length": FLAGS.max_seq_length, "labels": label_map.labels,
         "truncate": FLAGS.truncate, "doc_stride": FLAGS.doc_stride,
         "tag_column": FLAGS.tag_column, "padding": pad_to or 0,
         "num_features": len(features)}
  path, _ = task_plumbing.cached_tfrecord(
      FLAGS.output_dir, name, key, lambda: (features, None),
      feature_spec(FLAGS.max_seq_length),
      shuffle_seed=FLAGS.random_seed if shuffle else None)
  return path


def predict_tags(estimator, examples, features, name, source, label_map):
  """Runs the estimator over features; returns one tag list per example."""
  pad = task_plumbing.num_padding_examples(len(features),
                                           FLAGS.predict_batch_size,
                                           FLAGS.use_tpu)
  path = record_for(features, name, source, label_map, pad_to=pad)
  input_fn = task_plumbing.input_fn_builder(
      path, feature_spec(FLAGS.max_seq_length), is_training=False,
      drop_remainder=FLAGS.use_tpu)
  predicted = [r["tag_ids"] for r in estimator.predict(input_fn)]
  return ner_data.merge_predictions(examples, features,
                                    predicted[:len(features)], label_map)


# ----------------------------------------------------------------------------
# Outputs


def write_predictions(examples, tags, scheme, output_dir, prefix="test"):
  """Writes <prefix>_predictions.txt (CoNLL) and <prefix>_entities.jsonl."""
  conll, jsonl = [], []
  for example, row in zip(examples, tags):
    for i, (word, tag) in enumerate(zip(example.words, row)):
      if example.labels is not None:
        conll.append("%s %s %s" % (word, example.labels[i], tag))
      else:
        conll.append("%s %s" % (word, tag))
    conll.append("")
    record = {"id": example.guid,
              "entities": ner_data.entities_with_offsets(example, row, scheme)}
    if getattr(example, "text", None) is not None:
      record["text"] = example.text
    else:
      record["words"] = example.words
    jsonl.append(json.dumps(record, ensure_ascii=False))
  task_plumbing.write_text_atomic(
      os.path.join(output_dir, prefix + "_predictions.txt"),
      "\n".join(conll) + "\n")
  task_plumbing.write_text_atomic(
      os.path.join(output_dir, prefix + "_entities.jsonl"),
      "\n".join(jsonl) + ("\n" if jsonl else ""))


def entity_results(examples, tags, scheme):
  gold = [e.labels for e in examples]
  scores = ner_metrics.entity_scores(gold, tags, scheme=scheme)
  logging.info("Entity-level scores (CoNLL rules):\n%s",
               ner_metrics.format_report(scores))
  overall = scores["micro"]
  results = {"entity_precision": overall["precision"],
             "entity_recall": overall["recall"],
             "entity_f1": overall["f1"]}
  # Per type as entity_f1/PER etc.: TensorBoard groups tags by the part
  # before the slash.
  for entity_type, row in scores["per_type"].items():
    for name in ("precision", "recall", "f1"):
      results["entity_%s/%s" % (name, entity_type)] = row[name]
  return results


# ----------------------------------------------------------------------------
# Main


def head_options(label_map):
  constraints = None
  if FLAGS.constrained_decoding:
    constraints = ner_metrics.allowed_transitions(label_map.labels,
                                                  FLAGS.tag_scheme)
  return dict(use_crf=FLAGS.use_crf, lstm_size=FLAGS.lstm_size,
              lstm_layers=FLAGS.lstm_layers, layer_fusion=FLAGS.layer_fusion,
              head_dropout=FLAGS.head_dropout, constraints=constraints)


def validate_flags():
  task_plumbing.check_mode_flags()
  if FLAGS.lstm_size < 0 or FLAGS.lstm_layers < 1:
    task_plumbing.flag_error("--lstm_size must be >= 0 and --lstm_layers "
                             ">= 1")


def predict_source():
  path = FLAGS.predict_file or data_path(FLAGS.test_file)
  fmt = FLAGS.predict_format
  if fmt == "auto":
    fmt = "raw" if path.endswith((".raw", ".text", ".sents")) else "conll"
  return path, fmt


Inputs = collections.namedtuple("Inputs", ["train", "dev", "test"])
Split = collections.namedtuple("Split", ["path", "examples"])


def read_inputs():
  """Reads and checks every input file before any training starts.

  Returns:
    (Inputs of Split or None per mode, LabelMap).
  """
  train = dev = test = None
  if FLAGS.do_train:
    path = data_path(FLAGS.train_file)
    train = Split(path, read_examples(path))
  label_map = build_label_map(train and train.examples)
  if train:
    check_examples(train.examples, label_map)
  if FLAGS.do_eval:
    path = data_path(FLAGS.dev_file)
    dev = Split(path, read_examples(path))
    if any(e.labels is None for e in dev.examples):
      task_plumbing.flag_error("%s: --do_eval needs gold tags" % path)
    check_examples(dev.examples, label_map)
  if FLAGS.do_predict:
    path, fmt = predict_source()
    test = Split(path, read_examples(path, fmt))
    check_examples(test.examples, label_map)
  # Saved only once every input passed its checks: a map from bad data would
  # be reused by the next run in this output_dir.
  label_map.save(os.path.join(FLAGS.output_dir, "label_map.json"))
  return Inputs(train, dev, test), label_map


def run_train(estimator, features, path, label_map, num_steps):
  record = record_for(features, "train", path, label_map, shuffle=True)
  task_plumbing.log_resume_point(FLAGS.output_dir, num_steps)
  logging.info("***** Training: %d features, batch %d, %d steps *****",
               len(features), FLAGS.train_batch_size, num_steps)
  estimator.train(task_plumbing.input_fn_builder(
      record, feature_spec(FLAGS.max_seq_length), is_training=True,
      drop_remainder=True, seed=FLAGS.random_seed), max_steps=num_steps)


def run_predict(estimator, split, tokenizer, label_map, scheme):
  """Tags the predict file; writes predictions, entities and, with gold
  tags, test_results."""
  features = make_features(split.examples, tokenizer, label_map, "predict")
  tags = predict_tags(estimator, split.examples, features, "predict",
                      split.path, label_map)
  # data_dir's test file keeps Google's test_* names; --predict_file's
  # results are named after it.
  prefix = task_plumbing.prediction_prefix(
      None if FLAGS.predict_file else "test", split.path)
  write_predictions(split.examples, tags, scheme, FLAGS.output_dir,
                    prefix=prefix)
  logging.info("Tagged %d sentences from %s; wrote %s_predictions.txt and "
               "%s_entities.jsonl to %s", len(split.examples), split.path,
               prefix, prefix, FLAGS.output_dir)
  if all(e.labels is not None for e in split.examples):
    task_plumbing.write_eval_results(
        FLAGS.output_dir, entity_results(split.examples, tags, scheme),
        name=prefix + "_results")


def serving_receiver_fn(max_seq_length, word_starts):
  """Ids in (`serving_default`), or ids and the word starts (`serve_words`).

  Both signatures run one graph. label_mask is a placeholder whose default
  comes from the ids (word_start_table: every piece not starting with '##');
  `serving_default` leaves it at that, `serve_words` feeds the featurizer's
  label_mask, so a client that featurizes with ner_data gets exactly
  --do_predict's tags, CRF included.
  """

  def receiver_fn():
    shape = [None, max_seq_length]
    ids = {name: tf1.placeholder(tf.int32, shape, name=name)
           for name in ("input_ids", "input_mask", "segment_ids")}
    starts = tf.gather(tf.constant(word_starts), ids["input_ids"])
    features = dict(ids, label_mask=tf1.placeholder_with_default(
        starts * ids["input_mask"], shape, name="label_mask"))
    return tf1.estimator.export.ServingInputReceiver(
        features, ids, receiver_tensors_alternatives={"serve_words": features})

  return receiver_fn


def run_export(estimator, label_map, vocab):
  text_serving.export_saved_model(
      estimator, FLAGS.export_dir,
      serving_receiver_fn(FLAGS.max_seq_length, word_start_table(vocab)),
      extra_assets={"label_map.json": label_map.to_json()},
      alternatives=("serve_words",))


def main(_):
  validate_flags()
  task_plumbing.check_run_settings(
      task_plumbing.train_data_fingerprint([data_path(FLAGS.train_file)])
      if FLAGS.do_train else None)
  bert_config, tokenizer, checkpoint = task_plumbing.load_model_files()
  inputs, label_map = read_inputs()

  train_features = None
  num_steps, num_warmup = 1, 0
  if inputs.train:
    train_features = make_features(inputs.train.examples, tokenizer,
                                   label_map, "train")
    num_steps, num_warmup = task_plumbing.num_train_steps(
        len(train_features), FLAGS.train_batch_size, FLAGS.num_train_epochs,
        FLAGS.warmup_proportion)
  pos_indices = [i for i, label in enumerate(label_map.labels) if label != "O"]
  head = ner_head(bert_config, len(label_map), pos_indices,
                  head_options(label_map))
  estimator = task_plumbing.make_estimator(task_plumbing.model_fn_builder(
      bert_config, head, checkpoint, FLAGS.learning_rate, num_steps,
      num_warmup, FLAGS.use_tpu,
      optimizer_options=task_plumbing.optimizer_options(),
      log_every_n_steps=FLAGS.log_every_n_steps,
      train_batch_size=FLAGS.train_batch_size))

  scheme = FLAGS.tag_scheme
  if inputs.train:
    run_train(estimator, train_features, inputs.train.path, label_map,
              num_steps)
  if inputs.dev:
    run_eval(estimator, inputs.dev.examples, inputs.dev.path, tokenizer,
             label_map, scheme)
  if inputs.test:
    run_predict(estimator, inputs.test, tokenizer, label_map, scheme)
  if FLAGS.export_dir:
    run_export(estimator, label_map, tokenizer.vocab)


def run_eval(estimator, examples, path, tokenizer, label_map, scheme):
  """Loss and token metrics by estimator.evaluate; entities from predict."""
  features = make_features(examples, tokenizer, label_map, "eval")
  pad = task_plumbing.num_padding_examples(len(features),
                                           FLAGS.eval_batch_size,
                                           FLAGS.use_tpu)
  record = record_for(features, "eval", path, label_map, pad_to=pad)
  result = estimator.evaluate(
      task_plumbing.input_fn_builder(
          record, feature_spec(FLAGS.max_seq_length), is_training=False,
          drop_remainder=FLAGS.use_tpu),
      steps=None)
  tags = predict_tags(estimator, examples, features, "eval", path, label_map)
  result = dict(result)
  # TPUEstimator calls the mean loss "loss"; Google's scripts report it as
  # eval_loss.
  result["eval_loss"] = result.pop("loss")
  result.update(entity_results(examples, tags, scheme))
  task_plumbing.write_eval_results(FLAGS.output_dir, result)
  write_predictions(examples, tags, scheme, FLAGS.output_dir, prefix="dev")


def run():
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
