"""Data for run_classifier.py: processors, features and scores.

Processors read a task's files into `InputExample`s, the way Google's
`DataProcessor`s do (`get_train_examples(data_dir)`, `get_labels()`, ...):
the GLUE tasks (cola, mnli, mrpc, xnli, sst2, qnli, qqp, rte, wnli, stsb),
swag-style multiple choice, and `TableProcessor` for any CSV / TSV / JSONL
file whose columns are named by flags. Columns are found by header name or
by index, so a test file without its label column reads as unlabelled.
Every problem with a file is a `ClassifierDataError` that reads
`path:LINE: what was wrong`.

Features follow Google's `convert_single_example`: `[CLS] a [SEP] b [SEP]`,
the longer segment trimmed first. A multiple-choice example is one pair
(context, choice) per choice, stacked.

Scores (accuracy, F1, Matthews correlation, Pearson, Spearman, multi-label
micro/macro F1) are NumPy functions of labels and predictions, checked
against scikit-learn and SciPy in the tests.
"""

import collections
import csv
import io
import json
import os
import re

import numpy as np

import input_limits

CLASSIFICATION = "classification"
REGRESSION = "regression"
MULTILABEL = "multilabel"
MULTIPLE_CHOICE = "multiple_choice"
TASK_TYPES = (CLASSIFICATION, REGRESSION, MULTILABEL, MULTIPLE_CHOICE)


class ClassifierDataError(ValueError):
  """Bad classification input; reads `path:LINE: message`."""

  def __init__(self, path, line, message):
    self.path, self.line, self.message = path, line, message
    where = path if line is None else "%s:%d" % (path, line)
    super(ClassifierDataError, self).__init__("%s: %s" % (where, message))

  def __reduce__(self):
    return ClassifierDataError, (self.path, self.line, self.message)


class InputExample(object):
  """One example: text(s), an optional label, and where it came from.

  `label` is a str (classification), a float (regression), a list of str
  (multi-label), an int choice index (multiple choice), or None when the
  file has no labels. A multiple-choice example pairs `text_a` (the
  context) with each of `choices`.
  """

  def __init__(self, guid, text_a, text_b=None, label=None, choices=None,
               path=None, line=None):
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label
    self.choices = choices
    self.path = path
    self.line = line

  def error(self, message):
    return ClassifierDataError(self.path, self.line, message)

  def __repr__(self):
    return "InputExample(%r, %r, %r, label=%r, choices=%r)" % (
        self.guid, self.text_a, self.text_b, self.label, self.choices)


# ----------------------------------------------------------------------------
# Reading tables


def _is_int(text):
  """Whether `text` is a plain ASCII integer ("3", "-1"): what `int` takes
  without surprises (it also takes "1_0" and other scripts' digits, and
  `str.isdigit` also passes "²", which `int` refuses)."""
  return re.match(r"-?[0-9]+\Z", text) is not None


def parse_column(value):
  """A column from a flag value: an int index ("0", "-1") or a name."""
  if value is None or value == "":
    return None
  if isinstance(value, int):
    return value
  text = str(value).strip()
  if _is_int(text):
    return int(text)
  return text


def _read_text(path):
  """The text of a UTF-8 file (a BOM is dropped); errors name the line."""
  if not os.path.exists(path):
    raise ClassifierDataError(path, None, "file not found")
  if os.path.isdir(path):
    raise ClassifierDataError(path, None, "is a directory; expected a file")
  # An over-long line is refused before the file is read whole.
  long_line = input_limits.find_long_line(path)
  if long_line is not None:
    raise ClassifierDataError(path, long_line, input_limits.line_too_long())
  with open(path, "rb") as f:
    data = f.read()
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise ClassifierDataError(path, line, "not UTF-8 text (%s)" % e.reason)
  if not text.strip():
    raise ClassifierDataError(path, None, "file is empty")
  return text


def read_table(path, fmt, has_header=True, quoting=False):
  """Reads a TSV, CSV or JSONL file into rows.

  Args:
    path: the file.
    fmt: "tsv", "csv" or "jsonl".
    has_header: the first (TSV/CSV) row names the columns.
    quoting: honour double quotes in TSV/CSV (GLUE files need it off: their
      texts hold stray quotes).
  Returns:
    (header, rows): header a list of names or None; rows a list of
    (line number, fields), fields a list of str (TSV/CSV) or a dict
    (JSONL). Blank lines are skipped.
  Raises:
    ClassifierDataError: for a missing, empty or malformed file.
  """
  text = _read_text(path)
  if fmt == "jsonl":
    return None, _jsonl_rows(path, text)
  # Lines are held to MAX_LINE_BYTES; this holds a quoted field running over
  # many lines (an unclosed quote) to the same size.
  csv.field_size_limit(input_limits.MAX_LINE_BYTES)
  reader = csv.reader(io.StringIO(text, newline=""),
                      delimiter="\t" if fmt == "tsv" else ",",
                      quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                      strict=quoting)
  rows, header, line = [], None, 1
  try:
    for fields in reader:
      if fields and any(f.strip() for f in fields):
        if has_header and header is None:
          header = [f.strip() for f in fields]
        else:
          rows.append((line, fields))
      line = reader.line_num + 1
  except csv.Error as e:
    if "field limit" in str(e):
      raise ClassifierDataError(
          path, line, "a quoted field longer than %s characters "
          "(input_limits.MAX_LINE_BYTES), the most one record may hold; an "
          "unclosed quote?" % format(input_limits.MAX_LINE_BYTES, ","))
    raise ClassifierDataError(path, line, "malformed %s: %s" % (fmt, e))
  if not rows:
    raise ClassifierDataError(path, None, "no data rows%s" % (
        " after the header" if header else ""))
  return header, rows


def _jsonl_rows(path, text):
  rows = []
  # Lines end at \n, \r\n or \r only: `str.splitlines` would also cut at
  # U+2028, U+0085 and friends, which JSON strings may hold unescaped.
  for number, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except (ValueError, RecursionError) as e:  # Recursion: nested too deep.
      raise ClassifierDataError(path, number, "not a JSON object (%s)" % e)
    if not isinstance(record, dict):
      raise ClassifierDataError(path, number, "expected a JSON object, got "
                                "%s" % type(record).__name__)
    rows.append((number, record))
  if not rows:
    raise ClassifierDataError(path, None, "no JSON lines")
  return rows


class TableLayout(object):
  """Where an example's parts sit in a table, and how to read the table.

  Columns are header names or int indices (negative counts from the end);
  JSONL takes names (keys) only.

  Attributes:
    fmt: "tsv", "csv", "jsonl", or "auto" (by the file's extension).
    has_header, quoting: see read_table; quoting None means on for CSV, off
      for TSV.
    text_a, text_b, label, guid: columns (text_b, label, guid optional).
    choices: columns of the choices (multiple choice), or None.
    choice_prefix: column put before every choice, joined by a space
      (SWAG's `sent2` + ending), or None.
    keep: (column, value): only rows whose column equals value (XNLI's
      language), or None.
    label_aliases: dict mapping raw labels to the task's names.
  """

  def __init__(self, fmt="tsv", has_header=True, quoting=None, text_a=0,
               text_b=None, label=None, guid=None, choices=None,
               choice_prefix=None, keep=None, label_aliases=None):
    self.fmt = fmt
    self.has_header = has_header and fmt != "jsonl"
    self.quoting = quoting
    self.text_a, self.text_b, self.label, self.guid = text_a, text_b, label, guid
    self.choices = list(choices) if choices else None
    self.choice_prefix = choice_prefix
    self.keep = keep
    self.label_aliases = label_aliases or {}

  def replace(self, **changes):
    fields = dict(self.__dict__)
    fields.update(changes)
    return TableLayout(**fields)


class _Columns(object):
  """Resolves a layout's columns against one file's header."""

  def __init__(self, path, layout, header, first_row):
    self.path, self.layout, self.header = path, layout, header
    self.first = first_row[1]
    self.width = len(header) if header else (
        None if layout.fmt == "jsonl" else len(first_row[1]))

  def present(self, column):
    """Whether the file has this column at all."""
    if column is None:
      return False
    if self.layout.fmt == "jsonl":
      return column in self.first  # Then every line needs it.
    if isinstance(column, int):
      return -self.width <= column < self.width
    return self.header is not None and column in self.header

  def index(self, column, line):
    if isinstance(column, int) or self.layout.fmt == "jsonl":
      if self.layout.fmt == "jsonl" and isinstance(column, int):
        raise ClassifierDataError(self.path, line, "JSONL columns are keys: "
                                  "got index %d" % column)
      if self.layout.fmt != "jsonl" and not (
          -self.width <= column < self.width):
        raise ClassifierDataError(
            self.path, line, "no column %d: the rows have %d column(s), "
            "as in %s" % (column, self.width, "the header" if self.header
                          else "the first row"))
      return column
    if self.header is None:
      raise ClassifierDataError(
          self.path, line, "column %r is a name, but the file is read "
          "without a header; name columns by index or read the header" %
          column)
    if column not in self.header:
      raise ClassifierDataError(
          self.path, 1, "no column %r in the header (columns: %s)" %
          (column, ", ".join(self.header)))
    return self.header.index(column)

  def get(self, fields, column, line, what):
    """The text of one field; errors name the line and the column."""
    key = self.index(column, line)
    if isinstance(fields, dict):
      if key not in fields:
        raise ClassifierDataError(self.path, line, "no key %r (%s); keys: "
                                  "%s" % (key, what, ", ".join(fields)))
      value = fields[key]
      if isinstance(value, (list, dict)) and what != "label":
        raise ClassifierDataError(self.path, line, "key %r (%s) holds a %s; "
                                  "expected text" % (key, what,
                                                     type(value).__name__))
      return value
    return fields[key]

  def check_width(self, fields, line):
    if isinstance(fields, dict) or len(fields) == self.width:
      return
    source = "the header" if self.header else "the first row"
    hint = ("an unclosed quote?" if self.layout.quoting else
            "a delimiter inside a quoted field, read with quoting off?")
    raise ClassifierDataError(
        self.path, line, "%d columns, expected %d as in %s (a stray tab or "
        "comma, or %s)" % (len(fields), self.width, source, hint))


def read_examples(path, layout, split, task_type, multilabel_delimiter=","):
  """Reads the examples of one file.

  Args:
    path: the file.
    layout: TableLayout.
    split: "train", "dev" or "test"; test files may lack the label column.
    task_type: one of TASK_TYPES (how labels are parsed).
    multilabel_delimiter: separates labels in a multi-label text field.
  Returns:
    A list of InputExample (labels None when the file has none).
  Raises:
    ClassifierDataError: naming the file and line at fault.
  """
  fmt = format_of(path) if layout.fmt == "auto" else layout.fmt
  layout = layout.replace(fmt=fmt, quoting=fmt == "csv" if layout.quoting is
                          None else layout.quoting)
  header, rows = read_table(path, fmt, layout.has_header, layout.quoting)
  columns = _Columns(path, layout, header, rows[0])
  labelled = columns.present(layout.label)
  if layout.label is not None and not labelled and split != "test":
    raise ClassifierDataError(path, 1, "no label column %r; a %s file needs "
                              "labels" % (layout.label, split))
  examples = []
  for number, (line, fields) in enumerate(rows):
    columns.check_width(fields, line)
    if layout.keep is not None:
      column, value = layout.keep
      if _text(columns.get(fields, column, line, "filter")) != value:
        continue
    guid = ("%s-%d" % (split, number) if layout.guid is None
            or not columns.present(layout.guid)
            else _text(columns.get(fields, layout.guid, line, "id")))
    example = InputExample(guid, _text(columns.get(fields, layout.text_a,
                                                   line, "text_a")),
                           path=path, line=line)
    if layout.text_b is not None:
      example.text_b = _text(columns.get(fields, layout.text_b, line,
                                         "text_b"))
    if layout.choices:
      prefix = ("" if layout.choice_prefix is None else _text(columns.get(
          fields, layout.choice_prefix, line, "choice prefix")) + " ")
      example.choices = [prefix + _text(columns.get(fields, c, line,
                                                    "choice"))
                         for c in layout.choices]
    if labelled:
      raw = columns.get(fields, layout.label, line, "label")
      example.label = parse_label(example, raw, task_type, layout,
                                  multilabel_delimiter)
    examples.append(example)
  if not examples:
    raise ClassifierDataError(path, None, "no examples left after keeping "
                              "rows with %s == %r" % layout.keep)
  return examples


def _text(value):
  if value is None:
    return ""
  if isinstance(value, str):
    return value
  return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def parse_label(example, raw, task_type, layout, delimiter):
  """Turns a raw label field into the task's label (see InputExample)."""
  if task_type == MULTILABEL:
    if isinstance(raw, list):
      names = [_text(v).strip() for v in raw]
    else:
      names = [p.strip() for p in _text(raw).split(delimiter)]
    return [layout.label_aliases.get(n, n) for n in names if n]
  if isinstance(raw, (list, dict)):
    raise example.error("label %s is a %s; expected one label (multi-label "
                        "data needs --task_type=multilabel)" % (
                            json.dumps(raw), type(raw).__name__))
  text = _text(raw).strip()
  if task_type == REGRESSION:
    try:
      value = float(text)
    except ValueError:
      raise example.error("label %r is not a number; a regression task needs "
                          "a numeric label" % text)
    if not np.isfinite(value):
      raise example.error("label %r is not a finite number" % text)
    return value
  if task_type == MULTIPLE_CHOICE:
    if not _is_int(text) or not (
        0 <= int(text) < len(example.choices)):
      raise example.error("label %r is not a choice index in 0..%d" % (
          text, len(example.choices) - 1))
    return int(text)
  if not text:
    raise example.error("empty label")
  return layout.label_aliases.get(text, text)


# ----------------------------------------------------------------------------
# Processors


class DataProcessor(object):
  """Reads one task's train/dev/test files (Google's interface).

  Subclasses set `task_type`, `labels` (None: collected from the training
  data), `files` and `layout` (a TableLayout, or `layouts` per split).
  """

  task_type = CLASSIFICATION
  labels = None
  files = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
  layout = None
  layouts = {}
  multilabel_delimiter = ","
  # Extra dev/test files, evaluated and predicted under their own names
  # (MNLI's mismatched sets): {name: {"dev": file, "test": file}}.
  extra_sets = {}

  def get_train_examples(self, data_dir):
    return self.read(os.path.join(data_dir, self.files["train"]), "train")

  def get_dev_examples(self, data_dir):
    return self.read(os.path.join(data_dir, self.files["dev"]), "dev")

  def get_test_examples(self, data_dir):
    return self.read(os.path.join(data_dir, self.files["test"]), "test")

  def get_labels(self):
    return list(self.labels) if self.labels is not None else None

  def read(self, path, split):
    """Examples of one file of the given split."""
    layout = self.layouts.get(split, self.layout)
    return read_examples(path, layout, split, self.task_type,
                         self.multilabel_delimiter)


def _glue(name, labels, text_a, text_b=None, label="label", guid="index",
          task_type=CLASSIFICATION, **extra):
  """A header-addressed GLUE TSV processor class."""
  attributes = dict(task_type=task_type, labels=labels, layout=TableLayout(
      "tsv", True, False, text_a=text_a, text_b=text_b, label=label,
      guid=guid))
  attributes.update(extra)
  return type(name, (DataProcessor,), attributes)


ColaProcessor = _glue(
    "ColaProcessor", ["0", "1"], text_a="sentence",
    layouts={s: TableLayout("tsv", False, False, text_a=3, label=1)
             for s in ("train", "dev")})
Sst2Processor = _glue("Sst2Processor", ["0", "1"], text_a="sentence")
MrpcProcessor = _glue("MrpcProcessor", ["0", "1"], text_a="#1 String",
                      text_b="#2 String", label="Quality")
QnliProcessor = _glue("QnliProcessor", ["entailment", "not_entailment"],
                      text_a="question", text_b="sentence")
QqpProcessor = _glue("QqpProcessor", ["0", "1"], text_a="question1",
                     text_b="question2", label="is_duplicate", guid="id")
RteProcessor = _glue("RteProcessor", ["entailment", "not_entailment"],
                     text_a="sentence1", text_b="sentence2")
WnliProcessor = _glue("WnliProcessor", ["0", "1"], text_a="sentence1",
                      text_b="sentence2")
StsbProcessor = _glue("StsbProcessor", None, text_a="sentence1",
                      text_b="sentence2", label="score",
                      task_type=REGRESSION)
MnliProcessor = _glue(
    "MnliProcessor", ["contradiction", "entailment", "neutral"],
    text_a="sentence1", text_b="sentence2", label="gold_label",
    files={"train": "train.tsv", "dev": "dev_matched.tsv",
           "test": "test_matched.tsv"},
    extra_sets={"mm": {"dev": "dev_mismatched.tsv",
                       "test": "test_mismatched.tsv"}})


class XnliProcessor(DataProcessor):
  """XNLI: MultiNLI's machine-translated train set, XNLI's dev/test sets.

  Train: `multinli/multinli.train.<lang>.tsv` (premise, hypo, label); dev and
  test: `xnli.dev.tsv` / `xnli.test.tsv`, the rows of `language`.
  """

  labels = ["contradiction", "entailment", "neutral"]

  def __init__(self, language="zh"):
    self.language = language
    self.files = {"train": "multinli/multinli.train.%s.tsv" % language,
                  "dev": "xnli.dev.tsv", "test": "xnli.test.tsv"}
    aliases = {"contradictory": "contradiction"}
    self.layouts = {
        "train": TableLayout("tsv", True, False, text_a="premise",
                             text_b="hypo", label="label",
                             label_aliases=aliases),
    }
    self.layout = TableLayout("tsv", True, False, text_a="sentence1",
                              text_b="sentence2", label="gold_label",
                              guid="pairID", keep=("language", language),
                              label_aliases=aliases)


class SwagProcessor(DataProcessor):
  """SWAG-style multiple choice: context `sent1`, choices `sent2 + ending<i>`.

  Files `train.csv`, `val.csv`, `test.csv` (quoted CSV with a header); the
  label is the index of the right ending.
  """

  task_type = MULTIPLE_CHOICE
  files = {"train": "train.csv", "dev": "val.csv", "test": "test.csv"}
  layout = TableLayout("csv", True, True, text_a="sent1", label="label",
                       choices=["ending%d" % i for i in range(4)],
                       choice_prefix="sent2")


class TableProcessor(DataProcessor):
  """Any CSV / TSV / JSONL files, columns named by the caller (flags)."""

  def __init__(self, layout, task_type=CLASSIFICATION, labels=None,
               files=None, multilabel_delimiter=","):
    if task_type not in TASK_TYPES:
      raise ValueError("task_type must be one of %s" % (TASK_TYPES,))
    self.layout = layout
    self.layouts = {}
    self.task_type = task_type
    self.labels = labels
    self.multilabel_delimiter = multilabel_delimiter
    if files:
      self.files = files


def format_of(path):
  """'csv', 'tsv' or 'jsonl' from a file name (default tsv)."""
  name = path.lower()
  if name.endswith((".jsonl", ".json", ".ndjson")):
    return "jsonl"
  if name.endswith(".csv"):
    return "csv"
  return "tsv"


PROCESSORS = collections.OrderedDict([
    ("cola", ColaProcessor), ("mnli", MnliProcessor),
    ("mrpc", MrpcProcessor), ("xnli", XnliProcessor),
    ("sst2", Sst2Processor), ("qnli", QnliProcessor), ("qqp", QqpProcessor),
    ("rte", RteProcessor), ("wnli", WnliProcessor), ("stsb", StsbProcessor),
    ("swag", SwagProcessor),
])
ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli"}


# ----------------------------------------------------------------------------
# Labels


def collect_labels(examples, task_type):
  """The sorted label names of examples (numbers sorted as numbers)."""
  names = set()
  for example in examples:
    if example.label is None:
      continue
    names.update(example.label if task_type == MULTILABEL
                 else [example.label])
  if not names:
    raise ValueError("no labels to collect")
  if all(_is_int(n) for n in names):
    return sorted(names, key=int)
  return sorted(names)


def check_labels(examples, labels, task_type, source="the label list"):
  """Raises ClassifierDataError at the first label not in `labels`."""
  if task_type not in (CLASSIFICATION, MULTILABEL):
    return
  known = set(labels)
  for example in examples:
    if example.label is None:
      continue
    values = example.label if task_type == MULTILABEL else [example.label]
    for value in values:
      if value not in known:
        raise example.error("unknown label %r; %s has: %s" % (
            value, source, ", ".join(labels)))


# ----------------------------------------------------------------------------
# Features


class InputFeatures(object):
  """Model inputs of one example.

  input_ids, input_mask, segment_ids: S ints each, or C*S for C choices.
  label_ids: the class id (classification, multiple choice) or the L-long
    multi-hot vector (multi-label); label_values: the target (regression).
  """

  def __init__(self, input_ids, input_mask, segment_ids, label_ids=0,
               label_values=0.0, is_real_example=1):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_ids = label_ids
    self.label_values = label_values
    self.is_real_example = is_real_example


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Google's trim, in place: pop from the longer list (b on a tie)."""
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def encode_pair(tokenizer, text_a, text_b, max_seq_length):
  """Google's featurisation of one text or pair.

  Returns:
    (input_ids, input_mask, segment_ids, tokens, truncated): three lists of
    max_seq_length ints, the tokens, and whether anything was cut.
  """
  tokens_a = tokenizer.tokenize(text_a)
  tokens_b = tokenizer.tokenize(text_b) if text_b else []
  total = len(tokens_a) + len(tokens_b)
  if tokens_b:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  else:
    tokens_a = tokens_a[:max_seq_length - 2]
  truncated = len(tokens_a) + len(tokens_b) < total
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  padding = [0] * (max_seq_length - len(input_ids))
  input_mask = [1] * len(input_ids) + padding
  return (input_ids + padding, input_mask, segment_ids + padding, tokens,
          truncated)


def convert_single_example(example, tokenizer, max_seq_length, task_type,
                           label_list):
  """InputExample -> (InputFeatures, tokens of the first pair, truncated)."""
  if task_type == MULTIPLE_CHOICE:
    pairs = [(example.text_a, c) for c in example.choices]
  else:
    pairs = [(example.text_a, example.text_b)]
  ids, mask, types, truncated, first_tokens = [], [], [], False, None
  for text_a, text_b in pairs:
    i, m, t, tokens, cut = encode_pair(tokenizer, text_a, text_b,
                                       max_seq_length)
    ids += i
    mask += m
    types += t
    truncated = truncated or cut
    first_tokens = first_tokens or tokens
  feature = InputFeatures(ids, mask, types)
  label = example.label
  if task_type == REGRESSION:
    feature.label_values = 0.0 if label is None else float(label)
  elif task_type == MULTILABEL:
    chosen = set(label or [])
    feature.label_ids = [int(name in chosen) for name in label_list]
  elif task_type == MULTIPLE_CHOICE:
    feature.label_ids = label or 0
  else:
    feature.label_ids = 0 if label is None else label_list.index(label)
  return feature, first_tokens, truncated


def padding_features(max_seq_length, task_type, num_labels, num_choices=1):
  """A fake example (is_real_example=0) that fills a TPU's last batch."""
  width = max_seq_length * num_choices
  labels = [0] * num_labels if task_type == MULTILABEL else 0
  return InputFeatures([0] * width, [0] * width, [0] * width,
                       label_ids=labels, is_real_example=0)


# ----------------------------------------------------------------------------
# Results


def metric_names(task_name, task_type):
  """The eval keys a task reports: loss, accuracy (not for regression) and
  the task's own (F1 for MRPC/QQP, MCC for CoLA, correlations for
  regression, micro/macro F1 for multi-label)."""
  names = ["eval_loss"] + ([] if task_type == REGRESSION else
                           ["eval_accuracy"])
  if task_type == REGRESSION:
    return names + ["eval_pearson", "eval_spearman"]
  if task_type == MULTILABEL:
    return names + ["eval_micro_f1", "eval_macro_f1"]
  if task_type == CLASSIFICATION and task_name in ("mrpc", "qqp"):
    return names + ["eval_precision", "eval_recall", "eval_f1"]
  if task_type == CLASSIFICATION and task_name == "cola":
    return names + ["eval_mcc"]
  return names


def task_scores(task_name, task_type, gold, predicted):
  """The task's scores beyond loss and accuracy.

  Args:
    gold, predicted: class ids [N] (classification, multiple choice), values
      [N] (regression) or 0/1 arrays [N, L] (multi-label).
  Returns:
    Dict of eval_* scores (see metric_names).
  """
  if task_type == REGRESSION:
    return {"eval_pearson": pearson(gold, predicted),
            "eval_spearman": spearman(gold, predicted)}
  if task_type == MULTILABEL:
    micro, macro = multilabel_f1(gold, predicted)
    return {"eval_micro_f1": micro, "eval_macro_f1": macro}
  names = metric_names(task_name, task_type)
  if "eval_f1" in names:
    precision, recall, f1 = binary_f1(gold, predicted, positive=1)
    return {"eval_precision": precision, "eval_recall": recall,
            "eval_f1": f1}
  if "eval_mcc" in names:
    return {"eval_mcc": matthews_corrcoef(gold, predicted)}
  return {}


def format_test_results(task_type, labels, guids, scores, predicted):
  """The text of test_results.tsv: a header, then one line per example.

  Columns: id, one per label (choice) holding its probability, or one
  `prediction` value for regression, then the predicted label's name.

  Args:
    task_type: one of TASK_TYPES.
    labels: label names (choices: their indices as str).
    guids: example ids.
    scores: [N, L] probabilities, or [N] values for regression.
    predicted: N predicted label names (regression: ignored).
  """
  clean = lambda s: str(s).replace("\t", " ").replace("\n", " ")
  if task_type == REGRESSION:
    lines = ["id\tprediction"] + ["%s\t%.6f" % (clean(g), v)
                                  for g, v in zip(guids, scores)]
  else:
    columns = (["choice_%s" % l for l in labels]
               if task_type == MULTIPLE_CHOICE else labels)
    lines = ["\t".join(["id"] + [clean(c) for c in columns] +
                       ["prediction"])]
    lines += ["\t".join([clean(g)] + ["%.6f" % p for p in row] +
                        [clean(name)])
              for g, row, name in zip(guids, scores, predicted)]
  return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# Scores (NumPy; the oracles are scikit-learn and SciPy)


def accuracy(labels, predictions):
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  return float(np.mean(labels == predictions)) if labels.size else 0.0


def binary_f1(labels, predictions, positive=1):
  """(precision, recall, f1) of the positive class; 0 where undefined."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  tp = float(np.sum((predictions == positive) & (labels == positive)))
  fp = float(np.sum((predictions == positive) & (labels != positive)))
  fn = float(np.sum((predictions != positive) & (labels == positive)))
  return _prf(tp, fp, fn)


def _prf(tp, fp, fn):
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
  return precision, recall, f1


def matthews_corrcoef(labels, predictions):
  """Matthews correlation, multi-class (Gorodkin's R_K, as scikit-learn)."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  classes = np.union1d(labels, predictions)
  index = {c: i for i, c in enumerate(classes)}
  confusion = np.zeros([len(classes)] * 2, np.float64)
  for t, p in zip(labels, predictions):
    confusion[index[t], index[p]] += 1
  true_sum, pred_sum = confusion.sum(1), confusion.sum(0)
  n, correct = confusion.sum(), np.trace(confusion)
  cov_ytyp = correct * n - np.dot(true_sum, pred_sum)
  cov_ypyp = n * n - np.dot(pred_sum, pred_sum)
  cov_ytyt = n * n - np.dot(true_sum, true_sum)
  if cov_ypyp * cov_ytyt == 0:
    return 0.0
  return float(cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp))


def pearson(x, y):
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  x, y = x - x.mean(), y - y.mean()
  denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
  return float(np.sum(x * y) / denominator) if denominator else 0.0


def rankdata(values):
  """Ranks from 1, ties given their average rank (scipy's 'average')."""
  values = np.asarray(values)
  order = np.argsort(values, kind="mergesort")
  ranks = np.empty(len(values), np.float64)
  sorted_values = values[order]
  start = 0
  for end in range(1, len(values) + 1):
    if end == len(values) or sorted_values[end] != sorted_values[start]:
      ranks[order[start:end]] = (start + end + 1) / 2.0
      start = end
  return ranks


def spearman(x, y):
  return pearson(rankdata(x), rankdata(y))


def multilabel_f1(labels, predictions):
  """(micro F1, macro F1) of [N, L] 0/1 arrays, as scikit-learn.

  A label never present nor predicted scores F1 0 in the macro mean
  (scikit-learn's zero_division default).
  """
  labels = np.asarray(labels).astype(bool)
  predictions = np.asarray(predictions).astype(bool)
  tp = np.sum(labels & predictions, axis=0).astype(np.float64)
  fp = np.sum(~labels & predictions, axis=0).astype(np.float64)
  fn = np.sum(labels & ~predictions, axis=0).astype(np.float64)
  micro = _prf(tp.sum(), fp.sum(), fn.sum())[2]
  macro = float(np.mean([_prf(*c)[2] for c in zip(tp, fp, fn)]))
  return micro, macro
