# coding=utf-8
"""SQuAD 1.1 / 2.0 for BERT: reading, windowed features, answer decoding.

The data's way through here (no TensorFlow needed):

  SQuAD JSON --read_squad_examples--> SquadExample (whitespace words,
  answer as word positions) --convert_examples_to_features--> InputFeatures
  (one per document window) ... the model gives RawResult (start/end logits
  per window) --predict_answers--> answer text per question, projected back
  onto the original context (case and accents restored).

Legend for shapes and sizes: S = max_seq_length, Q = query word pieces after
truncation, D = S - Q - 3 document pieces per window.

Rules kept from Google's `run_squad.py`, so checkpoints fine-tuned there and
here predict the same answers:
  * a document is split on whitespace (" \\t\\r\\n" and U+202F) into words;
    an answer's character offset maps to words;
  * long documents are cut into windows of D pieces starting every
    `doc_stride` pieces; each piece is scored only in the window where it has
    the most context (min of left and right context, ties to the longer
    window, then the first);
  * in training, a window that does not hold the whole answer points both
    positions at [CLS] (index 0), as do SQuAD 2.0 unanswerable questions;
  * prediction ranks start/end pairs by start + end logit, keeps valid spans
    only, and for SQuAD 2.0 compares the best span with the [CLS] ("null")
    score of the question's windows.
Departures, each fixing a known failure of Google's script: a question whose
every candidate is invalid or null gets "" instead of a crash
(google-research/bert #417, #1106); training takes the first answer of
questions that list several (dev files) instead of refusing them; an answer
whose text does not match its offset is skipped and counted, never fatal.
"""

import collections
import json
import math

import input_limits
import tokenization


class SquadDataError(ValueError):
  """Bad SQuAD input; the message names the file and the question."""


# ----------------------------------------------------------------------------
# Reading


SquadExample = collections.namedtuple("SquadExample", [
    "qas_id",            # str, the question id
    "question_text",     # str
    "doc_tokens",        # list of str, the context split on whitespace
    "orig_answer_text",  # str or None (prediction files need no answer)
    "start_position",    # int word index of the answer's first word, or -1
    "end_position",      # int word index of the answer's last word, or -1
    "is_impossible",     # bool, SQuAD 2.0 question without an answer
])


def _error(path, where, message):
  raise SquadDataError("%s: %s: %s" % (path, where, message) if where
                       else "%s: %s" % (path, message))


def load_dataset(path):
  """Reads a SQuAD JSON file and returns its list of articles ("data").

  Raises:
    SquadDataError: empty file, bad UTF-8, malformed JSON (with line and
      column), no "data" list, or a file over
      input_limits.MAX_JSON_FILE_BYTES.
  """
  too_big = input_limits.json_file_too_big(path)
  if too_big:
    _error(path, None, too_big)
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    _error(path, None, "not UTF-8 (byte %d)" % e.start)
  if not text.strip():
    _error(path, None, "the file is empty; expected SQuAD JSON")
  try:
    dataset = json.loads(text)
  except ValueError as e:
    _error(path, None, "malformed JSON at line %d column %d: %s"
           % (e.lineno, e.colno, e.msg))
  except RecursionError:
    _error(path, None, "malformed JSON: lists or objects nested too deeply "
           "for Python's parser; expected SQuAD JSON")
  if not isinstance(dataset, dict) or not isinstance(dataset.get("data"),
                                                     list):
    _error(path, None, 'expected a JSON object with a "data" list of '
           'articles, as SQuAD files have')
  return dataset["data"]


_TYPE_NAMES = {str: "string", list: "list", dict: "object", bool: "boolean",
               int: "integer"}


def get_field(path, where, obj, key, kind, default=KeyError):
  """obj[key] checked to be of type `kind`; errors name file and place."""
  if not isinstance(obj, dict):
    _error(path, where, "expected a JSON object, found %s"
           % type(obj).__name__)
  if key not in obj:
    if default is KeyError:
      _error(path, where, 'missing field "%s"' % key)
    return default
  value = obj[key]
  kinds = kind if isinstance(kind, tuple) else (kind,)
  if (not isinstance(value, kinds) or
      (bool not in kinds and isinstance(value, bool))):
    _error(path, where, 'field "%s" should be a %s, found %s' % (
        key, " or ".join(_TYPE_NAMES[k] for k in kinds),
        json.dumps(value)[:40]))
  return value


def iter_questions(path, articles):
  """Yields (where, context, qa) for every question, checking the structure.

  `where` reads like `data[3].paragraphs[0].qas[2] (id 5733be...)`. Question
  ids are returned as strings and must be unique in the file. Contexts and
  questions longer than input_limits.MAX_TEXT_CHARS are refused.
  """
  seen = {}
  for i, article in enumerate(articles):
    paragraphs = get_field(path, "data[%d]" % i, article, "paragraphs", list)
    for j, paragraph in enumerate(paragraphs):
      at = "data[%d].paragraphs[%d]" % (i, j)
      context = get_field(path, at, paragraph, "context", str)
      _check_length(path, at, "context", context, "split it into paragraphs")
      for k, qa in enumerate(get_field(path, at, paragraph, "qas", list)):
        where = "%s.qas[%d]" % (at, k)
        qid = str(get_field(path, where, qa, "id", (str, int)))
        where = "%s (id %s)" % (where, qid)
        if qid in seen:
          _error(path, where, "duplicate question id, first at %s"
                 % seen[qid])
        seen[qid] = where.split(" ")[0]
        _check_length(path, where, "question",
                      get_field(path, where, qa, "question", str),
                      "shorten it")
        yield where, context, qa


def _check_length(path, where, what, text, advice):
  """Refuses a text longer than input_limits.MAX_TEXT_CHARS."""
  if len(text) > input_limits.MAX_TEXT_CHARS:
    _error(path, where, "the %s is %s characters long, over the %s "
           "(input_limits.MAX_TEXT_CHARS) one %s may hold; %s" % (
               what, format(len(text), ","),
               format(input_limits.MAX_TEXT_CHARS, ","), what, advice))


def answer_texts(path, where, qa):
  """The gold answer texts of a question ([] when it lists none)."""
  answers = get_field(path, where, qa, "answers", list, default=[])
  return [get_field(path, "%s.answers[%d]" % (where, n), a, "text", str)
          for n, a in enumerate(answers)]


def is_whitespace(char):
  """Google's SQuAD word separator: space, tab, CR, LF, U+202F."""
  return char in " \t\r\n" or ord(char) == 0x202F


def split_words(context):
  """Splits a context on whitespace, remembering each character's word.

  Returns:
    (doc_tokens, char_to_word): doc_tokens the words; char_to_word[c] the
    index of the word holding character c (for whitespace: the word before
    it, -1 before the first word).
  """
  # Words are sliced out at their ends: growing the last word one character
  # at a time (Google's `doc_tokens[-1] += c`) copies it every time, which is
  # quadratic in the word's length (minutes for a 1 MB word).
  doc_tokens, char_to_word = [], []
  start = None  # Where the current word began, or None between words.
  for index, char in enumerate(context):
    if is_whitespace(char):
      if start is not None:
        doc_tokens.append(context[start:index])
        start = None
      char_to_word.append(len(doc_tokens) - 1)
    else:
      if start is None:
        start = index
      char_to_word.append(len(doc_tokens))
  if start is not None:
    doc_tokens.append(context[start:])
  return doc_tokens, char_to_word


def _answer_position(path, where, qa, context, words):
  """(text, start_word, end_word) of a question's first answer, or a reason
  string when its text does not match its offset."""
  doc_tokens, char_to_word = words
  answers = get_field(path, where, qa, "answers", list)
  if not answers:
    _error(path, where, 'no answer in "answers" and not "is_impossible"')
  at = where + ".answers[0]"
  text = get_field(path, at, answers[0], "text", str)
  start = get_field(path, at, answers[0], "answer_start", int)
  if start < 0 or start + len(text) > len(context):
    _error(path, at, "answer_start %d + %d characters of text lies outside "
           "the context (%d characters)" % (start, len(text), len(context)))
  if not text.strip():
    return "empty answer text"
  start_word = max(char_to_word[start], 0)
  end_word = char_to_word[start + len(text) - 1]
  actual = " ".join(doc_tokens[start_word:end_word + 1])
  if " ".join(text.split()) not in actual:
    return "answer text %r does not match the context at offset %d (%r)" % (
        text[:40], start, context[start:start + len(text)][:40])
  return text, start_word, end_word


def read_squad_examples(path, is_training, version_2_with_negative=False):
  """Reads a SQuAD 1.1 or 2.0 JSON file into SquadExamples.

  Args:
    path: the JSON file.
    is_training: read answer positions (first answer of each question);
      questions whose answer text does not match its offset are skipped.
    version_2_with_negative: accept `is_impossible` questions (SQuAD 2.0).
  Returns:
    (examples, stats): stats has "questions", "examples" and "skipped", a
    list of (where, reason) for the skipped questions.
  Raises:
    SquadDataError: malformed JSON, missing or mistyped fields, answer
      offsets outside the context, an empty file or one without questions.
  """
  articles = load_dataset(path)
  examples, skipped = [], []
  last_context, words = None, None
  for where, context, qa in iter_questions(path, articles):
    if context is not last_context:
      last_context, words = context, split_words(context)
    impossible = get_field(path, where, qa, "is_impossible", bool, False)
    if impossible and not version_2_with_negative:
      _error(path, where, "an is_impossible question in a SQuAD 1.1 run; "
             "pass --version_2_with_negative for SQuAD 2.0 files")
    answer, start, end = None, -1, -1
    if is_training and not impossible:
      position = _answer_position(path, where, qa, context, words)
      if isinstance(position, str):
        skipped.append((where, position))
        continue
      answer, start, end = position
    elif is_training:
      answer = ""
    examples.append(SquadExample(str(qa["id"]), qa["question"], words[0],
                                 answer, start, end, impossible))
  if not examples and not skipped:
    _error(path, None, "no questions in the file")
  return examples, {"questions": len(examples) + len(skipped),
                    "examples": len(examples), "skipped": skipped}


# ----------------------------------------------------------------------------
# Features


InputFeatures = collections.namedtuple("InputFeatures", [
    "unique_id",             # int, names the window in predictions
    "example_index",         # int, index of its SquadExample
    "doc_span_index",        # int, which window of the document
    "tokens",                # list of S' <= S word pieces, no padding
    "token_to_orig_map",     # dict token position -> doc word index
    "token_is_max_context",  # dict token position -> bool
    "input_ids",             # [S] int
    "input_mask",            # [S] int, 1 for real tokens
    "segment_ids",           # [S] int, 0 question, 1 document
    "start_position",        # int token position; 0 ([CLS]) = no answer
    "end_position",          # int token position
    "is_impossible",         # bool, no answer in this window (training)
])

DocSpan = collections.namedtuple("DocSpan", ["start", "length"])

FIRST_UNIQUE_ID = 1000000000


def doc_spans(num_tokens, max_tokens, doc_stride):
  """Overlapping windows over a document of `num_tokens` word pieces.

  Windows hold up to `max_tokens` pieces and start every `doc_stride` pieces
  until one reaches the end. An empty document gets one empty window, so
  every question has a feature (and a "" answer).
  """
  spans, start = [], 0
  while True:
    length = min(max_tokens, num_tokens - start)
    spans.append(DocSpan(start, length))
    if start + length >= num_tokens:
      return spans
    start += min(length, doc_stride)


def max_context_owner(spans):
  """Maps each document piece to the window where it has the most context.

  A piece's score in a window is min(pieces left of it, pieces right of it)
  + 0.01 * window length; the highest score wins, the first window on ties.

  Returns:
    dict piece index -> span index.
  """
  best = {}
  for span_index, span in enumerate(spans):
    for position in range(span.start, span.start + span.length):
      left = position - span.start
      right = span.start + span.length - 1 - position
      score = min(left, right) + 0.01 * span.length
      if position not in best or score > best[position][0]:
        best[position] = (score, span_index)
  return {position: owner for position, (_, owner) in best.items()}


def improve_answer_span(doc_pieces, start, end, tokenizer, answer_text):
  """The tightest piece span inside [start, end] whose pieces spell the
  tokenized answer, e.g. "1895" inside the word "(1895)"; else unchanged."""
  # Google's two nested loops join every sub-span: cubic in the answer's
  # length. Pieces hold no spaces, so a sub-span spells the target exactly
  # where " target " occurs in " span " at a space; the first occurrence is
  # the span Google's loops return (the lowest start, then the only end).
  target = tokenizer.tokenize(answer_text)
  if not target or start > end:
    return start, end
  span = " %s " % " ".join(doc_pieces[start:end + 1])
  found = span.find(" %s " % " ".join(target))
  if found < 0:
    return start, end
  new_start = start + span.count(" ", 0, found)
  return new_start, new_start + len(target) - 1


class _DocPieces(object):
  """A document's word pieces and the maps between pieces and words."""

  def __init__(self, doc_tokens, tokenizer):
    self.piece_to_word, self.word_to_piece, self.pieces = [], [], []
    for word_index, word in enumerate(doc_tokens):
      self.word_to_piece.append(len(self.pieces))
      for piece in tokenizer.tokenize(word):
        self.piece_to_word.append(word_index)
        self.pieces.append(piece)

  def answer_span(self, example, tokenizer):
    """(start, end) piece positions of a training example's answer."""
    start = self.word_to_piece[example.start_position]
    if example.end_position + 1 < len(self.word_to_piece):
      end = self.word_to_piece[example.end_position + 1] - 1
    else:
      end = len(self.pieces) - 1
    return improve_answer_span(self.pieces, start, end, tokenizer,
                               example.orig_answer_text)


def _pad(values, length):
  return values + [0] * (length - len(values))


def _window_feature(query, doc, span, owner, span_index, max_seq_length,
                    tokenizer):
  """Tokens, maps and ids of one window: [CLS] query [SEP] window [SEP]."""
  tokens = ["[CLS]"] + query + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  to_orig, is_max = {}, {}
  for piece in range(span.start, span.start + span.length):
    to_orig[len(tokens)] = doc.piece_to_word[piece]
    is_max[len(tokens)] = owner[piece] == span_index
    tokens.append(doc.pieces[piece])
  tokens.append("[SEP]")
  segment_ids += [1] * (len(tokens) - len(segment_ids))
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  return dict(tokens=tokens, token_to_orig_map=to_orig,
              token_is_max_context=is_max,
              input_ids=_pad(input_ids, max_seq_length),
              input_mask=_pad([1] * len(input_ids), max_seq_length),
              segment_ids=_pad(segment_ids, max_seq_length))


def _window_positions(example, answer, span, query_length):
  """Training targets of one window; (0, 0) when the answer is not inside."""
  if answer is None or example.is_impossible:
    return 0, 0
  start, end = answer
  if start < span.start or end >= span.start + span.length:
    return 0, 0
  offset = query_length + 2 - span.start  # [CLS] query [SEP]
  return start + offset, end + offset


def convert_examples_to_features(examples, tokenizer, max_seq_length,
                                 doc_stride, max_query_length, is_training,
                                 first_unique_id=FIRST_UNIQUE_ID):
  """Cuts each question + document into windowed InputFeatures.

  Args:
    examples: list of SquadExample.
    tokenizer: tokenization.FullTokenizer.
    max_seq_length: S, pieces per window including [CLS] and two [SEP].
    doc_stride: pieces between window starts.
    max_query_length: questions are cut to this many pieces.
    is_training: set start/end positions (else 0).
    first_unique_id: unique_id of the first feature, then +1 per feature.
  Returns:
    (features, stats): stats counts "examples", "features",
    "windowed_examples", "truncated_questions" and, in training,
    "windows_without_answer" (positions at [CLS]) and
    "answers_without_pieces" (questions left out: their answer is made of
    characters the tokenizer drops, such as U+200B, so no piece spells it).
  """
  if max_seq_length <= max_query_length + 3:
    raise ValueError("max_seq_length=%d leaves no room for the document "
                     "after max_query_length=%d" % (max_seq_length,
                                                    max_query_length))
  features = []
  stats = collections.Counter(examples=len(examples))
  doc, doc_source = None, None
  for example_index, example in enumerate(examples):
    query = tokenizer.tokenize(example.question_text)
    if len(query) > max_query_length:
      stats["truncated_questions"] += 1
      query = query[:max_query_length]
    if example.doc_tokens is not doc_source:  # questions share a paragraph
      doc_source, doc = example.doc_tokens, _DocPieces(example.doc_tokens,
                                                       tokenizer)
    answer = None
    if is_training and not example.is_impossible:
      answer = doc.answer_span(example, tokenizer)
      if answer[1] < answer[0]:
        # Google's code would point start after end (at the next word or
        # the final [SEP]): a wrong target, trained on silently.
        stats["answers_without_pieces"] += 1
        continue
    spans = doc_spans(len(doc.pieces), max_seq_length - len(query) - 3,
                      doc_stride)
    owner = max_context_owner(spans)
    stats["windowed_examples"] += len(spans) > 1
    for span_index, span in enumerate(spans):
      start, end = _window_positions(example, answer, span, len(query))
      if is_training and start == 0:
        stats["windows_without_answer"] += 1
      features.append(InputFeatures(
          unique_id=first_unique_id + len(features),
          example_index=example_index, doc_span_index=span_index,
          start_position=start, end_position=end,
          is_impossible=is_training and start == 0,
          **_window_feature(query, doc, span, owner, span_index,
                            max_seq_length, tokenizer)))
  stats["features"] = len(features)
  return features, stats


def padding_feature(max_seq_length):
  """An all-zero feature (unique_id 0) that pads TPU batches; its result is
  dropped."""
  zeros = [0] * max_seq_length
  return InputFeatures(0, -1, 0, [], {}, {}, zeros, zeros, zeros, 0, 0, True)


# ----------------------------------------------------------------------------
# Answers from logits


RawResult = collections.namedtuple("RawResult",
                                   ["unique_id", "start_logits", "end_logits"])

_Candidate = collections.namedtuple(
    "_Candidate", ["feature", "start", "end", "start_logit", "end_logit"])


def _top_indexes(logits, n):
  """Indexes of the n largest logits, largest first (lower index on ties)."""
  order = sorted(range(len(logits)), key=lambda i: logits[i], reverse=True)
  return order[:n]


def _is_valid_span(feature, start, end, max_answer_length):
  """A span of document pieces, scored in its own window, not too long."""
  return (start in feature.token_to_orig_map and
          end in feature.token_to_orig_map and
          feature.token_is_max_context.get(start, False) and
          start <= end < start + max_answer_length)


def _span_candidates(feature, result, n_best_size, max_answer_length):
  starts = _top_indexes(result.start_logits, n_best_size)
  ends = _top_indexes(result.end_logits, n_best_size)
  return [_Candidate(feature, s, e, float(result.start_logits[s]),
                     float(result.end_logits[e]))
          for s in starts for e in ends
          if _is_valid_span(feature, s, e, max_answer_length)]


def _strip_word_pieces(tokens):
  """"un ##afford ##able ." -> "unaffordable ." """
  text = " ".join(tokens).replace(" ##", "").replace("##", "")
  return " ".join(text.split())


def _non_space_positions(text):
  return [i for i, char in enumerate(text) if char != " "]


def get_final_text(pred_text, orig_text, do_lower_case):
  """Projects a predicted span (normalised text) back onto the original.

  `pred_text` is what the word pieces spell (lower-cased, accents stripped,
  punctuation split off); `orig_text` the original words the span touches,
  e.g. pred "steve smith" inside orig "Steve Smith's" gives "Steve Smith".
  The original is tokenized as BERT saw it, the prediction found in that,
  and its ends mapped back character by character, skipping spaces. When
  that is impossible (the prediction is not found, or normalisation changed
  the number of non-space characters) the whole `orig_text` is returned, as
  Google's script does.
  """
  tok_text = " ".join(
      tokenization.BasicTokenizer(do_lower_case=do_lower_case).tokenize(
          orig_text))
  start = tok_text.find(pred_text)
  if start < 0 or not pred_text:
    return orig_text
  end = start + len(pred_text) - 1
  tok_chars = _non_space_positions(tok_text)
  orig_chars = _non_space_positions(orig_text)
  if len(tok_chars) != len(orig_chars):
    return orig_text
  rank = {position: k for k, position in enumerate(tok_chars)}
  if start not in rank or end not in rank:
    return orig_text
  return orig_text[orig_chars[rank[start]]:orig_chars[rank[end]] + 1]


def _candidate_text(example, candidate, do_lower_case):
  feature = candidate.feature
  pieces = feature.tokens[candidate.start:candidate.end + 1]
  first = feature.token_to_orig_map[candidate.start]
  last = feature.token_to_orig_map[candidate.end]
  orig_text = " ".join(example.doc_tokens[first:last + 1])
  return get_final_text(_strip_word_pieces(pieces), orig_text, do_lower_case)


def _softmax(scores):
  if not scores:
    return []
  top = max(scores)
  exps = [math.exp(s - top) for s in scores]
  total = sum(exps)
  return [e / total for e in exps]


def _nbest(example, candidates, n_best_size, do_lower_case, null):
  """Best distinct answers, best first: list of (text, start, end logit).

  The null candidate (SQuAD 2.0; start 0 = [CLS]) is ranked with the spans
  as text "", and appended last if it did not make the list.
  """
  if null is not None:
    candidates = candidates + [null]
  candidates = sorted(candidates, key=lambda c: c.start_logit + c.end_logit,
                      reverse=True)
  nbest, seen = [], set()
  for candidate in candidates:
    if len(nbest) >= n_best_size:
      break
    text = ("" if candidate.start == 0 else
            _candidate_text(example, candidate, do_lower_case))
    if text in seen:
      continue
    seen.add(text)
    nbest.append((text, candidate.start_logit, candidate.end_logit))
  if null is not None and "" not in seen:
    nbest.append(("", null.start_logit, null.end_logit))
  return nbest


# Null odds written when no window offers a valid non-null span: any
# threshold then predicts "" (JSON has no infinity).
NO_ANSWER_ODDS = 1e9


def _null_candidate(features, results):
  """The lowest [CLS] score over a question's windows (SQuAD 2.0)."""
  best = None
  for feature in features:
    result = results[feature.unique_id]
    score = float(result.start_logits[0]) + float(result.end_logits[0])
    if best is None or score < best[0]:
      best = (score, _Candidate(feature, 0, 0, float(result.start_logits[0]),
                                float(result.end_logits[0])))
  return best[1] if best else None


def _predict_one(example, features, results, options):
  """(answer text, nbest list of dicts, null odds or None) for one question."""
  candidates = []
  for feature in features:
    candidates += _span_candidates(feature, results[feature.unique_id],
                                   options["n_best_size"],
                                   options["max_answer_length"])
  null = None
  if options["version_2_with_negative"]:
    null = _null_candidate(features, results)
  entries = _nbest(example, candidates, options["n_best_size"],
                   options["do_lower_case"], null)
  if not entries:  # no valid span at all (#417): answer "", never crash
    entries = [("", 0.0, 0.0)]
  probs = _softmax([s + e for _, s, e in entries])
  nbest = [collections.OrderedDict([
      ("text", t), ("probability", p), ("start_logit", s), ("end_logit", e)])
           for (t, s, e), p in zip(entries, probs)]
  if not options["version_2_with_negative"]:
    return entries[0][0], nbest, None
  non_null = [entry for entry in entries if entry[0]]
  if not non_null or null is None:  # only the null answer is left (#1106)
    return "", nbest, NO_ANSWER_ODDS
  text, start_logit, end_logit = non_null[0]
  odds = null.start_logit + null.end_logit - start_logit - end_logit
  if odds > options["null_score_diff_threshold"]:
    return "", nbest, odds
  return text, nbest, odds


def predict_answers(examples, features, results, n_best_size=20,
                    max_answer_length=30, do_lower_case=True,
                    version_2_with_negative=False,
                    null_score_diff_threshold=0.0):
  """Turns per-window start/end logits into one answer per question.

  Args:
    examples: list of SquadExample.
    features: list of InputFeatures of those examples.
    results: iterable of RawResult (start/end logits [S] per unique_id).
    n_best_size: start and end positions tried per window, and answers kept
      in the n-best list.
    max_answer_length: longest answer in word pieces.
    do_lower_case: how the model's tokenizer normalised text.
    version_2_with_negative: allow "" (no answer).
    null_score_diff_threshold: predict "" when null score minus the best
      span's score is above this.
  Returns:
    (predictions, nbest, null_odds), OrderedDicts keyed by question id:
    answer text; list of {text, probability, start_logit, end_logit}; the
    score difference (SQuAD 2.0 only, else empty).
  """
  by_id = {r.unique_id: r for r in results}
  by_example = collections.defaultdict(list)
  for feature in features:
    if feature.unique_id in by_id:
      by_example[feature.example_index].append(feature)
  options = dict(n_best_size=n_best_size, max_answer_length=max_answer_length,
                 do_lower_case=do_lower_case,
                 version_2_with_negative=version_2_with_negative,
                 null_score_diff_threshold=null_score_diff_threshold)
  predictions = collections.OrderedDict()
  nbest = collections.OrderedDict()
  null_odds = collections.OrderedDict()
  for index, example in enumerate(examples):
    text, entries, odds = _predict_one(example, by_example[index], by_id,
                                       options)
    predictions[example.qas_id] = text
    nbest[example.qas_id] = entries
    if odds is not None:
      null_odds[example.qas_id] = odds
  return predictions, nbest, null_odds
