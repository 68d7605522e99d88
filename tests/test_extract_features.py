"""End-to-end test of extract_features.py on the converted MiniLM.

The script runs as a user runs it (a subprocess); its last-layer values
for a sentence must equal transformers.BertModel on the same tokens.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tokenization

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Who wrote this? ||| Nobody knows.",
    "Zürich is in Switzerland.",
]


def run_extract(minilm_tf_dir, input_file, output_file, layers):
  """Runs extract_features.py in a fresh interpreter."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  args = ["--input_file=%s" % input_file, "--output_file=%s" % output_file,
          "--vocab_file=" + os.path.join(minilm_tf_dir, "vocab.txt"),
          "--bert_config_file=" + os.path.join(minilm_tf_dir,
                                               "bert_config.json"),
          "--init_checkpoint=" + os.path.join(minilm_tf_dir,
                                              "bert_model.ckpt"),
          "--layers=" + layers, "--max_seq_length=32", "--batch_size=8"]
  return subprocess.run([sys.executable, "extract_features.py"] + args,
                        cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=600)


@pytest.fixture(scope="module")
def extracted(minilm_tf_dir, tmp_path_factory):
  """The JSON lines written for LINES with --layers=-1,-2."""
  folder = tmp_path_factory.mktemp("extract")
  input_file = folder / "input.txt"
  input_file.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  output_file = folder / "out.jsonl"
  proc = run_extract(minilm_tf_dir, input_file, output_file, "-1,-2")
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(output_file, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def expected_tokens(vocab_file, line):
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  parts = [tokenizer.tokenize(part) for part in line.split(" ||| ")]
  tokens = ["[CLS]"] + parts[0] + ["[SEP]"]
  for part in parts[1:]:
    tokens += part + ["[SEP]"]
  return tokens


def test_one_record_per_line(extracted, minilm_vocab):
  """Tokens as the tokenizer gives them; 2 layers of 384 values each."""
  assert [r["linex_index"] for r in extracted] == [0, 1, 2]
  for record, line in zip(extracted, LINES):
    tokens = [f["token"] for f in record["features"]]
    assert tokens == expected_tokens(minilm_vocab, line)
    for feature in record["features"]:
      assert [layer["index"] for layer in feature["layers"]] == [-1, -2]
      assert all(len(layer["values"]) == 384 for layer in feature["layers"])


def test_values_equal_transformers(extracted, minilm_dir, minilm_vocab):
  """Layers -1 and -2 of the first line = transformers' hidden states."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  tokens = [f["token"] for f in extracted[0]["features"]]
  tokenizer = tokenization.FullTokenizer(minilm_vocab, do_lower_case=True)
  ids = torch.tensor([tokenizer.convert_tokens_to_ids(tokens)])
  model = transformers.BertModel.from_pretrained(minilm_dir).eval()
  with torch.no_grad():
    out = model(input_ids=ids, token_type_ids=torch.zeros_like(ids),
                output_hidden_states=True)
  for position, layer in ((0, -1), (1, -2)):
    ours = np.array([f["layers"][position]["values"]
                     for f in extracted[0]["features"]])
    theirs = out.hidden_states[layer][0].numpy()
    assert np.abs(ours - theirs).max() < 1e-4, layer
  assert np.allclose(out.last_hidden_state[0].numpy(),
                     out.hidden_states[-1][0].numpy())


@pytest.mark.parametrize("layers,message", [
    ("-1,x", "expected comma-separated integers"),
    ("-7", "out of range for a 6-layer model"),
])
def test_bad_layers_is_one_line_error(layers, message, minilm_tf_dir,
                                      tmp_path):
  input_file = tmp_path / "input.txt"
  input_file.write_text(LINES[0] + "\n", encoding="utf-8")
  output_file = tmp_path / "out.jsonl"
  proc = run_extract(minilm_tf_dir, input_file, output_file, layers)
  assert proc.returncode != 0
  assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "--layers" in errors[0], proc.stderr[-4000:]
  assert message in errors[0]
  assert not output_file.exists()
