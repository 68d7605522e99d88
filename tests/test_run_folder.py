"""The run folder (--output_dir) as a newcomer meets it, through run_ner.py.

  * a rerun with other settings stops with one line naming each difference;
    the same settings resume; --overwrite_output_dir starts afresh, removing
    only what the toolkit wrote;
  * eval, predict and export need only --output_dir (and the input);
  * a second input's predictions never overwrite the first one's;
  * the log says where the variables come from in one line;
  * files are created with the process umask's mode.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest
import tensorflow as tf

import atomic_files
import helpers
from helpers import read_text
import ner_data
import run_settings
from test_run_ner import vocab_tokens

MAX_SEQ = 32


def run_ner(args, umask=None):
  """run_ner.py in a fresh interpreter (under `umask` when given)."""
  if umask is None:
    return helpers.run_script(args, "run_ner.py")
  command = "umask %03o && exec \"$0\" \"$@\"" % umask
  return helpers.run_command(["bash", "-c", command, sys.executable,
                              "run_ner.py"] + list(args))


def global_step(output_dir):
  return int(tf.train.load_variable(tf.train.latest_checkpoint(output_dir),
                                    "global_step"))


def listing(folder):
  """name -> (size, mtime) of every file under folder."""
  found = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      found[os.path.relpath(path, folder)] = (os.path.getsize(path),
                                              os.path.getmtime(path))
  return found


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("ner_data"))
  ner_data.write_sample_ner_data(path, num_train=32, num_dev=8, num_test=8)
  return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, data_dir):
  return helpers.write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"),
                                 vocab_tokens(data_dir))


def train_flags(tiny_bert, data_dir, out, **values):
  flags = dict(max_seq_length=MAX_SEQ, train_batch_size=8,
               num_train_epochs=0.5, save_checkpoints_steps=2)
  flags.update(values)
  return (["--do_train", "--data_dir=" + data_dir, "--output_dir=" + out] +
          helpers.model_flags(tiny_bert, **flags))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert, data_dir):
  """A softmax run of 2 steps, trained under umask 027."""
  out = str(tmp_path_factory.mktemp("run"))
  proc = run_ner(train_flags(tiny_bert, data_dir, out), umask=0o027)
  helpers.assert_ok(proc)
  return dict(out=out, log=proc.stderr)


def test_training_records_the_run(trained, tiny_bert):
  """run.json holds the settings; the model files are copied beside it."""
  out = trained["out"]
  record = json.loads(read_text(os.path.join(out, "run.json")))
  assert record["task"] == "ner"
  assert record["training"]["max_seq_length"] == MAX_SEQ
  assert record["model"]["use_crf"] is False
  assert record["model"]["bert_config"] == json.loads(
      read_text(tiny_bert["config"]))
  assert record["model"]["vocab_sha256"] == run_settings.sha256_of_file(
      tiny_bert["vocab"])
  assert record["flags"]["do_lower_case"] is True
  for name, source in (("vocab.txt", tiny_bert["vocab"]),
                       ("bert_config.json", tiny_bert["config"])):
    assert read_text(os.path.join(out, name)) == read_text(source)


def test_one_summary_line_of_variables(trained):
  log = trained["log"]
  assert len(re.findall(r"trainable variables", log)) == 1, log[-3000:]
  assert "*INIT_FROM_CKPT*" not in log and "name = " not in log
  assert "(--verbosity=debug lists every variable)" in log


def test_files_follow_the_umask(trained):
  """Under umask 027, results, label map and checkpoints are all 0640."""
  out = trained["out"]
  for name in ("run.json", "label_map.json", "vocab.txt", "checkpoint"):
    mode = stat.S_IMODE(os.stat(os.path.join(out, name)).st_mode)
    assert mode == 0o640, (name, oct(mode))
  records = [n for n in os.listdir(out) if n.endswith(".tf_record")]
  assert records
  for name in records:
    assert stat.S_IMODE(os.stat(os.path.join(out, name)).st_mode) == 0o640


def test_changed_settings_stop_before_any_work(trained, tiny_bert, data_dir,
                                                tmp_path):
  out = str(tmp_path / "run")
  shutil.copytree(trained["out"], out)
  before = listing(out)
  changed_data = str(tmp_path / "data")
  shutil.copytree(data_dir, changed_data)
  with open(os.path.join(changed_data, "train.txt"), "a") as f:
    f.write("\nParis B-LOC\n")
  proc = run_ner(train_flags(tiny_bert, changed_data, out, max_seq_length=16,
                             use_crf="true"))
  line = helpers.assert_one_line_error(
      proc, "max_seq_length: 32 in this output_dir, 16 now",
      "use_crf: False in this output_dir, True now",
      "train_data: sha256 ", "--overwrite_output_dir", returncode=2)
  assert line.count(" now") == 3, line
  assert "Training" not in proc.stderr
  assert listing(out) == before


def test_same_settings_resume(trained, tiny_bert, data_dir, tmp_path):
  out = str(tmp_path / "run")
  shutil.copytree(trained["out"], out)
  proc = run_ner(train_flags(tiny_bert, data_dir, out, num_train_epochs=1))
  helpers.assert_ok(proc)
  assert re.search(r"Resuming training from \S+model\.ckpt-2 \(global step 2 "
                   r"of 4\)\n", proc.stderr), proc.stderr[-3000:]
  assert re.search(r"41 trainable variables \([\d,]+ parameters\) restored "
                   r"from the run's own checkpoint \S+model\.ckpt-2\n",
                   proc.stderr)
  assert "initialised from" not in proc.stderr
  assert global_step(out) == 4


def test_overwrite_output_dir(trained, tiny_bert, data_dir, tmp_path):
  """Only the toolkit's files go; the new run trains from the checkpoint
  with its own settings. --verbosity=debug lists every variable."""
  out = str(tmp_path / "run")
  shutil.copytree(trained["out"], out)
  os.makedirs(os.path.join(out, "export"))
  helpers.write_lines(os.path.join(out, "notes.txt"), ["mine"])
  helpers.write_lines(os.path.join(out, "export", "keep.txt"), ["mine"])
  proc = run_ner(train_flags(tiny_bert, data_dir, out, max_seq_length=16,
                             num_train_epochs=0.1, verbosity="debug") +
                 ["--overwrite_output_dir"])
  helpers.assert_ok(proc)
  assert re.search(r"--overwrite_output_dir: removed \d+ files of the "
                   r"previous run", proc.stderr)
  assert "Resuming" not in proc.stderr
  assert global_step(out) == 1
  assert not os.path.exists(os.path.join(out, "model.ckpt-2.index"))
  assert read_text(os.path.join(out, "notes.txt")) == "mine\n"
  assert read_text(os.path.join(out, "export", "keep.txt")) == "mine\n"
  record = json.loads(read_text(os.path.join(out, "run.json")))
  assert record["training"]["max_seq_length"] == 16
  listed = re.findall(r"name = (\S+), shape = .*\*INIT_FROM_CKPT\*",
                      proc.stderr)
  assert len(listed) == 39 and "bert/embeddings/word_embeddings:0" in listed


def test_predict_eval_export_from_the_folder_alone(trained, data_dir,
                                                   tmp_path):
  out = str(tmp_path / "run")
  shutil.copytree(trained["out"], out)
  raw = tmp_path / "sentences.raw"
  raw.write_text("John Smith flew to Paris .\n", encoding="utf-8")
  proc = run_ner(["--do_predict", "--predict_file=%s" % raw,
                  "--output_dir=" + out])
  helpers.assert_ok(proc)
  assert "--max_seq_length=32" in proc.stderr  # the run's, not the default
  assert "--vocab_file=%s" % os.path.join(out, "vocab.txt") in proc.stderr
  records = [json.loads(l) for l in read_text(
      os.path.join(out, "sentences_entities.jsonl")).splitlines()]
  assert [r["text"] for r in records] == ["John Smith flew to Paris ."]

  proc = run_ner(["--do_eval", "--data_dir=" + data_dir,
                  "--output_dir=" + out])
  helpers.assert_ok(proc)
  assert json.loads(read_text(os.path.join(out, "eval_results.json")))[
      "global_step"] == 2

  export = os.path.join(out, "export")
  proc = run_ner(["--export_dir=" + export, "--output_dir=" + out])
  helpers.assert_ok(proc)
  path = re.search(r"Exported SavedModel to (\S+)\n", proc.stderr).group(1)
  assert path == helpers.saved_model_path(export)
  assert ".tmp" not in path

  # A setting of the model that differs is refused, not used.
  proc = run_ner(["--do_predict", "--predict_file=%s" % raw, "--use_crf",
                  "--output_dir=" + out])
  helpers.assert_one_line_error(
      proc, "use_crf: False in this output_dir, True now", returncode=2)


def test_without_a_run_record_the_model_flags_are_asked_for(tmp_path):
  out = str(tmp_path / "empty")
  os.makedirs(out)
  proc = run_ner(["--do_predict", "--predict_file=x.raw",
                  "--output_dir=" + out])
  helpers.assert_one_line_error(proc, "--vocab_file, --bert_config_file",
                                "run.json", returncode=2)


def test_each_input_gets_its_own_prediction_files(trained, data_dir,
                                                  tmp_path):
  out = str(tmp_path / "run")
  shutil.copytree(trained["out"], out)
  helpers.assert_ok(run_ner(["--do_predict", "--data_dir=" + data_dir,
                             "--output_dir=" + out]))
  first = read_text(os.path.join(out, "test_predictions.txt"))
  first_results = read_text(os.path.join(out, "test_results.json"))

  other = tmp_path / "other"
  other.mkdir()
  examples = ner_data.read_conll(os.path.join(data_dir, "test.txt"))[:2]
  (other / "test.txt").write_text("".join(
      "".join("%s %s\n" % p for p in zip(e.words, e.labels)) + "\n"
      for e in examples), encoding="utf-8")
  proc = run_ner(["--do_predict", "--predict_file=%s" % (other / "test.txt"),
                  "--output_dir=" + out])
  helpers.assert_ok(proc)
  assert "are named test_2_*" in proc.stderr
  second = read_text(os.path.join(out, "test_2_predictions.txt"))
  assert len(second.strip().split("\n\n")) == 2
  assert read_text(os.path.join(out, "test_predictions.txt")) == first
  assert read_text(os.path.join(out, "test_results.json")) == first_results

  helpers.assert_ok(run_ner(["--do_predict", "--data_dir=" + data_dir,
                             "--output_prefix=again", "--output_dir=" + out]))
  assert read_text(os.path.join(out, "again_predictions.txt")) == first
  outputs = json.loads(read_text(os.path.join(out, "run.json")))["outputs"]
  assert outputs["test"] == os.path.join(data_dir, "test.txt")
  assert outputs["test_2"] == str(other / "test.txt")


def test_help_lists_common_flags_in_groups():
  proc = helpers.run_script(["--help"], "run_ner.py")
  text = proc.stdout
  titles = re.findall(r"^(\S[^\n]*):$", text, re.M)
  assert titles[0] == "run_ner.py flags", titles
  assert "common flags: model files" in titles
  assert "common flags: training" in titles
  model_files = text.split("common flags: model files:")[1].split("\n\n")[0]
  for name in ("--bert_config_file", "--vocab_file", "--init_checkpoint"):
    assert name in model_files
  own = text.split("run_ner.py flags:")[1].split("common flags")[0]
  assert "--[no]use_crf" in own and "--vocab_file" not in own
  assert "--alsologtostderr" not in text  # absl's own stay in --helpfull


def test_verbosity_takes_level_names_only():
  """--verbosity=debug works (test_overwrite_output_dir); a word that is no
  level is a flag error."""
  proc = run_ner(["--verbosity=loud", "--do_predict", "--output_dir=x"])
  assert proc.returncode == 1 and "--verbosity" in proc.stderr
  assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------
# Units


def test_atomic_files_follow_the_umask(tmp_path):
  old = os.umask(0o027)
  try:
    path = str(tmp_path / "a.json")
    atomic_files.write_json_atomic(path, {"x": 1})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    folder = atomic_files.make_temp_dir(str(tmp_path))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o750
    os.umask(0o002)
    atomic_files.write_text_atomic(path, "y")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o664
  finally:
    os.umask(old)
  assert read_text(path) == "y"
  assert set(os.listdir(tmp_path)) == {"a.json", os.path.basename(folder)}


def test_differences_name_each_setting():
  recorded = {"max_seq_length": 64, "bert_config": {"hidden_size": 384,
                                                    "num_hidden_layers": 6},
              "vocab_sha256": "a" * 64, "use_crf": True}
  current = {"max_seq_length": 32, "bert_config": {"hidden_size": 128,
                                                   "num_hidden_layers": 6},
             "vocab_sha256": "b" * 64, "use_crf": True, "new_setting": 1}
  assert run_settings.differences(recorded, current) == [
      "bert_config.hidden_size: 384 in this output_dir, 128 now",
      "max_seq_length: 64 in this output_dir, 32 now",
      "vocab_sha256: sha256 aaaaaaaaaaaa in this output_dir, sha256 "
      "bbbbbbbbbbbb now"]


def test_output_prefix_rules(tmp_path):
  out = str(tmp_path)
  a, b = str(tmp_path / "x" / "test.txt"), str(tmp_path / "y" / "test.txt")
  assert run_settings.output_prefix(out, "test", a) == "test"
  assert run_settings.output_prefix(out, "test", b) == "test_2"
  assert run_settings.output_prefix(out, "test", a) == "test"
  assert run_settings.output_prefix(out, None, str(tmp_path / "s.raw")) == "s"
  assert run_settings.output_prefix(out, "", b) == ""
  assert run_settings.output_prefix(out, "", a) == "test"


def test_remove_run_keeps_foreign_files(tmp_path):
  names = ["checkpoint", "model.ckpt-3.index", "train-ab.tf_record",
           "train-ab.tf_record.json", "run.json", "test_predictions.txt",
           "notes.txt", "my_data.csv"]
  for name in names:
    (tmp_path / name).write_text("x")
  (tmp_path / "eval").mkdir()
  (tmp_path / "export").mkdir()
  removed = run_settings.remove_run(str(tmp_path))
  assert len(removed) == 7
  assert sorted(os.listdir(tmp_path)) == ["export", "my_data.csv",
                                          "notes.txt"]
