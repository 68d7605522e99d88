# coding=utf-8
"""Tests for text_serving.py: the in-graph tokeniser equals tokenization.py.

The oracle is `tokenization.FullTokenizer` (Google's rules), on MiniLM's real
30522-piece uncased vocab, lower-cased and cased: identical word-piece ids on
a seeded corpus of mixed text, identical basic-tokenizer words for a sweep
of code points (every punctuation mark, mark, control, space, cased or
decomposable letter, and a stride through the rest), and identical
[CLS] a [SEP] b [SEP] features, truncation included, to classifier_data's
Google-style featuriser.
"""

import random
import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

import classifier_data as cd
import tokenization

# The test extra installs tensorflow-text (run_tests.sh): a missing one is a
# failure here, not a skip.
import tensorflow_text  # pylint: disable=unused-import
import text_serving

SEED = 4321
WORDS = ("the quick brown fox jumps over lazy dog unaffable running "
         "tokenization reconstructed hyperparameter xylophone qwzxv "
         "Don't can't U.S.A. e-mail $5.00 3.14159 #hashtag @user").split()
SPECIAL_LINES = [
    "", "   ", "\t\n", "Hello, World!", "naïve café Ångström İstanbul",
    "ΟΔΟΣ ΣΑΣ Σ. ΌΣΟΣ ΑΣ΄", "Straße ǅemal ﬁne ﬂow Ａｂｃ ²³ ½ Ⅻ",
    "中文字符测试，你好！日本語のテキスト、カタカナ。한국어 텍스트",
    "مرحبا بالعالم हिन्दी पाठ ภาษาไทย", "emoji 😀👍🏽 ❤️ 🇫🇷 👨‍👩‍👧",
    "tab\there\u2028line\u2029para\u00a0nbsp\u3000ideo\u200bzw\u200dzwj",
    "ctrl\x01\x07\x1b\x7f\x85x soft\u00adhyphen bom\ufeffx rep\ufffdx nul\x00x",
    "$^`~ [UNK] [CLS] [SEP] <s> ## ##ing",
    "e\u0301 a\u0308 \u1e9b\u0323 o\u0302\u0323 n\u0303", "x" * 199,
    "y" * 200, "z" * 201, "é" * 200, "é" * 201, "a" * 150 + "##",
    "ǰ ΐ ﬀ İi ẞß ꭰ ᏸ \U00010400\U00010428",
    "\U0001d400\U0001d41a \U0002a700\U0002b740 \U000e0041 \U000f0000",
    "mixed中English混合text", "123,456.78 1/2 10% a&b <tag> \"quoted\"",
]


def random_line(rng):
  pools = [
      WORDS,
      [chr(c) for c in range(0x4E00, 0x4E00 + 300)],
      [chr(c) for c in range(0xC0, 0x250)],
      [chr(c) for c in range(0x370, 0x3FF)] + [chr(c) for c in
                                               range(0x400, 0x4FF)],
      [chr(c) for c in range(0x2000, 0x2070)],
      [chr(c) for c in range(0x300, 0x36F)],
      list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»—–…‘’“”•·§¶"),
      [chr(c) for c in range(0x1F300, 0x1F650)],
      [chr(c) for c in range(0xAC00, 0xAC00 + 200)],
      [chr(c) for c in range(0xFF01, 0xFF5E)],
  ]
  parts = []
  for _ in range(rng.randint(1, 12)):
    pool = rng.choice(pools)
    word = "".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))
    if pool is WORDS:
      word = rng.choice(WORDS)
      word = word.upper() if rng.random() < 0.2 else word.capitalize() \
          if rng.random() < 0.3 else word
    parts.append(word)
    parts.append(rng.choice([" ", " ", " ", "", "\t", "  ", "\u00a0"]))
  return "".join(parts)


@pytest.fixture(scope="module")
def corpus():
  rng = random.Random(SEED)
  return SPECIAL_LINES + [random_line(rng) for _ in range(1500)]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased",
                                                           "cased"])
def tokenizer(request, minilm_vocab):
  return tokenization.FullTokenizer(minilm_vocab, request.param)


def test_ids_equal_full_tokenizer(tokenizer, corpus):
  table = text_serving.vocab_table(tokenizer.vocab)
  lower = tokenizer.basic_tokenizer.do_lower_case
  got = text_serving.tokenize(tf.constant(corpus), table, lower).to_list()
  mismatches = []
  for line, ids in zip(corpus, got):
    want = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))
    if ids != want:
      mismatches.append((line, tokenizer.convert_ids_to_tokens(ids),
                         tokenizer.tokenize(line)))
  assert not mismatches, mismatches[:3]
  unk = tokenizer.vocab["[UNK]"]
  assert sum(ids.count(unk) for ids in got) > 50  # Unknown words were met.


def sweep_chars():
  """Every code point of the classes that matter, and a stride of the rest."""
  chars = []
  for code in range(sys.maxunicode + 1):
    if 0xD800 <= code <= 0xDFFF:
      continue
    char = chr(code)
    category = unicodedata.category(char)
    if (category[0] in "PZ" or category in ("Mn", "Cc", "Cf") or
        char.lower() != char or
        unicodedata.normalize("NFD", char) != char or code % 29 == 0):
      chars.append(char)
  return chars


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_basic_tokenizer_words_on_a_code_point_sweep(lower):
  basic = tokenization.BasicTokenizer(do_lower_case=lower)
  chars = sweep_chars()
  lines = ["Ab%scd %s \u03a9%s" % (c, c, c) for c in chars]
  words = text_serving.split_words(tf.constant(lines), lower).to_list()
  bad = [(hex(ord(c)), basic.tokenize(line), [w.decode("utf-8") for w in got])
         for c, line, got in zip(chars, lines, words)
         if [w.decode("utf-8") for w in got] != basic.tokenize(line)]
  assert len(chars) > 40000
  assert not bad, bad[:5]


def test_invalid_utf8_bytes_are_dropped(minilm_vocab):
  tokenizer = tokenization.FullTokenizer(minilm_vocab, True)
  table = text_serving.vocab_table(tokenizer.vocab)
  lines = [b"caf\xc3\xa9 \xff bad\xfe bytes", b"trunc\xc3", b"ok \xe2\x82 x"]
  got = text_serving.tokenize(tf.constant(lines), table, True).to_list()
  for line, ids in zip(lines, got):
    assert ids == tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))


def test_trimmed_lengths_equal_googles_loop():
  cases = [(a, b, s) for a in range(10) for b in range(10)
           for s in range(3, 16)]
  len_a, len_b, seq = (np.array(x, np.int32) for x in zip(*cases))
  new_a, new_b = [], []
  for s in sorted(set(seq.tolist())):
    rows = seq == s
    got_a, got_b = text_serving.trimmed_lengths(
        tf.constant(len_a[rows]), tf.constant(len_b[rows]), s)
    for a, b, ga, gb in zip(len_a[rows], len_b[rows], got_a.numpy(),
                            got_b.numpy()):
      tokens_a, tokens_b = list(range(a)), list(range(b))
      if b:
        cd.truncate_seq_pair(tokens_a, tokens_b, s - 3)
      else:
        tokens_a = tokens_a[:s - 2]
      new_a.append((len(tokens_a), len(tokens_b)))
      new_b.append((int(ga), int(gb)))
  assert new_a == new_b


def test_encode_text_equals_python_features(minilm_vocab, corpus):
  tokenizer = tokenization.FullTokenizer(minilm_vocab, True)
  vocab = tokenizer.vocab
  rng = random.Random(SEED)
  pairs = [(rng.choice(corpus), rng.choice(corpus + ["", "  "]))
           for _ in range(300)]
  for max_seq_length in (5, 16):
    encoded = text_serving.encode_text(
        tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs]),
        text_serving.vocab_table(vocab), (vocab["[CLS]"], vocab["[SEP]"]),
        True, max_seq_length)
    want = [cd.encode_pair(tokenizer, a, b, max_seq_length)[:3]
            for a, b in pairs]
    for name, index in (("input_ids", 0), ("input_mask", 1),
                        ("segment_ids", 2)):
      np.testing.assert_array_equal(encoded[name].numpy(),
                                    np.array([w[index] for w in want]),
                                    err_msg=name)
  single = text_serving.encode_text(
      tf.constant(["Hello there!"]), None, text_serving.vocab_table(vocab),
      (vocab["[CLS]"], vocab["[SEP]"]), True, 8)
  assert single["input_ids"].numpy().tolist() == [
      cd.encode_pair(tokenizer, "Hello there!", None, 8)[0]]
