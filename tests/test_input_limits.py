# coding=utf-8
"""The largest input each reader takes in one line / one document (see
input_limits.py), and the one-line error past it.

Each limit is tried just under (read) and just over (a data error naming
the file, the line and the limit). The line limit is tried at its real size
(4 MiB) for the CoNLL, TSV, JSONL and pretraining readers, with lines padded
by spaces so that nothing slow runs on them; the other checks lower the
module constant. A 32 MiB single-line file shows that the readers stop
after a bounded read, and one run of create_pretraining_data.py shows the
script's one-line error and exit code 2.
"""

import csv
import json
import os
import re
import subprocess
import sys
import tracemalloc

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

import classifier_data
import create_pretraining_data
import input_limits
import ner_data
import squad_data
import squad_eval
import tokenization

from helpers import REPO_ROOT
from helpers import assert_one_line_error
from helpers import run_script

LIMIT = input_limits.MAX_LINE_BYTES
LIMIT_TEXT = "4,194,304 bytes (input_limits.MAX_LINE_BYTES)"


def _write(path, data):
  with open(str(path), "wb") as f:
    f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
  return str(path)


@pytest.fixture
def small_limit(monkeypatch):
  """MAX_LINE_BYTES lowered to 20 (csv's global field limit restored)."""
  old_field_limit = csv.field_size_limit()
  monkeypatch.setattr(input_limits, "MAX_LINE_BYTES", 20)
  yield 20
  csv.field_size_limit(old_field_limit)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
  _write(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nx\ny\n")
  return tokenization.FullTokenizer(str(path), do_lower_case=True)


# ----------------------------------------------------------------------------
# The streaming scan


def _first_long_line(data, limit):
  """Reference: split the whole file, find the first line over `limit`."""
  for number, line in enumerate(re.split(rb"\r\n|\r|\n", data), 1):
    if len(line) > limit:
      return number
  return None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.lists(st.sampled_from([b"a", b"bb", b"\r", b"\n", b"\r\n"]),
                     max_size=40).map(b"".join),
       limit=st.integers(0, 8), chunk=st.integers(1, 5))
def test_find_long_line_equals_splitting_the_whole_file(tmp_path_factory,
                                                        data, limit, chunk):
  path = _write(tmp_path_factory.getbasetemp() / "scan.txt", data)
  saved = input_limits._CHUNK_BYTES  # pylint: disable=protected-access
  input_limits._CHUNK_BYTES = chunk  # pylint: disable=protected-access
  try:
    assert input_limits.find_long_line(path, limit) == _first_long_line(
        data, limit)
  finally:
    input_limits._CHUNK_BYTES = saved  # pylint: disable=protected-access


def test_a_one_line_file_is_never_read_whole(tmp_path, tokenizer):
  # 32 MiB without a line end: every reader refuses it after reading about
  # one chunk (the scan) or one capped line (the pretraining reader).
  path = _write(tmp_path / "one_line.txt", b"x" * (32 << 20))
  layout = classifier_data.TableLayout("tsv", False, text_a=0)
  readers = [
      (ner_data.NerDataError, lambda: ner_data.read_conll(path)),
      (classifier_data.ClassifierDataError, lambda: classifier_data.
       read_examples(path, layout, "test", classifier_data.CLASSIFICATION)),
      (create_pretraining_data.PretrainingDataError, lambda:
       create_pretraining_data.read_documents(path, tokenizer, False, 10)),
  ]
  for error, read in readers:
    tracemalloc.start()
    try:
      with pytest.raises(error, match="one_line.txt:1: line longer than"):
        read()
      peak = tracemalloc.get_traced_memory()[1]
    finally:
      tracemalloc.stop()
    assert peak < 2 * LIMIT + (4 << 20), (error, peak)


# ----------------------------------------------------------------------------
# The line limit at its real size


def _padded(length, first, last):
  """A line of exactly `length` bytes: first, spaces, last."""
  return first + " " * (length - len(first) - len(last)) + last


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_conll_line_limit(tmp_path, end):
  under = "a O" + end + _padded(LIMIT, "b", "O") + end
  examples = ner_data.read_conll(_write(tmp_path / "under.txt", under))
  assert [e.words for e in examples] == [["a", "b"]]
  over = "a O" + end + _padded(LIMIT + 1, "b", "O") + end
  with pytest.raises(ner_data.NerDataError) as caught:
    ner_data.read_conll(_write(tmp_path / "over.txt", over))
  assert str(caught.value).startswith(str(tmp_path / "over.txt") + ":2: ")
  assert LIMIT_TEXT in str(caught.value)


def test_table_line_limits(tmp_path):
  cases = [  # (layout, the lines before the long one, the long line)
      (classifier_data.TableLayout("tsv", True, text_a="text"),
       "text\nz\n", lambda n: _padded(n, "a", "b")),
      (classifier_data.TableLayout("jsonl", text_a="text"),
       '{"text": "z"}\n', lambda n: _padded(n, '{"text": "a"', "}"))]
  for layout, head, long_line in cases:
    path = _write(tmp_path / ("under." + layout.fmt),
                  head + long_line(LIMIT) + "\n")
    examples = classifier_data.read_examples(
        path, layout, "test", classifier_data.CLASSIFICATION)
    assert [e.text_a[:1] for e in examples] == ["z", "a"]
    path = _write(tmp_path / ("over." + layout.fmt),
                  head + long_line(LIMIT + 1) + "\n")
    line = head.count("\n") + 1
    with pytest.raises(classifier_data.ClassifierDataError,
                       match=r"over\.%s:%d: line longer than %s" % (
                           layout.fmt, line, re.escape(LIMIT_TEXT))):
      classifier_data.read_examples(path, layout, "test",
                                    classifier_data.CLASSIFICATION)


def test_pretraining_line_limit(tmp_path, tokenizer):
  for end in ("\n", "\r\n"):
    under = "x\n\n" + _padded(LIMIT, "y", "") + end + "x\n"
    documents, _ = create_pretraining_data.read_documents(
        _write(tmp_path / "under.txt", under), tokenizer, False, 10)
    assert documents == [[["x"]], [["y"], ["x"]]]
    over = "x\n\n" + _padded(LIMIT + 1, "y", "") + end
    with pytest.raises(create_pretraining_data.PretrainingDataError,
                       match="over.txt:3: line longer than " +
                       re.escape(LIMIT_TEXT)):
      create_pretraining_data.read_documents(
          _write(tmp_path / "over.txt", over), tokenizer, False, 10)


def test_pretraining_script_reports_the_limit_in_one_line(tmp_path,
                                                          tokenizer):
  corpus = _write(tmp_path / "corpus.txt", "x y\n" + "x" * (LIMIT + 1))
  vocab = _write(tmp_path / "vocab.txt", "\n".join(
      tokenizer.vocab) + "\n")
  proc = run_script(["--input_file=" + corpus, "--vocab_file=" + vocab,
                     "--output_file=" + str(tmp_path / "out.tfrecord"),
                     "--num_workers=1"],
                    script=os.path.join(REPO_ROOT,
                                        "create_pretraining_data.py"))
  assert_one_line_error(proc, corpus + ":2: line longer than", LIMIT_TEXT,
                        returncode=2)
  assert not os.path.exists(str(tmp_path / "out.tfrecord"))


# ----------------------------------------------------------------------------
# The other readers, with the limit lowered


def test_ner_raw_text_and_label_files(tmp_path, small_limit):
  raw = _write(tmp_path / "raw.txt", "x" * small_limit + "\n")
  assert ner_data.read_raw_text(raw)[0].words == ["x" * small_limit]
  raw = _write(tmp_path / "raw.txt", "ok\n" + "x" * (small_limit + 1))
  with pytest.raises(ner_data.NerDataError, match="raw.txt:2: line longer "
                     "than 20 bytes"):
    ner_data.read_raw_text(raw)
  labels = _write(tmp_path / "labels.txt", "O\n" + "B-" + "X" * 19 + "\n")
  with pytest.raises(ner_data.NerDataError, match="labels.txt:2: line longer"):
    ner_data.read_labels_file(labels)
  label_map = _write(tmp_path / "label_map.json",
                     json.dumps({"labels": ["O", "B-" + "X" * 19]}))
  with pytest.raises(ner_data.NerDataError,
                     match="label_map.json:1: line longer"):
    ner_data.LabelMap.load(label_map)


def test_csv_quoted_field_over_many_lines(tmp_path, small_limit):
  # Each line fits, but an unclosed quote makes one field of the rest.
  layout = classifier_data.TableLayout("csv", True, text_a="a", label="b")
  fitting = 'a,b\n"%s\n%s",x\n' % ("q" * 9, "q" * 9)
  examples = classifier_data.read_examples(
      _write(tmp_path / "t.csv", fitting), layout, "train",
      classifier_data.CLASSIFICATION)
  assert examples[0].text_a == "q" * 9 + "\n" + "q" * 9
  unclosed = 'a,b\nfine,x\n"%s\n%s\n%s,x\n' % ("q" * 9, "q" * 9, "q" * 9)
  with pytest.raises(classifier_data.ClassifierDataError,
                     match="t.csv:3: a quoted field longer than 20 "
                     "characters .* unclosed quote"):
    classifier_data.read_examples(
        _write(tmp_path / "t.csv", unclosed), layout, "train",
        classifier_data.CLASSIFICATION)


def _squad(context, question="q?"):
  return {"data": [{"paragraphs": [{"context": context, "qas": [
      {"id": "1", "question": question, "answers": [
          {"text": context[:1], "answer_start": 0}]}]}]}]}


def test_squad_context_and_question_limits(tmp_path, monkeypatch):
  monkeypatch.setattr(input_limits, "MAX_TEXT_CHARS", 30)
  path = _write(tmp_path / "s.json", json.dumps(_squad("c" * 30, "q" * 30)))
  examples, _ = squad_data.read_squad_examples(path, True)
  assert examples[0].doc_tokens == ["c" * 30]
  path = _write(tmp_path / "s.json", json.dumps(_squad("c" * 31)))
  with pytest.raises(squad_data.SquadDataError,
                     match=r"s.json: data\[0\].paragraphs\[0\]: the context "
                     r"is 31 characters long, over the 30 "
                     r"\(input_limits.MAX_TEXT_CHARS\).*split it"):
    squad_data.read_squad_examples(path, True)
  path = _write(tmp_path / "s.json", json.dumps(_squad("c", "q" * 31)))
  with pytest.raises(squad_data.SquadDataError,
                     match=r"qas\[0\] \(id 1\): the question is 31 "
                     "characters long"):
    squad_data.read_squad_examples(path, True)


def test_json_file_limit(tmp_path, monkeypatch):
  # Over the real 512 MiB: a sparse file, refused before it is read.
  path = str(tmp_path / "huge.json")
  with open(path, "wb") as f:
    f.truncate(input_limits.MAX_JSON_FILE_BYTES + 1)
  for read in (lambda: squad_data.read_squad_examples(path, False),
               lambda: squad_eval.load_predictions(path)):
    with pytest.raises(squad_data.SquadDataError,
                       match="huge.json: 536,870,913 bytes, over the "
                       r"536,870,912 \(input_limits.MAX_JSON_FILE_BYTES\)"):
      read()
  # Just under, with the limit lowered to the file's size: read.
  data = json.dumps(_squad("c")).encode()
  path = _write(tmp_path / "s.json", data)
  monkeypatch.setattr(input_limits, "MAX_JSON_FILE_BYTES", len(data))
  assert len(squad_data.read_squad_examples(path, False)[0]) == 1
  monkeypatch.setattr(input_limits, "MAX_JSON_FILE_BYTES", len(data) - 1)
  with pytest.raises(squad_data.SquadDataError, match="s.json: %d bytes" %
                     len(data)):
    squad_data.read_squad_examples(path, False)


def test_extract_features_line_limit(tmp_path):
  # extract_features imports TensorFlow and defines flags that other test
  # modules define too, so it is read in its own interpreter.
  path = _write(tmp_path / "input.txt", "x" * 20 + "\n" + "y" * 21 + "\n")
  code = ("import input_limits, extract_features\n"
          "input_limits.MAX_LINE_BYTES = 20\n"
          "try:\n"
          "  extract_features.read_examples(%r)\n"
          "except extract_features.task_plumbing.UserInputError as e:\n"
          "  print('UserInputError:', e)\n" % path)
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=300,
                        check=False)
  assert proc.stdout.strip() == ("UserInputError: %s:2: %s" % (
      path, input_limits.line_too_long(20))), proc.stderr[-2000:]
