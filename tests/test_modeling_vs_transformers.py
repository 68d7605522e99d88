"""The fidelity oracle: our BertModel on the converted MiniLM equals
transformers.BertModel on the original weights (padded real sentences)."""
import os

import numpy as np
import tensorflow as tf

import modeling
import tokenization

tf1 = tf.compat.v1

SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", None),
    ("BERT was released by Google in 2018; it changed NLP.",
     "Fine-tuning takes a few epochs."),
    ("Zürich's café served crème brûlée to 12 visitors.", None),
    ("北京是中国的首都。", "Tokyo is the capital of Japan."),
    ("Short.", None),
]
MAX_LEN = 32


def encode(tokenizer):
  ids, mask, segs = [], [], []
  for text_a, text_b in SENTENCES:
    tokens = ["[CLS]"] + tokenizer.tokenize(text_a) + ["[SEP]"]
    seg = [0] * len(tokens)
    if text_b:
      extra = tokenizer.tokenize(text_b) + ["[SEP]"]
      tokens += extra
      seg += [1] * len(extra)
    row = tokenizer.convert_tokens_to_ids(tokens)
    pad = MAX_LEN - len(row)
    assert pad >= 0
    ids.append(row + [0] * pad)
    mask.append([1] * len(row) + [0] * pad)
    segs.append(seg + [0] * pad)
  return (np.array(ids, np.int32), np.array(mask, np.int32),
          np.array(segs, np.int32))


def ours(tf_dir, ids, mask, segs):
  config = modeling.BertConfig.from_json_file(
      os.path.join(tf_dir, "bert_config.json"))
  with tf.Graph().as_default():
    model = modeling.BertModel(config, False, tf.constant(ids),
                               tf.constant(mask), tf.constant(segs))
    tvars = tf1.trainable_variables()
    ckpt = os.path.join(tf_dir, "bert_model.ckpt")
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
        tvars, ckpt)
    assert len(assignment_map) == len(tvars)  # every variable is loaded
    tf1.train.init_from_checkpoint(ckpt, assignment_map)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      return sess.run([model.get_sequence_output(),
                       model.get_pooled_output(),
                       model.get_all_encoder_layers()])


def theirs(hf_dir, ids, mask, segs):
  import torch
  import transformers
  model = transformers.BertModel.from_pretrained(hf_dir)
  model.eval()
  with torch.no_grad():
    out = model(input_ids=torch.tensor(ids, dtype=torch.long),
                attention_mask=torch.tensor(mask, dtype=torch.long),
                token_type_ids=torch.tensor(segs, dtype=torch.long),
                output_hidden_states=True)
  return (out.last_hidden_state.numpy(), out.pooler_output.numpy(),
          [h.numpy() for h in out.hidden_states[1:]])


def test_outputs_equal_transformers(minilm_dir, minilm_tf_dir):
  tokenizer = tokenization.FullTokenizer(
      os.path.join(minilm_tf_dir, "vocab.txt"), do_lower_case=True)
  ids, mask, segs = encode(tokenizer)
  assert mask.sum(axis=1).min() < MAX_LEN  # the batch really is padded
  seq, pooled, layers = ours(minilm_tf_dir, ids, mask, segs)
  ref_seq, ref_pooled, ref_layers = theirs(minilm_dir, ids, mask, segs)
  real = mask.astype(bool)
  seq_diff = np.max(np.abs(seq[real] - ref_seq[real]))
  pooled_diff = np.max(np.abs(pooled - ref_pooled))
  print("max abs diff: sequence %.3g, pooled %.3g" % (seq_diff, pooled_diff))
  assert seq_diff <= 1e-4
  assert pooled_diff <= 1e-4
  assert len(layers) == len(ref_layers) == 6
  for a, b in zip(layers, ref_layers):
    assert np.max(np.abs(a[real] - b[real])) <= 1e-4
  # Not a trivially small model: outputs are O(1).
  assert np.abs(ref_seq[real]).mean() > 0.05
