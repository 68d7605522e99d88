# coding=utf-8
"""Tests for tokenization.py.

The fidelity oracle is transformers' pure-Python `BertTokenizerLegacy` (the
slow BERT tokenizer, written after Google's), set to Google's rules where it
departs from them (see `google_reference`), compared token for token and id
for id over a large seeded corpus of mixed text.
"""
import random
import sys
import time
import unicodedata

import pytest

import tokenization

SEED = 12345

# Google's unit-test vocabulary (tokenization_test.py in google-research/bert).
TOY_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un",
             "runn", "##ing", ","]


def _write_vocab(path, tokens):
  with open(str(path), "w", encoding="utf-8") as writer:
    writer.write("".join(t + "\n" for t in tokens))
  return str(path)


@pytest.fixture()
def toy_vocab_file(tmp_path):
  return _write_vocab(tmp_path / "vocab.txt", TOY_VOCAB)


# ---------------------------------------------------------------------------
# Character pools for the corpus, from a scan of all of Unicode (once).
# ---------------------------------------------------------------------------


def _scan_unicode():
  """Returns {category: [chars]} over every code point, surrogates included."""
  pools = {}
  for cp in range(sys.maxunicode + 1):
    char = chr(cp)
    pools.setdefault(unicodedata.category(char), []).append(char)
  return pools


_POOLS = _scan_unicode()


def _cat(*names):
  out = []
  for name in names:
    out.extend(_POOLS.get(name, []))
  return out


def _span(low, high):
  return [chr(cp) for cp in range(low, high + 1)]


PUNCT = _cat("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po")
SYMBOLS = _cat("Sm", "Sc", "Sk", "So")
ASCII_PUNCT = [chr(c) for c in range(33, 127) if not chr(c).isalnum()]
MARKS_MN = _cat("Mn")
MARKS_OTHER = _cat("Mc", "Me")
CONTROL_CC = _cat("Cc")
CONTROL_CF = _cat("Cf")
# Kept by Google (only Cc/Cf are control), dropped by transformers' default.
OTHER_C = _span(0xE000, 0xE0FF) + _cat("Cs")[:64] + _cat("Cn")[:400]
WHITESPACE = sorted(set(_cat("Zs", "Zl", "Zp") + [
    c for c in map(chr, range(0x3000 + 1)) if c.isspace()]))
DIGITS = _cat("Nd", "Nl", "No")
LATIN = [c for c in _span(0xC0, 0x24F) + _span(0x1E00, 0x1EFF)
         if unicodedata.category(c).startswith("L")]
OTHER_SCRIPTS = [c for c in (_span(0x370, 0x3FF) + _span(0x400, 0x4FF) +
                             _span(0x5D0, 0x5EA) + _span(0x620, 0x64A) +
                             _span(0x905, 0x939) + _span(0xE01, 0xE30) +
                             _span(0x10A0, 0x10FA) + _span(0xFF21, 0xFF5A))
                 if unicodedata.category(c).startswith("L")]
CJK = (_span(0x4E00, 0x9FFF) + _span(0x3400, 0x4DBF) +
       _span(0x20000, 0x2A6DF) + _span(0xF900, 0xFAFF) +
       _span(0x2F800, 0x2FA1F) + _span(0x2B740, 0x2B81F))
NEAR_CJK = (_span(0x3041, 0x3096) + _span(0x30A1, 0x30FA) +  # kana
            _span(0xFF66, 0xFF9D) + _span(0xAC00, 0xD7A3) +  # hangul
            _span(0x1100, 0x11FF) + _span(0x3000, 0x303F) +
            _span(0x2E80, 0x2EF3) + _span(0x3100, 0x312F))
EMOJI = (_span(0x1F300, 0x1F5FF) + _span(0x1F600, 0x1F64F) +
         _span(0x1F680, 0x1F6FF) + _span(0x1F900, 0x1F9FF) +
         _span(0x2600, 0x27BF))
SKIN_TONES = _span(0x1F3FB, 0x1F3FF)
FLAGS = _span(0x1F1E6, 0x1F1FF)
# Characters whose NFC form is a different character.
NFC_SINGLETONS = [c for c in map(chr, range(0x30000))
                  if not 0xD800 <= ord(c) <= 0xDFFF
                  and unicodedata.normalize("NFC", c) != c][:1500]

WORDS = ("the of and to in is was he for it with as his on be at by had are "
         "but from or have an they which one you were her all she there would "
         "their we him been has when who will more no if out so said what up "
         "its about into than them can only other new some could time these "
         "two may then do first any my now such like our over man me even most "
         "made after also did many before must through back years where much "
         "your way well down should because each just those people mr how too "
         "little state good very make world still own see men work long get "
         "here between both life being under never day same another know while "
         "last might us great old year off come since against go came right "
         "used take three unaffable tokenization embeddings fine-tuning "
         "transformer pretrained ROUGE BLEU GPU CPU TensorFlow PyTorch BERT "
         "McDonald O'Neil don't can't it's y'all e.g. i.e. U.S.A. Ph.D. "
         "[CLS] [SEP] [MASK] [UNK] [PAD] ##ing ## #hashtag @user "
         "https://example.com/a?b=c&d=e user@mail.org C++ C# x86_64 "
         "3.14159 1,000,000 $5.99 50% 9:30pm 2024-01-31 +1-555-0100").split()
ACCENTED = ("café naïve Ångström façade jalapeño Straße İstanbul ǅemal Œuvre "
            "Dvořák Łódź Ελληνικά ΟΔΟΣ ΣΟΦΟΣ Москва Ёлка Tiếng Việt résumé "
            "ﬁnance ﬂuffy Ǆ ǈ ß ẞ ŉ ǰ ΐ Ωmega Ķeks Şişli Çağ Ærø Øre Þór Ðan "
            "Mañana pingüino coração São Zürich Kraków Čeština Ђорђе").split()


# ---------------------------------------------------------------------------
# Corpus generators: each takes a random.Random and returns one line.
# ---------------------------------------------------------------------------


def _pick(rng, pool, low, high):
  return "".join(rng.choice(pool) for _ in range(rng.randint(low, high)))


def _case(rng, word):
  roll = rng.random()
  if roll < 0.15:
    return word.upper()
  if roll < 0.4:
    return word.capitalize()
  return word


def gen_english(rng):
  words = [_case(rng, rng.choice(WORDS)) for _ in range(rng.randint(1, 25))]
  line = " ".join(words)
  return line + rng.choice([".", "!", "?", "...", "", ";", " :)", "\u2026"])


def gen_cjk(rng):
  parts = []
  for _ in range(rng.randint(1, 6)):
    pool = rng.choice([CJK, CJK, NEAR_CJK, NEAR_CJK[:150], NEAR_CJK[150:400]])
    parts.append(_pick(rng, pool, 1, 12))
    if rng.random() < 0.4:
      parts.append(rng.choice(WORDS))
  return rng.choice(["", " ", "\u3000"]).join(parts)


def gen_accented(rng):
  parts = []
  for _ in range(rng.randint(1, 10)):
    roll = rng.random()
    if roll < 0.4:
      parts.append(_case(rng, rng.choice(ACCENTED)))
    elif roll < 0.7:
      parts.append(_pick(rng, LATIN, 1, 10))
    else:
      parts.append(_pick(rng, OTHER_SCRIPTS, 1, 10))
  return " ".join(parts)


def gen_control(rng):
  pool = CONTROL_CC + CONTROL_CF * 3 + OTHER_C + ["\ufffd", "\x00"] * 20
  chars = []
  for word in gen_english(rng).split(" "):
    chars.append(word)
    chars.append(rng.choice([" ", "", _pick(rng, pool, 1, 3)]))
    if rng.random() < 0.3:
      # Control characters inside a word join its halves.
      cut = rng.randint(0, len(word))
      chars[-2] = word[:cut] + _pick(rng, pool, 1, 2) + word[cut:]
  return "".join(chars)


def gen_whitespace(rng):
  out = []
  for word in gen_english(rng).split(" ") + [rng.choice(ACCENTED)]:
    out.append(word)
    out.append(_pick(rng, WHITESPACE + ["\t", "\n", "\r", " "], 1, 3))
  return _pick(rng, WHITESPACE, 0, 2) + "".join(out)


def gen_punct(rng):
  pool = PUNCT + ASCII_PUNCT * 5 + SYMBOLS
  out = []
  for _ in range(rng.randint(1, 12)):
    roll = rng.random()
    if roll < 0.4:
      out.append(_pick(rng, pool, 1, 4))
    elif roll < 0.8:
      out.append(rng.choice(WORDS) + _pick(rng, pool, 1, 2) +
                 rng.choice(WORDS))
    else:
      out.append(_pick(rng, pool, 1, 2) + rng.choice(ACCENTED))
  return rng.choice([" ", ""]).join(out)


def gen_numbers(rng):
  out = []
  for _ in range(rng.randint(1, 8)):
    roll = rng.random()
    if roll < 0.3:
      out.append(str(rng.randint(0, 10 ** rng.randint(1, 15))))
    elif roll < 0.5:
      out.append("%.*f" % (rng.randint(1, 5), rng.uniform(-1e4, 1e4)))
    elif roll < 0.6:
      out.append("{:,}".format(rng.randint(1000, 10 ** 9)))
    elif roll < 0.85:
      out.append(_pick(rng, DIGITS, 1, 6))
    else:
      out.append(rng.choice(WORDS))
  return " ".join(out)


def gen_emoji(rng):
  out = []
  for _ in range(rng.randint(1, 8)):
    roll = rng.random()
    if roll < 0.4:
      out.append(_pick(rng, EMOJI, 1, 3))
    elif roll < 0.55:
      out.append(rng.choice(EMOJI) + rng.choice(SKIN_TONES))
    elif roll < 0.7:
      # Zero-width-joiner sequences such as a family emoji.
      out.append("\u200d".join(rng.choice(EMOJI) for _ in range(3)))
    elif roll < 0.8:
      out.append(rng.choice(FLAGS) + rng.choice(FLAGS))
    elif roll < 0.9:
      out.append(rng.choice("0123456789#*") + "\ufe0f\u20e3")
    else:
      out.append(rng.choice(WORDS) + rng.choice(EMOJI) + "\ufe0f")
  return rng.choice([" ", ""]).join(out)


def _long_word(rng, length):
  roll = rng.random()
  if roll < 0.5:
    # Glued real words: coverable by word pieces, so the length limit decides.
    text = ""
    while len(text) < length:
      text += rng.choice(WORDS[:120])
  elif roll < 0.7:
    text = _pick(rng, "abcdefghijklmnopqrstuvwxyz", length, length)
  elif roll < 0.85:
    text = _pick(rng, "0123456789", length, length)
  else:
    text = _pick(rng, LATIN + list("aeiou"), length, length)
  return _case(rng, text[:length])


def gen_long(rng):
  length = rng.choice([rng.randint(150, 250), 100, 101, 199, 200, 201])
  word = _long_word(rng, length)
  roll = rng.random()
  if roll < 0.2:
    # Combining marks: over 200 characters raw, but not once accents go.
    word = "".join(c + ("\u0301" if rng.random() < 0.05 else "") for c in word)
  elif roll < 0.3:
    word = word[:100] + rng.choice(ASCII_PUNCT) + word[100:]
  return " ".join([rng.choice(WORDS), word, rng.choice(WORDS)])


def gen_combining(rng):
  out = []
  for _ in range(rng.randint(1, 8)):
    base = rng.choice([rng.choice(WORDS), rng.choice(LATIN), rng.choice(CJK),
                       rng.choice(ASCII_PUNCT), rng.choice("0123456789"),
                       rng.choice(NEAR_CJK), ""])
    out.append(base + _pick(rng, MARKS_MN * 3 + MARKS_OTHER, 1, 3) +
               rng.choice(["", rng.choice(WORDS)]))
  return rng.choice([" ", ""]).join(out)


def gen_normal_forms(rng):
  roll = rng.random()
  if roll < 0.5:
    text = gen_accented(rng)
  elif roll < 0.7:
    text = _pick(rng, NEAR_CJK[NEAR_CJK.index("\uac00"):], 1, 8)  # hangul
  else:
    text = " ".join(_pick(rng, NFC_SINGLETONS, 1, 4) + rng.choice(WORDS)
                    for _ in range(rng.randint(1, 5)))
  return unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), text)


GENERATORS = (
    (gen_english, 2500), (gen_cjk, 1000), (gen_accented, 1000),
    (gen_control, 800), (gen_whitespace, 700), (gen_punct, 1000),
    (gen_numbers, 600), (gen_emoji, 600), (gen_long, 500),
    (gen_combining, 800), (gen_normal_forms, 800),
)

HAND_LINES = [
    "", " ", "\t\n\r", "\x00", "\ufffd", "\u200b", "\ufeffBOM at start",
    "Hello, World!", "UNwant\u00e9d,running", "ah\u535a\u63a8zz",
    "\u00bfQu\u00e9?", "a$b^c`d~e|f", "a\u20acb", "a\u2014b", "[CLS] [MASK]x",
    "\u212b\u2126", "e\u0301", "\u0301", "\u3000\u00a0\u2009x\u2028y\u2029z",
    "ΟΔΟΣ. ΟΔΟΣ.Α", "\u0130stanbul", "\ud800lone surrogate\udfff",
    "\ue000private", "\u0378unassigned", "a" * 200, "a" * 201,
]


def build_corpus():
  """Returns the deterministic oracle corpus: a list of str lines."""
  rng = random.Random(SEED)
  generators = [g for g, _ in GENERATORS]
  lines = list(HAND_LINES)
  for generator, count in GENERATORS:
    lines.extend(generator(rng) for _ in range(count))
  for _ in range(1500):
    # Mixed lines: fragments of different kinds glued together.
    parts = [rng.choice(generators)(rng) for _ in range(rng.randint(2, 4))]
    lines.append(rng.choice([" ", "", "\n"]).join(parts))
  return lines


@pytest.fixture(scope="module")
def corpus():
  return build_corpus()


# ---------------------------------------------------------------------------
# The reference: transformers' legacy BERT tokenizer, made Google's.
# ---------------------------------------------------------------------------


def _google_is_control(char):
  """Google's rule: only categories Cc and Cf (less \\t \\n \\r) are control."""
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


class _UnicodedataWithoutNfc(object):
  """`unicodedata` whose NFC normalisation leaves the text unchanged."""

  def __getattr__(self, name):
    return getattr(unicodedata, name)

  def normalize(self, form, text):
    return text if form == "NFC" else unicodedata.normalize(form, text)


@pytest.fixture(scope="module")
def google_reference():
  """Returns a factory `(vocab_file, do_lower_case) -> tokenize, to_ids`.

  `BertTokenizerLegacy` follows Google's algorithm except that it (1) splits
  words of at most 100 characters, (2) drops every C* category as control,
  (3) NFC-normalises text in `BasicTokenizer.tokenize`, and (4) in its public
  `tokenize` never splits special tokens such as "[CLS]" in the input. Here
  (1) is set on the instance, (2) and (3) are patched in its module (the
  module-level `_is_control` and `unicodedata` it looks up at call time), and
  (4) is avoided by calling `_tokenize(split_special_tokens=True)`, the
  model-specific step below the special-token layer.
  """
  legacy = pytest.importorskip(
      "transformers.models.bert.tokenization_bert_legacy")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(legacy, "_is_control", _google_is_control)
    patch.setattr(legacy, "unicodedata", _UnicodedataWithoutNfc())

    def make(vocab_file, do_lower_case):
      ref = legacy.BertTokenizerLegacy(
          vocab_file, do_lower_case=do_lower_case,
          tokenize_chinese_chars=True, strip_accents=None)
      ref.wordpiece_tokenizer.max_input_chars_per_word = 200

      def tokenize(text):
        # pylint: disable=protected-access
        return ref._tokenize(text, split_special_tokens=True)

      return tokenize, ref.convert_tokens_to_ids

    yield make


@pytest.fixture(scope="module")
def augmented_vocab(tmp_path_factory, minilm_vocab, corpus):
  """MiniLM's vocab plus cased variants and every corpus character as pieces.

  The uncased MiniLM vocab turns most capitalised words into [UNK]; adding
  "Word"/"WORD" forms and single characters makes the cased comparison (and
  the greedy matching on rare scripts) exercise real word pieces.
  """
  base = list(tokenization.load_vocab(minilm_vocab))
  extra = []
  for token in base:
    stem = token[2:] if token.startswith("##") else token
    if stem.isalpha() and not token.startswith("["):
      prefix = token[:len(token) - len(stem)]
      extra.extend([prefix + stem.capitalize(), prefix + stem.upper()])
  chars = sorted(set("".join(corpus)))
  for char in chars:
    if char.strip() == char and not 0xD800 <= ord(char) <= 0xDFFF:
      extra.extend([char, "##" + char])
  tokens = list(dict.fromkeys(base + extra))
  return _write_vocab(tmp_path_factory.mktemp("aug") / "vocab.txt", tokens)


# ---------------------------------------------------------------------------
# Oracle tests.
# ---------------------------------------------------------------------------


def test_reference_is_set_to_google_rules(google_reference, minilm_vocab):
  tokenize, _ = google_reference(minilm_vocab, False)
  assert tokenize("\ue000") == ["[UNK]"]      # Co kept (then unknown).
  assert tokenize("\u200b") == []            # Cf dropped.
  lower_tokenize, _ = google_reference(minilm_vocab, True)
  assert lower_tokenize("the" * 60) != ["[UNK]"]   # 180 characters.
  assert lower_tokenize("the" * 67) == ["[UNK]"]   # 201 characters.
  assert lower_tokenize("[CLS]") == ["[", "cl", "##s", "]"]


def test_corpus_covers_the_departures(corpus):
  """The corpus holds lines on which each of Google's rules matters."""
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  other_c = [l for l in corpus
             if any(unicodedata.category(c) in ("Cn", "Co", "Cs") for c in l)]
  not_nfc = [l for l in corpus if unicodedata.normalize("NFC", l) != l]
  long_words = [l for l in corpus
                if any(100 < len(w) <= 200 for w in basic.tokenize(l))]
  assert len(corpus) >= 10000
  assert min(len(other_c), len(not_nfc), len(long_words)) >= 100, (
      len(other_c), len(not_nfc), len(long_words))


def _mismatches(ours, theirs_tokenize, theirs_ids, lines):
  bad = []
  for line in lines:
    tokens = ours.tokenize(line)
    ref_tokens = theirs_tokenize(line)
    if tokens != ref_tokens:
      bad.append((line, tokens, ref_tokens))
    elif ours.convert_tokens_to_ids(tokens) != theirs_ids(ref_tokens):
      bad.append((line, "ids", tokens))
  return bad


# The augmented vocab matters most when cased (MiniLM's vocab has no capitals);
# its uncased run adds little and would cost seconds.
@pytest.mark.parametrize("vocab_kind, do_lower_case", [
    ("minilm", True), ("minilm", False), ("augmented", False)])
def test_matches_google_reference(google_reference, corpus, minilm_vocab,
                                  augmented_vocab, do_lower_case, vocab_kind):
  vocab_file = minilm_vocab if vocab_kind == "minilm" else augmented_vocab
  ours = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
  theirs_tokenize, theirs_ids = google_reference(vocab_file, do_lower_case)
  start = time.time()
  bad = _mismatches(ours, theirs_tokenize, theirs_ids, corpus)
  print("oracle corpus: %d lines, %s vocab (%d), do_lower_case=%s, "
        "%d mismatches, %.1f s" % (len(corpus), vocab_kind, len(ours.vocab),
                                   do_lower_case, len(bad),
                                   time.time() - start))
  assert not bad, "%d of %d lines differ, e.g. %r" % (len(bad), len(corpus),
                                                      bad[:3])


# ---------------------------------------------------------------------------
# Unit tests.
# ---------------------------------------------------------------------------


def test_convert_to_unicode_and_printable_text():
  assert tokenization.convert_to_unicode(u"h\u00e9") == u"h\u00e9"
  encoded = u"h\u00e9".encode("utf-8")
  assert tokenization.convert_to_unicode(encoded) == u"h\u00e9"
  assert tokenization.convert_to_unicode(b"a\xffb") == "ab"
  assert tokenization.printable_text(b"abc") == "abc"
  with pytest.raises(ValueError, match="Unsupported string type"):
    tokenization.convert_to_unicode(3)


def test_load_vocab(tmp_path):
  path = tmp_path / "v.txt"
  path.write_bytes(b"[PAD]\r\n  hello \nworld\n\n##s\n")
  vocab = tokenization.load_vocab(str(path))
  assert list(vocab.items()) == [("[PAD]", 0), ("hello", 1), ("world", 2),
                                 ("", 3), ("##s", 4)]


def test_load_vocab_errors(tmp_path):
  missing = str(tmp_path / "nope" / "vocab.txt")
  with pytest.raises(FileNotFoundError, match="nope"):
    tokenization.load_vocab(missing)
  with pytest.raises(FileNotFoundError):
    tokenization.FullTokenizer(missing)
  empty = tmp_path / "empty.txt"
  empty.write_text("")
  with pytest.raises(ValueError, match="empty.txt.*empty"):
    tokenization.load_vocab(str(empty))
  with pytest.raises(ValueError, match="directory"):
    tokenization.load_vocab(str(tmp_path))
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes(b"caf\xe9\n")
  with pytest.raises(ValueError, match="latin1.txt.*UTF-8"):
    tokenization.load_vocab(str(latin1))


def test_minilm_vocab(minilm_vocab):
  vocab = tokenization.load_vocab(minilm_vocab)
  assert len(vocab) == 30522
  assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [
      0, 100, 101, 102, 103]
  tokenizer = tokenization.FullTokenizer(minilm_vocab, do_lower_case=True)
  tokens = tokenizer.tokenize("Hello, world! Unaffable.")
  assert tokens == ["hello", ",", "world", "!", "una", "##ffa", "##ble", "."]
  assert tokenizer.convert_tokens_to_ids(tokens)[:4] == [7592, 1010, 2088, 999]


def test_convert_ids_round_trip(toy_vocab_file):
  tokenizer = tokenization.FullTokenizer(toy_vocab_file)
  tokens = tokenizer.tokenize(u"UNwant\u00e9d,running")
  assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert ids == [7, 4, 5, 10, 8, 9]
  assert tokenizer.convert_ids_to_tokens(ids) == tokens
  assert tokenization.convert_tokens_to_ids(tokenizer.vocab, tokens) == ids
  assert tokenization.convert_ids_to_tokens(tokenizer.inv_vocab, ids) == tokens
  assert tokenization.convert_by_vocab(tokenizer.vocab, []) == []
  with pytest.raises(KeyError, match="nope"):
    tokenizer.convert_tokens_to_ids(["nope"])
  assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
  assert isinstance(tokenizer.wordpiece_tokenizer,
                    tokenization.WordpieceTokenizer)
  assert tokenizer.tokenize(u"UNwant\u00e9d".encode("utf-8")) == [
      "un", "##want", "##ed"]


def test_whitespace_tokenize():
  assert tokenization.whitespace_tokenize(" \t ") == []
  assert tokenization.whitespace_tokenize(" a\tb\n c \u3000d") == [
      "a", "b", "c", "d"]


def test_chinese_chars_are_split():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize(u"ah\u535a\u63a8zz") == [
      "ah", u"\u535a", u"\u63a8", "zz"]
  # Kana and hangul separate words by spaces and are not split.
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert cased.tokenize(u"\u3072\u3089\u304c\u306a \ud55c\uad6d\uc5b4") == [
      u"\u3072\u3089\u304c\u306a", u"\ud55c\uad6d\uc5b4"]
  # Lower-casing strips the voicing mark (U+3099, an Mn) off "ga", as
  # Google's uncased models saw it.
  assert tokenizer.tokenize(u"\u304c") == [u"\u304b"]
  assert tokenizer.tokenize(u"x\U00020000y") == ["x", u"\U00020000", "y"]


def test_lower_case_strips_accents():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  assert tokenizer.tokenize(u" \tHeLLo!how  \n Are yoU?  ") == [
      "hello", "!", "how", "are", "you", "?"]
  assert tokenizer.tokenize(u"H\u00e9llo") == ["hello"]
  assert tokenizer.tokenize(u"He\u0301llo \u0130") == ["hello", "i"]


def test_cased_keeps_accents_and_does_not_nfc():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(u" \tHeLLo!how  \n Are yoU?  ") == [
      "HeLLo", "!", "how", "Are", "yoU", "?"]
  assert tokenizer.tokenize(u"H\u00e9llo") == [u"H\u00e9llo"]
  # No NFC: decomposed text and singleton code points stay as they are.
  assert tokenizer.tokenize(u"e\u0301 \u212b") == [u"e\u0301", u"\u212b"]


def test_control_chars_dropped_and_whitespace_mapped():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(u"a\x00b\u200bc\ufffd d\x07\u200e\ufeff") == [
      "abc", "d"]
  # Only Cc/Cf are control: private-use and unassigned code points stay.
  assert tokenizer.tokenize(u"a\ue000b \u0378") == [u"a\ue000b", u"\u0378"]
  assert tokenizer.tokenize(u"a\u00a0b\u3000c\u2009d\te\nf\rg") == list(
      "abcdefg")


def test_punctuation_split():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  assert tokenizer.tokenize(u"a$b^c`d~e") == list("a$b^c`d~e")
  assert tokenizer.tokenize(u"\u00bfQu\u00e9?") == [u"\u00bf", "que", "?"]
  assert tokenizer.tokenize(u"a\u2014b\u300cc\u300d") == [
      "a", u"\u2014", "b", u"\u300c", "c", u"\u300d"]
  # Non-ASCII symbols (S*) are not punctuation.
  assert tokenizer.tokenize(u"a\u20acb 1+1") == [u"a\u20acb", "1", "+", "1"]
  is_punctuation = tokenization._is_punctuation  # pylint: disable=protected-access
  assert all(is_punctuation(c) for c in u"!\u3001\u00b7_")
  assert not any(is_punctuation(c) for c in u"A \u20ac5")


def test_wordpiece_greedy_longest_match():
  vocab = {t: i for i, t in enumerate(TOY_VOCAB)}
  tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
  assert tokenizer.tokenize("") == []
  assert tokenizer.tokenize("unwanted running") == [
      "un", "##want", "##ed", "runn", "##ing"]
  assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
  # Longest first: "want" wins over "wa" + ...
  assert tokenizer.tokenize("want wa") == ["want", "wa"]


def test_wordpiece_long_word_is_unk():
  vocab = {"[UNK]": 0, "a": 1, "##a": 2}
  tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
  assert tokenizer.max_input_chars_per_word == 200
  assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
  assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
  short = tokenization.WordpieceTokenizer(vocab, unk_token="<?>",
                                          max_input_chars_per_word=3)
  assert short.tokenize("aaaa aaa") == ["<?>", "a", "##a", "##a"]
  # A vocabulary of pieces shorter than "##" still works.
  assert tokenization.WordpieceTokenizer({"a": 0}).tokenize("aa") == ["[UNK]"]


def test_validate_case_matches_checkpoint():
  validate = tokenization.validate_case_matches_checkpoint
  uncased = "/models/uncased_L-12_H-768_A-12/bert_model.ckpt"
  cased = "gs://b/multi_cased_L-12_H-768_A-12/bert_model.ckpt"
  validate(True, uncased)
  validate(False, cased)
  validate(False, None)
  validate(True, "")
  validate(False, "/models/my_model/bert_model.ckpt")
  validate(False, "/models/uncased_L-12_H-768_A-12/model.ckpt-100")
  with pytest.raises(ValueError, match=("do_lower_case=False with .*"
                                        "uncased_L-12.*an uncased .*"
                                        "pass --do_lower_case=True")):
    validate(False, uncased)
  with pytest.raises(ValueError, match="do_lower_case=False"):
    validate(True, cased)
  with pytest.raises(ValueError, match="chinese_L-12_H-768_A-12"):
    validate(False, "C:\\m\\chinese_L-12_H-768_A-12\\bert_model.ckpt.index")


# ---------------------------------------------------------------------------
# Offsets.
# ---------------------------------------------------------------------------


def test_offsets_examples():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  text = u"H\u00e9llo, W\u200borld!  \u4e2d\u6587 cafe\u0301."
  words, offsets = tokenizer.tokenize_with_offsets(text)
  assert words == ["hello", ",", "world", "!", u"\u4e2d", u"\u6587", "cafe",
                   "."]
  assert [text[s:e] for s, e in offsets] == [
      u"H\u00e9llo", ",", u"W\u200borld", "!", u"\u4e2d", u"\u6587",
      u"cafe\u0301", "."]
  assert tokenizer.tokenize_with_offsets(u" \x00 ") == ([], [])
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert cased.tokenize_with_offsets(u"A\u0130b") == ([u"A\u0130b"], [(0, 3)])


def _fold_sigma(text):
  # Python lower-cases a capital sigma by its neighbours (see the docstring).
  return text.replace(u"\u03c2", u"\u03c3")


# Lower-casing is where offsets get hard (accents, expansions such as
# U+0130); the cased run checks a third of the lines to save time.
@pytest.mark.parametrize("do_lower_case, step", [(True, 1), (False, 3)])
def test_offsets_on_corpus(corpus, do_lower_case, step):
  tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  for line in corpus[::step]:
    words, offsets = tokenizer.tokenize_with_offsets(line)
    assert words == tokenizer.tokenize(line), repr(line)
    assert len(offsets) == len(words)
    previous_end = 0
    for word, (start, end) in zip(words, offsets):
      assert previous_end <= start < end <= len(line), repr(line)
      previous_end = end
      again = tokenizer.tokenize(line[start:end])
      assert [_fold_sigma(w) for w in again] == [_fold_sigma(word)], (
          repr(line), start, end)
