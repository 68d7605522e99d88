# coding=utf-8
"""The data layer of `run_ner.py`: reading, checking and aligning NER data.

Pure Python (no TensorFlow), so that every rule here is tested in
milliseconds. The data's way through this module:

  CoNLL file  -> read_conll    -> InputExample (words, gold tags, file:line)
  raw text    -> read_raw_text -> InputExample (words, character offsets)
  InputExample -> convert_examples (tokenizer, LabelMap) -> InputFeatures
  per-feature predicted ids -> merge_predictions -> one tag per word
  tags -> entities_with_offsets -> entities with character or word spans

Alignment rules, and why:
  * Loss and prediction sit on the FIRST word-piece of each word
    (`label_mask` 1 there). Continuation pieces, [CLS], [SEP] and padding are
    masked out, and there is no extra 'X' label that the model would have to
    learn and evaluation would have to skip.
  * A sentence longer than the model's window is split into overlapping
    windows that start at word boundaries; each word is "owned" by the window
    where it has the most context on both sides (the max-context rule of
    Google's `run_squad.py`), so every word gets exactly one prediction.
  * With `truncate=True` the words that do not fit are dropped, counted and
    reported; `merge_predictions` tags them 'O'. Nothing vanishes silently.

Every error in the input is a `NerDataError` whose message reads
`path:LINE: what was wrong; what was expected`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os
import random
import re

import atomic_files
import input_limits
import ner_metrics
import tokenization

# Splits text into lines exactly as editors number them: "\r\n", "\r" and
# "\n" each end one line. (`str.splitlines` would also split on \v, \f,
# U+2028 and friends, and then line numbers would drift.)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_DOCSTART = "-DOCSTART-"

# Names of the features that go into TFRecords, in `InputFeatures`.
FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids", "label_ids",
                 "label_mask", "is_real_example")


class NerDataError(ValueError):
  """Bad NER input; the message reads `path:LINE: what was wrong ...`."""

  def __init__(self, path, line, message):
    """Builds the error.

    Args:
      path: str, the file at fault.
      line: int (1-based) or None when no single line is at fault (e.g. the
        file is missing).
      message: str, what was wrong and what was expected.
    """
    self.path = path
    self.line = line
    self.message = message
    where = path if line is None else "%s:%d" % (path, line)
    super(NerDataError, self).__init__("%s: %s" % (where, message))

  def __reduce__(self):
    # The default pickling calls cls(*args) with the formatted message only;
    # keep the three fields so errors cross process boundaries intact.
    return (self.__class__, (self.path, self.line, self.message))


class InputExample(object):
  """One sentence: its words, gold tags if known, and where it came from."""

  def __init__(self, guid, words, labels=None, source=None, lines=None,
               text=None, offsets=None):
    """Constructs an InputExample.

    Args:
      guid: str, unique id, `file name:first line`.
      words: list of str, the sentence's words.
      labels: list of str (one tag per word) or None when there are no gold
        tags (prediction input).
      source: (path, first_line_number) or None.
      lines: list of int, the line number of each word (CoNLL files), or None
        when all words come from the source's line (raw text).
      text: str, the raw line for raw-text examples, else None.
      offsets: list of (start, end) character spans of the words in `text`
        (end exclusive), or None.
    """
    if labels is not None and len(labels) != len(words):
      raise ValueError("%s: %d words but %d labels" %
                       (guid, len(words), len(labels)))
    self.guid = guid
    self.words = list(words)
    self.labels = None if labels is None else list(labels)
    self.source = source
    self.lines = lines
    self.text = text
    self.offsets = offsets

  def location(self, word_index=0):
    """Returns (path, line number) of word `word_index`, for error messages."""
    if self.source is None:
      return self.guid, None
    path, first_line = self.source
    if self.lines is not None and 0 <= word_index < len(self.lines):
      return path, self.lines[word_index]
    return path, first_line

  def __repr__(self):
    return "InputExample(guid=%r, words=%r, labels=%r)" % (
        self.guid, self.words, self.labels)


# ---------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------


def _read_bytes(path):
  """Returns the bytes of a local or remote (gs://, ...) file."""
  if "://" in path:
    # Only remote paths need TensorFlow's file systems; a lazy import keeps
    # this module free of TF.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not tf.io.gfile.exists(path):
      raise NerDataError(path, None, "file not found")
    with tf.io.gfile.GFile(path, "rb") as f:
      return f.read()
  if not os.path.exists(path):
    raise NerDataError(path, None, "file not found")
  if os.path.isdir(path):
    raise NerDataError(path, None, "is a directory; expected a text file")
  # Streams the file once first, so that an over-long line (a binary file,
  # a corpus without line ends) is refused before it is read whole.
  long_line = input_limits.find_long_line(path)
  if long_line is not None:
    raise NerDataError(path, long_line, input_limits.line_too_long())
  with open(path, "rb") as f:
    return f.read()


def _read_lines(path):
  """Reads a UTF-8 text file into lines without their line ends.

  Args:
    path: str, the file.

  Returns:
    A list of str; line `n` (1-based) of the file is element `n - 1`.

  Raises:
    NerDataError: if the file is missing or not UTF-8 (naming the line and
      the byte offset of the first bad byte).
  """
  data = _read_bytes(path)
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    prefix = data[:e.start]
    line = 1 + len(re.findall(rb"\r\n|\r|\n", prefix))
    line_start = max(prefix.rfind(b"\n"), prefix.rfind(b"\r")) + 1
    raise NerDataError(
        path, line,
        "invalid UTF-8 byte 0x%02x at byte offset %d of the file (byte %d of "
        "the line); expected UTF-8 text" %
        (data[e.start], e.start, e.start - line_start + 1))
  if text.startswith(u"\ufeff"):
    text = text[1:]  # A byte order mark is not part of the first word.
  lines = _LINE_BREAK.split(text)
  if lines and not lines[-1]:
    lines.pop()  # The final line end does not start another line.
  return lines


def _atomic_write_text(path, text):
  """Writes `text` to `path` so that readers never see a half-written file."""
  if "://" in path:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tmp_path = "%s.tmp%d" % (path, os.getpid())
    with tf.io.gfile.GFile(tmp_path, "w") as f:
      f.write(text)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
    return
  atomic_files.write_text_atomic(path, text)


# ---------------------------------------------------------------------------
# Readers.
# ---------------------------------------------------------------------------


def _split_columns(line, tab_separated):
  """Splits one data line into its columns.

  Tab-separated files (e.g. Chinese `char<TAB>tag`) split on tabs only, so a
  whitespace character can itself be a word; other files split on runs of
  whitespace, as CoNLL-2003's space-separated columns need.
  """
  if not tab_separated:
    return line.split()
  # Strip padding around fields, but keep a field that is only whitespace.
  return [field.strip() or field for field in line.split("\t")]


def _column_index(index, num_columns, path, line, what):
  """Resolves a possibly negative column index, or raises NerDataError."""
  resolved = index + num_columns if index < 0 else index
  if not 0 <= resolved < num_columns:
    raise NerDataError(
        path, line, "the %s column %d does not exist: the first data line has "
        "%d column(s)" % (what, index, num_columns))
  return resolved


class _ConllLayout(object):
  """The column layout of a CoNLL file, fixed by its first data line."""

  def __init__(self, path, line_number, line, tag_column, word_column,
               has_labels):
    self.line_number = line_number
    self.tab_separated = "\t" in line
    self.num_columns = len(_split_columns(line, self.tab_separated))
    if has_labels is None:
      # A file of single-column lines holds words only: prediction input.
      has_labels = self.num_columns > 1
    self.has_labels = has_labels
    self.word_column = _column_index(word_column, self.num_columns, path,
                                     line_number, "word")
    self.tag_column = None
    if has_labels:
      if self.num_columns < 2:
        raise NerDataError(
            path, line_number, "found 1 column but gold tags were requested; "
            "expected `word ... tag` columns")
      self.tag_column = _column_index(tag_column, self.num_columns, path,
                                      line_number, "tag")
      if self.tag_column == self.word_column:
        raise NerDataError(
            path, line_number, "the word column and the tag column are both "
            "column %d; expected two different columns" % self.word_column)


def _parse_conll_line(fields, layout, path, line_number):
  """Returns (word, tag or None) of one data line, or raises NerDataError."""
  if len(fields) != layout.num_columns:
    # In a `word tag` file a lone word can only mean the tag is missing.
    what = ("empty tag" if layout.has_labels and layout.num_columns == 2 and
            len(fields) == 1 else "wrong column count")
    raise NerDataError(
        path, line_number, "%s: found %d column(s), but the first data line "
        "(line %d) has %d; expected the same %s-separated columns on every "
        "line" % (what, len(fields), layout.line_number, layout.num_columns,
                  "tab" if layout.tab_separated else "whitespace"))
  word = fields[layout.word_column]
  if not word:
    raise NerDataError(path, line_number, "empty word in column %d; expected "
                       "a word" % layout.word_column)
  if layout.tag_column is None:
    return word, None
  tag = fields[layout.tag_column].strip()
  if not tag:
    raise NerDataError(path, line_number, "empty tag in column %d; expected a "
                       "tag such as O or B-PER" % layout.tag_column)
  if len(tag.split()) > 1:
    raise NerDataError(path, line_number, "tag %r holds whitespace; expected "
                       "one tag such as O or B-PER" % tag)
  return word, tag


def read_conll(path, tag_column=-1, word_column=0, has_labels=None):
  """Reads a CoNLL column file: one word a line, blank lines end sentences.

  Works for CoNLL-2003 (`word POS chunk tag`), two-column files and
  char-per-line Chinese files (`char<TAB>tag`). `-DOCSTART-` lines are
  skipped (and end a sentence); every blank line ends a sentence, and runs of
  blank lines are fine. "\\n", "\\r\\n" and "\\r" line ends all work.

  Args:
    path: str, the file.
    tag_column: int, the column holding the tag (negative counts from the
      end; default the last).
    word_column: int, the column holding the word.
    has_labels: True (the file must have gold tags), False (ignore any), or
      None to decide from the file: a file whose lines have one column has no
      gold tags.

  Returns:
    A list of InputExample, with `labels` None when there are no gold tags.

  Raises:
    NerDataError: naming file and line, for a missing or non-UTF-8 file, a
      line whose column count differs from the first data line's, an empty
      tag, a bad column index, or a file without sentences.
  """
  lines = _read_lines(path)
  name = os.path.basename(path)
  examples = []
  layout = None
  words, tags, word_lines = [], [], []

  def end_sentence():
    if words:
      examples.append(InputExample(
          guid="%s:%d" % (name, word_lines[0]), words=list(words),
          labels=list(tags) if layout.has_labels else None,
          source=(path, word_lines[0]), lines=list(word_lines)))
    del words[:], tags[:], word_lines[:]

  for line_number, line in enumerate(lines, 1):
    if not line.strip():
      end_sentence()
      continue
    if line.split()[0] == _DOCSTART:
      end_sentence()  # A new document always starts a new sentence.
      continue
    if layout is None:
      layout = _ConllLayout(path, line_number, line, tag_column, word_column,
                            has_labels)
    fields = _split_columns(line, layout.tab_separated)
    word, tag = _parse_conll_line(fields, layout, path, line_number)
    words.append(word)
    tags.append(tag)
    word_lines.append(line_number)
  if layout is not None:
    end_sentence()
  if not examples:
    raise NerDataError(
        path, max(len(lines), 1), "no sentences found; expected lines of "
        "`word ... tag` columns with a blank line after each sentence")
  return examples


def split_words_with_offsets(text):
  """Splits raw text into words the way BERT's basic tokenizer does.

  Whitespace separates words; each punctuation mark and each CJK character is
  a word of its own. Case and accents are kept (the model's tokenizer
  normalises them later), so tagging does not depend on `do_lower_case`.

  Args:
    text: str, one sentence.

  Returns:
    (words, offsets): a list of str and a list of (start, end) character
    spans into `text` (end exclusive), one per word.
  """
  basic = tokenization.BasicTokenizer(do_lower_case=False)
  return basic.tokenize_with_offsets(text)


def read_raw_text(path):
  """Reads raw text for prediction: one sentence a line.

  Blank lines are skipped; guids and error locations keep the file's line
  numbers.

  Args:
    path: str, the file (UTF-8).

  Returns:
    A list of InputExample with `labels` None, `text` the raw line and
    `offsets` the words' character spans in it.

  Raises:
    NerDataError: for a missing or non-UTF-8 file, or one without text.
  """
  lines = _read_lines(path)
  name = os.path.basename(path)
  examples = []
  for line_number, line in enumerate(lines, 1):
    words, offsets = split_words_with_offsets(line)
    if not words:
      continue
    examples.append(InputExample(
        guid="%s:%d" % (name, line_number), words=words, labels=None,
        source=(path, line_number), text=line, offsets=offsets))
  if not examples:
    raise NerDataError(path, max(len(lines), 1), "no text found; expected "
                       "one sentence a line")
  return examples


# ---------------------------------------------------------------------------
# Labels.
# ---------------------------------------------------------------------------


def collect_labels(examples):
  """Returns the sorted tags of `examples`, with 'O' first (so 'O' is id 0).

  Raises:
    ValueError: if no example has gold tags.
  """
  seen = set()
  any_labels = False
  for example in examples:
    if example.labels is not None:
      any_labels = True
      seen.update(example.labels)
  if not any_labels:
    raise ValueError("cannot collect labels: the examples have no gold tags")
  seen.discard("O")
  return ["O"] + sorted(seen)


def read_labels_file(path):
  """Reads a label list: one label a line, in the order to use for ids.

  'O' is moved (or added) to the front, so that id 0 is 'O'. Blank lines at
  the end of the file are fine.

  Returns:
    A list of str.

  Raises:
    NerDataError: for a blank line between labels, a label with whitespace
      inside, a duplicate, or a file without labels.
  """
  lines = _read_lines(path)
  while lines and not lines[-1].strip():
    lines.pop()
  labels = []
  first_seen = {}
  for line_number, line in enumerate(lines, 1):
    label = line.strip()
    if not label:
      raise NerDataError(path, line_number, "empty line; expected one label "
                         "a line")
    if len(label.split()) > 1:
      raise NerDataError(path, line_number, "label %r holds whitespace; "
                         "expected one label a line" % label)
    if label in first_seen:
      raise NerDataError(path, line_number, "duplicate label %r (first on "
                         "line %d); expected each label once" %
                         (label, first_seen[label]))
    first_seen[label] = line_number
    labels.append(label)
  if not labels:
    raise NerDataError(path, 1, "no labels found; expected one label a line")
  return ["O"] + [label for label in labels if label != "O"]


class LabelMap(object):
  """Maps tags to ids and back; id = position in `labels`, so 'O' is 0.

  Saved as `label_map.json` in output_dir by training and loaded by eval,
  predict and export, so ids mean the same thing in every mode.
  """

  def __init__(self, labels, scheme=None):
    """Constructs a LabelMap.

    Args:
      labels: list of unique str, starting with 'O'.
      scheme: str or None, the tag scheme (e.g. "IOB2"), kept in the file.

    Raises:
      ValueError: if the labels are empty, repeated or do not start with 'O'.
    """
    labels = list(labels)
    if not labels or labels[0] != "O":
      raise ValueError("the label list must start with 'O', got %r" % labels)
    if len(set(labels)) != len(labels):
      raise ValueError("the label list repeats labels: %r" % labels)
    self.labels = labels
    self.scheme = scheme
    self.label_to_id = {label: i for i, label in enumerate(labels)}

  def __len__(self):
    return len(self.labels)

  def __contains__(self, label):
    return label in self.label_to_id

  def __getitem__(self, label):
    return self.label_to_id[label]

  def id_to_label(self, label_id):
    """Returns the label of id `label_id` (int)."""
    return self.labels[label_id]

  def to_json(self):
    """The map as JSON-serialisable data (what `save` writes)."""
    return {"labels": self.labels, "scheme": self.scheme,
            "label_to_id": self.label_to_id}

  def save(self, path):
    """Writes the map as JSON to `path` atomically (temp file, rename)."""
    _atomic_write_text(path, json.dumps(self.to_json(), indent=2,
                                        ensure_ascii=False) + "\n")

  @classmethod
  def load(cls, path):
    """Reads a map written by `save`.

    Raises:
      NerDataError: if the file is missing, not JSON, or not a label map.
    """
    text = "\n".join(_read_lines(path))
    try:
      payload = json.loads(text)
    except (ValueError, RecursionError) as e:  # Recursion: nested too deep.
      raise NerDataError(path, getattr(e, "lineno", None),
                         "not valid JSON (%s); expected a label map written "
                         "by training" % getattr(e, "msg", e))
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if (not isinstance(labels, list) or
        not all(isinstance(label, str) for label in labels)):
      raise NerDataError(path, 1, "no list of strings under \"labels\"; "
                         "expected a label map written by training")
    try:
      label_map = cls(labels, scheme=payload.get("scheme"))
    except ValueError as e:
      raise NerDataError(path, 1, "%s; expected a label map written by "
                         "training" % e)
    saved_ids = payload.get("label_to_id")
    if saved_ids is not None and saved_ids != label_map.label_to_id:
      raise NerDataError(path, 1, "\"label_to_id\" disagrees with the order "
                         "of \"labels\"; expected id = position in the list")
    return label_map


def check_labels(examples, label_list, label_source=None):
  """Checks that every gold tag is in the label list.

  Args:
    examples: list of InputExample.
    label_list: list of str or LabelMap.
    label_source: str or None, where the list came from (e.g. the path of
      label_map.json or --labels_file), for the message.

  Raises:
    NerDataError: naming file and line of the first unknown tag.
  """
  known = set(getattr(label_list, "labels", label_list))
  for example in examples:
    for i, tag in enumerate(example.labels or ()):
      if tag not in known:
        path, line = example.location(i)
        raise NerDataError(
            path, line, "tag %r is not in the label list%s; expected one of "
            "%s" % (tag, " of " + label_source if label_source else "",
                    ", ".join(sorted(known))))


def find_scheme_violations(examples, scheme):
  """Returns a NerDataError for the first scheme violation in each example.

  For callers that would rather warn than fail: e.g. MSRA's files hold a few
  sentences that start inside a name (I-PER first), because they were cut
  at fixed intervals.

  Args:
    examples: list of InputExample.
    scheme: str, "IOB1", "IOB2" (= "BIO") or "IOBES" (= "BIOES").

  Returns:
    A list of NerDataError (not raised), in file order.
  """
  errors = []
  for example in examples:
    if example.labels is None:
      continue
    problem = ner_metrics.validate_tags(example.labels, scheme)
    if problem is not None:
      index, reason = problem
      path, line = example.location(index)
      errors.append(NerDataError(path, line, "the tags break the %s scheme: "
                                 "%s" % (scheme, reason)))
  return errors


def check_scheme(examples, scheme):
  """Checks that the gold tags of every example follow the tag scheme.

  Args:
    examples: list of InputExample.
    scheme: str, "IOB1", "IOB2" (= "BIO") or "IOBES" (= "BIOES").

  Raises:
    NerDataError: naming file and line of the first violation (and how many
      other sentences break the scheme).
  """
  errors = find_scheme_violations(examples, scheme)
  if errors:
    first = errors[0]
    more = ("" if len(errors) == 1 else
            " (%d more sentences break it)" % (len(errors) - 1))
    raise NerDataError(first.path, first.line, first.message + more)


def detect_scheme(examples):
  """Guesses the tag scheme of the gold tags of `examples`.

  Returns:
    "IOBES" if any tag starts with E- or S-; else "IOB1" if some entity
    starts with I- (allowed only in IOB1); else "IOB2".
  """
  starts_with_i = False
  for example in examples:
    prev_prefix, prev_kind = "O", ""
    for tag in example.labels or ():
      prefix, kind = ner_metrics.split_tag(tag)
      if prefix in ("E", "S"):
        return "IOBES"
      if prefix == "I" and (prev_prefix not in ("B", "I") or
                            prev_kind != kind):
        starts_with_i = True
      prev_prefix, prev_kind = prefix, kind
  return "IOB1" if starts_with_i else "IOB2"


# ---------------------------------------------------------------------------
# Sub-word alignment and windowing.
# ---------------------------------------------------------------------------


class InputFeatures(object):
  """One window of one sentence, ready for a TFRecord.

  The six names in FEATURE_NAMES go into TFRecords; `example_index`,
  `word_index` and `words_cut` are bookkeeping for merge_predictions.
  """

  def __init__(self, input_ids, input_mask, segment_ids, label_ids, label_mask,
               is_real_example=1, example_index=-1, word_index=None,
               words_cut=0):
    """Constructs InputFeatures.

    Args:
      input_ids: [max_seq_length] ints, [CLS] pieces [SEP] then 0 padding.
      input_mask: [max_seq_length] ints, 1 for real positions.
      segment_ids: [max_seq_length] ints, all 0 (one segment).
      label_ids: [max_seq_length] ints, the gold tag id at each word's first
        piece (0 elsewhere and when there are no gold tags).
      label_mask: [max_seq_length] ints, 1 at the first piece of each word
        this window owns: where loss and predictions count.
      is_real_example: int, 0 for the padding features TPUs need.
      example_index: int, index of the example in the list converted.
      word_index: [max_seq_length] ints, the word owned at each position with
        label_mask 1, else -1.
      words_cut: int, words of the example dropped by truncation.
    """
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_ids = label_ids
    self.label_mask = label_mask
    self.is_real_example = is_real_example
    self.example_index = example_index
    self.word_index = (word_index if word_index is not None else
                       [-1] * len(input_ids))
    self.words_cut = words_cut


def padding_features(max_seq_length):
  """Returns an all-zero feature that pads a TPU batch (is_real_example 0)."""
  zeros = [0] * max_seq_length
  return InputFeatures(list(zeros), list(zeros), list(zeros), list(zeros),
                       list(zeros), is_real_example=0)


def _word_piece_ids(words, tokenizer, cache):
  """Returns each word's word-piece ids.

  A word that tokenises to nothing (e.g. a lone control character) gets
  [UNK], so that it still has a position to predict at.
  """
  unk = None
  out = []
  for word in words:
    ids = cache.get(word) if cache is not None else None
    if ids is None:
      pieces = tokenizer.tokenize(word)
      if not pieces:
        if unk is None:
          unk = tokenizer.convert_tokens_to_ids(["[UNK]"])
        ids = list(unk)
      else:
        ids = tokenizer.convert_tokens_to_ids(pieces)
      if cache is not None:
        cache[word] = ids
    out.append(ids)
  return out


def _window_end(starts, begin, window):
  """Returns one past the last whole word that fits in a window at `begin`."""
  end = begin
  while end + 1 < len(starts) and starts[end + 1] - starts[begin] <= window:
    end += 1
  return end


def _plan_windows(starts, window, stride):
  """Splits words into overlapping windows that start at word boundaries.

  Args:
    starts: list of n + 1 ints, the piece offset of each word, then the
      total; no word is longer than `window` pieces.
    window: int, pieces that fit between [CLS] and [SEP].
    stride: int, how far (in pieces) each window starts after the previous.

  Returns:
    A list of (first word, one past last word) pairs that cover every word.
  """
  num_words = len(starts) - 1
  windows = []
  begin = 0
  while True:
    end = _window_end(starts, begin, window)
    windows.append((begin, end))
    if end == num_words:
      return windows
    # The next window starts at the first word `stride` pieces on, but never
    # after `end`, so no word falls in a gap.
    nxt = begin + 1
    while nxt < end and starts[nxt] < starts[begin] + stride:
      nxt += 1
    begin = nxt


def _choose_owners(starts, windows):
  """Returns, per word, the index of the window that predicts it.

  A word belongs to the window where it has the most context on its
  shorter side, as in Google's run_squad.py; the longer window wins ties
  (SQuAD's 0.01 * length bonus), then the earlier one.
  """
  owners = [-1] * (len(starts) - 1)
  best = [None] * (len(starts) - 1)
  for w, (begin, end) in enumerate(windows):
    length = starts[end] - starts[begin]
    for i in range(begin, end):
      context = min(starts[i] - starts[begin], starts[end] - starts[i + 1])
      score = (context, length)
      if best[i] is None or score > best[i]:
        best[i] = score
        owners[i] = w
  return owners


def _gold_ids(example, label_map):
  """Returns the gold tag id of each word (all 0 without gold tags)."""
  if example.labels is None:
    return [0] * len(example.words)
  ids = []
  for i, tag in enumerate(example.labels):
    if tag not in label_map:
      path, line = example.location(i)
      raise NerDataError(path, line, "tag %r is not in the label list; "
                         "expected one of %s" %
                         (tag, ", ".join(sorted(
                             getattr(label_map, "label_to_id", label_map)))))
    ids.append(label_map[tag])
  return ids


def _window_features(piece_ids, gold, first_word, owned, special_ids,
                     max_seq_length):
  """Builds the feature lists of one window.

  Args:
    piece_ids: per word in the window, its piece ids.
    gold: per word in the window, its gold tag id.
    first_word: int, index in the sentence of the window's first word.
    owned: per word in the window, whether this window predicts it.
    special_ids: ([CLS] id, [SEP] id).
    max_seq_length: int, length to pad to.

  Returns:
    A dict of keyword arguments for InputFeatures.
  """
  cls_id, sep_id = special_ids
  input_ids, label_ids, label_mask, word_index = [cls_id], [0], [0], [-1]
  for i, pieces in enumerate(piece_ids):
    rest = len(pieces) - 1
    input_ids.extend(pieces)
    label_ids.extend([gold[i]] + [0] * rest)
    label_mask.extend([int(owned[i])] + [0] * rest)
    word_index.extend([first_word + i if owned[i] else -1] + [-1] * rest)
  input_ids.append(sep_id)
  label_ids.append(0)
  label_mask.append(0)
  word_index.append(-1)
  used = len(input_ids)
  pad = max_seq_length - used
  return dict(input_ids=input_ids + [0] * pad,
              input_mask=[1] * used + [0] * pad,
              segment_ids=[0] * max_seq_length,
              label_ids=label_ids + [0] * pad,
              label_mask=label_mask + [0] * pad,
              word_index=word_index + [-1] * pad)


def _convert(example, example_index, tokenizer, label_map, max_seq_length,
             truncate, doc_stride, cache):
  """convert_example, plus the count of words whose pieces were clipped."""
  if max_seq_length < 3:
    raise ValueError("max_seq_length must be at least 3, got %d" %
                     max_seq_length)
  window = max_seq_length - 2  # Room left by [CLS] and [SEP].
  stride = doc_stride if doc_stride is not None else max(1, window // 2)
  if stride < 1:
    raise ValueError("doc_stride must be positive, got %d" % stride)
  gold = _gold_ids(example, label_map)
  piece_ids = _word_piece_ids(example.words, tokenizer, cache)
  # A word longer than the window keeps its first pieces: the first one
  # carries the prediction.
  clipped = sum(1 for ids in piece_ids if len(ids) > window)
  piece_ids = [ids[:window] for ids in piece_ids]
  starts = [0]
  for ids in piece_ids:
    starts.append(starts[-1] + len(ids))
  if truncate:
    windows = [(0, _window_end(starts, 0, window))]
  else:
    windows = _plan_windows(starts, window, stride)
  owners = _choose_owners(starts, windows)
  words_cut = len(example.words) - windows[0][1] if truncate else 0
  special_ids = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
  features = []
  for w, (begin, end) in enumerate(windows):
    owned = [owners[i] == w for i in range(begin, end)]
    parts = _window_features(piece_ids[begin:end], gold[begin:end], begin,
                             owned, special_ids, max_seq_length)
    features.append(InputFeatures(
        is_real_example=1, example_index=example_index, words_cut=words_cut,
        **parts))
  return features, clipped


def convert_example(example, example_index, tokenizer, label_map,
                    max_seq_length, truncate=False, doc_stride=None):
  """Converts one sentence into one or more windows of features.

  Layout: [CLS] word pieces [SEP] padding. Loss and prediction sit on the
  first piece of each word. A sentence with more than max_seq_length - 2
  pieces becomes overlapping windows in which every word is predicted by
  exactly one window (the one where it has the most context).

  Args:
    example: InputExample.
    example_index: int, its index, stored in the features.
    tokenizer: object with `tokenize(text)` and `convert_tokens_to_ids`
      (e.g. tokenization.FullTokenizer).
    label_map: LabelMap.
    max_seq_length: int, the sequence length of every feature.
    truncate: bool, keep only the words that fit in one window (the rest get
      no prediction; see InputFeatures.words_cut) instead of windowing.
    doc_stride: int or None, pieces between window starts; default half the
      window.

  Returns:
    A list of InputFeatures (exactly one when `truncate`).

  Raises:
    NerDataError: for a gold tag missing from `label_map`.
  """
  features, _ = _convert(example, example_index, tokenizer, label_map,
                         max_seq_length, truncate, doc_stride, cache=None)
  return features


def convert_examples(examples, tokenizer, label_map, max_seq_length,
                     truncate=False, doc_stride=None):
  """Converts every example (see convert_example) and counts what happened.

  Returns:
    (features, stats): the list of InputFeatures, and a dict with
    `examples`, `features`, `windowed_sentences` (split into windows),
    `truncated_sentences` and `truncated_words` (cut off by `truncate`), and
    `clipped_words` (single words longer than a window, kept in part).
  """
  cache = {}  # Tokenising each distinct word once makes big files fast.
  features = []
  stats = dict(examples=len(examples), features=0, windowed_sentences=0,
               truncated_sentences=0, truncated_words=0, clipped_words=0)
  for index, example in enumerate(examples):
    windows, clipped = _convert(example, index, tokenizer, label_map,
                                max_seq_length, truncate, doc_stride, cache)
    features.extend(windows)
    stats["windowed_sentences"] += int(len(windows) > 1)
    stats["truncated_sentences"] += int(windows[0].words_cut > 0)
    stats["truncated_words"] += windows[0].words_cut
    stats["clipped_words"] += clipped
  stats["features"] = len(features)
  return features, stats


# ---------------------------------------------------------------------------
# Predictions back to words and entities.
# ---------------------------------------------------------------------------


def merge_predictions(examples, features, predicted_label_ids_per_feature,
                      label_list):
  """Collects one predicted tag per word from the windows' predictions.

  Args:
    examples: the list of InputExample that was converted.
    features: the InputFeatures from convert_examples, in order (padding
      features with is_real_example 0 are skipped).
    predicted_label_ids_per_feature: one sequence of max_seq_length ints per
      feature (argmax or Viterbi ids).
    label_list: list of str or LabelMap, id -> tag.

  Returns:
    A list with, per example, a list of tags (one per word). Words cut off by
    truncation are tagged 'O'.

  Raises:
    ValueError: if a word is predicted twice or not at all (other than cut
      words), or a predicted id is out of range.
  """
  labels = getattr(label_list, "labels", label_list)
  if len(predicted_label_ids_per_feature) != len(features):
    raise ValueError("%d predictions for %d features" %
                     (len(predicted_label_ids_per_feature), len(features)))
  tags = [[None] * len(example.words) for example in examples]
  cut = [0] * len(examples)
  for feature, predicted in zip(features, predicted_label_ids_per_feature):
    if not feature.is_real_example:
      continue
    row = tags[feature.example_index]
    cut[feature.example_index] = feature.words_cut
    for position, word in enumerate(feature.word_index):
      if word < 0:
        continue
      if row[word] is not None:
        raise ValueError("word %d of %s is predicted twice" %
                         (word, examples[feature.example_index].guid))
      label_id = int(predicted[position])
      if not 0 <= label_id < len(labels):
        raise ValueError("predicted label id %d is not in the %d labels" %
                         (label_id, len(labels)))
      row[word] = labels[label_id]
  for example, row, num_cut in zip(examples, tags, cut):
    missing = [i for i, tag in enumerate(row) if tag is None]
    if missing != list(range(len(row) - num_cut, len(row))):
      raise ValueError("word %d of %s got no prediction" %
                       (missing[0], example.guid))
    for i in missing:
      row[i] = "O"  # Cut off by truncation; counted when features were made.
  return tags


def _is_cjk(word):
  """True if `word` is a single CJK ideograph (tokenization's definition)."""
  # pylint: disable=protected-access
  return len(word) == 1 and tokenization._is_chinese_char(ord(word))


def _join_words(words):
  """Joins words with spaces, except between two CJK characters."""
  text = words[0]
  for previous, word in zip(words, words[1:]):
    text += word if _is_cjk(previous) and _is_cjk(word) else " " + word
  return text


def entities_with_offsets(example, tags, scheme):
  """Returns the entities that `tags` mark in `example`.

  Args:
    example: InputExample.
    tags: list of str, one tag per word (e.g. from merge_predictions).
    scheme: str, the tag scheme ("IOB1", "IOB2"/"BIO", "IOBES"/"BIOES").

  Returns:
    A list of dicts {"type", "text", "start", "end"}. For raw-text examples
    `start`/`end` are character offsets into `example.text` (end exclusive)
    and `text` is that slice; otherwise they are word indices (end
    exclusive) and `text` joins the words.
  """
  if len(tags) != len(example.words):
    raise ValueError("%s: %d tags for %d words" %
                     (example.guid, len(tags), len(example.words)))
  entities = []
  for kind, first, last in ner_metrics.get_entities(tags, scheme):
    if example.offsets is not None and example.text is not None:
      start, end = example.offsets[first][0], example.offsets[last][1]
      text = example.text[start:end]
    else:
      start, end = first, last + 1
      text = _join_words(example.words[first:end])
    entities.append({"type": kind, "text": text, "start": start, "end": end})
  return entities


# ---------------------------------------------------------------------------
# A small synthetic dataset for the quick start.
# ---------------------------------------------------------------------------

_PEOPLE = [
    "John Smith", "Maria Garcia", "Wei Zhang", "Angela Brown", "David Lee",
    "Sarah Johnson", "Ahmed Khan", "Yuki Tanaka", "Carlos Silva",
    "Emma Wilson", "Olga Petrova", "Peter Blackburn", "Fatima Hassan",
    "Lucas Martin", "Priya Patel", "Tom O'Brien", "Anna Kowalski",
    "Rajesh Kumar", "Laura Rossi", "Kofi Mensah", "Hans Becker", "Clinton",
    "Mandela", "Merkel",
]
_PLACES = [
    "London", "New York", "Paris", "Tokyo", "Berlin", "San Francisco",
    "Cairo", "Sydney", "Brazil", "Germany", "Hong Kong", "Mumbai", "Toronto",
    "Madrid", "Nairobi", "Moscow", "Rio de Janeiro", "Singapore", "Italy",
    "Chicago", "Seoul", "Lagos",
]
_ORGS = [
    "Reuters", "Google", "Acme Corp", "United Nations", "Bank of England",
    "Toyota", "General Motors", "Red Cross", "Manchester United",
    "World Bank", "Siemens", "Microsoft", "European Union", "Nokia",
    "Boeing", "Interpol", "Greenpeace", "Barclays", "Samsung", "FIFA",
]
_NATIONALITIES = [
    "German", "French", "Japanese", "British", "Brazilian", "Chinese",
    "Italian", "Canadian", "Kenyan", "Russian", "Indian", "Spanish",
]
_EVENTS = [
    "World Cup", "Olympic Games", "Nobel Prize", "Tour de France",
    "Australian Open", "Super Bowl", "Wimbledon", "Cannes Film Festival",
]

# Each template is a sentence of space-separated tokens; {SLOT}s become
# entities: PER, LOC, ORG, NAT (MISC adjectives), EVENT (MISC names).
_TEMPLATES = [
    "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened a new office in {LOC} on Monday .",
    "{PER} met {PER} in {LOC} to discuss the budget .",
    "Shares of {ORG} rose 3 percent after {PER} became chief executive .",
    "The {NAT} team beat {LOC} 2-1 on Sunday .",
    "{PER} , a spokesman for {ORG} , said the deal was fair .",
    "{LOC} and {LOC} signed a trade agreement on Friday .",
    "{PER} flew from {LOC} to {LOC} last week .",
    "{ORG} said profits fell in the third quarter .",
    "{PER} won the {EVENT} for the second time .",
    "{PER} told reporters in {LOC} that {ORG} would hire 200 people .",
    "According to {ORG} , {PER} will visit {LOC} in May .",
    "Police in {LOC} arrested two men on Tuesday .",
    "The {NAT} government criticised {ORG} over the plan .",
    "It was a quiet day on the markets .",
    "{NAT} officials will attend the {EVENT} in {LOC} .",
]

_SLOTS = {"PER": ("PER", _PEOPLE), "LOC": ("LOC", _PLACES),
          "ORG": ("ORG", _ORGS), "NAT": ("MISC", _NATIONALITIES),
          "EVENT": ("MISC", _EVENTS)}


def _sample_sentence(rng):
  """Fills a random template; returns (words, BIO tags)."""
  words, tags = [], []
  for token in rng.choice(_TEMPLATES).split():
    if token.startswith("{") and token.endswith("}"):
      kind, names = _SLOTS[token[1:-1]]
      name = rng.choice(names).split()
      words.extend(name)
      tags.extend(["B-" + kind] + ["I-" + kind] * (len(name) - 1))
    else:
      words.append(token)
      tags.append("O")
  return words, tags


def write_sample_ner_data(out_dir, seed=12345, num_train=400, num_dev=60,
                          num_test=60):
  """Writes a small synthetic English NER dataset for the quick start.

  `train.txt`, `dev.txt` and `test.txt` in CoNLL two-column format
  (`word TAG`, BIO tags PER/LOC/ORG/MISC), built from name lists and
  sentence templates with a fixed seed, so the same call always writes the
  same bytes. A tiny model learns it in minutes. Each file is written
  atomically.

  Args:
    out_dir: str, folder to write to (created if missing).
    seed: int, random seed.
    num_train, num_dev, num_test: int, sentences per split.

  Returns:
    A dict split name -> path.
  """
  if not os.path.isdir(out_dir):
    os.makedirs(out_dir)
  rng = random.Random(seed)
  paths = {}
  for split, count in (("train", num_train), ("dev", num_dev),
                       ("test", num_test)):
    blocks = []
    for _ in range(count):
      words, tags = _sample_sentence(rng)
      blocks.append("".join("%s %s\n" % pair for pair in zip(words, tags)))
    path = os.path.join(out_dir, split + ".txt")
    _atomic_write_text(path, "\n".join(blocks))
    paths[split] = path
  return paths
