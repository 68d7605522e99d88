# coding=utf-8
"""Exact match and F1 for SQuAD 1.1 and 2.0, by the official scripts' rules.

Usable alone, like the official `evaluate-v1.1.py` / `evaluate-v2.0.py`:

  python squad_eval.py dev-v2.0.json predictions.json \\
      --na-prob-file null_odds.json --out-file eval_results.json

The rules (both versions): an answer is normalised by lower-casing, dropping
punctuation (string.punctuation), dropping the articles a/an/the and
collapsing whitespace; EM is equality of normalised texts, F1 the bag-of-
tokens overlap; a question scores the maximum over its gold answers; totals
are percentages. Differences kept per version:
  * 1.1: F1 is 0 when prediction and gold share no token (even both empty);
  * 2.0: gold answers that normalise to "" are dropped and an unanswerable
    question's gold is [""]; F1 is 1 when both are empty, else 0 if either
    is; HasAns_/NoAns_ splits; with null odds (`na_probs`), a question whose
    odds exceed `na_prob_thresh` counts as answered "", and best_exact/
    best_f1 with their thresholds come from a sweep over the odds.
A question without a prediction scores 0 (the 1.1 script's rule; the 2.0
script crashes on one in its HasAns/NoAns split). Results use the key
`exact_match` for EM in both versions (the 2.0 script says `exact`).
"""

import argparse
import collections
import json
import re
import string
import sys

import input_limits
import squad_data

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
  """Lower case, no punctuation, no articles, single spaces."""
  text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
  return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction, gold):
  return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction, gold, version_2=False):
  """Token-overlap F1 of two answers (see the module doc for the versions)."""
  pred_tokens = normalize_answer(prediction).split()
  gold_tokens = normalize_answer(gold).split()
  if version_2 and (not pred_tokens or not gold_tokens):
    return float(pred_tokens == gold_tokens)
  common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
  same = sum(common.values())
  if same == 0:
    return 0.0
  precision = same / len(pred_tokens)
  recall = same / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def score_question(prediction, gold_texts, version_2=False):
  """(EM, F1) of one prediction: the best over the gold answers."""
  if version_2:
    gold_texts = [g for g in gold_texts if normalize_answer(g)] or [""]
  if not gold_texts:
    return 0.0, 0.0
  return (max(exact_match_score(prediction, g) for g in gold_texts),
          max(f1_score(prediction, g, version_2) for g in gold_texts))


# ----------------------------------------------------------------------------
# Whole datasets


def gold_answers(articles, path="dataset"):
  """OrderedDict question id -> list of gold answer texts ([] = no answer)."""
  gold = collections.OrderedDict()
  for where, _, qa in squad_data.iter_questions(path, articles):
    gold[str(qa["id"])] = squad_data.answer_texts(path, where, qa)
  return gold


def is_version_2(articles):
  """True when any question carries SQuAD 2.0's `is_impossible`."""
  return any("is_impossible" in qa for a in articles
             for p in a.get("paragraphs", []) for qa in p.get("qas", []))


def has_gold_answers(articles):
  """True when every question has answers or is marked impossible."""
  questions = [qa for a in articles for p in a.get("paragraphs", [])
               for qa in p.get("qas", [])]
  return bool(questions) and all(
      qa.get("answers") or qa.get("is_impossible") for qa in questions)


def _percent(scores, qids):
  return 100.0 * sum(scores[q] for q in qids) / len(qids)


def best_threshold(predictions, raw_scores, na_probs, has_answer):
  """The null-odds threshold that maximises the score (official sweep).

  Start with every question answered "" (right for the NoAns ones), then
  admit predictions in order of rising odds; the best running total and the
  odds where it was reached are the result.

  Returns:
    (best score in percent, its threshold).
  """
  score = sum(1 for q in has_answer if not has_answer[q])
  best, best_thresh = score, 0.0
  for qid in sorted(raw_scores, key=lambda q: na_probs.get(q, 0.0)):
    if has_answer[qid]:
      score += raw_scores[qid]
    elif predictions.get(qid) != "":
      score -= 1
    if score > best:
      best, best_thresh = score, na_probs.get(qid, 0.0)
  return 100.0 * best / len(raw_scores), best_thresh


def evaluate(articles, predictions, na_probs=None, na_prob_thresh=1.0,
             version_2=None, path="dataset"):
  """Scores predictions against a SQuAD dataset.

  Args:
    articles: the dataset's "data" list.
    predictions: dict question id -> answer text ("" = no answer).
    na_probs: optional dict question id -> null odds (SQuAD 2.0).
    na_prob_thresh: questions with odds above this count as answered "";
      None scores the predictions exactly as written.
    version_2: the rules to follow; None detects them from the data.
    path: the dataset's file name, for errors.
  Returns:
    OrderedDict: exact_match, f1, total; for 2.0 also HasAns_exact,
    HasAns_f1, HasAns_total, NoAns_exact, NoAns_f1, NoAns_total and, with
    na_probs, best_exact, best_exact_thresh, best_f1, best_f1_thresh;
    `missing` when questions had no prediction.
  """
  if version_2 is None:
    version_2 = is_version_2(articles)
  gold = gold_answers(articles, path)
  if not gold:
    raise squad_data.SquadDataError("%s: no questions to evaluate" % path)
  exact, f1 = {}, {}
  for qid, texts in gold.items():
    if qid in predictions:
      exact[qid], f1[qid] = score_question(predictions[qid], texts, version_2)
    else:
      exact[qid], f1[qid] = 0.0, 0.0
  results = _totals(exact, f1, gold, version_2, na_probs, na_prob_thresh)
  if version_2 and na_probs is not None:
    has_answer = {q: bool(t) for q, t in gold.items()}
    results["best_exact"], results["best_exact_thresh"] = best_threshold(
        predictions, exact, na_probs, has_answer)
    results["best_f1"], results["best_f1_thresh"] = best_threshold(
        predictions, f1, na_probs, has_answer)
  missing = sum(1 for q in gold if q not in predictions)
  if missing:
    results["missing"] = missing
  return results


def _totals(exact, f1, gold, version_2, na_probs, na_prob_thresh):
  """EM/F1 in percent, overall and (2.0) split by HasAns/NoAns."""
  if version_2 and na_probs is not None and na_prob_thresh is not None:
    exact, f1 = dict(exact), dict(f1)
    for qid in gold:
      if na_probs.get(qid, 0.0) > na_prob_thresh:
        exact[qid] = f1[qid] = float(not gold[qid])
  qids = list(gold)
  results = collections.OrderedDict([
      ("exact_match", _percent(exact, qids)), ("f1", _percent(f1, qids)),
      ("total", len(qids))])
  if version_2:
    for name, subset in (("HasAns", [q for q in qids if gold[q]]),
                         ("NoAns", [q for q in qids if not gold[q]])):
      if subset:
        results[name + "_exact"] = _percent(exact, subset)
        results[name + "_f1"] = _percent(f1, subset)
        results[name + "_total"] = len(subset)
  return results


# ----------------------------------------------------------------------------
# Files


def _load_json_object(path, what):
  too_big = input_limits.json_file_too_big(path)
  if too_big:
    raise squad_data.SquadDataError("%s: %s" % (path, too_big))
  with open(path, "rb") as f:
    raw = f.read()
  try:
    data = json.loads(raw.decode("utf-8-sig")) if raw.strip() else None
  except (UnicodeDecodeError, ValueError, RecursionError) as e:
    # RecursionError: lists or objects nested too deeply to parse.
    raise squad_data.SquadDataError("%s: malformed JSON: %s" % (path, e))
  if not isinstance(data, dict):
    raise squad_data.SquadDataError(
        "%s: expected a JSON object of question id -> %s" % (path, what))
  return data


def load_predictions(path):
  """predictions.json: {question id: answer text}."""
  data = _load_json_object(path, "answer text")
  for qid, text in data.items():
    if not isinstance(text, str):
      raise squad_data.SquadDataError(
          "%s: question %s: the answer should be a string, found %s"
          % (path, qid, json.dumps(text)[:40]))
  return data


def load_na_probs(path):
  """null_odds.json: {question id: number}."""
  data = _load_json_object(path, "null odds")
  for qid, value in data.items():
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise squad_data.SquadDataError(
          "%s: question %s: the null odds should be a number, found %s"
          % (path, qid, json.dumps(value)[:40]))
  return {qid: float(v) for qid, v in data.items()}


def evaluate_files(data_file, pred_file, na_prob_file=None,
                   na_prob_thresh=1.0, version_2=None):
  """evaluate() on files; errors name the file."""
  articles = squad_data.load_dataset(data_file)
  predictions = load_predictions(pred_file)
  na_probs = load_na_probs(na_prob_file) if na_prob_file else None
  return evaluate(articles, predictions, na_probs, na_prob_thresh, version_2,
                  path=data_file)


def main(argv=None):
  parser = argparse.ArgumentParser(
      description="SQuAD 1.1/2.0 exact match and F1 (official rules).")
  parser.add_argument("data_file", help="SQuAD JSON with gold answers.")
  parser.add_argument("pred_file", help="predictions.json (id -> text).")
  parser.add_argument("--na-prob-file", default=None,
                      help="null_odds.json for SQuAD 2.0 (id -> odds).")
  parser.add_argument("--na-prob-thresh", type=float, default=1.0,
                      help="Odds above this count as answered \"\" "
                           "(the official default, 1.0).")
  parser.add_argument("--out-file", default=None,
                      help="Write the results here as JSON.")
  args = parser.parse_args(argv)
  try:
    results = evaluate_files(args.data_file, args.pred_file,
                             args.na_prob_file, args.na_prob_thresh)
  except (squad_data.SquadDataError, OSError) as e:
    sys.stderr.write("error: %s\n" % (e,))
    return 2
  text = json.dumps(results, indent=2)
  if args.out_file:
    with open(args.out_file, "w", encoding="utf-8") as f:
      f.write(text + "\n")
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
