# coding=utf-8
"""run_squad.py end to end on a tiny random BERT: train, predict, evaluate,
export, serve; and its one-line errors.

The scripts run as subprocesses: each `run_*.py` defines its flags at import,
so two of them cannot share the test process.
"""
import glob
import json
import os
import re
import shutil

import pytest

import helpers
from helpers import read_json
import test_squad_data as fixtures

MAX_SEQ_LENGTH = 64


def run_script(args, check=True):
  """Runs run_squad.py; with check, it must succeed."""
  script = os.path.join(helpers.REPO_ROOT, "run_squad.py")
  return helpers.run_script(args, script, check=check)


def squad_v2_files(directory):
  """Train and dev SQuAD 2.0 files. Unanswerable questions are made by
  pairing a question with another paragraph; one training answer has a
  wrong offset (skipped and counted)."""
  long_text = fixtures.long_paragraph(12)
  paris, tesla = fixtures.PARIS, fixtures.TESLA
  qa = fixtures.qa

  def answerable(qid, question, context, text):
    return qa(qid, question, [fixtures.answer_at(context, text)], False)

  paragraphs = [
      (paris, [answerable("p1", "What is the capital of France?", paris,
                          "Paris"),
               answerable("p2", "Who founded the city?", paris, "the Parisii"),
               qa("p3", "When was the electric company founded?", [], True)]),
      (tesla, [answerable("t1", "When was the company founded?", tesla,
                          "1895"),
               answerable("t2", "Who was an inventor?", tesla,
                          "Nikola Tesla"),
               qa("t3", "What is the capital of France?", [], True)]),
      (long_text, [answerable("l%d" % i, "What was river %d called?" % i,
                              long_text, "river%d" % i) for i in range(0, 12, 2)]
       + [qa("l99", "Who founded the city?", [], True)]),
  ]
  dev = fixtures.write_squad(os.path.join(directory, "dev.json"), paragraphs,
                             version="v2.0")
  paragraphs[0][1].append(qa("bad", "Where?", [("London", 0)], False))
  train = fixtures.write_squad(os.path.join(directory, "train.json"),
                               paragraphs, version="v2.0")
  return train, dev


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory):
  """One tiny train + predict + evaluate + export run, shared by the tests."""
  root = str(tmp_path_factory.mktemp("squad"))
  model = helpers.write_tiny_bert(
      root, vocab_file=fixtures.write_vocab(os.path.join(root, "vocab.txt")),
      max_position_embeddings=128)
  vocab, config, checkpoint = model["vocab"], model["config"], model["ckpt"]
  train, dev = squad_v2_files(root)
  out = os.path.join(root, "out")
  flags = ["--vocab_file=" + vocab, "--bert_config_file=" + config,
           "--max_seq_length=%d" % MAX_SEQ_LENGTH, "--doc_stride=24",
           "--max_query_length=16", "--version_2_with_negative",
           "--output_dir=" + out]
  proc = run_script(flags + [
      "--do_train", "--do_predict", "--train_file=" + train,
      "--predict_file=" + dev, "--init_checkpoint=" + checkpoint,
      "--train_batch_size=8", "--num_train_epochs=3", "--learning_rate=1e-3",
      "--log_every_n_steps=2", "--n_best_size=5",
      "--export_dir=" + os.path.join(out, "export")])
  return dict(root=root, vocab=vocab, config=config, train=train, dev=dev,
              out=out, flags=flags, log=proc.stderr)


def question_ids(path):
  return [q["id"] for a in read_json(path)["data"] for p in a["paragraphs"]
          for q in p["qas"]]


def test_train_predict_evaluate(squad_run):
  log, out = squad_run["log"], squad_run["out"]
  assert "1 skipped (answer text not at its offset)" in log
  assert "id bad" in log
  assert "windows without the answer -> [CLS]" in log
  assert re.search(r"\d+ of \d+ trainable variables \([\d,]+ parameters\) "
                   r"initialised from ", log) and "examples/sec" in log
  ids = question_ids(squad_run["dev"])
  predictions = read_json(os.path.join(out, "predictions.json"))
  assert sorted(predictions) == sorted(ids)
  nbest = read_json(os.path.join(out, "nbest_predictions.json"))
  for qid in ids:
    texts = [e["text"] for e in nbest[qid]]
    assert 1 <= len(texts) <= 6 and "" in texts
    assert set(nbest[qid][0]) == {"text", "probability", "start_logit",
                                  "end_logit"}
  odds = read_json(os.path.join(out, "null_odds.json"))
  assert sorted(odds) == sorted(ids)
  for qid in ids:  # the threshold rule, as written
    assert (predictions[qid] == "") == (
        odds[qid] > 0.0 or all(e["text"] == "" for e in nbest[qid]))
  results = read_json(os.path.join(out, "eval_results.json"))
  for key in ("exact_match", "f1", "total", "HasAns_exact", "HasAns_f1",
              "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total",
              "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"):
    assert key in results, key
  assert results["total"] == len(ids) and results["NoAns_total"] == 3
  assert os.path.exists(os.path.join(out, "eval_results.txt"))


def test_evaluate_only_gives_the_same_results(squad_run, tmp_path):
  out = squad_run["out"]
  copy = tmp_path / "predictions.json"
  copy.write_text(open(os.path.join(out, "predictions.json")).read())
  # With no null_odds.json beside it: scored as written, no threshold sweep.
  run_script(["--evaluate_only", "--predict_file=" + squad_run["dev"],
              "--predictions_file=" + str(copy)])
  alone = read_json(str(tmp_path / "eval_results.json"))
  full = read_json(os.path.join(out, "eval_results.json"))
  for key in ("exact_match", "f1", "HasAns_f1", "NoAns_f1"):
    assert alone[key] == full[key]
  assert "best_f1_thresh" not in alone
  (tmp_path / "null_odds.json").write_text(
      open(os.path.join(out, "null_odds.json")).read())
  run_script(["--evaluate_only", "--predict_file=" + squad_run["dev"],
              "--predictions_file=" + str(copy)])
  assert read_json(str(tmp_path / "eval_results.json")) == full


SERVE = """
import json, os, sys
import run_squad, squad_data, tokenization
export, dev, out = sys.argv[1:4]
extra = os.path.join(export, "assets.extra")
settings = json.load(open(os.path.join(extra, "squad_config.json")))
tokenizer = tokenization.FullTokenizer(os.path.join(extra, "vocab.txt"),
                                       settings["do_lower_case"])
examples, _ = squad_data.read_squad_examples(
    dev, False, settings["version_2_with_negative"])
features, _ = squad_data.convert_examples_to_features(
    examples, tokenizer, settings["max_seq_length"], settings["doc_stride"],
    settings["max_query_length"], False)
results = run_squad.results_from_saved_model(export, features, batch_size=3)
predictions, nbest, odds = squad_data.predict_answers(
    examples, features, results, settings["n_best_size"],
    settings["max_answer_length"], settings["do_lower_case"],
    settings["version_2_with_negative"],
    settings["null_score_diff_threshold"])
json.dump({"predictions": predictions, "nbest": nbest, "odds": odds},
          open(out, "w"))
"""


def test_saved_model_reproduces_predictions(squad_run, tmp_path):
  exports = glob.glob(os.path.join(squad_run["out"], "export", "*"))
  assert len(exports) == 1
  script = tmp_path / "serve.py"
  script.write_text(SERVE)
  served = str(tmp_path / "served.json")
  helpers.run_script([exports[0], squad_run["dev"], served], str(script),
                     env={"PYTHONPATH": helpers.REPO_ROOT}, check=True)
  served = read_json(served)
  out = squad_run["out"]
  assert served["predictions"] == read_json(os.path.join(out,
                                                         "predictions.json"))
  odds = read_json(os.path.join(out, "null_odds.json"))
  for qid, value in served["odds"].items():
    assert value == pytest.approx(odds[qid], abs=1e-4)
  nbest = read_json(os.path.join(out, "nbest_predictions.json"))
  for qid, entries in served["nbest"].items():
    assert [e["text"] for e in entries] == [e["text"] for e in nbest[qid]]


def test_predict_from_fine_tuned_checkpoint(squad_run, tmp_path):
  """--init_checkpoint=<a trained output_dir> loads the encoder and the
  head: a fresh output_dir predicts what the training run predicted."""
  out = str(tmp_path / "out")
  run_script(squad_run["flags"] + [
      "--do_predict", "--predict_file=" + squad_run["dev"],
      "--n_best_size=5", "--output_dir=" + out,
      "--init_checkpoint=" + squad_run["out"]])
  for name in ("predictions.json", "eval_results.json"):
    assert read_json(os.path.join(out, name)) == read_json(
        os.path.join(squad_run["out"], name)), name


def test_file_without_answers_is_not_scored(squad_run, tmp_path):
  test_file = fixtures.write_squad(str(tmp_path / "test.json"), [
      (fixtures.PARIS, [fixtures.qa("x1", "What is the capital?")])])
  flags = [f for f in squad_run["flags"] if "version_2" not in f]
  out = str(tmp_path / "out")
  proc = run_script(flags + [
      "--do_predict", "--predict_file=" + test_file, "--output_dir=" + out,
      "--init_checkpoint=" + squad_run["out"]])
  assert "has no gold answers: it will not be scored" in proc.stderr
  predictions = read_json(os.path.join(out, "predictions.json"))
  assert list(predictions) == ["x1"] and predictions["x1"]
  assert not os.path.exists(os.path.join(out, "null_odds.json"))
  assert not os.path.exists(os.path.join(out, "eval_results.json"))
  proc = run_script(flags + [
      "--do_eval", "--predict_file=" + test_file, "--output_dir=" + out,
      "--init_checkpoint=" + squad_run["out"]], check=False)
  assert proc.returncode == 2
  assert "--do_eval needs answers for every question" in proc.stderr
  assert "Training" not in proc.stderr and "Wrote" not in proc.stderr


BAD_OFFSET = json.dumps({"data": [{"paragraphs": [{"context": "Paris.", "qas": [
    {"id": "q2", "question": "?", "answers": [{"text": "Paris",
                                                "answer_start": 4}]}]}]}]})


@pytest.mark.parametrize("role,content,expected", [
    ("predict",
     '{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q1"}]}]}]}',
     'qas[0] (id q1): missing field "question"'),
    ("predict", "", "the file is empty"),
    ("predict", '{"data": [', "malformed JSON at line 1 column 11"),
    ("train", BAD_OFFSET, "qas[0] (id q2).answers[0]: answer_start 4 + 5 "
     "characters of text lies outside the context (6 characters)"),
])
def test_bad_input_is_one_line(squad_run, tmp_path, role, content, expected):
  bad = tmp_path / "bad.json"
  bad.write_text(content)
  proc = run_script(squad_run["flags"] + [
      "--do_%s" % role, "--%s_file=%s" % (role, bad),
      "--init_checkpoint=" + squad_run["out"],
      "--output_dir=" + str(tmp_path / "o")], check=False)
  assert proc.returncode == 2
  last = helpers.last_line(proc)
  assert last.startswith("error: %s: " % bad), proc.stderr[-2000:]
  assert expected in last
  assert "Traceback" not in proc.stderr


def test_training_steps_match_transformers(minilm_dir, minilm_tf_dir,
                                           tmp_path):
  """Fidelity oracle for the whole training path: with dropout off, the
  same head initialisation and the same batches, our windows, head, loss and
  AdamW (bias-corrected) give transformers' BertForQuestionAnswering loss at
  every step (bench/squad_parity.py)."""
  paris, tesla, long_text = (fixtures.PARIS, fixtures.TESLA,
                             fixtures.long_paragraph(12))
  qa = fixtures.qa

  def answerable(qid, question, context, text):
    return qa(qid, question, [fixtures.answer_at(context, text)])

  train = fixtures.write_squad(str(tmp_path / "train.json"), [
      (paris, [answerable("p1", "What is the capital of France?", paris,
                          "Paris"),
               answerable("p2", "Who founded the city?", paris,
                          "the Parisii")]),
      (tesla, [answerable("t1", "When was the company founded?", tesla,
                          "1895"),
               answerable("t2", "Who was an inventor?", tesla,
                          "Nikola Tesla")]),
      (long_text, [answerable("l%d" % i, "What was river %d called?" % i,
                              long_text, "river%d" % i)
                   for i in range(0, 12, 3)])])
  output = str(tmp_path / "parity.json")
  helpers.run_script([
      "--train_file=" + train, "--tf_dir=" + minilm_tf_dir,
      "--hf_dir=" + minilm_dir, "--output=" + output, "--max_seq_length=64",
      "--doc_stride=24", "--max_query_length=16", "--batch_size=4",
      "--steps=6", "--warmup_steps=1", "--learning_rate=1e-4"],
      os.path.join(helpers.REPO_ROOT, "bench", "squad_parity.py"), check=True)
  report = read_json(output)
  features = report["features"]
  assert features["ours"] == features["transformers"] > 8  # windowed text
  assert features["input_ids_differ"] == 0
  assert features["targets_differ"] == 0
  ours, theirs = report["ours"], report["transformers"]
  assert len(ours) == len(theirs) == 7  # 6 steps, then batch 1 re-scored
  assert report["max_abs_diff"] < 2e-3, (ours, theirs)
  assert ours[-1] < ours[0] - 0.05  # training lowered batch 1's loss


def test_predict_from_the_run_folder_alone(squad_run, tmp_path):
  """--predict_file and --output_dir are enough; another file's answers are
  named after it and leave the first file's alone."""
  out = str(tmp_path / "out")
  shutil.copytree(squad_run["out"], out)
  first = read_json(os.path.join(out, "predictions.json"))
  proc = run_script(["--do_predict", "--predict_file=" + squad_run["dev"],
                     "--output_dir=" + out])
  assert "--max_seq_length=%d" % MAX_SEQ_LENGTH in proc.stderr
  assert read_json(os.path.join(out, "predictions.json")) == first
  assert read_json(os.path.join(out, "nbest_predictions.json")) == read_json(
      os.path.join(squad_run["out"], "nbest_predictions.json"))

  other = str(tmp_path / "dev2.json")
  shutil.copy(squad_run["dev"], other)
  run_script(["--do_predict", "--predict_file=" + other,
              "--output_dir=" + out])
  assert read_json(os.path.join(out, "dev2_predictions.json")) == first
  assert read_json(os.path.join(out, "dev2_eval_results.json"))["total"] == (
      read_json(os.path.join(out, "eval_results.json"))["total"])
  assert read_json(os.path.join(out, "predictions.json")) == first
