# coding=utf-8
"""Tests for ner_data.py: readers, label handling, alignment and windowing."""

import json
import os
import pickle
import random

import pytest

import ner_data
from ner_data import NerDataError


class FakeTokenizer(object):
  """Lower-cases and cuts each word into 3-character pieces.

  'London' -> ['lon', '##don']. Control characters are dropped, so a word made
  of them has no pieces. Ids are handed out on first sight.
  """

  def __init__(self):
    self.vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}

  def tokenize(self, text):
    pieces = []
    for word in text.split():
      word = "".join(c for c in word.lower() if c.isprintable())
      for i in range(0, len(word), 3):
        pieces.append(("##" if i else "") + word[i:i + 3])
    return pieces

  def convert_tokens_to_ids(self, tokens):
    return [self.vocab.setdefault(t, len(self.vocab)) for t in tokens]


def _write(tmp_path, name, content, mode="w"):
  path = tmp_path / name
  if isinstance(content, bytes):
    path.write_bytes(content)
  else:
    with open(path, "w", encoding="utf-8", newline="") as f:
      f.write(content)
  return str(path)


def _example(words, labels=None, guid="x"):
  return ner_data.InputExample(guid=guid, words=words, labels=labels,
                               source=("mem.txt", 1),
                               lines=list(range(1, len(words) + 1)))


LABELS = ner_data.LabelMap(["O", "B-LOC", "B-PER", "I-LOC", "I-PER"])

# ---------------------------------------------------------------------------
# Readers.
# ---------------------------------------------------------------------------

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC


Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP B-LOC



"""


def test_read_conll_round_trip(tmp_path):
  path = _write(tmp_path, "train.txt", CONLL)
  examples = ner_data.read_conll(path)
  assert [e.words for e in examples] == [
      ["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS"]]
  assert [e.labels for e in examples] == [
      ["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"], ["B-LOC"]]
  assert [e.source for e in examples] == [(path, 3), (path, 8), (path, 11)]
  assert examples[0].lines == [3, 4, 5]
  assert [e.guid for e in examples] == ["train.txt:3", "train.txt:8",
                                        "train.txt:11"]
  assert examples[1].location(1) == (path, 9)


def test_read_conll_crlf_cr_and_bom(tmp_path):
  text = "\ufeffa O\r\nb B-PER\r\n\r\n\r\nc O\rd O\r"
  path = _write(tmp_path, "crlf.txt", text)
  examples = ner_data.read_conll(path)
  assert [e.words for e in examples] == [["a", "b"], ["c", "d"]]
  assert [e.lines for e in examples] == [[1, 2], [5, 6]]


def test_read_conll_tag_and_word_columns(tmp_path):
  path = _write(tmp_path, "cols.txt", "1 B-PER John NNP\n2 O runs VBZ\n")
  examples = ner_data.read_conll(path, tag_column=1, word_column=2)
  assert examples[0].words == ["John", "runs"]
  assert examples[0].labels == ["B-PER", "O"]


def test_read_conll_chinese_char_per_line(tmp_path):
  path = _write(tmp_path, "zh.txt",
                "中\tB-ORG\n国\tI-ORG\n\u3000\tO\n人\tO\n\n北\tB-LOC\n京\tI-LOC\n")
  examples = ner_data.read_conll(path)
  # A whitespace character is a word of its own in tab-separated files.
  assert examples[0].words == ["中", "国", "\u3000", "人"]
  assert examples[0].labels == ["B-ORG", "I-ORG", "O", "O"]
  assert examples[1].words == ["北", "京"]
  ner_data.check_scheme(examples, "BIO")


def test_read_conll_without_labels(tmp_path):
  path = _write(tmp_path, "words.txt", "Peter\nruns\n\nfast\n")
  examples = ner_data.read_conll(path)
  assert [e.words for e in examples] == [["Peter", "runs"], ["fast"]]
  assert all(e.labels is None for e in examples)
  labelled = _write(tmp_path, "tagged.txt", "Peter B-PER\n")
  assert ner_data.read_conll(labelled, has_labels=False)[0].labels is None
  with pytest.raises(NerDataError, match=r"words\.txt:1: .*gold tags"):
    ner_data.read_conll(path, has_labels=True)


@pytest.mark.parametrize("name,content,line,what", [
    ("cols.txt", "a B NP O\nb B NP O\nc NP O\n", 3, "column"),
    ("cols2.txt", "a O\n\nb c O\n", 3, "column"),
    ("tagless.txt", "a\tO\nb\t\n", 2, "empty tag"),
    ("tagless2.txt", "a O\nb O\nc\n", 3, "empty tag"),
    ("empty.txt", "", 1, "no sentences"),
    ("blank.txt", "\n\n-DOCSTART- -X- O\n\n", 4, "no sentences"),
    ("badcol.txt", "a O\n", 1, "tag column 5"),
])
def test_read_conll_errors_name_file_and_line(tmp_path, name, content, line,
                                              what):
  path = _write(tmp_path, name, content)
  kwargs = {"tag_column": 5} if name == "badcol.txt" else {}
  with pytest.raises(NerDataError, match=r"%s:%d: .*%s" %
                     (name.replace(".", r"\."), line, what)) as info:
    ner_data.read_conll(path, **kwargs)
  assert info.value.line == line and info.value.path == path


def test_read_conll_non_utf8_names_line_and_offset(tmp_path):
  path = _write(tmp_path, "latin1.txt", b"a O\nb O\nCaf\xe9 O\n")
  with pytest.raises(NerDataError,
                     match=r"latin1\.txt:3: invalid UTF-8 byte 0xe9 at byte "
                     r"offset 11 .*byte 4 of the line"):
    ner_data.read_conll(path)


def test_missing_file_and_directory(tmp_path):
  with pytest.raises(NerDataError, match=r"nope\.txt: file not found"):
    ner_data.read_conll(str(tmp_path / "nope.txt"))
  with pytest.raises(NerDataError, match="directory"):
    ner_data.read_raw_text(str(tmp_path))


def test_error_pickles():
  error = pickle.loads(pickle.dumps(NerDataError("a.txt", 3, "bad")))
  assert str(error) == "a.txt:3: bad" and error.line == 3


def test_read_raw_text_offsets_and_line_numbers(tmp_path):
  path = _write(tmp_path, "raw.txt",
                "Peter Blackburn visited New-York.\n\n  \n我爱北京 ok\r\n")
  examples = ner_data.read_raw_text(path)
  assert [e.guid for e in examples] == ["raw.txt:1", "raw.txt:4"]
  first, second = examples
  assert first.words == ["Peter", "Blackburn", "visited", "New", "-", "York",
                         "."]
  for word, (start, end) in zip(first.words, first.offsets):
    assert first.text[start:end] == word
  assert second.words == ["我", "爱", "北", "京", "ok"]
  assert second.text == "我爱北京 ok" and second.labels is None
  assert second.location(3) == (path, 4)
  with pytest.raises(NerDataError, match=r"blank\.txt:2: no text"):
    ner_data.read_raw_text(_write(tmp_path, "blank.txt", "\n \n"))


# ---------------------------------------------------------------------------
# Labels and schemes.
# ---------------------------------------------------------------------------


def test_collect_labels_sorted_with_o_first(tmp_path):
  examples = ner_data.read_conll(_write(tmp_path, "t.txt", CONLL))
  assert ner_data.collect_labels(examples) == [
      "O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]
  with pytest.raises(ValueError):
    ner_data.collect_labels([_example(["a"])])


def test_read_labels_file(tmp_path):
  path = _write(tmp_path, "labels.txt", "B-PER\nI-PER\nO\n\n\n")
  assert ner_data.read_labels_file(path) == ["O", "B-PER", "I-PER"]
  assert ner_data.read_labels_file(
      _write(tmp_path, "noo.txt", "B-X\r\n")) == ["O", "B-X"]
  with pytest.raises(NerDataError, match=r"dup\.txt:3: duplicate label "
                     r"'B-PER' \(first on line 1\)"):
    ner_data.read_labels_file(_write(tmp_path, "dup.txt", "B-PER\nO\nB-PER\n"))
  with pytest.raises(NerDataError, match=r"gap\.txt:2: empty line"):
    ner_data.read_labels_file(_write(tmp_path, "gap.txt", "O\n\nB-PER\n"))
  with pytest.raises(NerDataError, match=r"none\.txt:1: no labels"):
    ner_data.read_labels_file(_write(tmp_path, "none.txt", "\n"))


def test_label_map_save_load(tmp_path):
  path = str(tmp_path / "label_map.json")
  label_map = ner_data.LabelMap(["O", "B-PER", "I-PER"], scheme="IOB2")
  label_map.save(path)
  label_map.save(path)  # Overwriting is fine too.
  assert os.listdir(str(tmp_path)) == ["label_map.json"]  # No temp files.
  loaded = ner_data.LabelMap.load(path)
  assert loaded.labels == ["O", "B-PER", "I-PER"] and loaded.scheme == "IOB2"
  assert loaded["I-PER"] == 2 and loaded.id_to_label(1) == "B-PER"
  assert "B-LOC" not in loaded and len(loaded) == 3
  with pytest.raises(ValueError):
    ner_data.LabelMap(["B-PER", "O"])
  bad = _write(tmp_path, "bad.json", '{\n  "labels": [\n    "O",\n  ]\n}\n')
  with pytest.raises(NerDataError, match=r"bad\.json:4: not valid JSON"):
    ner_data.LabelMap.load(bad)
  wrong = _write(tmp_path, "wrong.json", json.dumps(
      {"labels": ["O", "B"], "label_to_id": {"O": 0, "B": 2}}))
  with pytest.raises(NerDataError, match=r"wrong\.json:1: .*label_to_id"):
    ner_data.LabelMap.load(wrong)


def test_check_labels_names_line(tmp_path):
  path = _write(tmp_path, "dev.txt", "a O\n\nb B-PER\nc B-FOO\n")
  examples = ner_data.read_conll(path)
  ner_data.check_labels(examples[:1], LABELS)
  with pytest.raises(NerDataError, match=r"dev\.txt:4: tag 'B-FOO' is not in "
                     r"the label list of label_map\.json"):
    ner_data.check_labels(examples, LABELS, "label_map.json")
  with pytest.raises(NerDataError, match=r"dev\.txt:4: tag 'B-FOO'"):
    ner_data.convert_examples(examples, FakeTokenizer(), LABELS, 16)


@pytest.mark.parametrize("content,scheme,line", [
    ("a O\nb B-PER\n\nc O\nd I-PER\n", "IOB2", 5),
    ("a O\nb B-PER\n\nc O\nd I-PER\n", "BIO", 5),
    ("a I-PER\nb B-PER\nc O\nd B-LOC\n", "IOB1", 4),
    ("a B-PER\nb E-PER\nc B-LOC\nd O\n", "IOBES", 3),
    ("a S-PER\nb I-PER\n", "BIOES", 2),
    ("a B-PER\nb E-PER\nc O\n", "IOB2", 2),
])
def test_check_scheme_names_line(tmp_path, content, scheme, line):
  path = _write(tmp_path, "s.txt", content)
  with pytest.raises(NerDataError, match=r"s\.txt:%d: the tags break the %s "
                     r"scheme" % (line, scheme)):
    ner_data.check_scheme(ner_data.read_conll(path), scheme)


def test_scheme_violations_listed_for_warnings(tmp_path):
  # MSRA's files cut long name lists into sentences that start with I-PER.
  path = _write(tmp_path, "msra.txt",
                "a\tB-PER\nb\tI-PER\n\nc\tI-PER\n\nd\tO\n\ne\tI-LOC\n")
  examples = ner_data.read_conll(path)
  errors = ner_data.find_scheme_violations(examples, "IOB2")
  assert [(e.path, e.line) for e in errors] == [(path, 4), (path, 8)]
  with pytest.raises(NerDataError, match=r"msra\.txt:4: .*\(1 more sentences"):
    ner_data.check_scheme(examples, "IOB2")
  assert ner_data.find_scheme_violations(examples[1:2], "IOB1") == []


def test_convert_accepts_plain_dict_label_map():
  example = _example(["aa", "bb"], ["O", "B-PER"])
  (feature,) = ner_data.convert_example(example, 0, FakeTokenizer(),
                                        {"O": 0, "B-PER": 1}, 6)
  assert feature.label_ids == [0, 0, 1, 0, 0, 0]
  with pytest.raises(NerDataError, match=r"mem\.txt:2: tag 'B-PER'"):
    ner_data.convert_example(example, 0, FakeTokenizer(), {"O": 0}, 6)


def test_detect_scheme():
  assert ner_data.detect_scheme([_example(["a", "b"], ["B-X", "I-X"])]) == (
      "IOB2")
  assert ner_data.detect_scheme([_example(["a", "b"], ["O", "I-X"])]) == "IOB1"
  assert ner_data.detect_scheme([_example(["a"], ["S-X"])]) == "IOBES"


# ---------------------------------------------------------------------------
# Alignment and windowing.
# ---------------------------------------------------------------------------


def test_first_piece_alignment_and_padding():
  tokenizer = FakeTokenizer()
  example = _example(["Peter", "Blackburn", "\x00", "in", "London"],
                     ["B-PER", "I-PER", "O", "O", "B-LOC"])
  (feature,), stats = ner_data.convert_examples([example], tokenizer, LABELS,
                                                16)
  pieces = ["[CLS]", "pet", "##er", "bla", "##ckb", "##urn", "[UNK]", "in",
            "lon", "##don", "[SEP]"]
  assert feature.input_ids == (tokenizer.convert_tokens_to_ids(pieces) +
                               [0] * 5)
  assert feature.input_mask == [1] * 11 + [0] * 5
  assert feature.segment_ids == [0] * 16
  assert feature.label_mask == [0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0] + [0] * 5
  assert feature.label_ids == [0, 2, 0, 4, 0, 0, 0, 0, 1, 0, 0] + [0] * 5
  assert feature.word_index == [-1, 0, -1, 1, -1, -1, 2, 3, 4, -1, -1] + (
      [-1] * 5)
  assert feature.is_real_example == 1 and feature.example_index == 0
  assert stats == dict(examples=1, features=1, windowed_sentences=0,
                       truncated_sentences=0, truncated_words=0,
                       clipped_words=0)


def test_windows_follow_max_context_rule():
  # Ten one-piece words, 4 per window, stride 2: windows start at words
  # 0, 2, 4, 6. Each word goes to the window where its shorter side of
  # context is longest.
  example = _example(["w%d" % i for i in range(10)], ["O"] * 10)
  features = ner_data.convert_example(example, 0, FakeTokenizer(), LABELS, 6,
                                      doc_stride=2)
  assert len(features) == 4
  owned = [[w for w in f.word_index if w >= 0] for f in features]
  assert owned == [[0, 1, 2], [3, 4], [5, 6], [7, 8, 9]]


def _random_sentence(rng, length):
  words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 10)))
           for _ in range(length)]
  tags = [rng.choice(LABELS.labels) for _ in range(length)]
  return words, tags


@pytest.mark.parametrize("max_seq_length", [3, 4, 5, 8, 13, 32, 128])
@pytest.mark.parametrize("doc_stride", [None, 1, 3, 50])
def test_windowing_predicts_every_word_once(max_seq_length, doc_stride):
  rng = random.Random(max_seq_length * 100 + (doc_stride or 0))
  examples = [_example(*_random_sentence(rng, rng.randint(1, 60)),
                       guid="s%d" % i) for i in range(20)]
  tokenizer = FakeTokenizer()
  features, stats = ner_data.convert_examples(
      examples, tokenizer, LABELS, max_seq_length, doc_stride=doc_stride)
  continuation = {i for t, i in tokenizer.vocab.items() if t.startswith("##")}
  for f in features:
    for name in ner_data.FEATURE_NAMES[:-1] + ("word_index",):
      assert len(getattr(f, name)) == max_seq_length
    # Windows start at a word boundary and never hold padding in the loss.
    assert f.input_ids[1] not in continuation
    assert all(m <= i for m, i in zip(f.label_mask, f.input_mask))
    assert f.label_mask == [int(w >= 0) for w in f.word_index]
    assert f.label_mask[0] == 0
    assert f.label_mask[sum(f.input_mask) - 1] == 0  # [SEP]
  counts = {}
  for f in features:
    for w in f.word_index:
      if w >= 0:
        key = (f.example_index, w)
        counts[key] = counts.get(key, 0) + 1
  assert counts == {(i, w): 1 for i, e in enumerate(examples)
                    for w in range(len(e.words))}
  # Fed the gold ids back as "predictions", merging recovers the gold tags.
  merged = ner_data.merge_predictions(
      examples, features, [f.label_ids for f in features], LABELS)
  assert merged == [e.labels for e in examples]
  assert stats["features"] == len(features)
  assert stats["windowed_sentences"] == len(examples) - sum(
      1 for i in range(len(examples))
      if sum(f.example_index == i for f in features) == 1)


def test_word_longer_than_window_is_clipped():
  example = _example(["ab", "abcdefghijklmnopqrstu", "cd"], ["O", "B-PER",
                                                             "O"])
  features, stats = ner_data.convert_examples([example], FakeTokenizer(),
                                              LABELS, 5)
  assert stats["clipped_words"] == 1 and stats["truncated_words"] == 0
  merged = ner_data.merge_predictions([example], features,
                                      [f.label_ids for f in features], LABELS)
  assert merged == [example.labels]


def test_truncate_counts_cut_words_and_tags_them_o():
  examples = [_example(["aaaaaa", "bb", "cc", "dd", "ee"],
                       ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
              _example(["xx"], ["B-LOC"])]
  tokenizer = FakeTokenizer()
  features, stats = ner_data.convert_examples(examples, tokenizer, LABELS, 6,
                                              truncate=True)
  assert len(features) == 2
  assert stats["truncated_sentences"] == 1 and stats["truncated_words"] == 2
  assert features[0].words_cut == 2
  merged = ner_data.merge_predictions(examples, features,
                                      [f.label_ids for f in features], LABELS)
  assert merged == [["B-PER", "I-PER", "O", "O", "O"], ["B-LOC"]]


def test_merge_predictions_checks_coverage():
  example = _example(["aa", "bb"], ["O", "B-PER"])
  features = ner_data.convert_example(example, 0, FakeTokenizer(), LABELS, 8)
  padding = ner_data.padding_features(8)
  merged = ner_data.merge_predictions([example], features + [padding],
                                      [[0, 0, 2, 0, 0, 0, 0, 0]] * 2, LABELS)
  assert merged == [["O", "B-PER"]]
  with pytest.raises(ValueError, match="predicted twice"):
    ner_data.merge_predictions([example], features * 2, [[0] * 8] * 2, LABELS)
  features[0].word_index[2] = -1
  with pytest.raises(ValueError, match="word 1 of x got no prediction"):
    ner_data.merge_predictions([example], features, [[0] * 8], LABELS)


def test_real_full_tokenizer(tmp_path):
  import tokenization  # pylint: disable=g-import-not-at-top
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "peter", "black", "##burn",
           "visited", "new", "-", "york", ".", "北", "京"]
  vocab_file = _write(tmp_path, "vocab.txt", "\n".join(vocab) + "\n")
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  raw = ner_data.read_raw_text(_write(
      tmp_path, "raw.txt", "Peter Blackburn visited New-York.\n北京 Zürich\n"))
  features, _ = ner_data.convert_examples(raw, tokenizer, LABELS, 16)
  ids = features[0].input_ids
  assert tokenizer.convert_ids_to_tokens(ids[:sum(features[0].input_mask)]) == [
      "[CLS]", "peter", "black", "##burn", "visited", "new", "-", "york", ".",
      "[SEP]"]
  assert features[0].label_mask[:10] == [0, 1, 1, 0, 1, 1, 1, 1, 1, 0]
  assert tokenizer.convert_ids_to_tokens(features[1].input_ids[:5]) == [
      "[CLS]", "北", "京", "[UNK]", "[SEP]"]


# ---------------------------------------------------------------------------
# Entities.
# ---------------------------------------------------------------------------


def test_entities_with_character_offsets(tmp_path):
  path = _write(tmp_path, "raw.txt", "  Peter Blackburn visited New York.\n")
  (example,) = ner_data.read_raw_text(path)
  tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
  assert ner_data.entities_with_offsets(example, tags, "IOB2") == [
      {"type": "PER", "text": "Peter Blackburn", "start": 2, "end": 17},
      {"type": "LOC", "text": "New York", "start": 26, "end": 34}]


def test_entities_with_word_spans(tmp_path):
  example = _example(["Peter", "Blackburn", "in", "London"],
                     ["B-PER", "E-PER", "O", "S-LOC"])
  assert ner_data.entities_with_offsets(example, example.labels, "IOBES") == [
      {"type": "PER", "text": "Peter Blackburn", "start": 0, "end": 2},
      {"type": "LOC", "text": "London", "start": 3, "end": 4}]
  zh = _example(["在", "北", "京"], ["O", "B-LOC", "I-LOC"])
  assert ner_data.entities_with_offsets(zh, zh.labels, "BIO") == [
      {"type": "LOC", "text": "北京", "start": 1, "end": 3}]


# ---------------------------------------------------------------------------
# Sample data.
# ---------------------------------------------------------------------------


def test_sample_data_is_readable_and_valid(tmp_path):
  paths = ner_data.write_sample_ner_data(str(tmp_path / "sample"))
  assert sorted(paths) == ["dev", "test", "train"]
  assert sorted(os.listdir(str(tmp_path / "sample"))) == [
      "dev.txt", "test.txt", "train.txt"]
  splits = {name: ner_data.read_conll(p) for name, p in paths.items()}
  assert len(splits["train"]) == 400
  assert len(splits["dev"]) == len(splits["test"]) == 60
  for examples in splits.values():
    ner_data.check_scheme(examples, "IOB2")
  assert ner_data.collect_labels(splits["train"]) == [
      "O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG",
      "I-PER"]
  ner_data.check_labels(splits["test"], ner_data.collect_labels(
      splits["train"]))
  again = ner_data.write_sample_ner_data(str(tmp_path / "again"))
  for name in paths:
    with open(paths[name], "rb") as a, open(again[name], "rb") as b:
      assert a.read() == b.read()  # Deterministic.
