# coding=utf-8
"""create_pretraining_data.py on corpora the tests write.

Statistics (masked share, 80/10/10, random-next rate) are measured on the
TFRecords read back with TensorFlow; whole-word masking is checked against
word boundaries the tests know by construction (English word pieces, and
pre-segmented Chinese words built from disjoint characters).
"""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import create_pretraining_data as cpd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and to in is was he she it they said went saw cat dog "
         "house tree river road city king queen man woman child day night "
         "red green small big old new").split()
# Words that WordPiece splits into two or three pieces with PIECES below.
LONG_WORDS = ["unbelievable", "rethinking", "undoing", "rebuilding"]
PIECES = ["un", "re", "##believ", "##able", "##think", "##ing", "##do",
          "##build"]
NUM_DOCS = 120
CHINESE_WORDS = ["北京", "天安门", "喜欢", "我们", "中华人民", "走", "你",
                 "大学生", "电脑", "看"]


def write_lines(path, lines):
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return str(path)


def english_vocab(path):
  tokens = SPECIAL + WORDS + PIECES + ["."] + ["d%d" % i
                                                for i in range(NUM_DOCS)]
  return write_lines(path, tokens)


def english_corpus(path, seed=0, num_docs=NUM_DOCS, first_doc=0):
  """Documents of 2-12 sentences; every sentence starts with its document's
  tag d<k>, so a pair's origin can be told from its pieces."""
  rng = random.Random(seed)
  lines = []
  for doc in range(first_doc, first_doc + num_docs):
    for _ in range(rng.randint(2, 12)):
      words = [rng.choice(WORDS + LONG_WORDS) for _ in range(rng.randint(3,
                                                                         12))]
      lines.append("d%d %s ." % (doc, " ".join(words)))
    lines.append("")
  return write_lines(path, lines)


def options(**changes):
  values = dict(max_seq_length=64, short_seq_prob=0.1, masked_lm_prob=0.15,
                max_predictions_per_seq=20, do_whole_word_mask=False,
                random_seed=12345)
  values.update(changes)
  return cpd.Options(**values)


def read_records(paths):
  """Every record of `paths` (in file order) as a dict of numpy arrays."""
  records = []
  for path in paths:
    for raw in tf.data.TFRecordDataset(path):
      example = tf.train.Example.FromString(raw.numpy())
      record = {}
      for name, feature in example.features.feature.items():
        values = feature.int64_list.value or feature.float_list.value
        record[name] = np.array(values)
      records.append(record)
  return records


def make(tmp_path, inputs, vocab, name="out.tfrecord", dupe_factor=3,
         num_workers=1, pre_segmented=False, **option_changes):
  out = str(tmp_path / name)
  cpd.create_pretraining_data(inputs, [out], vocab, True,
                              options(**option_changes), dupe_factor,
                              pre_segmented=pre_segmented,
                              num_workers=num_workers)
  return out


def original_ids(record):
  """input_ids with the masked positions given back their labels."""
  ids = record["input_ids"].copy()
  n = int(record["masked_lm_weights"].sum())
  ids[record["masked_lm_positions"][:n]] = record["masked_lm_ids"][:n]
  return ids, set(record["masked_lm_positions"][:n].tolist())


def token_list(vocab_path):
  with open(vocab_path, encoding="utf-8") as f:
    return f.read().splitlines()


@pytest.fixture(scope="module")
def english(tmp_path_factory):
  folder = tmp_path_factory.mktemp("english")
  vocab = english_vocab(folder / "vocab.txt")
  corpus = english_corpus(folder / "corpus.txt")
  return folder, vocab, corpus


@pytest.fixture(scope="module")
def plain_records(english):
  folder, vocab, corpus = english
  path = make(folder, [corpus], vocab, "plain.tfrecord")
  return read_records([path])


def test_record_layout(plain_records):
  assert plain_records
  for r in plain_records:
    assert len(r["input_ids"]) == 64 and len(r["masked_lm_ids"]) == 20
    n = int(r["input_mask"].sum())
    assert (r["input_mask"][:n] == 1).all() and (r["input_ids"][n:] == 0).all()
    # Special pieces, found in the text before masking (a random
    # replacement may be [SEP] too).
    ids, _ = original_ids(r)
    assert ids[0] == SPECIAL.index("[CLS]")
    seps = np.flatnonzero(ids[:n] == SPECIAL.index("[SEP]"))
    assert seps[-1] == n - 1 and len(seps) == 2
    # Segment A (with [CLS] and its [SEP]) is 0, B (with the last [SEP]) 1.
    a_end = seps[0] + 1
    assert (r["segment_ids"][:a_end] == 0).all()
    assert (r["segment_ids"][a_end:n] == 1).all()
    assert a_end > 2 and n - a_end > 1
    m = int(r["masked_lm_weights"].sum())
    positions = r["masked_lm_positions"][:m]
    assert (np.diff(positions) > 0).all() and (positions < n).all()
    assert not set(positions) & {0, *seps.tolist()}
    assert r["next_sentence_labels"].shape == (1,)


def test_masking_statistics(plain_records):
  mask_id = SPECIAL.index("[MASK]")
  pieces = masked = as_mask = kept = 0
  for r in plain_records:
    n, m = int(r["input_mask"].sum()), int(r["masked_lm_weights"].sum())
    pieces += n
    masked += m
    shown = r["input_ids"][r["masked_lm_positions"][:m]]
    as_mask += int((shown == mask_id).sum())
    kept += int((shown == r["masked_lm_ids"][:m]).sum())
  assert masked > 3000
  assert abs(masked / pieces - 0.15) < 0.01, masked / pieces
  assert abs(as_mask / masked - 0.8) < 0.02
  assert abs(kept / masked - 0.1) < 0.02
  assert abs((masked - as_mask - kept) / masked - 0.1) < 0.02


def doc_tags(ids, inv_vocab):
  return {inv_vocab[i] for i in ids if inv_vocab[i].startswith("d") and
          inv_vocab[i][1:].isdigit()}


def test_next_sentence_labels(plain_records, english):
  """About half the pairs are random; each label is true to the text."""
  inv_vocab = token_list(english[1])
  labels = [int(r["next_sentence_labels"][0]) for r in plain_records]
  assert abs(np.mean(labels) - 0.5) < 0.06, np.mean(labels)
  checked = 0
  for r, label in zip(plain_records, labels):
    ids, _ = original_ids(r)
    n = int(r["input_mask"].sum())
    a_end = int(np.flatnonzero(ids[:n] == SPECIAL.index("[SEP]"))[0])
    tags_a, tags_b = (doc_tags(ids[1:a_end], inv_vocab),
                      doc_tags(ids[a_end + 1:n], inv_vocab))
    if tags_a and tags_b:
      checked += 1
      assert len(tags_a) == 1
      assert (tags_a != tags_b) == bool(label)
  assert checked > 0.8 * len(labels)


def english_words(ids, inv_vocab):
  """Masking units: a '##' piece joins the piece before it (not across
  [CLS]/[SEP])."""
  words = []
  for i, token_id in enumerate(ids):
    token = inv_vocab[token_id]
    if token in ("[CLS]", "[SEP]", "[PAD]"):
      continue
    if token.startswith("##") and words and words[-1][-1] == i - 1:
      words[-1].append(i)
    else:
      words.append([i])
  return words


def partly_masked_words(records, words_of):
  """(words cut by the mask, multi-piece words masked whole)."""
  cut = whole = 0
  for r in records:
    ids, masked = original_ids(r)
    for word in words_of(ids[:int(r["input_mask"].sum())]):
      hits = sum(i in masked for i in word)
      cut += 0 < hits < len(word)
      whole += len(word) > 1 and hits == len(word)
  return cut, whole


def test_whole_word_masking_english(english, plain_records, tmp_path):
  folder, vocab, corpus = english
  inv_vocab = token_list(vocab)
  words_of = lambda ids: english_words(ids, inv_vocab)
  records = read_records([make(tmp_path, [corpus], vocab,
                               do_whole_word_mask=True)])
  cut, whole = partly_masked_words(records, words_of)
  assert cut == 0 and whole > 50
  masked = sum(r["masked_lm_weights"].sum() for r in records)
  pieces = sum(r["input_mask"].sum() for r in records)
  assert 0.13 < masked / pieces <= 0.155
  # Without the flag, words are cut: the check above can fail.
  assert partly_masked_words(plain_records, words_of)[0] > 50


def chinese_files(folder):
  chars = sorted({c for w in CHINESE_WORDS for c in w})
  assert len(chars) == sum(len(w) for w in CHINESE_WORDS)  # Disjoint.
  vocab = write_lines(folder / "vocab_zh.txt", SPECIAL + chars + ["。"])
  rng = random.Random(1)
  lines = []
  for _ in range(60):
    for _ in range(rng.randint(2, 8)):
      lines.append(" ".join(rng.choice(CHINESE_WORDS)
                            for _ in range(rng.randint(3, 10))) + " 。")
    lines.append("")
  return vocab, write_lines(folder / "zh.txt", lines)


def chinese_words(ids, inv_vocab):
  """Units of a char sequence: a char continues a word when it is the next
  char of the same word as the char before it."""
  where = {c: (w, k) for w in CHINESE_WORDS for k, c in enumerate(w)}
  words, previous = [], None
  for i, token_id in enumerate(ids):
    token = inv_vocab[token_id]
    if token not in where:
      previous = None
      continue
    word, k = where[token]
    if previous is not None and previous == (word, k - 1):
      words[-1].append(i)
    else:
      words.append([i])
    previous = (word, k)
  return words


def test_whole_word_masking_chinese_pre_segmented(tmp_path):
  vocab, corpus = chinese_files(tmp_path)
  inv_vocab = token_list(vocab)
  words_of = lambda ids: chinese_words(ids, inv_vocab)
  segmented = read_records([make(tmp_path, [corpus], vocab, "wwm.tfrecord",
                                 do_whole_word_mask=True,
                                 pre_segmented=True)])
  cut, whole = partly_masked_words(segmented, words_of)
  assert cut == 0 and whole > 50
  # The "##" marks are for masking only: ids are the plain characters.
  used = {inv_vocab[i] for r in segmented for i in r["input_ids"]}
  assert not any(t.startswith("##") for t in used)
  # Without --pre_segmented every character is a word of its own.
  chars = read_records([make(tmp_path, [corpus], vocab, "chars.tfrecord",
                             do_whole_word_mask=True)])
  assert partly_masked_words(chars, words_of)[0] > 50


def test_same_seed_same_bytes_any_worker_count(tmp_path):
  vocab = english_vocab(tmp_path / "vocab.txt")
  inputs = [english_corpus(tmp_path / ("c%d.txt" % k), seed=k, num_docs=40,
                           first_doc=40 * k) for k in range(3)]

  def build(name, workers, seed=12345):
    path = make(tmp_path, inputs, vocab, name, dupe_factor=2,
                num_workers=workers, random_seed=seed,
                do_whole_word_mask=True)
    with open(path, "rb") as f:
      return f.read()

  one = build("w1.tfrecord", 1)
  assert build("w1_again.tfrecord", 1) == one
  assert build("w2.tfrecord", 2) == one
  assert build("w3.tfrecord", 3) == one
  assert build("seed.tfrecord", 2, seed=7) != one


def test_empty_documents_and_long_lines(tmp_path):
  vocab = english_vocab(tmp_path / "vocab.txt")
  long_line = "d1 " + " ".join(["the cat saw a dog"] * 60) + " ."
  corpus = write_lines(tmp_path / "odd.txt", [
      "", "", "\x00\x01", "", "d0 the cat .", "d0 a dog .", "", "", "",
      long_line, "d1 the end .", "", "\ufeff\u200b", "", ""])
  documents, stats = cpd.read_documents(
      corpus, cpd.tokenization.FullTokenizer(vocab), False, 61)
  assert len(documents) == 2
  assert stats["empty_documents"] == 2 and stats["split_lines"] == 1
  assert all(0 < len(s) <= 61 for d in documents for s in d)
  records = read_records([make(tmp_path, [corpus], vocab)])
  assert records and all(r["input_mask"].sum() <= 64 for r in records)


def test_one_document(tmp_path):
  """With nothing else to draw from, 'random' B comes from the document
  itself (as in Google's script) rather than failing."""
  vocab = english_vocab(tmp_path / "vocab.txt")
  corpus = english_corpus(tmp_path / "one.txt", num_docs=1)
  assert read_records([make(tmp_path, [corpus], vocab)])


def run_cli(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run(
      [sys.executable, os.path.join(REPO, "create_pretraining_data.py")] +
      args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_cli_shards_and_errors(english, tmp_path):
  folder, vocab, corpus = english
  out = str(tmp_path / "data" / "pre.tfrecord")
  proc = run_cli(["--input_file=%s,%s" % (corpus, str(folder / "corp*.txt")),
                  "--output_file=" + out, "--num_output_shards=3",
                  "--vocab_file=" + vocab, "--max_seq_length=64",
                  "--dupe_factor=1", "--num_workers=2"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  shards = ["%s-%05d-of-00003" % (out, i) for i in range(3)]
  counts = [len(read_records([s])) for s in shards]
  assert min(counts) > 0 and max(counts) - min(counts) <= 1
  for shard, count in zip(shards, counts):
    assert "Wrote %d instances to %s" % (count, shard) in proc.stderr
  assert sorted(os.listdir(tmp_path / "data")) == sorted(
      os.path.basename(s) for s in shards)  # No temp files left.

  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"d0 the cat .\nd0 a dog .\nd0 caf\xe9 .\n")
  # Two files: the error comes back from a worker process.
  proc = run_cli(["--input_file=%s,%s" % (corpus, bad), "--output_file=" +
                  str(tmp_path / "x.tfrecord"), "--vocab_file=" + vocab,
                  "--num_workers=2"])
  assert proc.returncode == 2
  last = proc.stderr.strip().splitlines()[-1]
  assert last == ("error: %s:3: not UTF-8 text (byte 0xe9 at column 7); "
                  "convert the file to UTF-8" % bad), proc.stderr
  assert "Traceback" not in proc.stderr
  assert not os.path.exists(tmp_path / "x.tfrecord")


def test_missing_inputs_are_named(english, tmp_path):
  vocab = english[1]
  with pytest.raises(cpd.PretrainingDataError, match="none.txt: no such"):
    make(tmp_path, [str(tmp_path / "none.txt")], vocab)
  with pytest.raises(cpd.PretrainingDataError, match="nothing matches .*z\\*"):
    cpd.expand_input_files("%s,%s" % (english[2], tmp_path / "z*"))
  blank = write_lines(tmp_path / "blank.txt", ["", "\x00", ""])
  with pytest.raises(cpd.PretrainingDataError, match="no text in"):
    make(tmp_path, [blank], vocab)
