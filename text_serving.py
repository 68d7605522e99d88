"""Raw text in the graph: BERT inputs from strings, for SavedModel signatures.

`encode_text(text_a, text_b, table, special_ids, do_lower_case,
max_seq_length)` builds, from string tensors, exactly the `input_ids`, `input_mask` and `segment_ids`
that `tokenization.FullTokenizer` plus Google's `convert_single_example` give
(`[CLS] a [SEP] b [SEP]`, the longer segment trimmed first). It uses
tensorflow-text's regex splitter and WordPiece op, after normalising the text
the way Google's `BasicTokenizer` does:

  1. invalid UTF-8 bytes dropped;
  2. tab, newline, carriage return and every Zs space become " " (also
     U+2028/U+2029, on which Python's `str.split` splits); NUL, U+FFFD and
     categories Cc and Cf are dropped;
  3. CJK ideographs (Google's blocks) spaced out;
  4. if `do_lower_case`: lower-cased by Unicode's full rules (final sigma,
     U+0130), NFD-decomposed, non-spacing marks (Mn) dropped;
  5. split on spaces, keeping each punctuation mark (ASCII symbols and P*)
     and each CJK ideograph as a word of its own;
  6. words over 200 characters become [UNK]; the rest go through greedy
     longest-match-first WordPiece with "##" continuations.

tensorflow-text's own `BertTokenizer(lower_case=True)` case-folds with
NFKC_Casefold instead, which changes compatibility characters (ligatures,
full-width letters, superscripts ...) and so the ids; it also limits words by
bytes, not characters. Hence the steps above.

Unicode versions: Python 3.11 classifies characters by Unicode 14.0, while
TensorFlow's RE2 (\\p{...} classes) and ICU (lower-casing, NFD) carry their
own, different versions. So the character classes here are listed from this
Python's `unicodedata` (the same tables tokenization.py reads), and the
characters that ICU lower-cases or decomposes differently (40 capitals and
one vowel sign added in Unicode 14, found at export time) are mapped to
Python's result first. Checked once over every code point in three
contexts, cased and uncased: identical words. The exported graph carries the
tables of the Python that exported it; tokenization.py under another Python
version may differ on characters new to that version.

Importing tensorflow-text registers its ops: a process that loads a SavedModel
with a text signature must `import tensorflow_text` first (TF Serving has the
ops built in); `python text_serving.py run ...` is saved_model_cli with them.
"""

import functools
import sys
import unicodedata
import warnings

from absl import logging
import tensorflow as tf

import atomic_files
import tokenization

tf1 = tf.compat.v1

# Google's CJK ideograph blocks (tokenization._CJK_RANGES), as an RE2 class.
_CJK_CLASS = "[%s]" % "".join(
    "\\x{%X}-\\x{%X}" % r for r in tokenization._CJK_RANGES)  # pylint: disable=protected-access
MAX_WORD_CHARS = 200
UNK = "[UNK]"


def _char_class(chars):
  """An RE2 character class matching exactly `chars` (ranges compressed)."""
  codes = sorted(set(ord(c) for c in chars))
  parts, start = [], None
  for i, code in enumerate(codes):
    if start is None:
      start = code
    if i + 1 == len(codes) or codes[i + 1] != code + 1:
      parts.append("\\x{%X}" % start if start == code
                   else "\\x{%X}-\\x{%X}" % (start, code))
      start = None
  return "[%s]" % "".join(parts)


@functools.lru_cache(maxsize=None)
def _python_classes():
  """Character classes taken from this Python's `unicodedata`.

  RE2's own Unicode tables (\\p{P}, \\p{Mn}, ...) are of a newer Unicode
  version than Python's; classes listed from `unicodedata` make the graph
  classify every character exactly as tokenization.py does in this Python.

  Returns:
    Dict name -> RE2 class: "space" (becomes " "), "dropped", "punct", "mn".
  """
  space, dropped, punct, mn = [], [], [], []
  for code in range(sys.maxunicode + 1):
    char = chr(code)
    if 0xD800 <= code <= 0xDFFF:
      continue  # Surrogates cannot occur in valid UTF-8.
    if tokenization._is_dropped(char):  # pylint: disable=protected-access
      dropped.append(char)
    elif tokenization._is_whitespace(char) or char.isspace():  # pylint: disable=protected-access
      # Zs, tab, newline, CR; and what str.split also splits on (U+2028/9).
      space.append(char)
    elif tokenization._is_punctuation(char):  # pylint: disable=protected-access
      punct.append(char)
    if unicodedata.category(char) == "Mn":
      mn.append(char)
  return {"space": _char_class(space), "dropped": _char_class(dropped),
          "punct": _char_class(punct), "mn": _char_class(mn)}


@functools.lru_cache(maxsize=None)
def _icu_fixups():
  """Characters that TensorFlow's ICU lower-cases or decomposes differently.

  ICU in TensorFlow 2.15 knows an older Unicode than Python 3.11 (e.g. the
  capital letters added in Unicode 14 have no lower case there). Found by
  running both on every character that Python changes, once per process.

  Returns:
    (lower_fixes, nfd_fixes): tuples of (char, Python's result) pairs.
  """
  text_ops = import_tensorflow_text()
  chars = [chr(c) for c in range(sys.maxunicode + 1)
           if not 0xD800 <= c <= 0xDFFF and (
               chr(c).lower() != chr(c) or
               unicodedata.normalize("NFD", chr(c)) != chr(c))]
  with tf.Graph().as_default():
    inputs = tf.constant([c.encode("utf-8") for c in chars])
    lowered = tf.strings.lower(inputs, encoding="utf-8")
    decomposed = text_ops.normalize_utf8(inputs, "NFD")
    with tf1.Session() as session:
      lowered, decomposed = session.run([lowered, decomposed])
  lower_fixes = tuple((c, c.lower()) for c, got in zip(chars, lowered)
                      if got.decode("utf-8") != c.lower())
  nfd_fixes = tuple(
      (c, unicodedata.normalize("NFD", c)) for c, got in zip(chars, decomposed)
      if got.decode("utf-8") != unicodedata.normalize("NFD", c))
  return lower_fixes, nfd_fixes


def import_tensorflow_text():
  """Imports tensorflow_text (registering its ops) or says how to install it.

  Raises:
    ImportError: with the install command when the package is missing.
  """
  try:
    with warnings.catch_warnings():
      # tensorflow_hub, imported by tensorflow_text, warns about pkg_resources.
      warnings.simplefilter("ignore")
      import tensorflow_text  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "the raw-text signature needs tensorflow-text 2.15 (%s): pip install "
        "-e \".[cpu]\" (or \".[gpu]\") brings it" % e)
  return tensorflow_text


def normalize(text, do_lower_case):
  """Google's BasicTokenizer text cleaning, as string ops.

  Args:
    text: string tensor of any shape.
    do_lower_case: lower-case, NFD and strip accents (uncased models).
  Returns:
    String tensor of the same shape, ready to split on spaces.
  """
  text_ops = import_tensorflow_text()
  classes = _python_classes()
  text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="ignore")
  text = tf.strings.regex_replace(text, classes["space"], " ")
  text = tf.strings.regex_replace(text, classes["dropped"], "")
  text = tf.strings.regex_replace(text, _CJK_CLASS, " \\0 ")
  if do_lower_case:
    lower_fixes, nfd_fixes = _icu_fixups()
    for char, lower in lower_fixes:
      text = tf.strings.regex_replace(text, _char_class(char), lower)
    text = tf.strings.lower(text, encoding="utf-8")
    for char, decomposed in nfd_fixes:
      text = tf.strings.regex_replace(text, _char_class(char), decomposed)
    text = text_ops.normalize_utf8(text, "NFD")
    text = tf.strings.regex_replace(text, classes["mn"], "")
  return text


def split_words(text, do_lower_case):
  """Google's basic tokenisation: [N] strings -> [N, (words)] strings."""
  text_ops = import_tensorflow_text()
  keep = "%s|%s" % (_python_classes()["punct"], _CJK_CLASS)
  return text_ops.regex_split(normalize(text, do_lower_case),
                              delim_regex_pattern=" +|" + keep,
                              keep_delim_regex_pattern=keep)


def vocab_table(vocab):
  """Static string -> int64 id table of a vocab (token -> id dict).

  Google's `load_vocab` keeps the last id of a repeated token, as a dict
  does; the table is built from that same dict.
  """
  tokens = list(vocab.keys())
  ids = [vocab[t] for t in tokens]
  initializer = tf.lookup.KeyValueTensorInitializer(
      tf.constant(tokens, tf.string), tf.constant(ids, tf.int64))
  return tf.lookup.StaticHashTable(initializer, default_value=-1)


def tokenize(text, table, do_lower_case):
  """Word-piece ids of each string.

  Args:
    text: string tensor [N].
    table: vocab_table(vocab).
    do_lower_case: as the tokenizer's flag.
  Returns:
    int32 RaggedTensor [N, (pieces)].
  """
  text_ops = import_tensorflow_text()
  words = split_words(text, do_lower_case)
  # Google's WordPiece limit is in characters; tensorflow-text's in bytes.
  too_long = tf.strings.length(words, unit="UTF8_CHAR") > MAX_WORD_CHARS
  words = tf.ragged.map_flat_values(
      lambda w, long_: tf.where(long_, tf.fill(tf.shape(w), UNK), w),
      words, too_long)
  wordpiece = text_ops.WordpieceTokenizer(
      table, suffix_indicator="##", max_bytes_per_word=4 * MAX_WORD_CHARS + 4,
      token_out_type=tf.int64, unknown_token=UNK)
  pieces = wordpiece.tokenize(words)  # [N, (words), (pieces)]
  return tf.cast(pieces.merge_dims(1, 2), tf.int32)


def trimmed_lengths(len_a, len_b, max_seq_length):
  """Segment lengths after Google's `_truncate_seq_pair` and single trim.

  Google pops one piece at a time from the longer segment (from b on a tie)
  until the pair fits max_seq_length - 3; a single segment (b empty) is cut
  to max_seq_length - 2. In closed form, with m the budget:
    fits:                      (a, b)
    b <= floor(m / 2):         (m - b, b)
    a <= ceil(m / 2):          (a, m - a)
    otherwise:                 (ceil(m / 2), floor(m / 2))

  Args:
    len_a, len_b: int32 [N] piece counts.
    max_seq_length: S.
  Returns:
    (new_len_a, new_len_b), int32 [N] each.
  """
  has_b = len_b > 0
  budget = tf.where(has_b, max_seq_length - 3, max_seq_length - 2)
  half_down, half_up = budget // 2, budget - budget // 2
  fits = len_a + len_b <= budget
  new_a = tf.where(fits, len_a, tf.where(
      len_b <= half_down, budget - len_b,
      tf.where(len_a <= half_up, len_a, half_up)))
  new_a = tf.minimum(new_a, len_a)
  new_b = tf.where(fits, len_b, budget - new_a)
  new_b = tf.where(has_b, tf.minimum(new_b, len_b), 0)
  return new_a, new_b


def _head(pieces, lengths):
  """The first lengths[i] items of each row of a ragged [N, (k)] tensor."""
  positions = tf.ragged.range(tf.cast(pieces.row_lengths(), tf.int32))
  return tf.ragged.boolean_mask(pieces, positions < lengths[:, None])


def encode_text(text_a, text_b, table, special_ids, do_lower_case,
                max_seq_length):
  """BERT inputs from raw strings, as Google's featurizer builds them.

  A row whose text_b has no word pieces (empty or blank) is encoded as a
  single segment, like Google's `if tokens_b:`.

  Args:
    text_a: string [N].
    text_b: string [N] or None.
    table: vocab_table(vocab).
    special_ids: (cls_id, sep_id).
    do_lower_case: as the tokenizer's flag.
    max_seq_length: S.
  Returns:
    Dict of int32 [N, S] tensors: input_ids, input_mask, segment_ids.
  """
  cls_id, sep_id = special_ids
  pieces_a = tokenize(text_a, table, do_lower_case)
  if text_b is None:
    pieces_b = tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], tf.int32), tf.zeros_like(pieces_a.row_lengths()))
  else:
    pieces_b = tokenize(text_b, table, do_lower_case)
  len_a = tf.cast(pieces_a.row_lengths(), tf.int32)
  len_b = tf.cast(pieces_b.row_lengths(), tf.int32)
  new_a, new_b = trimmed_lengths(len_a, len_b, max_seq_length)
  seg_a, seg_b = _head(pieces_a, new_a), _head(pieces_b, new_b)
  column = tf.ones_like(len_a)[:, None]  # [N, 1]
  cls = tf.RaggedTensor.from_tensor(column * cls_id)
  sep = tf.RaggedTensor.from_tensor(column * sep_id)
  # The closing [SEP] of segment b only where there is a segment b.
  sep_b = tf.ragged.boolean_mask(sep, (new_b > 0)[:, None])
  ids = tf.concat([cls, seg_a, sep, seg_b, sep_b], axis=1)
  types = tf.concat([tf.zeros_like(cls), tf.zeros_like(seg_a),
                     tf.zeros_like(sep), tf.ones_like(seg_b),
                     tf.ones_like(sep_b)], axis=1)
  shape = [None, max_seq_length]
  return {
      "input_ids": ids.to_tensor(0, shape=shape),
      "input_mask": tf.ones_like(ids).to_tensor(0, shape=shape),
      "segment_ids": types.to_tensor(0, shape=shape),
  }


def rename_signatures(saved_model_dir, renames):
  """Renames signature keys in a SavedModel's saved_model.pb, atomically.

  Estimator exports name the signature of an alternative receiver
  "<receiver>:<output>", e.g. "serve_text:serving_default"; this gives it a
  plain name.

  Args:
    saved_model_dir: the SavedModel folder.
    renames: dict old key -> new key.
  """
  import os  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(saved_model_dir, "saved_model.pb")
  model = saved_model_pb2.SavedModel()
  with open(path, "rb") as f:
    model.ParseFromString(f.read())
  for meta_graph in model.meta_graphs:
    signatures = meta_graph.signature_def
    for old, new in renames.items():
      if old in signatures:
        signatures[new].CopyFrom(signatures[old])
        del signatures[old]
  atomic_files.write_bytes_atomic(path, model.SerializeToString())


def serving_receiver_fn(vocab, do_lower_case, max_seq_length, num_choices=0,
                        is_pair=False, text_signature=True):
  """A receiver_fn for SavedModels taking ids and, optionally, raw text.

  `serving_default` takes int32 input_ids, input_mask, segment_ids [B, S]
  ([B, C, S] for C choices). With text_signature, the alternative inputs
  "serve_text" take text_a [B] and, for pair tasks, text_b [B] (multiple
  choice: the choices [B, C], each paired with text_a); their ids are the
  defaults of the ids placeholders, so feeding ids skips the tokeniser.

  Args:
    vocab: token -> id dict (FullTokenizer.vocab).
    do_lower_case: as the tokenizer's flag.
    max_seq_length: S.
    num_choices: C, or 0 for one sequence per example.
    is_pair: the text signature takes text_b too.
    text_signature: add serve_text (needs tensorflow-text).
  """
  shape = ([None, num_choices, max_seq_length] if num_choices
           else [None, max_seq_length])
  names = ("input_ids", "input_mask", "segment_ids")

  def receiver_fn():
    if not text_signature:
      ids = {n: tf1.placeholder(tf.int32, shape, name=n) for n in names}
      return tf1.estimator.export.ServingInputReceiver(ids, ids)
    text = {"text_a": tf1.placeholder(tf.string, [None], name="text_a")}
    text_a, text_b = text["text_a"], None
    if num_choices:
      text["text_b"] = tf1.placeholder(tf.string, [None, num_choices],
                                       name="text_b")
      text_a = tf.repeat(text_a, num_choices)
      text_b = tf.reshape(text["text_b"], [-1])
    elif is_pair:
      text["text_b"] = tf1.placeholder(tf.string, [None], name="text_b")
      text_b = text["text_b"]
    encoded = encode_text(text_a, text_b, vocab_table(vocab),
                          (vocab["[CLS]"], vocab["[SEP]"]), do_lower_case,
                          max_seq_length)
    ids = {n: tf1.placeholder_with_default(
        tf.reshape(encoded[n], [-1] + shape[1:]), shape, name=n)
           for n in names}
    return tf1.estimator.export.ServingInputReceiver(
        ids, ids, receiver_tensors_alternatives={"serve_text": text})

  return receiver_fn


def export_saved_model(estimator, export_dir, receiver_fn, checkpoint_path=None,
                       extra_assets=None, alternatives=("serve_text",),
                       extra_files=None):
  """Exports, gives the alternative receivers' signatures plain names (e.g.
  "serve_text"), adds assets, and only then renames the SavedModel into
  export_dir.

  Estimator exports call an alternative receiver's signature
  "<name>:serving_default"; the rename happens in a staging folder so a
  serving system watching export_dir never sees the model half-done.

  Args:
    estimator: the estimator.
    export_dir: parent folder of the timestamped SavedModels.
    receiver_fn: e.g. serving_receiver_fn(...); None: the ids-only
      signature of task_plumbing.export_saved_model.
    checkpoint_path: checkpoint to export (default: the latest).
    extra_assets: dict file name -> JSON-serialisable data, written to
      assets.extra/.
    alternatives: names of receiver_fn's receiver_tensors_alternatives.
    extra_files: dict file name -> path of a file copied to assets.extra/.
  Returns:
    The SavedModel's folder.
  """
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  import task_plumbing  # pylint: disable=g-import-not-at-top
  tf.io.gfile.makedirs(export_dir)
  atomic_files.remove_stale_temp(export_dir)  # a killed export's staging
  staging = atomic_files.make_temp_dir(export_dir, prefix=".tmp-export-")
  try:
    path = task_plumbing.export_saved_model(
        estimator, staging, None, checkpoint_path=checkpoint_path,
        receiver_fn=receiver_fn, log=False)
    task_plumbing.kill_point("export")  # tests only
    if alternatives:
      rename_signatures(path, {name + ":serving_default": name
                               for name in alternatives})
    for name, source in (extra_files or {}).items():
      tf.io.gfile.makedirs(os.path.join(path, "assets.extra"))
      tf.io.gfile.copy(source, os.path.join(path, "assets.extra", name),
                       overwrite=True)
    for name, data in (extra_assets or {}).items():
      tf.io.gfile.makedirs(os.path.join(path, "assets.extra"))
      with open(os.path.join(path, "assets.extra", name), "w",
                encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
    final = os.path.join(export_dir, os.path.basename(path))
    os.replace(path, final)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  logging.info("Exported SavedModel to %s", final)
  return final


def saved_model_cli_main():
  """`saved_model_cli` with tensorflow-text's ops registered.

  The stock command cannot load a SavedModel that holds them ("Op type not
  registered 'NormalizeUTF8'"); this one takes the same arguments:
    python text_serving.py run --dir EXPORT --tag_set serve \\
      --signature_def serve_text --input_exprs 'text_a=["a fine film"]'
  """
  import_tensorflow_text()
  from tensorflow.python.tools import saved_model_cli  # pylint: disable=g-import-not-at-top
  saved_model_cli.main()


if __name__ == "__main__":
  saved_model_cli_main()
