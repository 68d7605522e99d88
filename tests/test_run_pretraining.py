# coding=utf-8
"""run_pretraining.py: heads against transformers' BertForPreTraining, a tiny
pretraining run that learns, continuing from a checkpoint with heads, and
one-line errors.

Oracles: transformers.BertForPreTraining (prediction_logits,
seq_relationship_logits) on the same weights, through convert_checkpoint.py
in both directions. The script runs as a subprocess (as a user runs it).
"""
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

import convert_checkpoint as cc
import create_pretraining_data as cpd
import helpers
from helpers import read_json
import modeling
import run_pretraining as rp
import test_create_pretraining_data as data_tests

tf1 = tf.compat.v1
SEQ, PREDS = 32, 5
SENTENCES = ["the cat sat on the mat .", "the dog ran in the park .",
             "a bird flew over the old house .",
             "she read a book by the river .",
             "he ate an apple at the table .",
             "they saw a king in the city ."]
VOCAB = data_tests.SPECIAL + sorted({w for s in SENTENCES for w in s.split()})
# No dropout: the tiny model then learns the corpus in a few hundred steps.
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIG = helpers.tiny_bert_config(len(VOCAB), **NO_DROPOUT)
HEAD_NAMES = helpers.PRETRAINING_HEAD_NAMES


def repetitive_corpus(path, num_docs, seed):
  """Documents that cycle through SENTENCES from a random start."""
  rng = np.random.RandomState(seed)
  lines = []
  for _ in range(num_docs):
    start = rng.randint(len(SENTENCES))
    for k in range(rng.randint(3, 7)):
      lines.append(SENTENCES[(start + k) % len(SENTENCES)])
    lines.append("")
  return data_tests.write_lines(path, lines)


def make_records(folder, name, vocab, num_docs, seed, dupe_factor):
  corpus = repetitive_corpus(folder / (name + ".txt"), num_docs, seed)
  out = str(folder / (name + ".tfrecord"))
  cpd.create_pretraining_data(
      [corpus], [out], vocab, True,
      data_tests.options(max_seq_length=SEQ, max_predictions_per_seq=PREDS,
                         random_seed=seed), dupe_factor)
  return out


def run_script(args, check=True):
  """Runs run_pretraining.py; with check, it must succeed."""
  script = os.path.join(helpers.REPO_ROOT, "run_pretraining.py")
  return helpers.run_script(args, script, check=check)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """Vocab, config and an encoder-only random checkpoint (no cls/* heads,
  like a converted MiniLM), and train / eval records."""
  folder = tmp_path_factory.mktemp("pretrain_data")
  model = helpers.write_tiny_bert(folder, VOCAB, **NO_DROPOUT)
  vocab = model["vocab"]
  return dict(folder=folder, vocab=vocab, config=model["config"],
              ckpt=model["ckpt"],
              train=make_records(folder, "train", vocab, 60, 1, 5),
              eval=make_records(folder, "eval", vocab, 20, 2, 1))


@pytest.fixture(scope="module")
def hf_pretraining(data, tmp_path_factory):
  """A random transformers BertForPreTraining over the test vocabulary."""
  torch.manual_seed(0)
  hf_config = transformers.BertConfig(**{k: v for k, v in CONFIG.items()
                                         if k != "initializer_range"})
  model = transformers.BertForPreTraining(hf_config)
  with torch.no_grad():
    for p in model.parameters():
      p.add_(torch.randn_like(p) * 0.1)  # Not the init's zeros and ones.
  out = str(tmp_path_factory.mktemp("hf") / "model")
  model.save_pretrained(out)
  shutil.copyfile(data["vocab"], os.path.join(out, "vocab.txt"))
  return out


def batch_of(records):
  return {name: np.stack([r[name] for r in records]).astype(
      np.float32 if name == "masked_lm_weights" else np.int32)
          for name in records[0]}


def tf_logits(config, ckpt, batch):
  """Our heads in TF on a checkpoint: ([B, S, V], [B, 2]) logits at every
  position. Asserts every variable, cls/* included, is initialised from it."""
  with tf.Graph().as_default():
    ids = tf.constant(batch["input_ids"])
    model = modeling.BertModel(
        modeling.BertConfig.from_dict(config), False, ids,
        input_mask=tf.constant(batch["input_mask"]),
        token_type_ids=tf.constant(batch["segment_ids"]))
    bert_config = modeling.BertConfig.from_dict(config)
    positions = tf.tile(tf.range(ids.shape[1])[None], [ids.shape[0], 1])
    mlm = rp.masked_lm_logits(bert_config, model.get_sequence_output(),
                              model.get_embedding_table(), positions)
    nsp = rp.next_sentence_logits(bert_config, model.get_pooled_output())
    tvars = tf1.trainable_variables()
    assignment, initialised = modeling.get_assignment_map_from_checkpoint(
        tvars, ckpt)
    assert all(v.name in initialised for v in tvars)
    assert set(HEAD_NAMES) <= set(assignment)
    tf1.train.init_from_checkpoint(ckpt, assignment)
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      mlm, nsp = session.run([mlm, nsp])
  return mlm.reshape(ids.shape[0], ids.shape[1], -1), nsp


def torch_outputs(hf_dir, batch):
  model = transformers.BertForPreTraining.from_pretrained(hf_dir).eval()
  with torch.no_grad():
    out = model(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                attention_mask=torch.tensor(batch["input_mask"],
                                            dtype=torch.long),
                token_type_ids=torch.tensor(batch["segment_ids"],
                                            dtype=torch.long))
  return out.prediction_logits.numpy(), out.seq_relationship_logits.numpy()


def assert_same_logits(ours, theirs, mask):
  real = mask.astype(bool)  # Padding positions are not compared.
  assert np.abs(ours[0][real] - theirs[0][real]).max() <= 1e-4
  assert np.abs(ours[1] - theirs[1]).max() <= 1e-4


def test_heads_match_transformers_both_ways(hf_pretraining, data, tmp_path):
  tf_dir = str(tmp_path / "tf")
  ckpt = cc.convert_hf_to_tf(hf_pretraining, tf_dir)
  batch = batch_of(data_tests.read_records([data["eval"]])[:6])
  config = read_json(os.path.join(tf_dir, "bert_config.json"))
  ours = tf_logits(config, ckpt, batch)
  assert_same_logits(ours, torch_outputs(hf_pretraining, batch),
                     batch["input_mask"])
  back = str(tmp_path / "hf_back")
  cc.convert_tf_to_hf(tf_dir, back)
  assert_same_logits(ours, torch_outputs(back, batch), batch["input_mask"])


def masked_lm_majority_share(records):
  """Accuracy of always guessing the most frequent masked piece."""
  labels = np.concatenate([r["masked_lm_ids"][r["masked_lm_weights"] > 0]
                           for r in records])
  return np.bincount(labels).max() / len(labels)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
  """800 steps from an encoder-only checkpoint: the heads start fresh."""
  folder = tmp_path_factory.mktemp("pretrain_run")
  out = str(folder / "out")
  proc = run_script([
      "--do_train", "--do_eval", "--input_file=" + data["train"],
      "--init_checkpoint=" + data["ckpt"],
      "--eval_input_file=" + data["eval"], "--bert_config_file=" +
      data["config"], "--output_dir=" + out, "--max_seq_length=%d" % SEQ,
      "--max_predictions_per_seq=%d" % PREDS, "--train_batch_size=32",
      "--eval_batch_size=32", "--learning_rate=5e-3",
      "--num_train_steps=800", "--num_warmup_steps=25",
      "--save_checkpoints_steps=800", "--log_every_n_steps=100",
      "--adam_bias_correction", "--max_eval_steps=50"])
  return out, proc


def test_tiny_pretraining_learns(trained, data):
  out, proc = trained
  results = read_json(os.path.join(out, "eval_results.json"))
  for key in ("masked_lm_accuracy", "masked_lm_loss",
              "next_sentence_accuracy", "next_sentence_loss", "eval_loss"):
    assert key in results
  with open(os.path.join(out, "eval_results.txt")) as f:
    assert "masked_lm_accuracy = " in f.read()
  assert results["global_step"] == 800
  majority = masked_lm_majority_share(
      data_tests.read_records([data["eval"]]))
  chance = 1.0 / len(VOCAB)
  assert results["masked_lm_accuracy"] > max(0.6, majority + 0.3), (
      results, majority, chance)
  assert results["masked_lm_loss"] < 1.5
  assert re.search(r"step 800/800  loss [0-9.]+  lr ", proc.stderr)
  # The checkpoint has no cls/*: said in the log, and only the 7 head
  # variables are not initialised from it.
  assert "no cls/predictions variables" in proc.stderr
  assert "no cls/seq_relationship variables" in proc.stderr
  found = re.search(r"(\d+) of (\d+) trainable variables", proc.stderr)
  assert int(found.group(2)) - int(found.group(1)) == len(HEAD_NAMES)
  # One summary line names them (the full list is for --verbosity=debug).
  fresh = re.search(r"newly initialised: (.*)\n", proc.stderr).group(1)
  assert sorted(fresh.split(", ")) == sorted(n + ":0" for n in HEAD_NAMES)
  assert "name = " not in proc.stderr


def test_trained_checkpoint_exports_to_transformers(trained, data, tmp_path):
  """A checkpoint written by run_pretraining (Adam slots and all) converts to
  a BertForPreTraining that gives our logits."""
  out, _ = trained
  folder = tmp_path / "release"
  folder.mkdir()
  shutil.copyfile(data["config"], str(folder / "bert_config.json"))
  shutil.copyfile(data["vocab"], str(folder / "vocab.txt"))
  ckpt = tf.train.latest_checkpoint(out)
  hf_dir = cc.convert_tf_to_hf(str(folder), str(tmp_path / "hf"),
                               checkpoint=ckpt)
  batch = batch_of(data_tests.read_records([data["eval"]])[:6])
  assert_same_logits(tf_logits(CONFIG, ckpt, batch),
                     torch_outputs(hf_dir, batch), batch["input_mask"])


def torch_losses(hf_dir, records):
  """Masked-LM loss per real prediction and next-sentence loss per pair."""
  batch = batch_of(records)
  mlm, nsp = torch_outputs(hf_dir, batch)
  rows = np.arange(len(records))[:, None]
  picked = torch.log_softmax(torch.tensor(mlm), -1).numpy()[
      rows, batch["masked_lm_positions"], batch["masked_lm_ids"]]
  weights = batch["masked_lm_weights"]
  nsp_logp = torch.log_softmax(torch.tensor(nsp), -1).numpy()
  nsp_loss = -nsp_logp[np.arange(len(records)),
                       batch["next_sentence_labels"][:, 0]]
  return -(picked * weights).sum() / weights.sum(), nsp_loss.mean()


def test_continue_from_checkpoint_with_heads(hf_pretraining, data, tmp_path):
  """Google-layout checkpoint with cls/*: every variable loads, and our eval
  losses equal transformers' on the same records."""
  tf_dir = str(tmp_path / "tf")
  ckpt = cc.convert_hf_to_tf(hf_pretraining, tf_dir)
  out = str(tmp_path / "eval")
  proc = run_script([
      "--do_eval", "--input_file=" + data["eval"], "--init_checkpoint=" +
      ckpt, "--bert_config_file=" + os.path.join(tf_dir, "bert_config.json"),
      "--output_dir=" + out, "--max_seq_length=%d" % SEQ,
      "--max_predictions_per_seq=%d" % PREDS, "--eval_batch_size=16",
      "--max_eval_steps=1000"])
  assert "from random values" not in proc.stderr
  results = read_json(os.path.join(out, "eval_results.json"))
  mlm_loss, nsp_loss = torch_losses(
      hf_pretraining, data_tests.read_records([data["eval"]]))
  assert abs(results["masked_lm_loss"] - mlm_loss) < 1e-4 * max(1, mlm_loss)
  assert abs(results["next_sentence_loss"] - nsp_loss) < 1e-4


def test_data_of_another_length_is_one_line_error(data, tmp_path):
  proc = run_script([
      "--do_train", "--input_file=" + data["train"], "--bert_config_file=" +
      data["config"], "--output_dir=" + str(tmp_path / "out"),
      "--max_seq_length=48", "--max_predictions_per_seq=%d" % PREDS],
                    check=False)
  assert proc.returncode == 2
  last = helpers.last_line(proc)
  assert last == ("error: %s: input_ids has length %d but --max_seq_length=48;"
                  " pass the value the data was created with"
                  % (data["train"], SEQ)), proc.stderr[-2000:]
