# coding=utf-8
r"""Builds BERT pretraining data: masked-LM and next-sentence TFRecords.

Input: plain-text files, one sentence per line and a blank line between
documents (the format of Google's `sample_text.txt`). Output: sharded
TFRecords of tf.train.Examples with Google's feature names, which
`run_pretraining.py` reads (S = --max_seq_length, P =
--max_predictions_per_seq):

  input_ids, input_mask, segment_ids       int64 [S]
  masked_lm_positions, masked_lm_ids       int64 [P]   (padded with 0)
  masked_lm_weights                        float [P]   (1.0 real, 0.0 pad)
  next_sentence_labels                     int64 [1]   (1: B is random)

  python create_pretraining_data.py --input_file='corpus/*.txt' \
    --output_file=data/pretrain.tfrecord --num_output_shards=8 \
    --vocab_file=$BERT/vocab.txt --do_lower_case --max_seq_length=128 \
    --max_predictions_per_seq=20 --masked_lm_prob=0.15 --dupe_factor=10

Instances follow Google's recipe: sentences of a document are packed into
chunks of about --max_seq_length pieces (shorter ones with --short_seq_prob,
to lessen the gap to fine-tuning), each chunk is split into segments A and B,
and half the time B is replaced by text from another document (the
next-sentence label). Then --masked_lm_prob of the pieces (at most
--max_predictions_per_seq) are picked for prediction, whole words at a time
with --do_whole_word_mask, and each picked piece becomes [MASK] 80% of the
time, a random vocabulary entry 10% and stays itself 10%.

Chinese whole-word masking: the tokenizer splits CJK text into characters, so
word boundaries must come from the input. With --pre_segmented the input is
word-segmented text (words separated by spaces, e.g. by jieba or LTP) and the
characters of one multi-character word are masked together. The continuation
characters carry a "##" mark while instances are built, exactly as WordPiece
continuations do; the mark is for masking only and never reaches the ids.

Determinism: each (dupe round, document) draws from its own random generator
seeded from --random_seed, and the final shuffle from the seed alone, so the
output bytes depend only on the inputs and the flags, never on --num_workers.

Input files are read and tokenized in parallel worker processes, one file per
task; instances are then built in parallel, a block of documents per task.
"""

import collections
import glob
import multiprocessing
import os
import random
import time

from absl import app
from absl import flags
from absl import logging

import atomic_files
import input_limits
import tokenization

FLAGS = flags.FLAGS

CLS, SEP, MASK, UNK = "[CLS]", "[SEP]", "[MASK]", "[UNK]"
# Pieces added around each instance: [CLS] A [SEP] B [SEP].
NUM_SPECIAL = 3

# What instance building needs to know; a plain tuple so workers can get it.
Options = collections.namedtuple("Options", [
    "max_seq_length", "short_seq_prob", "masked_lm_prob",
    "max_predictions_per_seq", "do_whole_word_mask", "random_seed"])

# One instance as ids (not padded): input_ids and segment_ids [T],
# masked_lm_positions and masked_lm_ids [M], is_random_next bool.
Instance = collections.namedtuple("Instance", [
    "input_ids", "segment_ids", "masked_lm_positions", "masked_lm_ids",
    "is_random_next"])


class PretrainingDataError(ValueError):
  """Bad input or flags: reported as one line naming the file and line."""


def define_flags():
  """Registers this script's flags (at run time: tests import the module
  next to scripts that define some of the same names)."""
  f = flags
  f.DEFINE_string("input_file", None,
                  "Comma-separated input text files or globs: one sentence a "
                  "line, a blank line between documents.")
  f.DEFINE_string("output_file", None,
                  "Comma-separated output TFRecord files (instances are dealt "
                  "round-robin), or one name that --num_output_shards turns "
                  "into NAME-00000-of-0000N ...")
  f.DEFINE_integer("num_output_shards", 1,
                   "With one --output_file: write this many shards named "
                   "NAME-%05d-of-%05d.")
  f.DEFINE_string("vocab_file", None, "vocab.txt of the model to pre-train.")
  f.DEFINE_bool("do_lower_case", True,
                "Lower-case and strip accents (True for uncased models).")
  f.DEFINE_bool("do_whole_word_mask", False,
                "Mask whole words: every piece of a word is picked together "
                "(each piece still gets its own 80/10/10 draw).")
  f.DEFINE_bool("pre_segmented", False,
                "The input is word-segmented with spaces (e.g. Chinese): "
                "with --do_whole_word_mask the CJK characters of one such "
                "word are masked together. Off: each CJK character is a word "
                "of its own, as in Google's script.")
  f.DEFINE_integer("max_seq_length", 128,
                   "Pieces per instance, [CLS] and two [SEP] included.")
  f.DEFINE_integer("max_predictions_per_seq", 20,
                   "Most masked-LM predictions per instance; about "
                   "max_seq_length * masked_lm_prob.")
  f.DEFINE_integer("random_seed", 12345,
                   "Seed of every random choice: the same seed and inputs "
                   "give byte-identical output.")
  f.DEFINE_integer("dupe_factor", 10,
                   "Passes over the input, each with different masks and "
                   "pairings (Google's default: 10).")
  f.DEFINE_float("masked_lm_prob", 0.15,
                 "Share of the pieces of an instance to predict (BERT: 15%).")
  f.DEFINE_float("short_seq_prob", 0.1,
                 "Probability of an instance shorter than max_seq_length "
                 "(2 pieces up), so the model also sees short inputs.")
  f.DEFINE_integer("num_workers", 0,
                   "Worker processes; 0 = one per CPU core. The output does "
                   "not depend on it.")


# ----------------------------------------------------------------------------
# Reading documents


def is_cjk_piece(piece):
  """True for a piece that is a single CJK ideograph."""
  return len(piece) == 1 and tokenization._is_chinese_char(ord(piece))  # pylint: disable=protected-access


def tokenize_line(line, tokenizer, pre_segmented):
  """Word pieces of one line.

  With `pre_segmented`, the CJK characters after the first of one
  space-separated word are marked "##" (a whole-word-masking mark, stripped
  by `piece_id`); other text is tokenized as without it.

  Returns:
    A list of str pieces.
  """
  if not pre_segmented:
    return tokenizer.tokenize(line)
  pieces = []
  for word in line.split():
    previous_cjk = False
    for token in tokenizer.basic_tokenizer.tokenize(word):
      cjk = is_cjk_piece(token)
      if cjk and previous_cjk:
        pieces.append("##" + token)
      else:
        pieces.extend(tokenizer.wordpiece_tokenizer.tokenize(token))
      previous_cjk = cjk
  return pieces


def decode_line(raw, path, line_number):
  """UTF-8 bytes -> str; a one-line error naming the file, line and byte."""
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise PretrainingDataError(
        "%s:%d: not UTF-8 text (byte 0x%02x at column %d); convert the file "
        "to UTF-8" % (path, line_number, raw[e.start], e.start + 1)) from None


def _capped_lines(f, path):
  """The lines of binary file `f` ("\n"-ended), refusing one longer than
  input_limits.MAX_LINE_BYTES before it is read whole."""
  limit = input_limits.MAX_LINE_BYTES
  for line_number, raw in enumerate(iter(lambda: f.readline(limit + 2), b""),
                                    1):
    # Up to limit bytes of text, then "\r\n", "\n" or nothing (the end).
    content = len(raw) - (2 if raw.endswith(b"\r\n") else
                          1 if raw.endswith(b"\n") else 0)
    if content > limit:
      hint = (" (its lines end in \\r alone: this reader splits at \\n)"
              if b"\r" in raw else "")
      raise PretrainingDataError("%s:%d: %s%s" % (
          path, line_number, input_limits.line_too_long(), hint))
    yield raw


def read_documents(path, tokenizer, pre_segmented, max_sentence_pieces):
  """Reads one input file into tokenized documents.

  A line longer than `max_sentence_pieces` pieces is split into sentences of
  that length (counted); a document whose lines hold no pieces is dropped
  (counted).

  Args:
    path: text file, one sentence a line, blank lines between documents.
    tokenizer: tokenization.FullTokenizer.
    pre_segmented: see tokenize_line.
    max_sentence_pieces: the longest sentence kept whole.
  Returns:
    (documents, stats): a list of documents, each a list of sentences, each a
    non-empty list of pieces; and a Counter of what was read.
  Raises:
    PretrainingDataError: the file is missing, a folder, or not UTF-8.
  """
  if not os.path.isfile(path):
    raise PretrainingDataError("%s: %s" % (path, "is a folder, not a text "
                                           "file" if os.path.isdir(path)
                                           else "no such file"))
  documents, current, had_text = [], [], False
  stats = collections.Counter()

  def end_document():
    if current:
      documents.append(list(current))
    elif had_text:
      stats["empty_documents"] += 1
    current.clear()

  with open(path, "rb") as f:
    for line_number, raw in enumerate(_capped_lines(f, path), 1):
      stats["lines"] += 1
      line = decode_line(raw, path, line_number).strip()
      if not line:
        end_document()
        had_text = False
        continue
      had_text = True
      pieces = tokenize_line(line, tokenizer, pre_segmented)
      if not pieces:
        stats["lines_without_pieces"] += 1
        continue
      if len(pieces) > max_sentence_pieces:
        stats["split_lines"] += 1
      for start in range(0, len(pieces), max_sentence_pieces):
        current.append(pieces[start:start + max_sentence_pieces])
      stats["pieces"] += len(pieces)
  end_document()
  stats["documents"] = len(documents)
  return documents, stats


# ----------------------------------------------------------------------------
# Instances


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
  """Cuts the longer segment, from a random end, until both fit (in place)."""
  while len(tokens_a) + len(tokens_b) > max_num_tokens:
    longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    # Cutting either end by chance avoids a bias to sentence starts.
    if rng.random() < 0.5:
      del longer[0]
    else:
      longer.pop()


def random_next_pieces(documents, index, target_length, rng):
  """Pieces from a random other document, from a random sentence on.

  Returns:
    A list of at least one sentence's pieces, about `target_length` long.
  """
  other = index
  if len(documents) > 1:
    other = rng.randrange(len(documents) - 1)
    other += other >= index  # Uniform over the documents but `index`.
  document = documents[other]
  pieces = []
  for sentence in document[rng.randrange(len(document)):]:
    pieces.extend(sentence)
    if len(pieces) >= target_length:
      break
  return pieces


def split_chunk(chunk, rng):
  """Splits a chunk into A and its true next B, or leaves B to be drawn.

  Args:
    chunk: a list of sentences (lists of pieces).
    rng: random.Random.
  Returns:
    (tokens_a, tokens_b, unused): tokens_b is None when B must be random;
    `unused` is then the number of the chunk's sentences after A.
  """
  if len(chunk) == 1:
    sentence = chunk[0]
    cuts = [k for k in range(1, len(sentence))
            if not sentence[k].startswith("##")]
    cuts = cuts or list(range(1, len(sentence)))
    if not cuts or rng.random() < 0.5:
      return list(sentence), None, 0
    k = rng.choice(cuts)
    return sentence[:k], sentence[k:], 0
  a_end = rng.randint(1, len(chunk) - 1)
  tokens_a = [p for sentence in chunk[:a_end] for p in sentence]
  if rng.random() < 0.5:
    return tokens_a, None, len(chunk) - a_end
  return tokens_a, [p for sentence in chunk[a_end:] for p in sentence], 0


def create_instances_from_document(documents, index, options, vocab_words,
                                   rng):
  """Sentence-pair instances of one document (Google's packing).

  Sentences are gathered until the chunk reaches a target length, the chunk
  is split at a random sentence boundary into A and B, and B is replaced by
  a random document's text half the time; the sentences that replacement
  leaves unused go back into the document for the next chunk.

  One departure from Google's script: it always draws a random B for a
  chunk of one sentence, which pushes the random share well above half on
  corpora of short documents (61% on the tests' corpus). Here the coin
  decides alone, and a one-sentence chunk with a true next is cut inside its
  sentence (at a word start when there is one): B is then the text that
  truly follows A.

  Returns:
    A list of Instance-like tuples of pieces (not yet ids); see make_instance.
  """
  document = documents[index]
  max_num_tokens = options.max_seq_length - NUM_SPECIAL
  target_length = max_num_tokens
  if rng.random() < options.short_seq_prob:
    target_length = rng.randint(2, max_num_tokens)
  instances, chunk, length, i = [], [], 0, 0
  while i < len(document):
    chunk.append(document[i])
    length += len(document[i])
    if i == len(document) - 1 or length >= target_length:
      tokens_a, tokens_b, unused = split_chunk(chunk, rng)
      is_random_next = tokens_b is None
      if is_random_next:
        tokens_b = random_next_pieces(documents, index,
                                      target_length - len(tokens_a), rng)
        i -= unused  # Those sentences start the next chunk.
      truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
      instances.append(make_instance(tokens_a, tokens_b, is_random_next,
                                     options, vocab_words, rng))
      chunk, length = [], 0
    i += 1
  return instances


def make_instance(tokens_a, tokens_b, is_random_next, options, vocab_words,
                  rng):
  """[CLS] A [SEP] B [SEP] with masks.

  Returns:
    (tokens, segment_ids, masked_lm_positions, masked_lm_labels,
    is_random_next); tokens and labels are pieces.
  """
  tokens = [CLS] + tokens_a + [SEP] + tokens_b + [SEP]
  segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
  tokens, positions, labels = create_masked_lm_predictions(
      tokens, options, vocab_words, rng)
  return tokens, segment_ids, positions, labels, is_random_next


def word_spans(tokens, whole_words):
  """Groups the maskable positions into masking units.

  [CLS] and [SEP] are never masked. With `whole_words`, a "##" piece joins
  the word of the piece right before it; otherwise every piece is a unit.

  Returns:
    A list of lists of positions, in order.
  """
  words = []
  for i, token in enumerate(tokens):
    if token in (CLS, SEP):
      continue
    if (whole_words and token.startswith("##") and words and
        words[-1][-1] == i - 1):
      words[-1].append(i)
    else:
      words.append([i])
  return words


def create_masked_lm_predictions(tokens, options, vocab_words, rng):
  """Picks pieces to predict and replaces them by the 80/10/10 rule.

  round(len(tokens) * masked_lm_prob) pieces (at least 1, at most
  max_predictions_per_seq) are picked, whole units at a time in random order;
  a unit that would overshoot the count is skipped.

  Returns:
    (output_tokens, positions, labels): the tokens with replacements, the
    sorted picked positions and the original pieces there.
  """
  words = word_spans(tokens, options.do_whole_word_mask)
  rng.shuffle(words)
  num_to_predict = min(options.max_predictions_per_seq,
                       max(1, int(round(len(tokens) *
                                        options.masked_lm_prob))))
  output = list(tokens)
  picked = []
  for word in words:
    if len(picked) >= num_to_predict:
      break
    if len(picked) + len(word) > num_to_predict:
      continue
    for i in word:
      picked.append(i)
      if rng.random() < 0.8:
        output[i] = MASK
      elif rng.random() < 0.5:
        pass  # Kept: the model cannot trust that an unmasked piece is right.
      else:
        output[i] = vocab_words[rng.randrange(len(vocab_words))]
  picked.sort()
  return output, picked, [tokens[i] for i in picked]


def piece_id(vocab, piece, unk_id):
  """The id of a piece; a "##"-marked CJK character counts as itself."""
  if piece.startswith("##") and is_cjk_piece(piece[2:]):
    piece = piece[2:]
  return vocab.get(piece, unk_id)


def to_ids(instance, vocab):
  """Pieces -> an Instance of ids."""
  tokens, segment_ids, positions, labels, is_random_next = instance
  unk_id = vocab.get(UNK, 0)
  return Instance([piece_id(vocab, t, unk_id) for t in tokens], segment_ids,
                  positions, [piece_id(vocab, t, unk_id) for t in labels],
                  is_random_next)


# ----------------------------------------------------------------------------
# Work for the worker processes (also run in-process with one worker)

_STATE = {}


def _init_reader(vocab_file, do_lower_case, pre_segmented,
                 max_sentence_pieces):
  _STATE["tokenizer"] = tokenization.FullTokenizer(vocab_file, do_lower_case)
  _STATE["pre_segmented"] = pre_segmented
  _STATE["max_sentence_pieces"] = max_sentence_pieces


def _read_task(path):
  return read_documents(path, _STATE["tokenizer"], _STATE["pre_segmented"],
                        _STATE["max_sentence_pieces"])


def _init_builder(vocab_file, documents, options):
  _STATE["vocab"] = tokenization.load_vocab(vocab_file)
  _STATE["vocab_words"] = list(_STATE["vocab"])
  _STATE["documents"] = documents
  _STATE["options"] = options


def document_rng(seed, dupe, index):
  """The generator of one (dupe round, document): independent of workers."""
  return random.Random("%d/%d/%d" % (seed, dupe, index))


def _build_task(task):
  """Instances (as ids) of documents [start, end) in dupe round `dupe`."""
  dupe, start, end = task
  documents, options = _STATE["documents"], _STATE["options"]
  out = []
  for index in range(start, end):
    rng = document_rng(options.random_seed, dupe, index)
    for instance in create_instances_from_document(
        documents, index, options, _STATE["vocab_words"], rng):
      out.append(to_ids(instance, _STATE["vocab"]))
  return out


def _run_tasks(num_workers, init, init_args, fn, tasks):
  """fn over tasks, in order, in `num_workers` spawned processes (or here).

  Spawned, not forked: the parent may hold TensorFlow's threads, which a
  fork would copy in a broken state.
  """
  if num_workers <= 1 or len(tasks) <= 1:
    init(*init_args)
    try:
      return [fn(task) for task in tasks]
    finally:
      _STATE.clear()
  context = multiprocessing.get_context("spawn")
  with context.Pool(min(num_workers, len(tasks)), init, init_args) as pool:
    return list(pool.imap(fn, tasks))


def read_all_documents(input_files, vocab_file, do_lower_case, pre_segmented,
                       max_seq_length, num_workers):
  """Reads and tokenizes the input files, one per task, in file order.

  Returns:
    (documents, stats): every document of every file, in order; and a list
    of (path, Counter) per file.
  """
  results = _run_tasks(num_workers, _init_reader,
                       (vocab_file, do_lower_case, pre_segmented,
                        max_seq_length - NUM_SPECIAL),
                       _read_task, list(input_files))
  documents = [doc for docs, _ in results for doc in docs]
  return documents, [(p, s) for p, (_, s) in zip(input_files, results)]


def build_instances(documents, vocab_file, options, dupe_factor, num_workers):
  """Every instance of `dupe_factor` passes over `documents`, shuffled.

  Returns:
    A list of Instance (ids), the same for any `num_workers`.
  """
  block = max(1, -(-len(documents) // (4 * max(num_workers, 1))))
  tasks = [(dupe, start, min(start + block, len(documents)))
           for dupe in range(dupe_factor)
           for start in range(0, len(documents), block)]
  results = _run_tasks(num_workers, _init_builder,
                       (vocab_file, documents, options), _build_task, tasks)
  instances = [instance for result in results for instance in result]
  random.Random(options.random_seed).shuffle(instances)
  return instances


# ----------------------------------------------------------------------------
# Writing


def example_bytes(instance, max_seq_length, max_predictions_per_seq):
  """One Instance as a serialized tf.train.Example, padded (Google's names)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def ints(values, length):
    values = list(values) + [0] * (length - len(values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

  n, m = len(instance.input_ids), len(instance.masked_lm_positions)
  p = max_predictions_per_seq
  weights = [1.0] * m + [0.0] * (p - m)
  features = collections.OrderedDict([
      ("input_ids", ints(instance.input_ids, max_seq_length)),
      ("input_mask", ints([1] * n, max_seq_length)),
      ("segment_ids", ints(instance.segment_ids, max_seq_length)),
      ("masked_lm_positions", ints(instance.masked_lm_positions, p)),
      ("masked_lm_ids", ints(instance.masked_lm_ids, p)),
      ("masked_lm_weights", tf.train.Feature(
          float_list=tf.train.FloatList(value=weights))),
      ("next_sentence_labels", ints([int(instance.is_random_next)], 1)),
  ])
  example = tf.train.Example(features=tf.train.Features(feature=features))
  # Deterministic: map fields in key order, so the same seed gives the same
  # bytes.
  return example.SerializeToString(deterministic=True)


def output_paths(output_file, num_shards):
  """The shard paths from --output_file and --num_output_shards."""
  paths = [p.strip() for p in output_file.split(",") if p.strip()]
  if num_shards < 1:
    raise PretrainingDataError("--num_output_shards must be >= 1")
  if num_shards > 1:
    if len(paths) != 1:
      raise PretrainingDataError("--num_output_shards needs a single "
                                 "--output_file name, got %d" % len(paths))
    paths = ["%s-%05d-of-%05d" % (paths[0], i, num_shards)
             for i in range(num_shards)]
  return paths


def write_shards(instances, paths, max_seq_length, max_predictions_per_seq):
  """Deals instances round-robin into the shard files, written atomically.

  Each shard goes to a temp name and all are renamed once every one is
  complete, so a killed run leaves no shard that looks finished.

  Returns:
    A list of record counts, one per shard.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  temps, writers = [], []
  try:
    for path in paths:
      directory = os.path.dirname(path) or "."
      os.makedirs(directory, exist_ok=True)
      tmp = atomic_files.make_temp_file(directory)
      temps.append(tmp)
      writers.append(tf.io.TFRecordWriter(tmp))
    counts = [0] * len(paths)
    for k, instance in enumerate(instances):
      writers[k % len(paths)].write(example_bytes(
          instance, max_seq_length, max_predictions_per_seq))
      counts[k % len(paths)] += 1
    for writer in writers:
      writer.close()
    for tmp, path in zip(temps, paths):
      os.replace(tmp, path)
    return counts
  except tf.errors.OpError as e:  # e.g. a full disk: name the shard
    import task_plumbing  # pylint: disable=g-import-not-at-top
    shard = [p for t, p in zip(temps, paths) if t in e.message]
    cause = task_plumbing.os_error_from_tf(e, shard[0] if shard else None)
    if cause is None:
      raise
    raise cause from e
  finally:
    for writer in writers:
      writer.close()
    for tmp in temps:
      if os.path.exists(tmp):
        os.remove(tmp)


# ----------------------------------------------------------------------------
# Main


def expand_input_files(patterns):
  """Comma-separated files or globs -> sorted paths; errors name the gap."""
  paths = []
  for pattern in [p.strip() for p in patterns.split(",") if p.strip()]:
    is_glob = any(c in pattern for c in "*?[")
    matches = sorted(glob.glob(pattern)) if is_glob else [pattern]
    if not matches:
      raise PretrainingDataError("--input_file: nothing matches %s" % pattern)
    paths.extend(matches)
  if not paths:
    raise PretrainingDataError("--input_file: no input files given")
  return paths


def options_from_flags():
  """Options from the flags, checked."""
  if FLAGS.max_seq_length < NUM_SPECIAL + 2:
    raise PretrainingDataError("--max_seq_length must be at least %d ([CLS], "
                               "two [SEP] and a piece per segment)"
                               % (NUM_SPECIAL + 2))
  if not 0.0 < FLAGS.masked_lm_prob < 1.0:
    raise PretrainingDataError("--masked_lm_prob must be in (0, 1)")
  if not 0.0 <= FLAGS.short_seq_prob <= 1.0:
    raise PretrainingDataError("--short_seq_prob must be in [0, 1]")
  if FLAGS.max_predictions_per_seq < 1 or FLAGS.dupe_factor < 1:
    raise PretrainingDataError("--max_predictions_per_seq and --dupe_factor "
                               "must be >= 1")
  return Options(FLAGS.max_seq_length, FLAGS.short_seq_prob,
                 FLAGS.masked_lm_prob, FLAGS.max_predictions_per_seq,
                 FLAGS.do_whole_word_mask, FLAGS.random_seed)


def log_reading(file_stats, num_documents):
  """One line per input file, then the totals."""
  total = collections.Counter()
  for path, stats in file_stats:
    total.update(stats)
    logging.info("Read %s: %d lines, %d documents, %d pieces (%d over-long "
                 "lines split, %d empty documents dropped)", path,
                 stats["lines"], stats["documents"], stats["pieces"],
                 stats["split_lines"], stats["empty_documents"])
  logging.info("Read %d files: %d documents, %d pieces, %d over-long lines "
               "split, %d empty documents dropped", len(file_stats),
               num_documents, total["pieces"], total["split_lines"],
               total["empty_documents"])


def log_instances(instances, inv_vocab, num_examples=3):
  """The first instances in words, and the masking and pairing rates."""
  for instance in instances[:num_examples]:
    logging.info("*** Example ***\n tokens: %s\n masked_lm_positions: %s\n "
                 "masked_lm_labels: %s\n is_random_next: %s",
                 " ".join(inv_vocab.get(i, "?") for i in instance.input_ids),
                 instance.masked_lm_positions,
                 " ".join(inv_vocab.get(i, "?")
                          for i in instance.masked_lm_ids),
                 instance.is_random_next)
  pieces = sum(len(i.input_ids) for i in instances)
  masked = sum(len(i.masked_lm_positions) for i in instances)
  random_next = sum(i.is_random_next for i in instances)
  logging.info("%d instances: %d pieces, %d masked (%.1f%%), %d random next "
               "(%.1f%%)", len(instances), pieces, masked,
               100.0 * masked / max(pieces, 1), random_next,
               100.0 * random_next / max(len(instances), 1))


def create_pretraining_data(input_files, paths, vocab_file, do_lower_case,
                            options, dupe_factor, pre_segmented=False,
                            num_workers=1):
  """Reads `input_files`, builds instances and writes the shards `paths`.

  Returns:
    A list of record counts, one per shard.
  Raises:
    PretrainingDataError: bad input (file:line) or no documents at all.
  """
  start = time.time()
  documents, file_stats = read_all_documents(
      input_files, vocab_file, do_lower_case, pre_segmented,
      options.max_seq_length, num_workers)
  log_reading(file_stats, len(documents))
  if not documents:
    raise PretrainingDataError("no text in %s: every line is blank or "
                               "tokenizes to nothing" % ", ".join(input_files))
  instances = build_instances(documents, vocab_file, options, dupe_factor,
                              num_workers)
  vocab = tokenization.load_vocab(vocab_file)
  log_instances(instances, {v: k for k, v in vocab.items()})
  counts = write_shards(instances, paths, options.max_seq_length,
                        options.max_predictions_per_seq)
  for path, count in zip(paths, counts):
    logging.info("Wrote %d instances to %s", count, path)
  logging.info("Wrote %d instances to %d files in %.1f s", sum(counts),
               len(paths), time.time() - start)
  return counts


def check_outputs(paths):
  """Each output is a file path in a folder this user can write (checked
  before the input is read: a run must not stop at its first write)."""
  import task_plumbing  # pylint: disable=g-import-not-at-top
  for path in paths:
    if os.path.isdir(path):
      raise PretrainingDataError("--output_file: %s is a folder; expected "
                                 "the path of a TFRecord file" % path)
  for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
    task_plumbing.check_writable_dir(folder, "the folder of --output_file")


def main(_):
  for name in ("input_file", "output_file", "vocab_file"):
    if not getattr(FLAGS, name):
      raise PretrainingDataError("missing required flag --%s" % name)
  options = options_from_flags()
  input_files = expand_input_files(FLAGS.input_file)
  paths = output_paths(FLAGS.output_file, FLAGS.num_output_shards)
  check_outputs(paths)
  num_workers = FLAGS.num_workers or os.cpu_count() or 1
  try:
    tokenization.load_vocab(FLAGS.vocab_file)
  except ValueError as e:
    raise PretrainingDataError(str(e)) from None
  logging.info("%d input files, %d output files, %d workers",
               len(input_files), len(paths), num_workers)
  create_pretraining_data(input_files, paths, FLAGS.vocab_file,
                          FLAGS.do_lower_case, options, FLAGS.dupe_factor,
                          FLAGS.pre_segmented, num_workers)


def run():
  # task_plumbing (and TensorFlow) only in the main process: spawned workers
  # import this module and need neither.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # Before TF's import.
  import task_plumbing  # pylint: disable=g-import-not-at-top
  define_flags()
  task_plumbing.register_user_error(PretrainingDataError)
  task_plumbing.quiet_tensorflow()
  app.run(task_plumbing.main_wrapper(main))


if __name__ == "__main__":
  run()
