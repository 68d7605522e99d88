"""BERT for sentence and sentence-pair tasks: fine-tune, evaluate, predict,
export.

Classification (softmax), regression (one output, MSE), multi-label
(sigmoid per label) and multiple choice (one score per choice, softmax over
choices), all on the pooled [CLS] output. Tasks: the GLUE sets (cola, mnli,
mrpc, xnli, sst2, qnli, qqp, rte, wnli, stsb), swag, and `generic` for any
CSV / TSV / JSONL files.

  python run_classifier.py --task_name=mrpc --do_train --do_eval \\
    --do_predict --data_dir=$GLUE/MRPC --vocab_file=$BERT/vocab.txt \\
    --bert_config_file=$BERT/bert_config.json \\
    --init_checkpoint=$BERT/bert_model.ckpt --max_seq_length=128 \\
    --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3 \\
    --output_dir=/tmp/mrpc --export_dir=/tmp/mrpc/export
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
import tensorflow as tf

import classifier_data as cd
import keep_best
import modeling
import task_plumbing
import text_serving

tf1 = tf.compat.v1
FLAGS = flags.FLAGS

task_plumbing.define_common_flags()
flags.DEFINE_string("task_name", None, "Task: %s, or 'generic' for any "
                    "CSV/TSV/JSONL files (see the --*_column flags)." %
                    ", ".join(cd.PROCESSORS))
flags.DEFINE_string("train_file", None, "Training file, relative to data_dir "
                    "(or absolute); default: the task's (GLUE: train.tsv).")
flags.DEFINE_string("dev_file", None, "Dev file for --do_eval; default: the "
                    "task's (dev.tsv; MNLI dev_matched.tsv).")
flags.DEFINE_string("test_file", None, "File for --do_predict, with or "
                    "without labels; default: the task's (test.tsv).")
flags.DEFINE_enum("task_type", cd.CLASSIFICATION, list(cd.TASK_TYPES),
                  "What the generic task predicts: one label, a number, any "
                  "set of labels, or which of --choice_columns is right.")
flags.DEFINE_enum("input_format", "auto", ["auto", "tsv", "csv", "jsonl"],
                  "Generic files' format; auto: by extension (.csv, "
                  ".jsonl/.json, else TSV).")
flags.DEFINE_string("text_a_column", "text", "Generic: column of the first "
                    "text, a header name (JSONL key) or a 0-based index.")
flags.DEFINE_string("text_b_column", None, "Generic: column of the second "
                    "text of a pair; unset for single texts.")
flags.DEFINE_string("label_column", "label", "Generic: column of the label "
                    "(test files may lack it).")
flags.DEFINE_string("id_column", None, "Generic: column of an example id, "
                    "written to test_results.tsv (default: the row number).")
flags.DEFINE_list("choice_columns", None, "Generic multiple choice: the "
                  "columns of the choices; the label is the right one's "
                  "0-based position.")
flags.DEFINE_bool("has_header", True, "Generic TSV/CSV: the first row names "
                  "the columns.")
flags.DEFINE_bool("quoting", None, "Generic TSV/CSV: honour double quotes; "
                  "default on for CSV, off for TSV (GLUE texts hold stray "
                  "quotes).")
flags.DEFINE_list("labels", None, "The label names, in output order; "
                  "default: the task's, or those of the training data "
                  "sorted. Saved to output_dir/label_map.json.")
flags.DEFINE_string("multilabel_delimiter", ",", "Separates the labels of "
                    "one example in a multi-label text column (JSONL may "
                    "give a list).")
flags.DEFINE_float("multilabel_threshold", 0.5, "Multi-label: a label is "
                   "predicted when its probability is >= this.")
flags.DEFINE_string("xnli_language", "zh", "XNLI: the language to train and "
                    "evaluate on.")
flags.DEFINE_float("head_dropout", 0.1, "Dropout on the pooled output before "
                   "the output layer (Google's 0.1).")
flags.DEFINE_string("keep_best_metric", None, "Evaluate on the dev set after "
                    "every --save_checkpoints_steps, keep the best checkpoint "
                    "by this metric (e.g. accuracy, f1, mcc, loss: lower is "
                    "better) in output_dir/best/, and predict and export "
                    "from it.")
flags.DEFINE_bool("text_signature", True, "Add to the SavedModel a "
                  "'serve_text' signature that takes raw strings and "
                  "tokenises them in the graph (needs tensorflow-text).")

task_plumbing.register_user_error(cd.ClassifierDataError)
# --help lists the common flags too, after this script's own.
flags.adopt_module_key_flags(task_plumbing)
task_plumbing.register_run_settings(
    "classifier", model_flags=("task_name", "task_type"),
    training_flags=("xnli_language",),
    adopt_flags=("input_format", "text_a_column", "text_b_column",
                 "label_column", "id_column", "choice_columns", "has_header",
                 "quoting", "multilabel_delimiter", "multilabel_threshold"))

Task = collections.namedtuple(
    "Task", ["name", "type", "labels", "num_choices", "is_pair"])


# ----------------------------------------------------------------------------
# Head


def features_fn_for(task):
  """Multiple choice: [B, C*S] or [B, C, S] inputs -> [B*C, S] for BertModel."""
  if task.type != cd.MULTIPLE_CHOICE:
    return None
  return lambda f: {k: tf.reshape(f[k], [-1, FLAGS.max_seq_length])
                    for k in ("input_ids", "input_mask", "segment_ids")}


def output_layer(pooled, width):
  """Google's classifier layer: pooled [N, H] -> logits [N, width].

  The variable names (output_weights [width, H], output_bias) are Google's
  run_classifier.py's, so its fine-tuned checkpoints load here.
  """
  hidden = modeling.get_shape_list(pooled)[-1]
  weights = tf1.get_variable(
      "output_weights", [width, hidden],
      initializer=tf1.truncated_normal_initializer(stddev=0.02))
  bias = tf1.get_variable("output_bias", [width],
                          initializer=tf1.zeros_initializer())
  return tf.nn.bias_add(tf.matmul(pooled, weights, transpose_b=True), bias)


def head_predictions(task, logits, with_names):
  """Outputs of predict and serving from logits [B, W].

  Returns:
    Dict: classification / multiple choice: probabilities [B, L], label_id
    [B]; regression: prediction [B]; multi-label: probabilities [B, L],
    label_ids [B, L] (0/1). With `with_names` (not on TPU: no strings there)
    also label [B], the predicted label's name (multi-label: the names
    joined by --multilabel_delimiter).
  """
  if task.type == cd.REGRESSION:
    return {"prediction": logits[:, 0]}
  names = tf.constant(task.labels)
  if task.type == cd.MULTILABEL:
    probabilities = tf.sigmoid(logits)
    chosen = probabilities >= FLAGS.multilabel_threshold
    out = {"probabilities": probabilities,
           "label_ids": tf.cast(chosen, tf.int32)}
    if with_names:
      picked = tf.ragged.boolean_mask(
          tf.broadcast_to(names, tf.shape(chosen)), chosen)
      out["label"] = tf.strings.reduce_join(
          picked, axis=1, separator=FLAGS.multilabel_delimiter)
    return out
  label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
  out = {"probabilities": tf.nn.softmax(logits, axis=-1), "label_id": label_id}
  if with_names and task.type == cd.CLASSIFICATION:
    out["label"] = tf.gather(names, label_id)
  return out


def per_example_loss(task, logits, features):
  """[B] losses: cross-entropy, squared error, or mean binary CE."""
  if task.type == cd.REGRESSION:
    return tf.square(logits[:, 0] - features["label_values"])
  if task.type == cd.MULTILABEL:
    labels = tf.reshape(features["label_ids"], [-1, len(task.labels)])
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.float32), logits=logits), axis=-1)
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=features["label_ids"], logits=logits)


def classifier_head(task, dropout):
  """Returns the head_fn: pooled output -> logits, loss, outputs, metrics."""
  multilabel = task.type == cd.MULTILABEL
  width = 1 if task.type in (cd.REGRESSION, cd.MULTIPLE_CHOICE) else len(
      task.labels)

  def head_fn(model, features, mode, params):
    pooled = model.get_pooled_output()  # [B, H], or [B*C, H]
    if mode == tf.estimator.ModeKeys.TRAIN:
      pooled = modeling.dropout(pooled, dropout)
    logits = output_layer(pooled, width)
    if task.type == cd.MULTIPLE_CHOICE:
      logits = tf.reshape(logits, [-1, task.num_choices])  # [B, C]
    predictions = head_predictions(task, logits,
                                   not params.get("use_tpu", False))
    if mode == tf.estimator.ModeKeys.PREDICT:
      return task_plumbing.TaskOutput(predictions=predictions)
    losses = per_example_loss(task, logits, features)
    real = tf.cast(features["is_real_example"], tf.float32)
    loss = tf.reduce_sum(losses * real) / tf.maximum(tf.reduce_sum(real), 1.)
    if task.type == cd.REGRESSION:
      labels, predicted = features["label_values"], predictions["prediction"]
    elif multilabel:
      labels = tf.reshape(features["label_ids"], [-1, len(task.labels)])
      predicted = predictions["label_ids"]
    else:
      labels, predicted = features["label_ids"], predictions["label_id"]

    def metric_fn(losses, labels, predicted, real):
      metrics = {"eval_loss": tf1.metrics.mean(losses, weights=real)}
      if multilabel:  # Exact match of the whole label set.
        exact = tf.reduce_all(tf.equal(labels, predicted), axis=-1)
        metrics["eval_accuracy"] = tf1.metrics.mean(
            tf.cast(exact, tf.float32), weights=real)
      elif task.type != cd.REGRESSION:
        metrics["eval_accuracy"] = tf1.metrics.accuracy(labels, predicted,
                                                        weights=real)
      return metrics

    return task_plumbing.TaskOutput(
        loss=loss, predictions=predictions, metric_fn=metric_fn,
        metric_tensors=[losses, labels, predicted, real])

  return head_fn


# ----------------------------------------------------------------------------
# Data


def make_processor():
  """The processor of --task_name (generic: built from the column flags)."""
  task_plumbing.require_flags("task_name")
  name = cd.ALIASES.get(FLAGS.task_name.lower(), FLAGS.task_name.lower())
  if name == "xnli":
    return name, cd.XnliProcessor(FLAGS.xnli_language)
  if name in cd.PROCESSORS:
    return name, cd.PROCESSORS[name]()
  if name != "generic":
    task_plumbing.flag_error("unknown --task_name=%s; known: %s, generic" % (
        FLAGS.task_name, ", ".join(cd.PROCESSORS)))
  column = cd.parse_column
  layout = cd.TableLayout(
      FLAGS.input_format, FLAGS.has_header, FLAGS.quoting,
      text_a=column(FLAGS.text_a_column), text_b=column(FLAGS.text_b_column),
      label=column(FLAGS.label_column), guid=column(FLAGS.id_column),
      choices=[column(c) for c in FLAGS.choice_columns or []])
  if FLAGS.task_type == cd.MULTIPLE_CHOICE and not layout.choices:
    task_plumbing.flag_error("--task_type=multiple_choice needs "
                             "--choice_columns")
  return name, cd.TableProcessor(
      layout, FLAGS.task_type, multilabel_delimiter=FLAGS.multilabel_delimiter)


def split_path(processor, split, flag_value):
  if not (flag_value and os.path.isabs(flag_value)):
    task_plumbing.require_flags("data_dir")
  return os.path.join(FLAGS.data_dir or "", flag_value or
                      processor.files[split])


def resolve_task(name, processor, train_examples, any_examples):
  """Task(labels, num_choices, ...) from flags, processor, data or the saved
  label_map.json; checks it against the saved one and writes it."""
  saved_path = os.path.join(FLAGS.output_dir, "label_map.json")
  saved = None
  if tf.io.gfile.exists(saved_path):
    with tf.io.gfile.GFile(saved_path) as f:
      saved = json.load(f)
  task_type = processor.task_type
  num_choices = 0
  if task_type == cd.MULTIPLE_CHOICE:
    if not any_examples and not saved:
      task_plumbing.flag_error("the number of choices is unknown: pass data "
                               "(--do_train/--do_eval/--do_predict) or an "
                               "--output_dir holding label_map.json")
    num_choices = (len(any_examples[0].choices) if any_examples
                   else saved["num_choices"])
    labels = [str(i) for i in range(num_choices)]
  elif task_type == cd.REGRESSION:
    labels = ["value"]
  elif FLAGS.labels:
    labels = [l.strip() for l in FLAGS.labels]
  elif processor.get_labels():
    labels = processor.get_labels()
  elif train_examples is not None:
    labels = cd.collect_labels(train_examples, task_type)
  elif saved:
    labels = saved["labels"]
  else:
    task_plumbing.flag_error("no labels: pass --labels, or --do_train, or an "
                             "--output_dir holding label_map.json")
  is_pair = bool(processor.layout.text_b is not None or num_choices)
  task = Task(name, task_type, labels, num_choices, is_pair)
  record = {"task_name": name, "task_type": task_type, "labels": labels,
            "num_choices": num_choices, "is_pair": is_pair,
            "label_to_id": {l: i for i, l in enumerate(labels)}}
  if saved and (saved.get("labels"), saved.get("task_type")) != (
      labels, task_type):
    task_plumbing.flag_error(
        "%s holds a %s task with labels %s but this run has a %s task with "
        "%s; pass --overwrite_output_dir to replace that run, or use another "
        "--output_dir" % (saved_path, saved.get("task_type"),
                          saved.get("labels"), task_type, labels))
  return task, record


def feature_spec(task):
  width = FLAGS.max_seq_length * max(task.num_choices, 1)
  spec = collections.OrderedDict(
      (name, ("int", width))
      for name in ("input_ids", "input_mask", "segment_ids"))
  if task.type == cd.REGRESSION:
    spec["label_values"] = ("float", 1)
  else:
    spec["label_ids"] = ("int", len(task.labels) if task.type == cd.MULTILABEL
                         else 1)
  spec["is_real_example"] = ("int", 1)
  return spec


def make_features(examples, tokenizer, task, name):
  """InputFeatures of examples; logs counts and the first example."""
  features, truncated = [], 0
  for index, example in enumerate(examples):
    feature, tokens, cut = cd.convert_single_example(
        example, tokenizer, FLAGS.max_seq_length, task.type, task.labels)
    features.append(feature)
    truncated += cut
    if index == 0:
      logging.info("*** %s example %s (%s:%s) ***\ntokens: %s\nlabel: %s",
                   name, example.guid, example.path, example.line,
                   " ".join(tokens), example.label)
  logging.info("%s: %d examples -> %d features, %d truncated to "
               "max_seq_length=%d", name, len(examples), len(features),
               truncated, FLAGS.max_seq_length)
  return features


def input_fn_for(features, task, name, source, is_training, batch_size):
  """Writes (or reuses) the TFRecord of features; returns its input_fn."""
  pad = 0 if is_training else task_plumbing.num_padding_examples(
      len(features), batch_size, FLAGS.use_tpu)
  padded = features + [cd.padding_features(
      FLAGS.max_seq_length, task.type, len(task.labels),
      max(task.num_choices, 1)) for _ in range(pad)]
  key = {"source": source, "source_sha256":
         task_plumbing.file_fingerprint(source),
         "vocab_sha256": task_plumbing.file_fingerprint(FLAGS.vocab_file),
         "do_lower_case": FLAGS.do_lower_case, "task": task._asdict(),
         "max_seq_length": FLAGS.max_seq_length, "padding": pad,
         "num_features": len(padded), "flags": reader_flags()}
  path, _ = task_plumbing.cached_tfrecord(
      FLAGS.output_dir, name, key, lambda: (padded, None), feature_spec(task),
      shuffle_seed=FLAGS.random_seed if is_training else None)
  return task_plumbing.input_fn_builder(
      path, feature_spec(task), is_training=is_training,
      drop_remainder=is_training or FLAGS.use_tpu, seed=FLAGS.random_seed)


def reader_flags():
  names = ("text_a_column", "text_b_column", "label_column", "id_column",
           "choice_columns", "has_header", "quoting", "input_format",
           "multilabel_delimiter", "xnli_language", "task_type")
  return {n: getattr(FLAGS, n) for n in names}


# ----------------------------------------------------------------------------
# Evaluation, predictions, export


def predict_outputs(estimator, input_fn, count, checkpoint=None):
  """The head's outputs for the first `count` examples (padding dropped)."""
  outputs = estimator.predict(input_fn, checkpoint_path=checkpoint,
                              yield_single_examples=True)
  return [o for _, o in zip(range(count), outputs)]


def gold_and_predicted(task, examples, outputs):
  """Labels and predictions in the form cd.task_scores takes."""
  if task.type == cd.REGRESSION:
    return ([e.label for e in examples],
            [float(o["prediction"]) for o in outputs])
  if task.type == cd.MULTILABEL:
    return ([[int(l in e.label) for l in task.labels] for e in examples],
            [o["label_ids"] for o in outputs])
  gold = [e.label if task.type == cd.MULTIPLE_CHOICE
          else task.labels.index(e.label) for e in examples]
  return gold, [int(o["label_id"]) for o in outputs]


def evaluate(estimator, task, dev_sets, checkpoint=None):
  """Loss and accuracy by estimator.evaluate, the task's scores from predict.

  Args:
    dev_sets: list of (suffix, examples, input_fn); suffix "mm" reports as
      eval_mm_*.
  Returns:
    Dict of results: global_step and eval_* keys.
  """
  results = {}
  for suffix, examples, input_fn in dev_sets:
    found = estimator.evaluate(input_fn, steps=None,
                               checkpoint_path=checkpoint, name=suffix or None)
    scores = {k: float(v) for k, v in found.items() if k.startswith("eval_")}
    outputs = predict_outputs(estimator, input_fn, len(examples), checkpoint)
    scores.update(cd.task_scores(task.name, task.type, *gold_and_predicted(
        task, examples, outputs)))
    # Each evaluated checkpoint's scores, in the estimator's eval folder of
    # this dev set (eval, eval_mm), as TensorBoard scalars.
    task_plumbing.write_eval_summaries(
        os.path.join(FLAGS.output_dir, "eval_" + suffix if suffix else "eval"),
        scores, step=int(found["global_step"]))
    prefix = "eval_%s_" % suffix if suffix else "eval_"
    results.update({prefix + k[len("eval_"):]: v for k, v in scores.items()})
    results["global_step"] = int(found["global_step"])
  return results


def write_test_results(path, task, examples, outputs):
  """test_results.tsv: id, a probability (or value) column per label (or
  choice), the predicted label's name."""
  if task.type == cd.REGRESSION:
    scores, names = [o["prediction"] for o in outputs], None
  elif task.type == cd.MULTILABEL:
    scores = [o["probabilities"] for o in outputs]
    names = [FLAGS.multilabel_delimiter.join(
        l for l, on in zip(task.labels, o["label_ids"]) if on)
             for o in outputs]
  else:
    scores = [o["probabilities"] for o in outputs]
    names = [task.labels[int(o["label_id"])] for o in outputs]
  task_plumbing.write_text_atomic(path, cd.format_test_results(
      task.type, task.labels, [e.guid for e in examples], scores, names))


def export(estimator, task, record, vocab, checkpoint):
  """SavedModel with serving_default (ids) and, by default, serve_text."""
  receiver_fn = text_serving.serving_receiver_fn(
      vocab, FLAGS.do_lower_case, FLAGS.max_seq_length, task.num_choices,
      task.is_pair, FLAGS.text_signature)
  path = text_serving.export_saved_model(
      estimator, FLAGS.export_dir, receiver_fn, checkpoint_path=checkpoint,
      extra_assets={"label_map.json": record})
  logging.info("SavedModel in %s (signatures: serving_default%s)", path,
               ", serve_text" if FLAGS.text_signature else "")
  return path


# ----------------------------------------------------------------------------
# Main


def validate_flags():
  task_plumbing.check_mode_flags("task_name")
  if FLAGS.max_seq_length < 3:
    task_plumbing.flag_error("--max_seq_length must be at least 3")
  if FLAGS.keep_best_metric and FLAGS.do_train and not FLAGS.do_eval:
    task_plumbing.flag_error("--keep_best_metric needs --do_eval (a dev set "
                             "to judge checkpoints by)")
  if FLAGS.export_dir and FLAGS.text_signature:
    try:
      text_serving.import_tensorflow_text()
    except ImportError as e:
      task_plumbing.flag_error("%s; or pass --notext_signature" % e)


def read_inputs(processor):
  """Reads (and so checks) every input file before any training.

  Returns:
    (train (path, examples) or None, dev sets, test sets): the sets are
    lists of (suffix, path, examples); suffix "" for the task's own file,
    e.g. "mm" for MNLI's mismatched one.
  """
  train = None
  if FLAGS.do_train:
    path = split_path(processor, "train", FLAGS.train_file)
    train = (path, processor.read(path, "train"))

  def sets(split, flag_value):
    out = [("", split_path(processor, split, flag_value))]
    if not flag_value:
      for suffix, files in processor.extra_sets.items():
        extra = os.path.join(FLAGS.data_dir, files[split])
        if os.path.exists(extra):
          out.append((suffix, extra))
    return [(s, p, processor.read(p, split)) for s, p in out]

  dev = sets("dev", FLAGS.dev_file) if FLAGS.do_eval else []
  test = sets("test", FLAGS.test_file) if FLAGS.do_predict else []
  for _, path, examples in dev:
    if examples[0].label is None:
      raise cd.ClassifierDataError(path, None, "--do_eval needs labels; this "
                                   "file has no label column")
  return train, dev, test


def prepare(processor, name, tokenizer):
  """Reads and checks all inputs, settles the task, saves label_map.json."""
  train, dev, test = read_inputs(processor)
  some = [e for _, _, examples in dev + test for e in examples[:1]]
  task, record = resolve_task(name, processor, train and train[1],
                              (train and train[1]) or some)
  source = "--labels" if FLAGS.labels else "the task's label list"
  for _, _, examples in ([("", train[0], train[1])] if train else []) + (
      dev + test):
    cd.check_labels(examples, task.labels, task.type, source)
  names = cd.metric_names(task.name, task.type)
  if FLAGS.keep_best_metric and keep_best.metric_key(
      FLAGS.keep_best_metric) not in names:
    task_plumbing.flag_error("--keep_best_metric=%s: this task reports %s" % (
        FLAGS.keep_best_metric, ", ".join(names)))
  # Saved once every input passed its checks.
  task_plumbing.write_json_atomic(
      os.path.join(FLAGS.output_dir, "label_map.json"), record)
  logging.info("Task %s (%s), %d labels: %s", task.name, task.type,
               len(task.labels), " ".join(task.labels))
  dev_sets = [(suffix, examples, input_fn_for(
      make_features(examples, tokenizer, task, "eval" + suffix), task,
      "eval" + suffix, path, False, FLAGS.eval_batch_size))
              for suffix, path, examples in dev]
  return task, record, train, dev_sets, test


def run_train(estimator, task, train, features, num_steps, evaluate_fn):
  """Trains; with --keep_best_metric in chunks, returning the best's
  results (else None)."""
  input_fn = input_fn_for(features, task, "train", train[0], True,
                          FLAGS.train_batch_size)
  task_plumbing.log_resume_point(FLAGS.output_dir, num_steps)
  logging.info("***** Training: %d examples, batch %d, %d steps *****",
               len(features), FLAGS.train_batch_size, num_steps)
  if not FLAGS.keep_best_metric:
    estimator.train(input_fn, max_steps=num_steps)
    return None
  return keep_best.train_keeping_best(
      estimator, input_fn, num_steps, FLAGS.save_checkpoints_steps,
      keep_best.metric_key(FLAGS.keep_best_metric), evaluate_fn)["results"]


def run_predict(estimator, task, tokenizer, test, checkpoint):
  if not test:
    return
  # The task's own test file keeps Google's test_results.tsv (MNLI's
  # mismatched set test_results_mm.tsv); a --test_file's results are named
  # after it (run_settings.output_prefix).
  prefix = task_plumbing.prediction_prefix(
      None if FLAGS.test_file else "test", test[0][1])
  for suffix, path, examples in test:
    features = make_features(examples, tokenizer, task, "predict" + suffix)
    outputs = predict_outputs(estimator, input_fn_for(
        features, task, "predict" + suffix, path, False,
        FLAGS.predict_batch_size), len(examples), checkpoint)
    name = "%s_results%s.tsv" % (prefix, "_" + suffix if suffix else "")
    write_test_results(os.path.join(FLAGS.output_dir, name), task, examples,
                       outputs)
    logging.info("Predicted %d examples of %s -> %s", len(examples), path,
                 os.path.join(FLAGS.output_dir, name))


def main(_):
  validate_flags()
  name, processor = make_processor()
  task_plumbing.check_run_settings(
      task_plumbing.train_data_fingerprint(
          [split_path(processor, "train", FLAGS.train_file)])
      if FLAGS.do_train else None)
  bert_config, tokenizer, init_checkpoint = task_plumbing.load_model_files()
  task, record, train, dev_sets, test = prepare(processor, name, tokenizer)

  num_steps, num_warmup, train_features = 1, 0, None
  if train:
    train_features = make_features(train[1], tokenizer, task, "train")
    num_steps, num_warmup = task_plumbing.num_train_steps(
        len(train_features), FLAGS.train_batch_size, FLAGS.num_train_epochs,
        FLAGS.warmup_proportion)
  model_fn = task_plumbing.model_fn_builder(
      bert_config, classifier_head(task, FLAGS.head_dropout), init_checkpoint,
      FLAGS.learning_rate, num_steps, num_warmup, FLAGS.use_tpu,
      optimizer_options=task_plumbing.optimizer_options(),
      log_every_n_steps=FLAGS.log_every_n_steps,
      train_batch_size=FLAGS.train_batch_size,
      features_fn=features_fn_for(task))
  estimator = task_plumbing.make_estimator(model_fn)
  evaluate_fn = lambda ckpt: evaluate(estimator, task, dev_sets, ckpt)

  results = None
  if train:
    results = run_train(estimator, task, train, train_features, num_steps,
                        evaluate_fn)
  checkpoint = (keep_best.best_checkpoint(FLAGS.output_dir)
                if FLAGS.keep_best_metric else None)
  if dev_sets:
    results = results or evaluate_fn(checkpoint)
    if checkpoint:
      results["best_checkpoint"] = checkpoint
    task_plumbing.write_eval_results(FLAGS.output_dir, results,
                                     summaries=False)  # evaluate wrote them
  run_predict(estimator, task, tokenizer, test, checkpoint)
  if FLAGS.export_dir:
    export(estimator, task, record, tokenizer.vocab, checkpoint)


def run():
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
