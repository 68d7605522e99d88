"""BERT for extractive question answering on SQuAD 1.1 and 2.0.

  python run_squad.py --do_train --do_predict \\
    --train_file=train-v1.1.json --predict_file=dev-v1.1.json \\
    --vocab_file=$BERT/vocab.txt --bert_config_file=$BERT/bert_config.json \\
    --init_checkpoint=$BERT/bert_model.ckpt --max_seq_length=384 \\
    --doc_stride=128 --train_batch_size=32 --learning_rate=3e-5 \\
    --num_train_epochs=2 --output_dir=/tmp/squad --export_dir=/tmp/squad/export

  python run_squad.py --evaluate_only --predict_file=dev-v1.1.json \\
    --predictions_file=/tmp/squad/predictions.json

Reading, windowing and answer decoding live in `squad_data.py`, the official
EM/F1 rules in `squad_eval.py`; this file holds the head (start and end
logits, loss the mean of the two cross-entropies) and the run.
"""

import collections
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

import modeling
import squad_data
import squad_eval
import task_plumbing
import text_serving

tf1 = tf.compat.v1
FLAGS = flags.FLAGS

task_plumbing.define_common_flags()
FLAGS.set_default("max_seq_length", 384)  # Google's SQuAD setting
flags.DEFINE_string("train_file", None,
                    "SQuAD JSON to fine-tune on (e.g. train-v1.1.json).")
flags.DEFINE_string("predict_file", None,
                    "SQuAD JSON to answer (e.g. dev-v1.1.json); scored by the "
                    "official rules when its questions have answers.")
flags.DEFINE_bool("version_2_with_negative", False,
                  "SQuAD 2.0: questions may have no answer (is_impossible).")
flags.DEFINE_integer("doc_stride", 128,
                     "Word pieces between the starts of a long document's "
                     "windows.")
flags.DEFINE_integer("max_query_length", 64,
                     "Questions are cut to this many word pieces.")
flags.DEFINE_integer("n_best_size", 20,
                     "Start and end positions tried per window, and answers "
                     "kept in nbest_predictions.json.")
flags.DEFINE_integer("max_answer_length", 30,
                     "Longest answer in word pieces.")
flags.DEFINE_float("null_score_diff_threshold", 0.0,
                   "SQuAD 2.0: answer \"\" when the null score minus the best "
                   "span's score is above this (in logits); eval_results "
                   "report the best value as best_f1_thresh.")
flags.DEFINE_bool("evaluate_only", False,
                  "Only score --predictions_file against --predict_file; no "
                  "model is needed.")
flags.DEFINE_string("predictions_file", None,
                    "With --evaluate_only: the predictions.json to score.")
flags.DEFINE_string("na_prob_file", None,
                    "With --evaluate_only on SQuAD 2.0: null_odds.json for "
                    "the best-threshold search (default: null_odds.json "
                    "beside --predictions_file, when there).")

task_plumbing.register_user_error(squad_data.SquadDataError)
# --help lists the common flags too, after this script's own.
flags.adopt_module_key_flags(task_plumbing)
task_plumbing.register_run_settings(
    "squad",
    training_flags=("doc_stride", "max_query_length",
                    "version_2_with_negative"),
    adopt_flags=("n_best_size", "max_answer_length",
                 "null_score_diff_threshold"))


def _spec(names, max_seq_length):
  lengths = {"input_ids": max_seq_length, "input_mask": max_seq_length,
             "segment_ids": max_seq_length}
  return collections.OrderedDict(
      (name, ("int", lengths.get(name, 1))) for name in names)


def train_spec(max_seq_length):
  return _spec(["input_ids", "input_mask", "segment_ids", "start_position",
                "end_position"], max_seq_length)


def predict_spec(max_seq_length):
  return _spec(["unique_id", "input_ids", "input_mask", "segment_ids"],
               max_seq_length)


# ----------------------------------------------------------------------------
# Head


def span_logits(sequence_output, initializer_range):
  """Start and end scores for every position.

  Google's variable names (cls/squad/output_weights [2, H], output_bias [2]),
  so checkpoints fine-tuned with its run_squad.py load here.

  Args:
    sequence_output: [B, S, H] encoder output.
    initializer_range: stddev of the weights' initialiser.
  Returns:
    (start_logits, end_logits), float32 [B, S] each.
  """
  batch, seq_length, width = modeling.get_shape_list(sequence_output, 3)
  weights = tf1.get_variable(
      "cls/squad/output_weights", [2, width],
      initializer=modeling.create_initializer(initializer_range))
  bias = tf1.get_variable("cls/squad/output_bias", [2],
                          initializer=tf1.zeros_initializer())
  matrix = tf.reshape(sequence_output, [batch * seq_length, width])
  logits = tf.matmul(matrix, tf.cast(weights, matrix.dtype), transpose_b=True)
  logits = tf.nn.bias_add(logits, tf.cast(bias, matrix.dtype))
  logits = tf.cast(tf.reshape(logits, [batch, seq_length, 2]), tf.float32)
  start_logits, end_logits = tf.unstack(logits, axis=-1)
  return start_logits, end_logits


def squad_head(bert_config):
  """head_fn: span logits; loss = mean of the start and end cross-entropies
  (each averaged over the batch)."""

  def head_fn(model, features, mode, params):  # pylint: disable=unused-argument
    start_logits, end_logits = span_logits(model.get_sequence_output(),
                                           bert_config.initializer_range)
    predictions = {"start_logits": start_logits, "end_logits": end_logits}
    if "unique_id" in features:  # not in serving requests
      predictions["unique_id"] = features["unique_id"]
    if mode == tf.estimator.ModeKeys.PREDICT:
      return task_plumbing.TaskOutput(predictions=predictions)
    loss = 0.5 * (
        tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["start_position"], logits=start_logits)) +
        tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["end_position"], logits=end_logits)))
    return task_plumbing.TaskOutput(loss=loss, predictions=predictions)

  return head_fn


# ----------------------------------------------------------------------------
# Data


def read_examples(path, is_training):
  """Reads a SQuAD file and logs what was read and skipped."""
  examples, stats = squad_data.read_squad_examples(
      path, is_training, FLAGS.version_2_with_negative)
  logging.info("%s: %d questions, %d skipped (answer text not at its offset)",
               path, stats["questions"], len(stats["skipped"]))
  for where, reason in stats["skipped"][:5]:
    logging.warning("skipped %s: %s", where, reason)
  if len(stats["skipped"]) > 5:
    logging.warning("... and %d more skipped", len(stats["skipped"]) - 5)
  if not examples:
    task_plumbing.flag_error("%s: every question was skipped" % path)
  return examples


def make_features(examples, tokenizer, is_training, name):
  features, stats = squad_data.convert_examples_to_features(
      examples, tokenizer, FLAGS.max_seq_length, FLAGS.doc_stride,
      FLAGS.max_query_length, is_training)
  logging.info("%s: %d questions -> %d features (%d documents windowed, %d "
               "questions cut to %d pieces%s)", name, stats["examples"],
               stats["features"], stats["windowed_examples"],
               stats["truncated_questions"], FLAGS.max_query_length,
               ", %d windows without the answer -> [CLS]"
               % stats["windows_without_answer"] if is_training else "")
  if stats["answers_without_pieces"]:
    logging.warning("%s: %d questions left out: their answer text has no "
                    "word pieces (only characters the tokenizer drops)",
                    name, stats["answers_without_pieces"])
  return features


def record_key(source, is_training, extra):
  """What a cached TFRecord depends on."""
  key = {"source": os.path.abspath(source),
         "source_sha256": task_plumbing.file_fingerprint(source),
         "vocab_sha256": task_plumbing.file_fingerprint(FLAGS.vocab_file),
         "do_lower_case": FLAGS.do_lower_case,
         "max_seq_length": FLAGS.max_seq_length,
         "doc_stride": FLAGS.doc_stride,
         "max_query_length": FLAGS.max_query_length,
         "version_2_with_negative": FLAGS.version_2_with_negative,
         "is_training": is_training}
  key.update(extra)
  return key


def train_record(examples, tokenizer):
  """The training TFRecord (features shuffled once); built only when no
  record of the same inputs exists. Returns (path, number of features)."""

  def build():
    return make_features(examples, tokenizer, True, "train"), None

  return task_plumbing.cached_tfrecord(
      FLAGS.output_dir, "train", record_key(FLAGS.train_file, True, {}),
      build, train_spec(FLAGS.max_seq_length),
      shuffle_seed=FLAGS.random_seed)


def predict_logits(estimator, features):
  """Runs the estimator over features; returns squad_data.RawResults."""
  pad = task_plumbing.num_padding_examples(
      len(features), FLAGS.predict_batch_size, FLAGS.use_tpu)
  padded = features + [squad_data.padding_feature(FLAGS.max_seq_length)] * pad
  path, _ = task_plumbing.cached_tfrecord(
      FLAGS.output_dir, "predict",
      record_key(FLAGS.predict_file, False,
                 {"padding": pad, "num_features": len(features)}),
      lambda: (padded, None), predict_spec(FLAGS.max_seq_length))
  input_fn = task_plumbing.input_fn_builder(
      path, predict_spec(FLAGS.max_seq_length), is_training=False,
      drop_remainder=FLAGS.use_tpu)
  results = []
  for output in estimator.predict(input_fn, yield_single_examples=True):
    if int(output["unique_id"]) == 0:  # TPU padding
      continue
    results.append(squad_data.RawResult(int(output["unique_id"]),
                                        output["start_logits"],
                                        output["end_logits"]))
    if len(results) % 1000 == 0:
      logging.info("Predicted %d of %d features", len(results), len(features))
  return results


# ----------------------------------------------------------------------------
# Outputs


def answer_options():
  """squad_data.predict_answers settings from the flags."""
  return dict(n_best_size=FLAGS.n_best_size,
              max_answer_length=FLAGS.max_answer_length,
              do_lower_case=FLAGS.do_lower_case,
              version_2_with_negative=FLAGS.version_2_with_negative,
              null_score_diff_threshold=FLAGS.null_score_diff_threshold)


def write_answers(output_dir, predictions, nbest, null_odds, prefix=""):
  """predictions.json, nbest_predictions.json and (2.0) null_odds.json,
  each named <prefix>_... when a prefix is given."""
  out = lambda name: os.path.join(output_dir, prefix + "_" + name if prefix
                                  else name)
  task_plumbing.write_json_atomic(out("predictions.json"), predictions)
  task_plumbing.write_json_atomic(out("nbest_predictions.json"), nbest)
  if FLAGS.version_2_with_negative:
    task_plumbing.write_json_atomic(out("null_odds.json"), null_odds)
  logging.info("Wrote %d answers to %s", len(predictions),
               out("predictions.json"))


def score(articles, predictions, null_odds, source, prefix=""):
  """EM/F1 (and 2.0 splits, best threshold) -> [<prefix>_]eval_results.txt
  and .json."""
  version_2 = FLAGS.version_2_with_negative or squad_eval.is_version_2(
      articles)
  results = squad_eval.evaluate(articles, predictions, null_odds,
                                na_prob_thresh=None, version_2=version_2,
                                path=source)
  if results.get("missing"):
    logging.warning("%d questions of %s have no prediction (scored 0)",
                    results["missing"], source)
  return task_plumbing.write_eval_results(
      FLAGS.output_dir, results,
      name=prefix + "_eval_results" if prefix else "eval_results")


def read_predict_file():
  """(examples, articles when the file has gold answers else None)."""
  examples = read_examples(FLAGS.predict_file, is_training=False)
  articles = squad_data.load_dataset(FLAGS.predict_file)
  if squad_eval.has_gold_answers(articles):
    return examples, articles
  if FLAGS.do_eval:
    task_plumbing.flag_error("%s: --do_eval needs answers for every question"
                             % FLAGS.predict_file)
  logging.info("%s has no gold answers: it will not be scored",
               FLAGS.predict_file)
  return examples, None


def run_predict(estimator, examples, articles, tokenizer):
  """Answers, their files and, with gold answers, the scores."""
  features = make_features(examples, tokenizer, False, "predict")
  results = predict_logits(estimator, features)
  predictions, nbest, null_odds = squad_data.predict_answers(
      examples, features, results, **answer_options())
  # The first file answered keeps Google's names (predictions.json); another
  # file's answers are named after it, never over the first one's.
  prefix = task_plumbing.prediction_prefix("", FLAGS.predict_file)
  write_answers(FLAGS.output_dir, predictions, nbest, null_odds, prefix)
  if articles is not None:
    score(articles, predictions,
          null_odds if FLAGS.version_2_with_negative else None,
          FLAGS.predict_file, prefix)


def export(estimator, tokenizer):
  """SavedModel (ids in, start/end logits out) + the settings and vocab a
  server needs to build the same windows, under assets.extra/.

  Written in a staging folder and renamed into --export_dir only when whole
  (assets included), so a killed export leaves no SavedModel to serve.
  """
  settings = dict(answer_options(), max_seq_length=FLAGS.max_seq_length,
                  doc_stride=FLAGS.doc_stride,
                  max_query_length=FLAGS.max_query_length,
                  vocab_size=len(tokenizer.vocab))
  return text_serving.export_saved_model(
      estimator, FLAGS.export_dir, None, alternatives=(),
      extra_assets={"squad_config.json": settings},
      extra_files={"vocab.txt": FLAGS.vocab_file})


def results_from_saved_model(export_path, features, batch_size=8):
  """Start/end logits of features from an exported SavedModel.

  Returns:
    list of squad_data.RawResult, for squad_data.predict_answers.
  """
  serve = tf.saved_model.load(export_path).signatures["serving_default"]
  results = []
  for i in range(0, len(features), batch_size):
    batch = features[i:i + batch_size]
    inputs = {name: tf.constant(np.array([getattr(f, name) for f in batch],
                                         np.int32))
              for name in ("input_ids", "input_mask", "segment_ids")}
    outputs = serve(**inputs)
    for j, feature in enumerate(batch):
      results.append(squad_data.RawResult(
          feature.unique_id, outputs["start_logits"][j].numpy(),
          outputs["end_logits"][j].numpy()))
  return results


# ----------------------------------------------------------------------------
# Main


def validate_flags():
  task_plumbing.check_mode_flags(nothing_to_do_hint=", --evaluate_only")
  if FLAGS.do_train:
    task_plumbing.require_flags("train_file")
  if FLAGS.do_predict or FLAGS.do_eval:
    task_plumbing.require_flags("predict_file")
  if FLAGS.max_seq_length <= FLAGS.max_query_length + 3:
    task_plumbing.flag_error(
        "--max_seq_length=%d leaves no room for the document after "
        "--max_query_length=%d and [CLS], [SEP], [SEP]"
        % (FLAGS.max_seq_length, FLAGS.max_query_length))
  for name in ("doc_stride", "max_query_length", "n_best_size",
               "max_answer_length"):
    if getattr(FLAGS, name) < 1:
      task_plumbing.flag_error("--%s must be at least 1" % name)


def evaluate_only():
  """--evaluate_only: score a predictions file, no model involved."""
  task_plumbing.require_flags("predict_file", "predictions_file")
  articles = squad_data.load_dataset(FLAGS.predict_file)
  if not squad_eval.has_gold_answers(articles):
    task_plumbing.flag_error("%s: --evaluate_only needs answers for every "
                             "question" % FLAGS.predict_file)
  predictions = squad_eval.load_predictions(FLAGS.predictions_file)
  na_prob_file = FLAGS.na_prob_file
  beside = os.path.join(os.path.dirname(FLAGS.predictions_file),
                        "null_odds.json")
  version_2 = FLAGS.version_2_with_negative or squad_eval.is_version_2(
      articles)
  if not na_prob_file and version_2 and os.path.exists(beside):
    na_prob_file = beside
  null_odds = squad_eval.load_na_probs(na_prob_file) if na_prob_file else None
  if not FLAGS.output_dir:
    FLAGS.output_dir = os.path.dirname(os.path.abspath(
        FLAGS.predictions_file))
  FLAGS.version_2_with_negative = version_2
  return score(articles, predictions, null_odds, FLAGS.predict_file)


def main(_):
  if FLAGS.evaluate_only:
    evaluate_only()
    return
  validate_flags()
  task_plumbing.check_run_settings(
      task_plumbing.train_data_fingerprint([FLAGS.train_file])
      if FLAGS.do_train else None)
  bert_config, tokenizer, checkpoint = task_plumbing.load_model_files()

  # Read and check every input before any training starts.
  train_examples = predict_examples = gold = None
  if FLAGS.do_train:
    train_examples = read_examples(FLAGS.train_file, is_training=True)
  if FLAGS.do_predict or FLAGS.do_eval:
    predict_examples, gold = read_predict_file()

  num_steps, num_warmup, record = 1, 0, None
  if FLAGS.do_train:
    record, num_features = train_record(train_examples, tokenizer)
    num_steps, num_warmup = task_plumbing.num_train_steps(
        num_features, FLAGS.train_batch_size, FLAGS.num_train_epochs,
        FLAGS.warmup_proportion)

  model_fn = task_plumbing.model_fn_builder(
      bert_config, squad_head(bert_config), checkpoint, FLAGS.learning_rate,
      num_steps, num_warmup, FLAGS.use_tpu,
      optimizer_options=task_plumbing.optimizer_options(),
      log_every_n_steps=FLAGS.log_every_n_steps,
      train_batch_size=FLAGS.train_batch_size)
  estimator = task_plumbing.make_estimator(model_fn)

  if FLAGS.do_train:
    task_plumbing.log_resume_point(FLAGS.output_dir, num_steps)
    logging.info("***** Training: %d features, batch %d, %d steps (%d "
                 "warmup) *****", num_features, FLAGS.train_batch_size,
                 num_steps, num_warmup)
    estimator.train(task_plumbing.input_fn_builder(
        record, train_spec(FLAGS.max_seq_length), is_training=True,
        drop_remainder=True, seed=FLAGS.random_seed), max_steps=num_steps)
  if predict_examples is not None:
    run_predict(estimator, predict_examples, gold, tokenizer)
  if FLAGS.export_dir:
    export(estimator, tokenizer)


def run():
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
