"""Entity-level NER metrics equal seqeval's default (conlleval) mode."""
import random
import warnings

import pytest
from seqeval import metrics as seqeval_metrics
from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

import ner_metrics

TYPES = ("PER", "LOC", "MISC")
IOB_TAGS = ["O"] + ["%s-%s" % (p, t) for p in "BI" for t in TYPES]
IOBES_TAGS = ["O"] + ["%s-%s" % (p, t) for p in "BIES" for t in TYPES]


def _seqeval_type(type_):
  # seqeval names the empty type '_'; ours is ''.
  return "" if type_ == "_" else type_


def _random_seqs(rng, tag_set, n, max_len=12, p_outside=0.4):
  """n random sentences; ill-formed ones (I after O, type switches) abound."""
  seqs = []
  for _ in range(n):
    length = rng.randint(0, max_len)
    seqs.append(["O" if rng.random() < p_outside else rng.choice(tag_set)
                 for _ in range(length)])
  return seqs


def _noisy_copy(rng, seqs, tag_set, p_change=0.2):
  """Predictions: gold with some tags replaced, so many entities match."""
  return [[rng.choice(tag_set) if rng.random() < p_change else t for t in s]
          for s in seqs]


def _seqeval_report(y_true, y_pred):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    report = seqeval_metrics.classification_report(
        y_true, y_pred, output_dict=True)
    overall = (seqeval_metrics.precision_score(y_true, y_pred),
               seqeval_metrics.recall_score(y_true, y_pred),
               seqeval_metrics.f1_score(y_true, y_pred))
  return report, overall


def _assert_matches_seqeval(y_true, y_pred, scheme):
  ours = ner_metrics.entity_scores(y_true, y_pred, scheme)
  report, (p, r, f1) = _seqeval_report(y_true, y_pred)
  micro = ours["micro"]
  assert micro["precision"] == pytest.approx(p, abs=1e-12)
  assert micro["recall"] == pytest.approx(r, abs=1e-12)
  assert micro["f1"] == pytest.approx(f1, abs=1e-12)
  averages = {"micro avg": "micro", "macro avg": "macro",
              "weighted avg": "weighted"}
  want_types = sorted(_seqeval_type(k) for k in report if k not in averages)
  assert sorted(ours["per_type"]) == want_types
  for key, row in report.items():
    mine = (ours[averages[key]] if key in averages
            else ours["per_type"][_seqeval_type(key)])
    if key == "macro avg" and not ours["per_type"]:
      continue  # seqeval gives NaN for a mean over no types; we give 0.
    assert mine["precision"] == pytest.approx(row["precision"], abs=1e-12)
    assert mine["recall"] == pytest.approx(row["recall"], abs=1e-12)
    assert mine["f1"] == pytest.approx(row["f1-score"], abs=1e-12)
    assert mine["support"] == row["support"]


@pytest.mark.parametrize("seed", range(20))
def test_iob_random_matches_seqeval(seed):
  rng = random.Random(seed)
  y_true = _random_seqs(rng, IOB_TAGS, 30)
  y_pred = _noisy_copy(rng, y_true, IOB_TAGS)
  _assert_matches_seqeval(y_true, y_pred, "IOB2")


@pytest.mark.parametrize("seed", range(20))
def test_iobes_random_matches_seqeval(seed):
  rng = random.Random(1000 + seed)
  y_true = _random_seqs(rng, IOBES_TAGS, 30)
  y_pred = _noisy_copy(rng, y_true, IOBES_TAGS)
  _assert_matches_seqeval(y_true, y_pred, "IOBES")


@pytest.mark.parametrize("seed", range(5))
def test_untyped_tags_match_seqeval(seed):
  rng = random.Random(2000 + seed)
  tags = ["O", "B", "I", "B-PER", "I-PER"]
  y_true = _random_seqs(rng, tags, 30)
  y_pred = _noisy_copy(rng, y_true, tags)
  _assert_matches_seqeval(y_true, y_pred, "IOB2")


def test_get_entities_matches_seqeval_on_many_sequences():
  rng = random.Random(5)
  for tag_set in (IOB_TAGS, IOBES_TAGS, ["O", "B", "I", "E", "S", "B-X"]):
    for seq in _random_seqs(rng, tag_set, 400, max_len=10, p_outside=0.3):
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = [(_seqeval_type(t), s, e) for t, s, e in seqeval_entities(seq)]
      assert ner_metrics.get_entities(seq, "IOBES") == want, seq


@pytest.mark.parametrize("y_true,y_pred", [
    # All O on both sides.
    ([["O", "O"], ["O"]], [["O", "O"], ["O"]]),
    # Nothing predicted.
    ([["B-PER", "I-PER", "O"]], [["O", "O", "O"]]),
    # Nothing true, something predicted.
    ([["O", "O"]], [["B-LOC", "O"]]),
    # Single-token entities and adjacent same-type B-B.
    ([["B-PER", "B-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    # Sequences ending mid-entity and I- starting a sentence.
    ([["O", "B-PER", "I-PER"], ["I-LOC", "I-LOC"]],
     [["O", "B-PER", "I-PER"], ["B-LOC", "I-LOC"]]),
    # Type switch inside an entity.
    ([["B-PER", "I-LOC", "I-LOC"]], [["B-PER", "I-PER", "I-LOC"]]),
    # Empty sentences.
    ([[], ["B-MISC"]], [[], ["B-MISC"]]),
])
def test_edge_cases_match_seqeval(y_true, y_pred):
  _assert_matches_seqeval(y_true, y_pred, "IOB2")


def test_get_entities_examples():
  tags = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC", "E-LOC", "S-MISC",
          "I-PER"]
  assert ner_metrics.get_entities(tags, "IOBES") == [
      ("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4), ("LOC", 5, 6),
      ("MISC", 7, 7), ("PER", 8, 8)]
  assert ner_metrics.get_entities(["B", "I", "O", "B"], "BIO") == [
      ("", 0, 1), ("", 3, 3)]
  assert ner_metrics.get_entities([], "IOB1") == []


def test_entity_scores_counts():
  scores = ner_metrics.entity_scores(
      [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "B-LOC", "O"]])
  assert scores["micro"]["n_true"] == 2
  assert scores["micro"]["n_pred"] == 2
  assert scores["micro"]["n_correct"] == 1
  assert scores["per_type"]["LOC"]["n_correct"] == 0
  assert scores["per_type"]["PER"]["f1"] == 1.0


def test_entity_scores_rejects_mismatched_input():
  with pytest.raises(ValueError, match="sentence 0"):
    ner_metrics.entity_scores([["O", "O"]], [["O"]])
  with pytest.raises(ValueError, match="sentences"):
    ner_metrics.entity_scores([["O"]], [])
  with pytest.raises(ValueError, match="scheme"):
    ner_metrics.entity_scores([["O"]], [["O"]], scheme="IOE2")


def test_format_report_is_aligned_table():
  scores = ner_metrics.entity_scores(
      [["B-PER", "O", "B-LOCATION"], ["B"]], [["B-PER", "O", "O"], ["B"]])
  text = ner_metrics.format_report(scores, digits=3)
  lines = [l for l in text.splitlines() if l]
  assert lines[0].split() == ["type", "precision", "recall", "f1-score",
                              "support"]
  assert [l.split()[0] for l in lines[1:4]] == ["<no", "LOCATION", "PER"]
  assert lines[4].split() == ["micro", "avg", "1.000", "0.667", "0.800", "3"]
  assert lines[5].startswith(" " * 3 + "macro avg")
  assert len(set(len(l) for l in lines)) == 1


@pytest.mark.parametrize("tags,scheme,want", [
    (["B-PER", "I-PER", "O", "B-LOC"], "IOB2", None),
    (["O", "I-PER"], "IOB2", 1),
    (["B-PER", "I-LOC"], "BIO", 1),
    (["I-PER"], "IOB2", 0),
    (["B-PER", "X-PER"], "IOB2", 1),
    (["B-PER", "E-PER"], "IOB2", 1),
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1", None),
    (["I-PER", "B-LOC"], "IOB1", 1),
    (["O", "B-PER"], "IOB1", 1),
    (["B-PER", "I-PER", "E-PER", "S-LOC", "O"], "IOBES", None),
    (["S-PER", "E-PER"], "IOBES", 1),
    (["O", "I-PER", "E-PER"], "IOBES", 1),
    (["B-PER", "O"], "IOBES", 0),
    (["B-PER", "I-PER"], "IOBES", 1),
    (["B-PER", "E-LOC"], "BIOES", 0),
    (["B", "E", "S"], "IOBES", None),
])
def test_validate_tags(tags, scheme, want):
  got = ner_metrics.validate_tags(tags, scheme)
  if want is None:
    assert got is None
  else:
    assert got[0] == want and isinstance(got[1], str) and got[1]


def test_convert_scheme_examples():
  iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-MISC"]
  iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "B-LOC", "B-MISC"]
  iobes = ["B-PER", "E-PER", "S-PER", "O", "B-LOC", "E-LOC", "S-LOC", "S-MISC"]
  assert ner_metrics.convert_scheme(iob1, "IOB1", "IOB2") == iob2
  assert ner_metrics.convert_scheme(iob2, "IOB2", "IOBES") == iobes
  assert ner_metrics.convert_scheme(iobes, "IOBES", "BIO") == iob2
  assert ner_metrics.convert_scheme(iob2, "BIO", "IOB1") == iob1
  assert ner_metrics.convert_scheme(["B", "I", "B"], "IOB2", "IOBES") == [
      "B", "E", "S"]
  with pytest.raises(ValueError, match="E-PER"):
    ner_metrics.convert_scheme(["E-PER"], "IOB2", "IOBES")


def test_convert_scheme_keeps_entities_and_output_is_valid():
  rng = random.Random(11)
  schemes = ("IOB1", "IOB2", "IOBES")
  for seq in _random_seqs(rng, IOB_TAGS, 300):
    entities = ner_metrics.get_entities(seq, "IOB2")
    for to_scheme in schemes:
      out = ner_metrics.convert_scheme(seq, "IOB2", to_scheme)
      assert ner_metrics.get_entities(out, to_scheme) == entities
      assert ner_metrics.validate_tags(out, to_scheme) is None, out
      # Converting back from a well-formed sequence loses nothing.
      back = ner_metrics.convert_scheme(out, to_scheme, "IOB2")
      assert back == ner_metrics.convert_scheme(seq, "IOB2", "IOB2")
