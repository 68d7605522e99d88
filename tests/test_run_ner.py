"""End-to-end tests of run_ner.py, run as a user runs it: a subprocess.

A tiny random BERT (2 layers, hidden 32, a vocab of the training words plus
single characters) keeps every run to seconds. A few rich runs are shared by
the tests through module fixtures:

  * softmax_run: train + eval + predict + export, softmax head; its test file
    holds one sentence longer than max_seq_length (windowing);
  * crf_run: the same with --use_crf --lstm_size=8 --layer_fusion;
  * then each do_* mode alone on the trained output_dir, raw-text predict,
    resume, and bad input that must fail before any training.
"""

import json
import os
import re

import pytest
import tensorflow as tf

import helpers
from helpers import read_text, saved_model_path
import ner_data
import ner_metrics
import tokenization

MAX_SEQ = 32
RAW_TEXT = ("John Smith flew from London to Paris .\n"
            "Shares of Google rose after Maria Garcia spoke in New York.\n")

# ----------------------------------------------------------------------------
# Helpers


def run_ner(args, check=False):
  """Runs run_ner.py with a fresh interpreter; returns the result."""
  return helpers.run_script(args, "run_ner.py", check=check)


def run_ok(args):
  """run_ner that must succeed; returns its log (stderr)."""
  return run_ner(args, check=True).stderr


def prediction_blocks(text):
  """test_predictions.txt -> list of sentences, each a list of column lists."""
  blocks, block = [], []
  for line in text.splitlines():
    if line.strip():
      block.append(line.split())
    elif block:
      blocks.append(block)
      block = []
  if block:
    blocks.append(block)
  return blocks


def predicted_tags(text):
  return [[row[-1] for row in block] for block in prediction_blocks(text)]


def global_step(output_dir):
  return int(tf.train.load_variable(tf.train.latest_checkpoint(output_dir),
                                    "global_step"))


def model_flags(model, **overrides):
  """The flags naming the tiny model, as a user passes them."""
  flags = dict(max_seq_length=MAX_SEQ, train_batch_size=8,
               predict_batch_size=8, eval_batch_size=8)
  flags.update(overrides)
  return helpers.model_flags(model, **flags)


# ----------------------------------------------------------------------------
# Fixtures: data, a tiny random BERT, the shared runs


def write_long_sentence(data_dir):
  """Appends to test.txt one sentence of > 2 windows, made of train words."""
  words, tags = [], []
  for example in ner_data.read_conll(os.path.join(data_dir, "train.txt")):
    words += example.words
    tags += example.labels
    if len(words) > 2 * MAX_SEQ + 10:
      break
  with open(os.path.join(data_dir, "test.txt"), "a", encoding="utf-8") as f:
    f.write("\n" + "".join("%s %s\n" % pair for pair in zip(words, tags)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """Sample NER data (32/8/8 sentences) plus a long test sentence."""
  path = str(tmp_path_factory.mktemp("ner_data"))
  ner_data.write_sample_ner_data(path, num_train=32, num_dev=8, num_test=8)
  write_long_sentence(path)
  return path


def vocab_tokens(data_dir):
  """Specials, the training words, and single characters (plain and ##)."""
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  words = set()
  for example in ner_data.read_conll(os.path.join(data_dir, "train.txt")):
    for word in example.words:
      words.update(basic.tokenize(word))
  chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,'-") | words)
  chars = [c for c in chars if len(c) == 1]
  tokens = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words) +
            ["##" + c for c in chars if c.isalnum()])
  tokens += [c for c in chars if c not in words]
  return list(dict.fromkeys(tokens))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, data_dir):
  """vocab.txt, bert_config.json, bert_model.ckpt of a tiny random BERT."""
  return helpers.write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"),
                                 vocab_tokens(data_dir))


def full_run(tmp_path_factory, tiny_bert, data_dir, name, **flags):
  """train + eval + predict + export; returns paths and a snapshot of files.

  Later tests rerun modes in the same output_dir, so the files this run
  wrote are read here, once.
  """
  out = str(tmp_path_factory.mktemp(name))
  export = os.path.join(out, "export")
  log = run_ok(["--do_train", "--do_eval", "--do_predict",
                "--data_dir=" + data_dir, "--output_dir=" + out,
                "--export_dir=" + export] + model_flags(tiny_bert, **flags))
  files = {name: read_text(os.path.join(out, name)) for name in (
      "eval_results.txt", "eval_results.json", "test_predictions.txt",
      "test_entities.jsonl", "label_map.json")}
  return dict(out=out, export=export, log=log, files=files)


@pytest.fixture(scope="module")
def softmax_run(tmp_path_factory, tiny_bert, data_dir):
  return full_run(tmp_path_factory, tiny_bert, data_dir, "softmax",
                  num_train_epochs=1)


@pytest.fixture(scope="module")
def crf_run(tmp_path_factory, tiny_bert, data_dir):
  return full_run(tmp_path_factory, tiny_bert, data_dir, "crf",
                  num_train_epochs=0.5, use_crf="true", lstm_size=8,
                  layer_fusion="true")


# ----------------------------------------------------------------------------
# Train / eval / predict / export


METRICS = ("entity_precision", "entity_recall", "entity_f1", "eval_loss",
           "token_f1")


def parse_key_values(text):
  pairs = [line.split(" = ") for line in text.splitlines() if line.strip()]
  assert all(len(p) == 2 for p in pairs), text
  return {k: float(v) for k, v in pairs}


def test_eval_results_files(softmax_run):
  """eval_results.txt (key = value) and .json hold the same metrics."""
  txt = parse_key_values(softmax_run["files"]["eval_results.txt"])
  js = json.loads(softmax_run["files"]["eval_results.json"])
  for key in METRICS:
    assert key in txt and key in js, key
    assert txt[key] == pytest.approx(js[key])
  assert js["global_step"] == 4  # 32 sentences, batch 8, one epoch.
  # One summary line, not a line per variable (--verbosity=debug lists
  # them): the encoder from the checkpoint, the output layer new.
  assert re.search(r"39 of 41 trainable variables \([\d,]+ parameters\) "
                   r"initialised from \S+bert_model\.ckpt \(--verbosity=debug "
                   r"lists every variable\); newly "
                   r"initialised: ner/output/kernel:0, ner/output/bias:0\n",
                   softmax_run["log"]), softmax_run["log"][-3000:]
  assert "name = " not in softmax_run["log"]


def test_predictions_cover_every_word(softmax_run, data_dir):
  """One 3-column line per test word, in order, even for the long sentence."""
  examples = ner_data.read_conll(os.path.join(data_dir, "test.txt"))
  blocks = prediction_blocks(softmax_run["files"]["test_predictions.txt"])
  assert len(blocks) == len(examples)
  labels = json.loads(softmax_run["files"]["label_map.json"])["labels"]
  for example, block in zip(examples, blocks):
    assert all(len(row) == 3 for row in block)
    assert [r[0] for r in block] == example.words
    assert [r[1] for r in block] == example.labels
    assert all(r[2] in labels for r in block)
  assert max(len(e.words) for e in examples) > MAX_SEQ
  assert re.search(r"predict: 9 sentences -> \d+ features \(1 split into "
                   "windows", softmax_run["log"])


def test_entities_jsonl(softmax_run):
  """One JSON record per test sentence; word spans match the joined words."""
  lines = softmax_run["files"]["test_entities.jsonl"].splitlines()
  blocks = prediction_blocks(softmax_run["files"]["test_predictions.txt"])
  assert len(lines) == len(blocks)
  for line, block in zip(lines, blocks):
    record = json.loads(line)
    words = [r[0] for r in block]
    assert record["words"] == words
    for entity in record["entities"]:
      assert entity["text"] == " ".join(words[entity["start"]:entity["end"]])
  assert os.path.exists(os.path.join(softmax_run["out"], "label_map.json"))


def test_eval_alone(softmax_run, tiny_bert, data_dir):
  """--do_eval alone on the trained output_dir gives the same results."""
  run_ok(["--do_eval", "--data_dir=" + data_dir,
          "--output_dir=" + softmax_run["out"]] +
         model_flags(tiny_bert, init_checkpoint=None))
  before = json.loads(softmax_run["files"]["eval_results.json"])
  after = json.loads(read_text(os.path.join(softmax_run["out"],
                                            "eval_results.json")))
  assert set(after) == set(before)
  for key in before:
    assert after[key] == pytest.approx(before[key], abs=1e-5), key


def test_predict_alone_with_truncate(softmax_run, tiny_bert, data_dir):
  """--do_predict alone, --truncate: same tags where nothing is cut; the
  long sentence keeps every word, the cut ones tagged 'O' and counted."""
  log = run_ok(["--do_predict", "--truncate", "--data_dir=" + data_dir,
                "--output_dir=" + softmax_run["out"]] +
               model_flags(tiny_bert, init_checkpoint=None))
  before = predicted_tags(softmax_run["files"]["test_predictions.txt"])
  after = predicted_tags(read_text(os.path.join(softmax_run["out"],
                                                "test_predictions.txt")))
  assert after[:-1] == before[:-1]
  assert len(after[-1]) == len(before[-1])
  match = re.search(r"predict: 9 sentences -> 9 features \(0 split into "
                    r"windows, 1 truncated losing (\d+) words", log)
  assert match, log[-3000:]
  cut = int(match.group(1))
  assert 0 < cut < len(after[-1])
  assert after[-1][-cut:] == ["O"] * cut


def test_raw_text_predict(softmax_run, tiny_bert, tmp_path):
  """A .raw file: entities carry character offsets that slice the text."""
  raw = tmp_path / "sentences.raw"
  raw.write_text(RAW_TEXT, encoding="utf-8")
  run_ok(["--do_predict", "--predict_file=%s" % raw,
          "--output_dir=" + softmax_run["out"]] +
         model_flags(tiny_bert, init_checkpoint=None))
  # Named after the input (the test set keeps its test_* files).
  records = [json.loads(line) for line in read_text(os.path.join(
      softmax_run["out"], "sentences_entities.jsonl")).splitlines()]
  tags = predicted_tags(read_text(os.path.join(softmax_run["out"],
                                               "sentences_predictions.txt")))
  assert [r["text"] for r in records] == RAW_TEXT.splitlines()
  for record, row in zip(records, tags):
    words, offsets = ner_data.split_words_with_offsets(record["text"])
    assert len(row) == len(words)
    expected = [(offsets[a][0], offsets[b][1])
                for _, a, b in ner_metrics.get_entities(row, "IOB2")]
    assert [(e["start"], e["end"]) for e in record["entities"]] == expected
    for entity in record["entities"]:
      assert entity["text"] == record["text"][entity["start"]:entity["end"]]
  assert sum(len(r["entities"]) for r in records) > 0


# ----------------------------------------------------------------------------
# The SavedModel in a fresh process equals the estimator


SERVE_SNIPPET = r"""
import json, sys
import numpy as np
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures[sys.argv[3]]
with open(sys.argv[2]) as f:
  inputs = json.load(f)
out = serve(**{k: tf.constant(np.asarray(v, np.int32))
               for k, v in inputs.items()})
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
"""


def serve_in_fresh_process(export_dir, features, tmp_path,
                           signature="serving_default"):
  """Runs a signature on the features in a new Python process
  (`serve_words` also gets the featurizer's label_mask)."""
  names = ["input_ids", "input_mask", "segment_ids"]
  if signature == "serve_words":
    names.append("label_mask")
  inputs = {name: [getattr(f, name) for f in features] for name in names}
  path = tmp_path / "inputs.json"
  path.write_text(json.dumps(inputs))
  proc = helpers.run_script(["-c", SERVE_SNIPPET,
                             saved_model_path(export_dir), str(path),
                             signature], cwd=str(tmp_path), check=True)
  return json.loads(proc.stdout.strip().splitlines()[-1])


def same_masks(features, served_masks, num_examples):
  """Per example: does serving's label_mask equal the featurizer's?

  They differ for a windowed sentence (a window marks only the words it
  owns) and for a word that is several basic tokens ('2-1'): serving knows
  only ids, and marks every piece that does not start with '##'.
  """
  same = [True] * num_examples
  for feature, mask in zip(features, served_masks):
    owned = [i for i, m in enumerate(feature.label_mask) if m]
    assert all(mask[i] for i in owned)  # Every word start is marked.
    if mask != feature.label_mask:
      same[feature.example_index] = False
  return same


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_saved_model_matches_estimator(head, softmax_run, crf_run, tiny_bert,
                                       data_dir, tmp_path):
  """Tags from the SavedModel = test_predictions.txt of the estimator.

  Both heads decode (Viterbi: the CRF, and the softmax's constrained
  decoding) over the positions of label_mask, so tags are compared where
  serving's mask equals the featurizer's (see same_masks).
  """
  run = softmax_run if head == "softmax" else crf_run
  examples = ner_data.read_conll(os.path.join(data_dir, "test.txt"))
  label_map = ner_data.LabelMap.load(os.path.join(run["out"],
                                                  "label_map.json"))
  tokenizer = tokenization.FullTokenizer(tiny_bert["vocab"], True)
  features, _ = ner_data.convert_examples(examples, tokenizer, label_map,
                                          MAX_SEQ)
  served = serve_in_fresh_process(run["export"], features, tmp_path)
  tags = ner_data.merge_predictions(examples, features, served["tag_ids"],
                                    label_map)
  expected = predicted_tags(run["files"]["test_predictions.txt"])
  same = same_masks(features, served["label_mask"], len(examples))
  assert sum(same) >= len(examples) // 2
  for i, (got, want) in enumerate(zip(tags, expected)):
    if same[i]:
      assert got == want, examples[i].guid


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_serve_words_matches_estimator_everywhere(head, softmax_run, crf_run,
                                                  tiny_bert, data_dir,
                                                  tmp_path):
  """`serve_words`, fed the featurizer's label_mask, gives the tags of
  test_predictions.txt on every sentence: windowed ones and words of several
  basic tokens included, where serving_default's CRF may differ."""
  run = softmax_run if head == "softmax" else crf_run
  examples = ner_data.read_conll(os.path.join(data_dir, "test.txt"))
  label_map = ner_data.LabelMap.load(os.path.join(run["out"],
                                                  "label_map.json"))
  exported = ner_data.LabelMap.load(os.path.join(
      saved_model_path(run["export"]), "assets.extra", "label_map.json"))
  assert exported.labels == label_map.labels
  tokenizer = tokenization.FullTokenizer(tiny_bert["vocab"], True)
  features, _ = ner_data.convert_examples(examples, tokenizer, label_map,
                                          MAX_SEQ)
  served = serve_in_fresh_process(run["export"], features, tmp_path,
                                  signature="serve_words")
  assert served["label_mask"] == [f.label_mask for f in features]
  # A windowed sentence: its windows mark only the words they own, which
  # serving_default cannot know.
  assert len({f.example_index for f in features}) < len(features)
  tags = ner_data.merge_predictions(examples, features, served["tag_ids"],
                                    label_map)
  assert tags == predicted_tags(run["files"]["test_predictions.txt"])


def scheme_violations(tags_per_sentence):
  return sum(ner_metrics.validate_tags(tags, "IOB2") is not None
             for tags in tags_per_sentence)


def test_constrained_decoding_flag(softmax_run, crf_run, tiny_bert, data_dir):
  """Decoding (on by default) emits no tag path BIO forbids, in test and dev
  predictions of both heads; --noconstrained_decoding, predicting with the
  same barely trained checkpoint, does break BIO (else this proves nothing).

  Only sentences that fit in one window are checked: a long sentence's
  windows are decoded one by one, and their seam is not constrained.
  """
  def fitting(text):
    return [tags for tags in predicted_tags(text) if len(tags) < MAX_SEQ - 2]

  for run in (softmax_run, crf_run):
    tags = fitting(run["files"]["test_predictions.txt"])
    assert len(tags) == 8 and scheme_violations(tags) == 0
    dev = fitting(read_text(os.path.join(run["out"], "dev_predictions.txt")))
    assert len(dev) == 8 and scheme_violations(dev) == 0
  run_ok(["--do_predict", "--noconstrained_decoding",
          "--data_dir=" + data_dir, "--output_dir=" + softmax_run["out"]] +
         model_flags(tiny_bert, init_checkpoint=None))
  plain = fitting(read_text(os.path.join(softmax_run["out"],
                                         "test_predictions.txt")))
  assert len(plain) == 8 and scheme_violations(plain) > 0


# ----------------------------------------------------------------------------
# Heads and resuming


def test_crf_lstm_fusion_heads_train(crf_run):
  """--use_crf --lstm_size=8 --layer_fusion builds, trains and evaluates."""
  # The head's variables are the newly initialised ones of the summary line.
  fresh = re.search(r"newly initialised: (.*)\n", crf_run["log"]).group(1)
  for name in ("ner/transitions:0", "ner/bilstm_0/fw/kernel:0",
               "ner/bilstm_0/bw/kernel:0", "ner/layer_logits/kernel:0"):
    assert name in fresh.split(", "), (name, fresh)
  assert global_step(crf_run["out"]) == 2
  js = json.loads(crf_run["files"]["eval_results.json"])
  for key in METRICS:
    assert key in js


def test_resume_with_lstm(tiny_bert, data_dir, tmp_path):
  """A stopped run (softmax + BiLSTM) resumes from its saved global step."""
  out = str(tmp_path / "out")
  common = ["--do_train", "--data_dir=" + data_dir, "--output_dir=" + out,
            "--save_checkpoints_steps=2"]
  run_ok(common + model_flags(tiny_bert, num_train_epochs=0.5, lstm_size=8))
  assert global_step(out) == 2
  log = run_ok(common + model_flags(tiny_bert, num_train_epochs=1,
                                    lstm_size=8))
  assert re.search(r"Resuming training from \S*model\.ckpt-2 \(global step "
                   r"2 of 4\)", log), log[-3000:]
  assert global_step(out) == 4


# ----------------------------------------------------------------------------
# Bad input: one line, non-zero exit, nothing left to reuse


GOOD = "John B-PER\nSmith I-PER\nflew O\nhome O\n\nParis B-LOC\nwins O\n"

# name -> (files in data_dir, extra flags, expected message pieces).
BAD_INPUTS = {
    "wrong_columns": ({"train.txt": GOOD + "in O extra\n"}, [],
                      ["train.txt:8:", "wrong column count"]),
    "empty_tag": ({"train.txt": "John B-PER\nSmith\n"}, [],
                  ["train.txt:2:", "empty tag"]),
    "tag_not_in_labels_file": (
        {"train.txt": GOOD, "labels.txt": "O\nB-PER\nI-PER\n"},
        ["--labels_file={data}/labels.txt"],
        ["train.txt:6:", "'B-LOC' is not in the label list"]),
    "scheme_violation": ({"train.txt": GOOD + "\nthe O\nI-PER I-PER\n"},
                         ["--tag_scheme=IOB2"],
                         ["train.txt:10:", "IOB2"]),
    "empty_file": ({"train.txt": ""}, [],
                   ["train.txt:1:", "no sentences"]),
    "not_utf8": ({"train.txt": b"John B-PER\nM\xfcller I-PER\n"}, [],
                 ["train.txt:2:", "UTF-8"]),
    "bad_dev_file": ({"train.txt": GOOD, "dev.txt": "Paris B-LOC x\nis O\n"},
                     ["--do_eval"], ["dev.txt:2:", "column"]),
}


def write_files(folder, files):
  for name, content in files.items():
    path = os.path.join(folder, name)
    if isinstance(content, bytes):
      with open(path, "wb") as f:
        f.write(content)
    else:
      with open(path, "w", encoding="utf-8") as f:
        f.write(content)


def assert_clean_failure(proc, pieces, output_dir):
  """Exit non-zero, one `error:` line naming the fault, no traceback, and no
  record or checkpoint left behind in output_dir."""
  helpers.assert_one_line_error(proc, *pieces)
  left = os.listdir(output_dir) if os.path.isdir(output_dir) else []
  assert not [n for n in left if n.endswith(".tf_record") or
              n.startswith(("model.ckpt", "checkpoint", ".tmp"))], left
  assert "label_map.json" not in left, left


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_fails_before_training(case, tiny_bert, tmp_path):
  files, extra, pieces = BAD_INPUTS[case]
  data, out = str(tmp_path / "data"), str(tmp_path / "out")
  os.makedirs(data)
  write_files(data, files)
  proc = run_ner(["--do_train", "--data_dir=" + data, "--output_dir=" + out]
                    + [e.format(data=data) for e in extra]
                    + model_flags(tiny_bert))
  assert_clean_failure(proc, pieces, out)


def test_vocab_that_does_not_fit_the_checkpoint(tiny_bert, data_dir,
                                                tmp_path):
  """A vocab with one entry more than the embedding table has rows."""
  vocab = tmp_path / "vocab.txt"
  vocab.write_text(read_text(tiny_bert["vocab"]) + "extra\n")
  out = str(tmp_path / "out")
  proc = run_ner(["--do_train", "--data_dir=" + data_dir,
                     "--output_dir=" + out] +
                    model_flags(tiny_bert, vocab_file=vocab))
  assert_clean_failure(proc, [str(vocab), "%d entries" % (
      tiny_bert["vocab_size"] + 1), "bert/embeddings/word_embeddings"], out)


def test_missing_checkpoint(tiny_bert, data_dir, tmp_path):
  missing = str(tmp_path / "nowhere" / "bert_model.ckpt")
  out = str(tmp_path / "out")
  proc = run_ner(["--do_train", "--data_dir=" + data_dir,
                     "--output_dir=" + out] +
                    model_flags(tiny_bert, init_checkpoint=missing))
  assert_clean_failure(proc, [missing, "not found"], out)


def test_predict_without_trained_checkpoint(tiny_bert, data_dir, tmp_path):
  out = str(tmp_path / "out")
  os.makedirs(out)
  proc = run_ner(["--do_predict", "--data_dir=" + data_dir,
                     "--output_dir=" + out] +
                    model_flags(tiny_bert, init_checkpoint=None))
  assert_clean_failure(proc, [out, "no trained checkpoint"], out)
