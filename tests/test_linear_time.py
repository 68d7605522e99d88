# coding=utf-8
"""Time grows linearly with the input: the tokenizer and one featurizer per
task on a long line, a long sentence and one long word.

Each case times an input of size n/8 and one of size n, taking the best of a
few runs, and checks time(n) / time(n/8) < 24 (3 x linear; a quadratic step
gives ~64). A ratio, not seconds, so a loaded machine slows both sides alike;
a case that misses the bound is measured once more before it fails. An alarm
stops any case that runs over a minute (a hang).

The tokenizer runs at the sizes the issue names: a 1 MB line, a 100k-word
sentence and a 50k-character word. The featurizers run at a quarter of the
line and sentence sizes, to keep the file under half a minute. Run with `-s`
to see the measured seconds.
"""

import gc
import json
import signal
import time

import pytest

import classifier_data
import create_pretraining_data
import ner_data
import squad_data
import tokenization

K = 8
BOUND = 3 * K
TIMEOUT_SECONDS = 60

_SAMPLE = ("The Normandy (French: Normandie) river, 1895\u20131902; na\u00efve "
           "caf\u00e9 \u6771\u4eac\u5927\u5b66 r\u00e9sum\u00e9's "
           "co-operation! ")


def mixed_line(n):
  """n characters of mixed text: words, punctuation, accents, CJK."""
  return (_SAMPLE * (n // len(_SAMPLE) + 1))[:n]


def sentence(n):
  """n words."""
  return " ".join(["hello"] * n)


def long_word(n):
  """One word of n characters, no spaces."""
  return ("abcdefghij" * (n // 10 + 1))[:n]


SHAPES = {"line": mixed_line, "sentence": sentence, "word": long_word}
FULL_SIZES = {"line": 1000000, "sentence": 100000, "word": 50000}
FEATURIZER_SIZES = {"line": 250000, "sentence": 25000, "word": 50000}


class _Hang(Exception):
  pass


@pytest.fixture
def alarm():
  """Fails the test (instead of hanging the run) after TIMEOUT_SECONDS."""

  def on_alarm(signum, frame):  # pylint: disable=unused-argument
    raise _Hang("over %d s: not linear time" % TIMEOUT_SECONDS)

  previous = signal.signal(signal.SIGALRM, on_alarm)
  signal.setitimer(signal.ITIMER_REAL, TIMEOUT_SECONDS)
  yield
  signal.setitimer(signal.ITIMER_REAL, 0)
  signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def tokenizer(minilm_vocab):
  return tokenization.FullTokenizer(minilm_vocab, do_lower_case=True)


def _best_seconds(fn, arg, repeats):
  best = float("inf")
  for _ in range(repeats):
    gc.collect()
    start = time.perf_counter()
    fn(arg)
    best = min(best, time.perf_counter() - start)
  return best


def assert_linear(fn, shape, n, name):
  """Times fn on inputs of size n / K and n; asserts the ratio < BOUND."""
  small, big = SHAPES[shape](n // K), SHAPES[shape](n)
  t_small = _best_seconds(fn, small, 3)
  t_big = _best_seconds(fn, big, 1)
  if t_big / t_small >= BOUND:  # Perhaps a burst of load: once more.
    t_small = min(t_small, _best_seconds(fn, small, 3))
    t_big = min(t_big, _best_seconds(fn, big, 2))
  print("\n%s, %s: n=%d %.3f s, n/%d %.3f s, ratio %.1f" % (
      name, shape, n, t_big, K, t_small, t_big / t_small))
  assert t_big / t_small < BOUND, (name, shape, t_small, t_big)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("alarm")
def test_tokenizer_is_linear(tokenizer, shape):
  assert_linear(tokenizer.tokenize, shape, FULL_SIZES[shape],
                "FullTokenizer.tokenize")
  if shape == "word":  # Longer than 200 characters: one [UNK], at once.
    assert tokenizer.tokenize(long_word(FULL_SIZES["word"])) == ["[UNK]"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("alarm")
def test_ner_featurizer_is_linear(tokenizer, tmp_path, shape):
  path = str(tmp_path / "raw.txt")
  labels = ner_data.LabelMap(["O", "B-PER", "I-PER"])

  def featurize(text):
    with open(path, "w", encoding="utf-8") as f:
      f.write(text + "\n")
    examples = ner_data.read_raw_text(path)
    features, _ = ner_data.convert_examples(examples, tokenizer, labels, 128)
    assert features and len(features[-1].input_ids) == 128

  assert_linear(featurize, shape, FEATURIZER_SIZES[shape],
                "ner_data.read_raw_text + convert_examples")


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("alarm")
def test_classifier_featurizer_is_linear(tokenizer, shape):

  def featurize(text):
    example = classifier_data.InputExample("g", text, "a short second text",
                                           label="a")
    feature, _, _ = classifier_data.convert_single_example(
        example, tokenizer, 128, classifier_data.CLASSIFICATION, ["a"])
    assert len(feature.input_ids) == 128

  assert_linear(featurize, shape, FEATURIZER_SIZES[shape],
                "classifier_data.convert_single_example")


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("alarm")
def test_squad_featurizer_is_linear(tokenizer, tmp_path, shape):
  path = str(tmp_path / "squad.json")

  def featurize(context):
    # The answer is the whole context but its first character: its pieces
    # differ from the document's at the start, so the answer-span search
    # (cubic in Google's code) scans the whole span.
    dataset = {"data": [{"paragraphs": [{"context": context, "qas": [{
        "id": "1", "question": "what?", "answers": [
            {"text": context[1:], "answer_start": 1}]}]}]}]}
    with open(path, "w", encoding="utf-8") as f:
      json.dump(dataset, f)
    examples, _ = squad_data.read_squad_examples(path, is_training=True)
    features, _ = squad_data.convert_examples_to_features(
        examples, tokenizer, 128, 64, 16, is_training=True)
    assert features and len(features[-1].input_ids) == 128

  assert_linear(featurize, shape, FEATURIZER_SIZES[shape],
                "squad_data.read_squad_examples + "
                "convert_examples_to_features")


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("alarm")
def test_pretraining_reader_is_linear(tokenizer, tmp_path, shape):
  path = str(tmp_path / "corpus.txt")

  def read(text):
    with open(path, "w", encoding="utf-8") as f:
      f.write(text + "\n")
    documents, _ = create_pretraining_data.read_documents(path, tokenizer,
                                                          False, 125)
    assert len(documents) == 1

  assert_linear(read, shape, FEATURIZER_SIZES[shape],
                "create_pretraining_data.read_documents")


@pytest.mark.usefixtures("alarm")
def test_squad_word_split_is_linear():
  # Google's split grows each word a character at a time (`+=` on a list
  # item copies it): quadratic, ~15 s for a 1 MB word here. At 50k
  # characters the tokenizer's time still hides it, so this times the
  # split alone on a 1 MB word.
  def split(text):
    assert squad_data.split_words(text)[0] == [text]

  assert_linear(split, "word", 1000000, "squad_data.split_words")
