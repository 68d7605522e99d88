# coding=utf-8
"""squad_eval: the official SQuAD 1.1 / 2.0 rules on hand-made cases."""
import json
import random

import pytest

import squad_eval


@pytest.mark.parametrize("text,expected", [
    ("The Quick, Brown fox!", "quick brown fox"),
    ("an apple a day", "apple day"),
    ("theater anthem", "theater anthem"),  # articles only as whole words
    ("  Multiple   spaces\t\n", "multiple spaces"),
    ("A.B.C.", "abc"),
    ("\u00dcn\u00efcode \u2014dash", "\u00fcn\u00efcode \u2014dash"),  # ASCII
    ("the", ""),
    ("", ""),
])
def test_normalize_answer(text, expected):
  assert squad_eval.normalize_answer(text) == expected


def test_exact_and_f1_scores():
  assert squad_eval.exact_match_score("The Eiffel Tower.", "eiffel tower") == 1
  assert squad_eval.exact_match_score("Eiffel", "eiffel tower") == 0
  # P = 2/2, R = 2/4.
  assert squad_eval.f1_score("the cat sat", "cat sat on mat") == (
      pytest.approx(2 / 3))
  # Repeated tokens count as often as both sides have them.
  assert squad_eval.f1_score("x b b b", "b b c") == pytest.approx(
      2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
  assert squad_eval.f1_score("dog", "cat") == 0


def test_empty_answer_rules_differ_by_version():
  # 1.1: EM on normalised text; F1 0 without a shared token, even both empty.
  assert squad_eval.score_question("", ["the"]) == (1.0, 0.0)
  # 2.0: a gold answer that normalises to "" is dropped -> gold [""].
  assert squad_eval.score_question("", ["the"], version_2=True) == (1.0, 1.0)
  assert squad_eval.score_question("", [], version_2=True) == (1.0, 1.0)
  assert squad_eval.score_question("x", [], version_2=True) == (0.0, 0.0)
  assert squad_eval.score_question("", ["x"], version_2=True) == (0.0, 0.0)


def test_max_over_gold_answers():
  em, f1 = squad_eval.score_question(
      "Denver", ["Denver Broncos", "the Broncos", "Denver"])
  assert (em, f1) == (1.0, 1.0)
  em, f1 = squad_eval.score_question("Broncos team", ["Denver Broncos",
                                                      "The Broncos"])
  assert em == 0 and f1 == pytest.approx(2 / 3)


def articles(questions, version_2=False):
  """questions: list of (id, [gold texts])."""
  qas = []
  for qid, golds in questions:
    item = {"id": qid, "question": "?",
            "answers": [{"text": g, "answer_start": 0} for g in golds]}
    if version_2:
      item["is_impossible"] = not golds
    qas.append(item)
  return [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]


def test_v11_totals_and_missing_predictions():
  data = articles([("a", ["Denver Broncos"]), ("b", ["Carolina Panthers"]),
                   ("c", ["Santa Clara"])])
  results = squad_eval.evaluate(data, {"a": "the Denver Broncos",
                                       "b": "Panthers"})
  assert results["exact_match"] == pytest.approx(100 / 3)
  assert results["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
  assert results["total"] == 3 and results["missing"] == 1
  assert "HasAns_exact" not in results and "best_f1" not in results


V2 = [("h1", ["Denver Broncos", "The Denver Broncos"]),
      ("h2", ["Carolina Panthers"]), ("h3", ["Santa Clara, California"]),
      ("n1", []), ("n2", [])]
V2_PREDICTIONS = {"h1": "denver broncos", "h2": "Panthers", "h3": "",
                  "n1": "", "n2": "Levi's Stadium"}
V2_ODDS = {"h1": 0.1, "h2": 0.5, "h3": 0.9, "n1": 0.8, "n2": 0.6}


def test_v20_has_ans_no_ans_and_best_threshold():
  results = squad_eval.evaluate(articles(V2, True), V2_PREDICTIONS, V2_ODDS)
  expected = {
      "exact_match": 40.0, "f1": 100 * (1 + 2 / 3 + 1) / 5, "total": 5,
      "HasAns_exact": 100 / 3, "HasAns_f1": 100 * (1 + 2 / 3) / 3,
      "HasAns_total": 3, "NoAns_exact": 50.0, "NoAns_f1": 50.0,
      "NoAns_total": 2,
      # Sweep from "all null" (2 right): +h1 -> 3 at 0.1 is the best EM;
      # F1 goes on to 3 + 2/3 at 0.5 (h2), then n2 answered wrongly costs 1.
      "best_exact": 60.0, "best_exact_thresh": 0.1,
      "best_f1": 100 * (3 + 2 / 3) / 5, "best_f1_thresh": 0.5}
  assert set(results) == set(expected)
  for key, value in expected.items():
    assert results[key] == pytest.approx(value), key


def test_v20_na_prob_threshold_overrides_predictions():
  results = squad_eval.evaluate(articles(V2, True), V2_PREDICTIONS, V2_ODDS,
                                na_prob_thresh=0.55)
  # n2 (0.6), n1 and h3 count as answered "": n2 becomes right.
  assert results["exact_match"] == pytest.approx(60.0)
  assert results["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 1) / 5)
  # None scores the predictions as written.
  results = squad_eval.evaluate(articles(V2, True), V2_PREDICTIONS, V2_ODDS,
                                na_prob_thresh=None)
  assert results["exact_match"] == pytest.approx(40.0)


def test_version_detection():
  assert squad_eval.is_version_2(articles(V2, True))
  assert not squad_eval.is_version_2(articles(V2[:3]))
  assert squad_eval.has_gold_answers(articles(V2, True))
  assert not squad_eval.has_gold_answers(articles([("a", [])]))


def official_best_thresh(preds, scores, na_probs, qid_to_has_ans):
  """The official 2.0 script's sweep, written out step by step."""
  num_no_ans = len([k for k in qid_to_has_ans if not qid_to_has_ans[k]])
  cur_score = num_no_ans
  best_score = cur_score
  best_thresh = 0.0
  qid_list = sorted(na_probs, key=lambda k: na_probs[k])
  for qid in qid_list:
    if qid not in scores:
      continue
    if qid_to_has_ans[qid]:
      diff = scores[qid]
    elif preds[qid]:
      diff = -1
    else:
      diff = 0
    cur_score += diff
    if cur_score > best_score:
      best_score = cur_score
      best_thresh = na_probs[qid]
  return 100.0 * best_score / len(scores), best_thresh


def test_best_threshold_matches_official_sweep_on_random_cases():
  rng = random.Random(0)
  for _ in range(200):
    n = rng.randint(1, 12)
    qids = ["q%d" % i for i in range(n)]
    has_ans = {q: rng.random() < 0.6 for q in qids}
    preds = {q: rng.choice(["", "x"]) for q in qids}
    scores = {q: rng.choice([0.0, 0.5, 1.0]) if has_ans[q] else
              float(preds[q] == "") for q in qids}
    na = {q: round(rng.uniform(-3, 3), 1) for q in qids}
    assert squad_eval.best_threshold(preds, scores, na, has_ans) == (
        pytest.approx(official_best_thresh(preds, scores, na, has_ans)))


def test_command_line(tmp_path, capsys):
  data = tmp_path / "dev.json"
  data.write_text(json.dumps({"version": "v2.0",
                              "data": articles(V2, True)}))
  preds = tmp_path / "predictions.json"
  preds.write_text(json.dumps(V2_PREDICTIONS))
  odds = tmp_path / "null_odds.json"
  odds.write_text(json.dumps(V2_ODDS))
  out = tmp_path / "results.json"
  assert squad_eval.main([str(data), str(preds), "--na-prob-file", str(odds),
                          "--out-file", str(out)]) == 0
  results = json.loads(out.read_text())
  assert results["best_f1_thresh"] == 0.5 and results["exact_match"] == 40.0
  assert json.loads(capsys.readouterr().out) == results

  preds.write_text('{"h1": 3}')
  assert squad_eval.main([str(data), str(preds)]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "predictions.json: question h1" in err
  preds.write_text("{oops")
  assert squad_eval.main([str(data), str(preds)]) == 2
  assert "predictions.json: malformed JSON" in capsys.readouterr().err
