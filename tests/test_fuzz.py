# coding=utf-8
"""Property-based fuzzing of the tokenizer, the readers and the featurizers.

Hypothesis feeds arbitrary Unicode text, arbitrary bytes and structured but
randomly broken files (CoNLL, TSV/CSV/JSONL, SQuAD JSON, pretraining text)
to every reader and featurizer. The properties:
  * nothing escapes but the project's own error types (the ValueError
    subclasses that the scripts report as one line: NerDataError,
    ClassifierDataError, SquadDataError, PretrainingDataError);
  * what comes out is well formed: every feature list is max_seq_length
    long, ids lie inside the vocabulary, masks are 0/1 prefixes, label ids
    are valid, offsets and answer positions lie inside their text.

The runs are reproducible (`derandomize=True`, no example database) and
bounded: a fixed number of small examples per property. FUZZ_EXAMPLES in
the environment raises the count for a longer hunt, e.g.
`FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py`.
"""

import collections
import json
import os
import re
import string

from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

import classifier_data
import create_pretraining_data
import ner_data
import squad_data
import squad_eval
import tokenization

# One settings object for every property here (not a global profile, so
# other test files keep Hypothesis' defaults).
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])

# ----------------------------------------------------------------------------
# A small vocabulary: ASCII letters and digits as pieces (so most ASCII words
# split), some whole words, punctuation and a few CJK characters.

_WORDS = ["the", "of", "and", "new", "york", "london", "john", "smith", "un",
          "##aff", "##able", "hello", "he", "##llo", "##ing", "naive",
          "The", "New", "York", "London", "John", "Smith", "é", "ß"]
_CJK = ["中", "国", "人", "北", "京", "大", "学", "东"]
VOCAB_TOKENS = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _WORDS +
                list(string.punctuation) + _CJK +
                list(string.ascii_letters + string.digits) +
                ["##" + c for c in string.ascii_letters + string.digits])
assert len(set(VOCAB_TOKENS)) == len(VOCAB_TOKENS)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def vocab_file(fuzz_dir):
  path = fuzz_dir / "vocab.txt"
  path.write_text("\n".join(VOCAB_TOKENS) + "\n", encoding="utf-8")
  return str(path)


@pytest.fixture(scope="module")
def tokenizers(vocab_file):
  """{do_lower_case: FullTokenizer} over the small vocabulary."""
  return {case: tokenization.FullTokenizer(vocab_file, do_lower_case=case)
          for case in (True, False)}


# ----------------------------------------------------------------------------
# Strategies

# Characters and fragments that mean something to one reader or another,
# mixed into arbitrary text so that the structure is often almost right.
_FRAGMENTS = [
    "\t", "\n", "\r", "\r\n", " ", "  ", "\u3000", "\u00a0", "\u2028",
    "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x00", "\ufeff", "\u200b",
    "\ufffd", "\u202f", "O", "B-PER", "I-PER", "B-LOC", "E-LOC", "S-ORG",
    "-DOCSTART-", "-X-", ",", ";", '"', "'", "{", "}", "[", "]", ":", "|||",
    "label", "text", "sentence", "中国", "北京大学", "é", "e\u0301", "ß", "İ",
    "ΣΑΣ", "ﬁ", "##", "[CLS]", "[UNK]", "[SEP]", "0", "1", "-1", "2", "²",
    "١", "--5", "1e999", "NaN", "true", "null", "hello", "unaffable",
    "New York", "\U0001f600", "\U00020000", "\U000e0001"]
# Lone surrogates: never in decoded UTF-8 files, but str holds them.
_SURROGATES = ["\ud83d\ude00", "\udfff", "a\ud800"]


def texts(max_fragments=24, fragment_size=6, surrogates=False):
  """Arbitrary Unicode text, biased towards the fragments above."""
  alphabet = st.characters(
      blacklist_categories=() if surrogates else ("Cs",))
  piece = st.one_of(st.sampled_from(_FRAGMENTS + (
      _SURROGATES if surrogates else [])), st.text(alphabet,
                                                   max_size=fragment_size))
  return st.lists(piece, max_size=max_fragments).map("".join)


def _utf8(text):
  return text.encode("utf-8", "surrogatepass")


def file_bytes(text_strategy):
  """Bytes of a file: mostly UTF-8 text, sometimes with arbitrary bytes."""
  chunk = st.one_of(text_strategy.map(_utf8), st.binary(max_size=12))
  return st.one_of(
      text_strategy.map(_utf8),
      st.binary(max_size=120),
      st.lists(chunk, max_size=4).map(b"".join),
      text_strategy.map(lambda t: b"\xef\xbb\xbf" + _utf8(t)))


_JSON_KEYS = ["data", "paragraphs", "context", "qas", "id", "question",
              "answers", "text", "answer_start", "is_impossible", "label",
              "sentence", "sentence1", "sentence2", "labels", "scheme",
              "label_to_id", "premise", "hypo", "x"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) |
    st.floats(allow_nan=True) | texts(6),
    lambda children: (st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(_JSON_KEYS) | texts(3), children, max_size=4)),
    max_leaves=12)


def _write(directory, name, data):
  path = str(directory / name)
  with open(path, "wb") as f:
    f.write(data)
  return path


def _only(errors, fn, *args, **kwargs):
  """fn(...), or None when it raises one of `errors` (anything else fails).

  The share of inputs read vs refused shows with
  `pytest --hypothesis-show-statistics`.
  """
  name = getattr(fn, "__qualname__", "reader")
  try:
    result = fn(*args, **kwargs)
  except errors:
    event("%s: refused" % name)
    return None
  event("%s: read" % name)
  return result


# ----------------------------------------------------------------------------
# Tokenizer


def _check_tokens(tokens, vocab):
  for token in tokens:
    assert token and isinstance(token, str)
    assert token.split() == [token], repr(token)  # No whitespace inside.
    assert token in vocab


@FUZZ
@given(text=texts(surrogates=True), lower=st.booleans())
def test_full_tokenizer_any_text(tokenizers, text, lower):
  tokenizer = tokenizers[lower]
  tokens = tokenizer.tokenize(text)
  _check_tokens(tokens, tokenizer.vocab)
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert all(0 <= i < len(tokenizer.vocab) for i in ids)
  assert tokenizer.convert_ids_to_tokens(ids) == tokens
  # Bytes are decoded as UTF-8 (bad bytes dropped), never an exception.
  assert tokenizer.tokenize(_utf8(text)) == tokenizer.tokenize(
      _utf8(text).decode("utf-8", "ignore"))


@FUZZ
@given(data=st.binary(max_size=200), lower=st.booleans())
def test_full_tokenizer_any_bytes(tokenizers, data, lower):
  _check_tokens(tokenizers[lower].tokenize(data), tokenizers[lower].vocab)


@FUZZ
@given(text=texts(surrogates=True), lower=st.booleans())
def test_basic_tokenizer_words_and_offsets(text, lower):
  basic = tokenization.BasicTokenizer(do_lower_case=lower)
  words = basic.tokenize(text)
  for word in words:
    assert word and word.split() == [word]
  offset_words, offsets = basic.tokenize_with_offsets(text)
  assert offset_words == words
  previous_end = 0
  for start, end in offsets:
    assert previous_end <= start < end <= len(text)
    previous_end = end


@FUZZ
@given(word=texts(max_fragments=8), vocab_extra=st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
            max_size=4), max_size=10))
def test_wordpiece_pieces_spell_the_word(word, vocab_extra):
  vocab = {token: i for i, token in enumerate(VOCAB_TOKENS + vocab_extra)}
  wordpiece = tokenization.WordpieceTokenizer(vocab,
                                              max_input_chars_per_word=12)
  for token in word.split():
    pieces = wordpiece.tokenize(token)
    if pieces == ["[UNK]"] and token != "[UNK]":
      continue
    assert all(p in vocab for p in pieces)
    assert pieces[0] + "".join(p[2:] for p in pieces[1:]) == token
    assert all(p.startswith("##") for p in pieces[1:])
    assert len(token) <= 12


# ----------------------------------------------------------------------------
# NER readers


def _conll_text():
  """CoNLL-like text: lines of 1-4 columns of fuzzed words, blank lines."""
  field = st.one_of(texts(3, 4), st.sampled_from(["O", "B-PER", "I-PER",
                                                  "-DOCSTART-", "x"]))
  line = st.one_of(
      st.lists(field, min_size=1, max_size=4).flatmap(
          lambda f: st.sampled_from([" ", "\t", "  "]).map(
              lambda sep, f=f: sep.join(f))),
      st.just(""), texts(4, 4))
  return st.lists(line, max_size=12).flatmap(
      lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(
          lambda end, lines=lines: end.join(lines)))


@FUZZ
@given(data=file_bytes(_conll_text()), has_labels=st.sampled_from(
    [None, True, False]), tag_column=st.sampled_from([-1, 1, 3, -5]))
def test_read_conll_any_file(fuzz_dir, data, has_labels, tag_column):
  path = _write(fuzz_dir, "ner.txt", data)
  examples = _only(ner_data.NerDataError, ner_data.read_conll, path,
                   tag_column=tag_column, has_labels=has_labels)
  for example in examples or ():
    assert example.words and all(example.words)
    assert all(isinstance(w, str) for w in example.words)
    if example.labels is not None:
      assert len(example.labels) == len(example.words)
      assert all(tag and tag.split() == [tag] for tag in example.labels)
    assert len(example.lines) == len(example.words)


@FUZZ
@given(data=file_bytes(texts()))
def test_read_raw_text_any_file(fuzz_dir, data):
  path = _write(fuzz_dir, "raw.txt", data)
  examples = _only(ner_data.NerDataError, ner_data.read_raw_text, path)
  for example in examples or ():
    assert example.words
    assert len(example.offsets) == len(example.words)
    for start, end in example.offsets:
      assert 0 <= start < end <= len(example.text)


@FUZZ
@given(data=file_bytes(texts()), as_json=st.booleans())
def test_label_files_any_file(fuzz_dir, data, as_json):
  path = _write(fuzz_dir, "labels", data)
  if as_json:
    label_map = _only(ner_data.NerDataError, ner_data.LabelMap.load, path)
    labels = label_map.labels if label_map else None
  else:
    labels = _only(ner_data.NerDataError, ner_data.read_labels_file, path)
  if labels is not None:
    assert labels[0] == "O" and len(set(labels)) == len(labels)
    assert all(isinstance(label, str) for label in labels)


@FUZZ
@given(payload=json_values)
def test_label_map_any_json(fuzz_dir, payload):
  path = _write(fuzz_dir, "label_map.json", json.dumps(payload).encode())
  label_map = _only(ner_data.NerDataError, ner_data.LabelMap.load, path)
  if label_map is not None:
    assert label_map.labels[0] == "O"


# ----------------------------------------------------------------------------
# Classifier readers

_COLUMNS = ["sentence", "label", "index", "#1 String", "#2 String", "Quality",
            "question", "question1", "question2", "is_duplicate", "id",
            "sentence1", "sentence2", "score", "gold_label", "premise", "hypo",
            "language", "pairID", "sent1", "sent2", "ending0", "ending1",
            "ending2", "ending3", "text"]


def _table_text():
  """TSV/CSV-like text whose header often names the columns a task wants."""
  field = st.one_of(texts(3, 4), st.sampled_from(_COLUMNS + [
      "0", "1", "2", "-1", "3.5", "zh", "entailment", "a,b", '"q"']))
  row = st.lists(field, max_size=5)
  return st.tuples(st.sampled_from(["\t", ","]),
                   st.lists(row, min_size=1, max_size=8),
                   st.sampled_from(["\n", "\r\n", "\r"])).map(
                       lambda t: t[2].join(t[0].join(r) for r in t[1]))


def _jsonl_text():
  record = st.dictionaries(st.sampled_from(_COLUMNS), json_values, max_size=5)
  line = st.one_of(record.map(lambda r: json.dumps(r, ensure_ascii=False)),
                   json_values.map(json.dumps), texts(4))
  return st.lists(line, max_size=6).map("\n".join)


_PROCESSORS = sorted(classifier_data.PROCESSORS)
_TABLE_LAYOUTS = [
    classifier_data.TableLayout("tsv", True, text_a="sentence",
                                label="label"),
    classifier_data.TableLayout("csv", True, text_a=0, text_b=1, label=-1),
    classifier_data.TableLayout("tsv", False, text_a=0, text_b=2, label=3),
    classifier_data.TableLayout("jsonl", text_a="text", text_b="sentence",
                                label="label", guid="id"),
    classifier_data.TableLayout("csv", True, True, text_a="sent1",
                                label="label", choices=["ending0", "ending1"],
                                choice_prefix="sent2"),
]


_CELLS = ["0", "1", "2", "3", "-1", "3.5", "nan", "entailment", "neutral",
          "contradiction", "contradictory", "not_entailment", "zh", "en",
          "a,b", " 1 ", ""]


@st.composite
def layout_files(draw, layout):
  """A file whose columns are mostly the ones `layout` asks for: the header
  (or width) right, the cells fuzzed, now and then broken further."""
  columns = [layout.text_a, layout.text_b, layout.label, layout.guid,
             layout.choice_prefix] + (layout.choices or []) + (
                 [layout.keep[0]] if layout.keep else [])
  columns = [c for c in columns if c is not None]
  names = [c for c in columns if isinstance(c, str)]
  width = max([len(names)] + [c + 1 if c >= 0 else -c for c in columns
                              if isinstance(c, int)])
  names = draw(st.permutations(names))
  names += ["extra%d" % i for i in range(width - len(names))]
  cell = st.one_of(st.sampled_from(_CELLS), texts(4, 4))
  rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width),
                       min_size=1, max_size=5))
  if layout.fmt == "jsonl":
    text = "\n".join(json.dumps(dict(zip(names, row)), ensure_ascii=False)
                     for row in rows)
  else:
    import csv  # pylint: disable=g-import-not-at-top
    import io  # pylint: disable=g-import-not-at-top
    out = io.StringIO(newline="")
    quoting = layout.fmt == "csv" if layout.quoting is None else layout.quoting
    if not quoting:  # No quotes to protect the delimiter or line ends.
      rows = [[re.sub(r"[\t,\r\n]", " ", c) for c in row] for row in rows]
    writer = csv.writer(out, delimiter="\t" if layout.fmt == "tsv" else ",",
                        quoting=csv.QUOTE_MINIMAL if quoting else
                        csv.QUOTE_NONE, escapechar=None if quoting else "\\")
    writer.writerows(([names] if layout.has_header else []) + rows)
    text = out.getvalue()
  data = _utf8(text)
  if draw(st.integers(0, 3)) == 0:  # Break it somewhere.
    at = draw(st.integers(0, len(data)))
    data = data[:at] + draw(st.binary(max_size=6)) + data[at + draw(
        st.integers(0, 6)):]
  return data


def _classifier_files(layout):
  """Mostly files shaped for `layout`; the rest any table or JSONL text."""
  shaped = layout_files(layout)
  return st.one_of(shaped, shaped, shaped, file_bytes(
      st.one_of(_table_text(), _jsonl_text())))


@FUZZ
@given(name=st.sampled_from(_PROCESSORS),
       split=st.sampled_from(["train", "dev", "test"]), data=st.data())
def test_glue_processors_any_file(fuzz_dir, name, split, data):
  processor = classifier_data.PROCESSORS[name]()
  layout = processor.layouts.get(split, processor.layout)
  content = data.draw(_classifier_files(layout))
  path = _write(fuzz_dir, "glue", content)
  examples = _only(classifier_data.ClassifierDataError, processor.read, path,
                   split)
  _check_classifier_examples(examples, processor.task_type)


@FUZZ
@given(layout=st.sampled_from(_TABLE_LAYOUTS),
       task_type=st.sampled_from(classifier_data.TASK_TYPES),
       split=st.sampled_from(["train", "test"]), data=st.data())
def test_table_processor_any_file(fuzz_dir, layout, task_type, split, data):
  if task_type == classifier_data.MULTIPLE_CHOICE and not layout.choices:
    layout = _TABLE_LAYOUTS[-1]
  content = data.draw(_classifier_files(layout))
  processor = classifier_data.TableProcessor(layout, task_type)
  path = _write(fuzz_dir, "table." + layout.fmt, content)
  examples = _only(classifier_data.ClassifierDataError, processor.read, path,
                   split)
  _check_classifier_examples(examples, task_type)
  if examples and task_type in (classifier_data.CLASSIFICATION,
                                classifier_data.MULTILABEL):
    labels = _only(ValueError, classifier_data.collect_labels, examples,
                   task_type)
    assert labels is None or len(set(labels)) == len(labels)


def _check_classifier_examples(examples, task_type):
  for example in examples or ():
    assert isinstance(example.text_a, str)
    assert example.text_b is None or isinstance(example.text_b, str)
    label = example.label
    if label is None:
      continue
    if task_type == classifier_data.REGRESSION:
      assert isinstance(label, float) and label == label
    elif task_type == classifier_data.MULTILABEL:
      assert all(isinstance(name, str) and name for name in label)
    elif task_type == classifier_data.MULTIPLE_CHOICE:
      assert 0 <= label < len(example.choices)
    else:
      assert isinstance(label, str) and label


# ----------------------------------------------------------------------------
# SQuAD reader


@st.composite
def squad_json(draw):
  """A SQuAD-shaped dict: answers mostly at their offsets; any field may be
  replaced by arbitrary JSON."""
  articles = []
  for _ in range(draw(st.integers(0, 2))):
    paragraphs = []
    for _ in range(draw(st.integers(0, 2))):
      context = draw(texts(12, 5))
      qas = []
      for q in range(draw(st.integers(0, 3))):
        start = draw(st.integers(-1, len(context) + 1))
        length = draw(st.integers(0, 12))
        answer = {"text": context[max(start, 0):start + length],
                  "answer_start": start}
        qa = {"id": draw(st.sampled_from(["q%d" % q, q, "dup"])),
              "question": draw(texts(4)),
              "answers": draw(st.sampled_from([[], [answer],
                                               [answer, answer]]))}
        if draw(st.booleans()):
          qa["is_impossible"] = draw(st.booleans())
        qas.append(qa)
      paragraphs.append({"context": context, "qas": qas})
    articles.append({"title": "t", "paragraphs": paragraphs})
  dataset = {"version": "2.0", "data": articles}
  if draw(st.integers(0, 3)) == 0:
    _mutate(dataset, draw)
  return dataset


def _mutate(node, draw):
  """Replaces one value somewhere inside `node` with arbitrary JSON."""
  while True:
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
      return
    key = draw(st.sampled_from(keys))
    child = node[key]
    if isinstance(child, (dict, list)) and child and draw(st.booleans()):
      node = child
      continue
    node[key] = draw(json_values)
    return


def _check_squad_examples(examples, is_training):
  for example in examples or ():
    assert isinstance(example.question_text, str)
    for word in example.doc_tokens:  # Google's split: " \t\r\n", U+202F.
      assert word and not any(squad_data.is_whitespace(c) for c in word)
    if is_training and not example.is_impossible:
      assert 0 <= example.start_position <= example.end_position
      assert example.end_position < len(example.doc_tokens)


@FUZZ
@given(dataset=squad_json(), is_training=st.booleans(),
       version_2=st.booleans(), ascii_only=st.booleans())
def test_read_squad_any_json(fuzz_dir, dataset, is_training, version_2,
                             ascii_only):
  # ASCII JSON escapes lone surrogates ("\ud83d"), which then reach the
  # reader as text; raw UTF-8 cannot hold them (the bytes are invalid).
  path = _write(fuzz_dir, "squad.json",
                _utf8(json.dumps(dataset, ensure_ascii=ascii_only)))
  result = _only(squad_data.SquadDataError, squad_data.read_squad_examples,
                 path, is_training, version_2)
  if result is not None:
    _check_squad_examples(result[0], is_training)


@FUZZ
@given(data=file_bytes(texts()))
def test_read_squad_any_bytes(fuzz_dir, data):
  path = _write(fuzz_dir, "squad_bytes.json", data)
  for reader in (squad_eval.load_predictions, squad_eval.load_na_probs):
    _only(squad_data.SquadDataError, reader, path)
  result = _only(squad_data.SquadDataError, squad_data.read_squad_examples,
                 path, True, True)
  if result is not None:
    _check_squad_examples(result[0], True)


# ----------------------------------------------------------------------------
# Pretraining reader


@FUZZ
@given(data=file_bytes(texts()), lower=st.booleans(),
       pre_segmented=st.booleans(), max_pieces=st.integers(1, 6))
def test_read_pretraining_documents_any_file(fuzz_dir, tokenizers, data,
                                             lower, pre_segmented, max_pieces):
  path = _write(fuzz_dir, "corpus.txt", data)
  result = _only(create_pretraining_data.PretrainingDataError,
                 create_pretraining_data.read_documents, path,
                 tokenizers[lower], pre_segmented, max_pieces)
  if result is None:
    return
  documents, stats = result
  vocab = tokenizers[lower].vocab
  for document in documents:
    assert document
    for sentence in document:
      assert 1 <= len(sentence) <= max_pieces
      for piece in sentence:
        assert piece in vocab or (pre_segmented and piece.startswith("##") and
                                  create_pretraining_data.is_cjk_piece(
                                      piece[2:]))
  assert stats["documents"] == len(documents)


# ----------------------------------------------------------------------------
# Round trips: well-formed files made of arbitrary text read back exactly
# (a reader that rejects or alters them would be a silent wrong answer).

_ANY_CHAR = st.characters(blacklist_categories=("Cs",))


def _words():
  """Words as CoNLL files hold them: no whitespace, not -DOCSTART-."""
  return st.one_of(st.text(_ANY_CHAR, min_size=1, max_size=6),
                   st.sampled_from(_FRAGMENTS)).filter(
                       lambda w: w.split() == [w] and w != "-DOCSTART-")


@FUZZ
@given(sentences=st.lists(st.lists(st.tuples(_words(), st.sampled_from(
    ["O", "B-PER", "I-PER", "x\u00e9"])), min_size=1, max_size=5),
                          min_size=1, max_size=4),
       end=st.sampled_from(["\n", "\r\n", "\r"]),
       sep=st.sampled_from([" ", "\t"]))
def test_conll_round_trip(fuzz_dir, sentences, end, sep):
  if sentences[0][0][0].startswith("\ufeff"):
    return  # Read as a byte order mark, not as part of the word.
  text = end.join(end.join(w + sep + t for w, t in s) + end
                  for s in sentences)
  path = _write(fuzz_dir, "round.conll", text.encode("utf-8"))
  examples = ner_data.read_conll(path)
  assert [list(zip(e.words, e.labels)) for e in examples] == sentences


@FUZZ
@given(lines=st.lists(st.text(_ANY_CHAR, max_size=20).filter(
    lambda line: "\r" not in line and "\n" not in line), min_size=1,
                      max_size=5))
def test_raw_text_round_trip(fuzz_dir, lines):
  path = _write(fuzz_dir, "round.raw", "\n".join(lines).encode("utf-8"))
  basic = tokenization.BasicTokenizer(do_lower_case=False)
  expected = [(n, line) for n, line in enumerate(lines, 1)
              if basic.tokenize(line)]
  examples = _only(ner_data.NerDataError, ner_data.read_raw_text, path)
  if not expected:
    assert examples is None
    return
  assert [(e.source[1], e.text) for e in examples] == expected
  for example in examples:
    assert example.words == basic.tokenize(example.text)


@FUZZ
@given(rows=st.lists(st.tuples(st.text(_ANY_CHAR, max_size=12),
                               st.text(_ANY_CHAR, max_size=12),
                               st.text(_ANY_CHAR, min_size=1, max_size=5)),
                     min_size=1, max_size=4),
       fmt=st.sampled_from(["jsonl", "csv", "tsv"]))
def test_classifier_round_trip(fuzz_dir, rows, fmt):
  if fmt == "tsv":  # Quoting is off: the delimiter and line ends cannot
    # appear inside a field.
    rows = [tuple(f.replace("\t", " ").replace("\r", " ").replace("\n", " ")
                  for f in row) for row in rows]
  rows = [(a, b, label) for a, b, label in rows if label.strip()]
  if not rows or not any((a + b + label).strip() for a, b, label in rows):
    return
  if fmt == "jsonl":
    text = "\n".join(json.dumps({"a": a, "b": b, "label": label},
                                ensure_ascii=False) for a, b, label in rows)
  else:
    import csv  # pylint: disable=g-import-not-at-top
    import io  # pylint: disable=g-import-not-at-top
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t",
                        quoting=csv.QUOTE_MINIMAL if fmt == "csv" else
                        csv.QUOTE_NONE, escapechar=None if fmt == "csv"
                        else "\\")  # Lines end in "\r\n": then fields
    # holding "\r" or "\n" are quoted.
    writer.writerow(["a", "b", "label"])
    writer.writerows(rows)
    text = out.getvalue()
  if fmt == "tsv" and "\\" in text:
    return  # The writer escaped something; QUOTE_NONE reading keeps it.
  layout = classifier_data.TableLayout(fmt, text_a="a", text_b="b",
                                       label="label")
  path = _write(fuzz_dir, "round." + fmt, text.encode("utf-8"))
  examples = classifier_data.read_examples(path, layout, "train",
                                           classifier_data.CLASSIFICATION)
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      (a, b, label.strip()) for a, b, label in rows]


# ----------------------------------------------------------------------------
# Every JSON reader on the same fuzzed text


@FUZZ
@given(text=st.one_of(texts(), json_values.map(json.dumps)),
       nesting=st.sampled_from(["", "[" * 10000, '{"a":' * 5000,
                                        "[{\"a\":" * 5000]))
def test_json_readers_any_text(fuzz_dir, text, nesting):
  data = _utf8(nesting + text)
  path = _write(fuzz_dir, "any.json", data)
  _only(squad_data.SquadDataError, squad_data.read_squad_examples, path,
        False, True)
  _only(squad_data.SquadDataError, squad_eval.load_predictions, path)
  _only(ner_data.NerDataError, ner_data.LabelMap.load, path)
  path = _write(fuzz_dir, "any.jsonl", data)
  layout = classifier_data.TableLayout("jsonl", text_a="text")
  _only(classifier_data.ClassifierDataError, classifier_data.read_examples,
        path, layout, "test", classifier_data.CLASSIFICATION)


# ----------------------------------------------------------------------------
# Featurizers


def _check_ids(ids, mask, vocab_size, length):
  """ids/mask of one sequence: right length, ids in the vocabulary, the
  mask a run of ones then zeros, padding ids 0."""
  assert len(ids) == len(mask) == length
  assert all(0 <= i < vocab_size for i in ids)
  used = sum(mask)
  assert mask == [1] * used + [0] * (length - used)
  assert ids[used:] == [0] * (length - used)
  return used


_NER_LABELS = ner_data.LabelMap(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
_ner_word = st.one_of(texts(3, 5), st.sampled_from(_FRAGMENTS)).filter(bool)


@FUZZ
@given(sentences=st.lists(st.lists(st.tuples(
    _ner_word, st.sampled_from(_NER_LABELS.labels)), min_size=1,
                                   max_size=14), min_size=1, max_size=3),
       max_seq_length=st.integers(3, 12),
       doc_stride=st.one_of(st.none(), st.integers(1, 12)),
       truncate=st.booleans(), lower=st.booleans())
def test_ner_features(tokenizers, sentences, max_seq_length, doc_stride,
                      truncate, lower):
  tokenizer = tokenizers[lower]
  examples = [ner_data.InputExample("s%d" % i, [w for w, _ in s],
                                    [t for _, t in s])
              for i, s in enumerate(sentences)]
  features, stats = ner_data.convert_examples(
      examples, tokenizer, _NER_LABELS, max_seq_length, truncate=truncate,
      doc_stride=doc_stride)
  assert stats["features"] == len(features) >= len(examples)
  cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
  for feature in features:
    used = _check_ids(feature.input_ids, feature.input_mask,
                      len(tokenizer.vocab), max_seq_length)
    assert feature.input_ids[0] == cls_id and used >= 2
    assert feature.input_ids[used - 1] == sep_id
    assert feature.segment_ids == [0] * max_seq_length
    assert all(0 <= i < len(_NER_LABELS) for i in feature.label_ids)
    assert all(m in (0, 1) and m <= k for m, k in
               zip(feature.label_mask, feature.input_mask))
    assert [w >= 0 for w in feature.word_index] == [
        bool(m) for m in feature.label_mask]
  # Every word is predicted by exactly one window: merging the gold ids
  # gives back the gold tags (words cut by truncation come back 'O').
  merged = ner_data.merge_predictions(
      examples, features, [f.label_ids for f in features], _NER_LABELS)
  for example, tags in zip(examples, merged):
    kept = len(example.words) - (
        [f for f in features if f.example_index == examples.index(example)]
        [0].words_cut)
    assert tags[:kept] == example.labels[:kept]
    assert tags[kept:] == ["O"] * (len(tags) - kept)
    if not truncate:
      assert kept == len(example.words)


@FUZZ
@given(text_a=texts(surrogates=True), text_b=st.one_of(st.none(), texts()),
       choices=st.lists(texts(6), min_size=1, max_size=3),
       task_type=st.sampled_from(classifier_data.TASK_TYPES),
       max_seq_length=st.integers(3, 10), lower=st.booleans(),
       label_index=st.integers(0, 2))
def test_classifier_features(tokenizers, text_a, text_b, choices, task_type,
                             max_seq_length, lower, label_index):
  tokenizer = tokenizers[lower]
  labels = ["neg", "pos", "x y"]
  label = {classifier_data.CLASSIFICATION: labels[label_index],
           classifier_data.REGRESSION: label_index * 0.5,
           classifier_data.MULTILABEL: labels[:label_index],
           classifier_data.MULTIPLE_CHOICE: min(label_index,
                                                len(choices) - 1)}[task_type]
  example = classifier_data.InputExample(
      "g", text_a, text_b, label=label,
      choices=choices if task_type == classifier_data.MULTIPLE_CHOICE
      else None)
  feature, tokens, _ = classifier_data.convert_single_example(
      example, tokenizer, max_seq_length, task_type, labels)
  pairs = (len(choices) if task_type == classifier_data.MULTIPLE_CHOICE
           else 1)
  assert len(feature.input_ids) == pairs * max_seq_length
  assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
  assert len(tokens) <= max_seq_length
  cls_id = tokenizer.vocab["[CLS]"]
  for p in range(pairs):
    window = slice(p * max_seq_length, (p + 1) * max_seq_length)
    ids, mask = feature.input_ids[window], feature.input_mask[window]
    segments = feature.segment_ids[window]
    used = _check_ids(ids, mask, len(tokenizer.vocab), max_seq_length)
    assert ids[0] == cls_id
    # Segment ids: 0s, then (for a pair) 1s, then 0 padding.
    ones = sum(segments)
    first_one = segments.index(1) if ones else used
    assert segments == ([0] * first_one + [1] * ones +
                        [0] * (max_seq_length - first_one - ones))
    assert first_one + ones <= used
  if task_type == classifier_data.CLASSIFICATION:
    assert feature.label_ids == label_index
  elif task_type == classifier_data.MULTILABEL:
    assert feature.label_ids == [int(i < label_index) for i in range(3)]
  elif task_type == classifier_data.MULTIPLE_CHOICE:
    assert 0 <= feature.label_ids < len(choices)
  else:
    assert feature.label_values == label_index * 0.5


@st.composite
def squad_examples(draw):
  """SquadExamples read from a valid SQuAD file made of fuzzed text."""
  paragraphs = []
  for p in range(draw(st.integers(1, 2))):
    context = draw(texts(16, 5))
    qas = []
    for q in range(draw(st.integers(1, 2))):
      qa = {"id": "%d-%d" % (p, q), "question": draw(texts(6))}
      words = [i for i, c in enumerate(context)
               if not squad_data.is_whitespace(c)]
      if words and draw(st.booleans()):
        start = draw(st.sampled_from(words))
        end = draw(st.integers(start + 1, len(context)))
        qa["answers"] = [{"text": context[start:end], "answer_start": start}]
      else:
        qa["is_impossible"] = True
        qa["answers"] = []
      qas.append(qa)
    paragraphs.append({"context": context, "qas": qas})
  return {"data": [{"paragraphs": paragraphs}]}


@FUZZ
@given(dataset=squad_examples(), max_seq_length=st.integers(8, 16),
       doc_stride=st.integers(1, 8), max_query_length=st.integers(1, 4),
       is_training=st.booleans(), lower=st.booleans())
def test_squad_features(fuzz_dir, tokenizers, dataset, max_seq_length,
                        doc_stride, max_query_length, is_training, lower):
  path = _write(fuzz_dir, "featurize.json", _utf8(json.dumps(dataset)))
  examples, _ = squad_data.read_squad_examples(path, is_training, True)
  tokenizer = tokenizers[lower]
  features, stats = squad_data.convert_examples_to_features(
      examples, tokenizer, max_seq_length, doc_stride, max_query_length,
      is_training)
  assert stats["features"] == len(features)
  owners = collections.Counter()
  for feature in features:
    example = examples[feature.example_index]
    used = _check_ids(feature.input_ids, feature.input_mask,
                      len(tokenizer.vocab), max_seq_length)
    assert used == len(feature.tokens)
    assert feature.input_ids[:used] == tokenizer.convert_tokens_to_ids(
        feature.tokens)
    assert feature.tokens[0] == "[CLS]" and feature.tokens[-1] == "[SEP]"
    query_end = feature.tokens.index("[SEP]")
    assert query_end - 1 <= max_query_length
    assert feature.segment_ids == ([0] * (query_end + 1) +
                                   [1] * (used - query_end - 1) +
                                   [0] * (max_seq_length - used))
    assert sorted(feature.token_to_orig_map) == list(
        range(query_end + 1, used - 1))
    # Windows start every min(doc_stride, room) pieces.
    room = max_seq_length - (query_end - 1) - 3
    window_start = feature.doc_span_index * min(doc_stride, room)
    for position, word in feature.token_to_orig_map.items():
      assert 0 <= word < len(example.doc_tokens)
      if feature.token_is_max_context[position]:
        owners[feature.example_index,
               window_start + position - query_end - 1] += 1
    start, end = feature.start_position, feature.end_position
    assert 0 <= start <= end < used
    if start:
      assert is_training and not example.is_impossible
      assert (example.start_position <= feature.token_to_orig_map[start] <=
              feature.token_to_orig_map[end] <= example.end_position)
  # Every piece of every document is scored in exactly one window.
  for index, example in enumerate(examples):
    num_pieces = sum(len(tokenizer.tokenize(w)) for w in example.doc_tokens)
    assert [owners[index, p] for p in range(num_pieces)] == [1] * num_pieces
    assert owners[index, num_pieces] == 0


# ----------------------------------------------------------------------------
# Bugs the fuzzing found, one regular test each


def test_classifier_column_index_past_the_rows_is_a_data_error(fuzz_dir):
  # Was an IndexError: CoLA's train layout reads column 3, and a file with
  # two columns passed the width check (its own rows agree with each other).
  path = _write(fuzz_dir, "cola_train.tsv", b"src\t1\n")
  with pytest.raises(classifier_data.ClassifierDataError,
                     match=r"cola_train.tsv:1: no column 3: the rows have 2 "):
    classifier_data.PROCESSORS["cola"]().read(path, "train")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_classifier_jsonl_keeps_unicode_line_separators(fuzz_dir, separator):
  # JSON strings may hold U+2028/U+2029/U+0085 unescaped; str.splitlines cut
  # the record there and the line was refused as bad JSON.
  text = "a%sb" % separator
  path = _write(fuzz_dir, "sep.jsonl", (json.dumps(
      {"text": text, "label": "x"}, ensure_ascii=False) + "\r\n" + json.dumps(
          {"text": "c", "label": "y"})).encode("utf-8"))
  layout = classifier_data.TableLayout("jsonl", text_a="text", label="label")
  examples = classifier_data.read_examples(path, layout, "train",
                                           classifier_data.CLASSIFICATION)
  assert [(e.text_a, e.label, e.line) for e in examples] == [
      (text, "x", 1), ("c", "y", 2)]


_DEEP = b"[" * 100000


def test_json_nested_too_deeply_is_a_data_error(fuzz_dir):
  # Was a RecursionError (not a ValueError) from json.loads in every JSON
  # reader.
  path = _write(fuzz_dir, "deep.json", _DEEP)
  with pytest.raises(squad_data.SquadDataError, match="nested too deeply"):
    squad_data.read_squad_examples(path, True)
  with pytest.raises(squad_data.SquadDataError, match="deep.json: malformed"):
    squad_eval.load_predictions(path)
  with pytest.raises(ner_data.NerDataError, match="deep.json: not valid JSON"):
    ner_data.LabelMap.load(path)
  path = _write(fuzz_dir, "deep.jsonl", b'{"text": "ok"}\n' + _DEEP)
  with pytest.raises(classifier_data.ClassifierDataError,
                     match="deep.jsonl:2: not a JSON object"):
    classifier_data.read_examples(path, classifier_data.TableLayout(
        "jsonl", text_a="text"), "test", classifier_data.CLASSIFICATION)


@pytest.mark.parametrize("label", ["\u00b2", "--1", "1_0", "\u0663"])
def test_classifier_odd_numbers_as_labels(fuzz_dir, label):
  # "²".isdigit() is True but int("²") raises, as does int("--1"): the
  # multiple-choice label check and collect_labels crashed with ValueError.
  path = _write(fuzz_dir, "swag.csv", (
      "sent1,sent2,ending0,ending1,ending2,ending3,label\n"
      "a,b,c,d,e,f,%s\n" % label).encode("utf-8"))
  with pytest.raises(classifier_data.ClassifierDataError,
                     match="swag.csv:2: label .* is not a choice index"):
    classifier_data.PROCESSORS["swag"]().read(path, "train")
  examples = [classifier_data.InputExample("g", "t", label=name)
              for name in (label, "2", "10")]
  # Not all plain integers: sorted as text, never passed to int().
  assert classifier_data.collect_labels(
      examples, classifier_data.CLASSIFICATION) == sorted([label, "2", "10"])
  assert classifier_data.parse_column(label) == label


def _google_improve_answer_span(doc_pieces, start, end, tokenizer, text):
  """Google's run_squad.py loops, as the reference."""
  target = " ".join(tokenizer.tokenize(text))
  for new_start in range(start, end + 1):
    for new_end in range(end, new_start - 1, -1):
      if " ".join(doc_pieces[new_start:new_end + 1]) == target:
        return new_start, new_end
  return start, end


class _ListTokenizer(object):
  """Splits on spaces: the answer text is the target pieces themselves."""

  def tokenize(self, text):
    return text.split()


@FUZZ
@given(pieces=st.lists(st.sampled_from(["a", "##a", "b", "(", "1895", ")"]),
                       max_size=12),
       target=st.lists(st.sampled_from(["a", "##a", "b", "1895", "("]),
                       max_size=4),
       bounds=st.tuples(st.integers(0, 12), st.integers(-1, 12)))
def test_improve_answer_span_equals_google(pieces, target, bounds):
  # Google's loops are cubic in the answer's length (a 2,000-piece answer
  # did not finish); the fast search must return the very same span.
  start, end = bounds
  end = min(end, len(pieces) - 1)
  tokenizer = _ListTokenizer()
  text = " ".join(target)
  assert squad_data.improve_answer_span(pieces, start, end, tokenizer,
                                        text) == _google_improve_answer_span(
                                            pieces, start, end, tokenizer,
                                            text)


def _google_split_words(context):
  """Google's run_squad.py word split, as the reference."""
  doc_tokens, char_to_word, after_space = [], [], True
  for char in context:
    if squad_data.is_whitespace(char):
      after_space = True
    else:
      if after_space:
        doc_tokens.append(char)
      else:
        doc_tokens[-1] += char
      after_space = False
    char_to_word.append(len(doc_tokens) - 1)
  return doc_tokens, char_to_word


@FUZZ
@given(context=texts(surrogates=True))
def test_split_words_equals_google(context):
  # Google's `doc_tokens[-1] += c` is quadratic in a word's length; the
  # slicing version must split exactly the same.
  assert squad_data.split_words(context) == _google_split_words(context)


def test_squad_answer_without_pieces_is_left_out(fuzz_dir, tokenizers):
  # An answer made only of characters the tokenizer drops (U+200B) gave
  # start > end, pointing at the next word or the final [SEP].
  dataset = {"data": [{"paragraphs": [{"context": "a b \u200b", "qas": [
      {"id": "1", "question": "q", "answers": [
          {"text": "\u200b", "answer_start": 4}]},
      {"id": "2", "question": "q", "answers": [
          {"text": "b", "answer_start": 2}]}]}]}]}
  path = _write(fuzz_dir, "zero_width.json", json.dumps(dataset).encode())
  examples, _ = squad_data.read_squad_examples(path, True)
  features, stats = squad_data.convert_examples_to_features(
      examples, tokenizers[True], 16, 8, 4, True)
  assert stats["answers_without_pieces"] == 1
  assert [(f.example_index, f.tokens[f.start_position:f.end_position + 1])
          for f in features] == [(1, ["b"])]
