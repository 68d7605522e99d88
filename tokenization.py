# coding=utf-8
"""Tokenization classes with the semantics of Google's BERT `tokenization.py`.

`FullTokenizer` runs a `BasicTokenizer` (text cleaning, CJK splitting, optional
lower-casing with accent stripping, punctuation splitting) and then a
`WordpieceTokenizer` (greedy longest-match-first sub-words) over each word.

The behaviour follows Google's code exactly, which differs from the
pure-Python tokenizer of Hugging Face `transformers` in three places:
  * words of up to 200 characters are split into word pieces (transformers:
    100); longer words become `[UNK]`;
  * only Unicode categories Cc and Cf count as control characters to drop
    (transformers drops every C* category: also Cn, Co and Cs);
  * text is not NFC-normalised before splitting.
Also, like Google's, it splits "[CLS]", "[MASK]" and the like when they occur in
the input text; transformers' public `tokenize` keeps them whole.
`tests/test_tokenization.py` checks token and id equality against the
transformers reference with those three settings made Google's.

`BasicTokenizer.tokenize_with_offsets` also returns, for every word, the
character span it came from in the original text, for reporting entities found
in raw text.
"""

import collections
import os
import re
import unicodedata

# Checkpoint folder names from Google's BERT release, used to catch a
# `do_lower_case` flag that does not match how the checkpoint was pre-trained.
_UNCASED_MODELS = frozenset([
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
    "wwm_uncased_L-24_H-1024_A-16",
])
_CASED_MODELS = frozenset([
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
    "wwm_cased_L-24_H-1024_A-16",
])

# Code point blocks that count as CJK ideographs (Google's list). Hangul,
# hiragana and katakana are not here: those scripts separate words by spaces.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0x3400, 0x4DBF),    # Extension A
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2B73F),  # Extension C
    (0x2B740, 0x2B81F),  # Extension D
    (0x2B820, 0x2CEAF),  # Extension E
    (0xF900, 0xFAFF),    # Compatibility Ideographs
    (0x2F800, 0x2FA1F),  # Compatibility Ideographs Supplement
)


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
  """Checks that `do_lower_case` fits a well-known Google checkpoint.

  The casing of a checkpoint is not stored in its `bert_config.json`, so it is
  guessed from the folder name that Google's downloads unpack to, e.g.
  `.../uncased_L-12_H-768_A-12/bert_model.ckpt`. Unknown names pass.

  Args:
    do_lower_case: bool, the value of the `--do_lower_case` flag.
    init_checkpoint: str or None, the checkpoint path (`.../bert_model.ckpt`).

  Raises:
    ValueError: if the checkpoint is a known cased model and `do_lower_case`
      is True, or a known uncased model and `do_lower_case` is False.
  """
  if not init_checkpoint:
    return
  match = re.search(r"([A-Za-z0-9_-]+)[/\\]bert_model\.ckpt", init_checkpoint)
  if match is None:
    return
  model_name = match.group(1)
  if model_name in _UNCASED_MODELS and not do_lower_case:
    case_name, wanted = "an uncased (lower-cased)", True
  elif model_name in _CASED_MODELS and do_lower_case:
    case_name, wanted = "a cased", False
  else:
    return
  raise ValueError(
      "You passed --do_lower_case=%s with --init_checkpoint=%s, but `%s` is "
      "%s model: pass --do_lower_case=%s so that fine-tuning sees text the "
      "way pre-training did." %
      (not wanted, init_checkpoint, model_name, case_name, wanted))


def convert_to_unicode(text):
  """Returns `text` as `str`, decoding UTF-8 bytes (bad bytes are dropped).

  Args:
    text: str or bytes.

  Returns:
    The text as a `str`.

  Raises:
    ValueError: for any other type.
  """
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError("Unsupported string type: %s" % type(text))


def printable_text(text):
  """Returns `text` (str or UTF-8 bytes) as a `str` for printing or logging."""
  # In Python 3 the printable form and the unicode form are the same `str`.
  return convert_to_unicode(text)


def _open_text(path):
  """Opens a local or remote (gs://, hdfs://, ...) file for reading text."""
  if "://" in path:
    # Only remote paths need TensorFlow's file system layer; importing it
    # lazily keeps plain tokenization free of a multi-second TF import.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.io.gfile.GFile(path, "r")
  return open(path, "r", encoding="utf-8")


def _check_vocab_path(vocab_file):
  """Raises a clear error if `vocab_file` is not a readable local file."""
  if "://" in vocab_file:
    return  # Remote file systems report their own errors.
  if not os.path.exists(vocab_file):
    raise FileNotFoundError("Vocabulary file not found: %s" % vocab_file)
  if os.path.isdir(vocab_file):
    raise ValueError("Vocabulary file %s is a directory; pass the path of its "
                     "vocab.txt" % vocab_file)


def _first_bad_utf8_line(path):
  """' (line N, byte 0xXX)' for the first line of `path` that is not UTF-8,
  or '' (for the error message of a vocab that failed to decode)."""
  try:
    if "://" in path:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    else:
      with open(path, "rb") as f:
        data = f.read()
  except OSError:
    return ""
  for number, line in enumerate(data.split(b"\n"), 1):
    try:
      line.decode("utf-8")
    except UnicodeDecodeError as e:
      return " (line %d, byte 0x%02x)" % (number, line[e.start])
  return ""


def load_vocab(vocab_file):
  """Loads a vocabulary file (one token a line) into an ordered dictionary.

  As in Google's code each line is stripped of surrounding whitespace and a
  token's id is its 0-based line number.

  Args:
    vocab_file: str, path of the vocabulary file (UTF-8).

  Returns:
    A `collections.OrderedDict` mapping token (str) to id (int).

  Raises:
    FileNotFoundError: if `vocab_file` does not exist.
    ValueError: if it is a directory, not UTF-8, or holds no tokens.
  """
  _check_vocab_path(vocab_file)
  vocab = collections.OrderedDict()
  try:
    with _open_text(vocab_file) as reader:
      for index, line in enumerate(reader):
        vocab[convert_to_unicode(line).strip()] = index
  except UnicodeDecodeError as e:
    raise ValueError("Vocabulary file %s is not UTF-8 text%s: %s; expected "
                     "one token a line in UTF-8" %
                     (vocab_file, _first_bad_utf8_line(vocab_file), e.reason))
  if not vocab:
    raise ValueError("Vocabulary file %s is empty" % vocab_file)
  return vocab


def convert_by_vocab(vocab, items):
  """Maps each item through `vocab` (tokens to ids or ids to tokens).

  Args:
    vocab: dict, the mapping to apply.
    items: iterable of keys of `vocab`.

  Returns:
    A list with `vocab[item]` for each item.

  Raises:
    KeyError: naming the first item that `vocab` does not hold.
  """
  output = []
  for item in items:
    try:
      output.append(vocab[item])
    except KeyError:
      raise KeyError("%r is not in the vocabulary" % (item,))
  return output


def convert_tokens_to_ids(vocab, tokens):
  """Returns the ids of `tokens` (list of str) under `vocab` (token -> id)."""
  return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
  """Returns the tokens of `ids` (list of int) under `inv_vocab` (id->token)."""
  return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text):
  """Strips `text` and splits it on runs of whitespace (`str.split()`)."""
  text = text.strip()
  if not text:
    return []
  return text.split()


class FullTokenizer(object):
  """Runs end-to-end tokenization: basic tokenization, then WordPiece."""

  def __init__(self, vocab_file, do_lower_case=True):
    """Loads the vocabulary and builds both tokenizers.

    Args:
      vocab_file: str, path of `vocab.txt` (one token a line).
      do_lower_case: bool, whether to lower-case and strip accents; must
        match how the checkpoint was pre-trained.
    """
    self.vocab = load_vocab(vocab_file)
    self.inv_vocab = {v: k for k, v in self.vocab.items()}
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

  def tokenize(self, text):
    """Splits `text` (str or UTF-8 bytes) into a list of word pieces."""
    split_tokens = []
    for token in self.basic_tokenizer.tokenize(text):
      split_tokens.extend(self.wordpiece_tokenizer.tokenize(token))
    return split_tokens

  def convert_tokens_to_ids(self, tokens):
    """Returns the ids of `tokens`; raises KeyError for unknown tokens."""
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    """Returns the tokens of `ids`; raises KeyError for unknown ids."""
    return convert_by_vocab(self.inv_vocab, ids)


class BasicTokenizer(object):
  """Runs basic tokenization (punctuation splitting, lower casing, etc.)."""

  def __init__(self, do_lower_case=True):
    """Constructs a BasicTokenizer.

    Args:
      do_lower_case: bool, whether to lower-case the input and strip accents
        (Unicode category Mn after NFD decomposition).
    """
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    """Splits a piece of text into words and punctuation marks.

    Args:
      text: str or UTF-8 bytes.

    Returns:
      A list of words (str), each free of whitespace.
    """
    text = convert_to_unicode(text)
    text = self._clean_text(text)
    # Spacing out CJK ideographs was added for the multilingual and Chinese
    # models; it is harmless for English models, so it always runs.
    text = self._tokenize_chinese_chars(text)
    split_tokens = []
    for token in whitespace_tokenize(text):
      if self.do_lower_case:
        token = self._run_strip_accents(token.lower())
      split_tokens.extend(self._run_split_on_punc(token))
    return whitespace_tokenize(" ".join(split_tokens))

  def tokenize_with_offsets(self, text):
    """Like `tokenize`, but also returns where each word lies in `text`.

    The words are exactly those of `tokenize(text)`. Each word's span
    `(start, end)` indexes the original `text` (before cleaning, lower-casing
    or accent stripping), so `text[start:end]` is the raw form of the word:
    characters that the word lost on the way (an accent stripped off its end,
    a zero-width control character inside it) stay inside the span. Running
    `tokenize` on `text[start:end]` gives back `[word]`, with one exception:
    Python lower-cases a Greek capital sigma by its context (σ or final ς),
    and cutting the span out can change that context.

    Args:
      text: str (for bytes, the offsets index the UTF-8-decoded text).

    Returns:
      A pair `(words, offsets)`: `words` a list of str, `offsets` a list of
      `(start, end)` int pairs of the same length, `start < end`.
    """
    text = convert_to_unicode(text)
    words, offsets = [], []
    for token in self._source_words(text):
      pieces = self._normalize_with_sources(token)
      self._split_with_sources(pieces, token[-1][1] + 1, words, offsets)
    return words, offsets

  def _source_words(self, text):
    """Cleans `text` and splits it on whitespace, keeping source positions.

    Returns:
      A list of whitespace tokens, each a list of `(char, index in text)`.
    """
    tokens, current = [], []
    for index, char in enumerate(text):
      if _is_dropped(char):
        continue
      if _is_whitespace(char) or char.isspace():
        # `isspace` also covers U+2028/U+2029, on which `str.split` splits.
        if current:
          tokens.append(current)
        current = []
      elif _is_chinese_char(ord(char)):
        if current:
          tokens.append(current)
        tokens.append([(char, index)])
        current = []
      else:
        current.append((char, index))
    if current:
      tokens.append(current)
    return tokens

  def _normalize_with_sources(self, token):
    """Lower-cases and strips accents like `tokenize`, tracking sources.

    Args:
      token: a list of `(char, index in text)`, one whitespace token.

    Returns:
      A list of `(char, index in text)` for the normalised token.
    """
    raw = "".join(char for char, _ in token)
    if not self.do_lower_case:
      return list(token)
    # The word itself comes from the whole-token pipeline (lower-casing a
    # sigma depends on its neighbours); the sources come from running the
    # same steps one character at a time.
    normalized = self._run_strip_accents(raw.lower())
    sources = []
    for char, index in token:
      piece = self._run_strip_accents(char.lower())
      sources.extend([index] * len(piece))
    if len(sources) != len(normalized):
      # Never seen in practice; fall back to the span of the whole token.
      sources = [token[0][1]] * len(normalized)
    return list(zip(normalized, sources))

  def _split_with_sources(self, pieces, token_end, words, offsets):
    """Splits one normalised token on punctuation, appending words and spans.

    A word's span starts at the source of its first character and ends where
    the next word starts (or at `token_end`), so dropped characters between
    them stay inside a span.

    Args:
      pieces: a list of `(char, index in text)` (see above).
      token_end: int, one past the last source character of the token.
      words: list to which the words (str) are appended.
      offsets: list to which the `(start, end)` spans are appended.
    """
    groups = []
    start_new_word = True
    for char, index in pieces:
      if char.isspace():
        start_new_word = True  # `tokenize` splits again on whitespace.
        continue
      if _is_punctuation(char):
        groups.append([(char, index)])
        start_new_word = True
        continue
      if start_new_word:
        groups.append([])
        start_new_word = False
      groups[-1].append((char, index))
    for i, group in enumerate(groups):
      end = groups[i + 1][0][1] if i + 1 < len(groups) else token_end
      words.append("".join(char for char, _ in group))
      # `max` keeps `start < end` should one source character ever yield the
      # end of this word and the start of the next.
      offsets.append((group[0][1], max(end, group[-1][1] + 1)))

  def _run_strip_accents(self, text):
    """Decomposes `text` (NFD) and drops non-spacing marks (category Mn)."""
    text = unicodedata.normalize("NFD", text)
    return "".join(char for char in text if unicodedata.category(char) != "Mn")

  def _run_split_on_punc(self, text):
    """Splits `text` into runs of non-punctuation and single punctuation."""
    output = []
    start_new_word = True
    for char in text:
      if _is_punctuation(char):
        output.append([char])
        start_new_word = True
      else:
        if start_new_word:
          output.append([])
        start_new_word = False
        output[-1].append(char)
    return ["".join(x) for x in output]

  def _tokenize_chinese_chars(self, text):
    """Puts spaces around every CJK ideograph in `text`."""
    output = []
    for char in text:
      if _is_chinese_char(ord(char)):
        output.extend((" ", char, " "))
      else:
        output.append(char)
    return "".join(output)

  def _is_chinese_char(self, cp):
    """Checks whether code point `cp` is a CJK ideograph."""
    return _is_chinese_char(cp)

  def _clean_text(self, text):
    """Drops invalid and control characters; maps whitespace to spaces."""
    output = []
    for char in text:
      if _is_dropped(char):
        continue
      output.append(" " if _is_whitespace(char) else char)
    return "".join(output)


class WordpieceTokenizer(object):
  """Runs WordPiece tokenization."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    """Constructs a WordpieceTokenizer.

    Args:
      vocab: dict-like holding the known pieces (token -> id); continuation
        pieces carry a "##" prefix.
      unk_token: str, emitted for a word that cannot be covered by pieces.
      max_input_chars_per_word: int, longer words become `unk_token` unsplit.
    """
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word
    # No piece is longer than this, so longer candidates need no look-up;
    # this turns the search for a 200-character word from quadratic into
    # near-linear without changing any result.
    self._max_piece_chars = max([len(t) for t in vocab] or [0])

  def tokenize(self, text):
    """Tokenizes a piece of text into its word pieces.

    Greedy longest-match-first: at each position take the longest piece in
    the vocabulary ("##"-prefixed after the first). If some position has no
    match, the whole word becomes `unk_token`. For example
    "unaffable" -> ["un", "##aff", "##able"].

    Args:
      text: str or UTF-8 bytes: a single word or words separated by
        whitespace, already passed through `BasicTokenizer`.

    Returns:
      A list of word pieces (str).
    """
    text = convert_to_unicode(text)
    output_tokens = []
    for token in whitespace_tokenize(text):
      if len(token) > self.max_input_chars_per_word:
        output_tokens.append(self.unk_token)
        continue
      sub_tokens = self._greedy_pieces(token)
      if sub_tokens is None:
        output_tokens.append(self.unk_token)
      else:
        output_tokens.extend(sub_tokens)
    return output_tokens

  def _greedy_pieces(self, token):
    """Returns the greedy pieces covering `token`, or None if there are none."""
    pieces = []
    start = 0
    while start < len(token):
      prefix = "##" if start > 0 else ""
      end = min(len(token), start + self._max_piece_chars - len(prefix))
      while end > start and prefix + token[start:end] not in self.vocab:
        end -= 1
      if end <= start:
        return None
      pieces.append(prefix + token[start:end])
      start = end
    return pieces


def _is_dropped(char):
  """Checks whether `_clean_text` removes `char` (NUL, U+FFFD, control)."""
  return char == "\x00" or char == "\ufffd" or _is_control(char)


def _is_whitespace(char):
  """Checks whether `char` is whitespace (space, \\t, \\n, \\r or Zs)."""
  # \t, \n and \r are control characters in Unicode, but they separate words
  # in practice, so they count as whitespace here.
  if char in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(char) == "Zs"


def _is_control(char):
  """Checks whether `char` is a control character (category Cc or Cf)."""
  # Only Cc and Cf, as in Google's code: unassigned (Cn), private-use (Co)
  # and surrogate (Cs) code points are kept, and WordPiece makes them [UNK].
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
  """Checks whether `char` is punctuation (ASCII symbols or category P*)."""
  cp = ord(char)
  # Every non-alphanumeric printable ASCII character counts, so that "$", "^",
  # "`" and friends split words although Unicode files them as symbols (S*).
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
  """Checks whether code point `cp` is a CJK ideograph (see _CJK_RANGES)."""
  for low, high in _CJK_RANGES:
    if low <= cp <= high:
      return True
  return False
