"""End-to-end tests of run_classifier.py, run as a user runs it: a subprocess.

A tiny random BERT (2 layers, hidden 32, a vocab of the data's words plus
single characters) keeps each run to seconds. One full run per head (train,
eval, predict, export), each on GLUE-shaped files the tests write:

  * classification: MRPC-style pairs (F1), BOM and stray quotes;
  * regression: STS-B-style scores (Pearson, Spearman);
  * multi-label: generic JSONL, labels as lists and as delimited text;
  * multiple choice: SWAG-style quoted CSV;
  * keep-best: CoLA-style files (header-less train/dev), --keep_best_metric.

Each SavedModel is then loaded in a fresh process with tf.saved_model.load
and run through both signatures, and through saved_model_cli; the outputs
must equal the probabilities run_classifier.py wrote to test_results.tsv.
"""

import concurrent.futures
import csv
import glob
import json
import os
import random
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

import classifier_data as cd
import helpers
from helpers import read_text, saved_model_path
import tokenization

MAX_SEQ = 24
POSITIVE = "good great fine lovely superb nice".split()
NEGATIVE = "bad awful poor terrible dull ugly".split()
FILLER = "the movie was really quite a film plot acting story cast".split()
TOPICS = ["music", "politics", "sports"]  # sorted, as collected

# ----------------------------------------------------------------------------
# Data the tests write


def sentence(rng, label=None, extra=()):
  words = [rng.choice(FILLER) for _ in range(rng.randint(2, 7))]
  if label is not None:
    words.append(rng.choice(POSITIVE if label else NEGATIVE))
  words += list(extra)
  rng.shuffle(words)
  text = " ".join(words)
  # Some casing and punctuation, so the text signature has work to do.
  return text.capitalize() + rng.choice(["", ".", "!", " ?"])


def write(path, lines, bom=False):
  with open(path, "w", encoding="utf-8-sig" if bom else "utf-8") as f:
    f.write("\n".join(lines) + "\n")


def write_mrpc(folder, rng):
  """MRPC's layout: BOM, header, quoting off (texts hold stray quotes)."""
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
  for split, count in (("train", 32), ("dev", 12)):
    rows = [header]
    for i in range(count):
      label = i % 2
      rows.append("%d\t%d\t%d\t%s\t\"%s" % (label, i, i + 1000,
                                            sentence(rng, label),
                                            sentence(rng, label)))
    write(os.path.join(folder, split + ".tsv"), rows, bom=True)
  rows = ["index\t#1 ID\t#2 ID\t#1 String\t#2 String"]
  rows += ["%d\t%d\t%d\t%s\t%s" % (i, i, i + 1, sentence(rng, i % 2),
                                   sentence(rng, 1 - i % 2))
           for i in range(10)]
  write(os.path.join(folder, "test.tsv"), rows)


def write_stsb(folder, rng):
  header = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
            "sentence1\tsentence2")
  for split, count in (("train", 32), ("dev", 12)):
    rows = [header + "\tscore"]
    for i in range(count):
      label = i % 2
      rows.append("%d\tmain\tf\t2012\t%d\ts\ts\t%s\t%s\t%.2f" % (
          i, i, sentence(rng, label), sentence(rng, label),
          rng.uniform(0, 5)))
    write(os.path.join(folder, split + ".tsv"), rows)
  rows = [header] + ["%d\tmain\tf\t2012\t%d\ts\ts\t%s\t%s" % (
      i, i, sentence(rng, 1), sentence(rng, 0)) for i in range(8)]
  write(os.path.join(folder, "test.tsv"), rows)


def write_multilabel(folder, rng):
  """Generic JSONL: train labels as lists, dev as '|'-joined text."""
  def record(i, as_text):
    labels = sorted(rng.sample(TOPICS, rng.randint(0, 2)))
    text = sentence(rng, i % 2, extra=[t[:5] for t in labels])
    return {"id": "q%d" % i, "text": text,
            "label": "|".join(labels) if as_text else labels}
  for split, count, as_text in (("train", 32, False), ("dev", 12, True)):
    write(os.path.join(folder, split + ".jsonl"),
          [json.dumps(record(i, as_text)) for i in range(count)])
  write(os.path.join(folder, "test.jsonl"),
        [json.dumps({"id": "t%d" % i, "text": sentence(rng, i % 2)})
         for i in range(8)])


def write_swag(folder, rng):
  """SWAG's CSV: quoted fields (with commas), four endings, label index."""
  header = ["video-id", "fold-ind", "startphrase", "sent1", "sent2",
            "gold-source", "ending0", "ending1", "ending2", "ending3"]
  for split, count in (("train", 24), ("val", 8), ("test", 6)):
    with open(os.path.join(folder, split + ".csv"), "w", newline="",
              encoding="utf-8") as f:
      writer = csv.writer(f)
      writer.writerow(header + ([] if split == "test" else ["label"]))
      for i in range(count):
        label = i % 4
        endings = [sentence(rng, int(j == label)) for j in range(4)]
        row = ["v%d" % i, str(i), "x", sentence(rng) + ", then",
               "the cast", "gold"] + endings
        writer.writerow(row + ([] if split == "test" else [str(label)]))


def write_cola(folder, rng):
  """CoLA: train/dev without a header (source, label, mark, sentence)."""
  for split, count in (("train", 32), ("dev", 12)):
    write(os.path.join(folder, split + ".tsv"),
          ["src\t%d\t%s\t%s" % (i % 2, "" if i % 2 else "*",
                                sentence(rng, i % 2)) for i in range(count)])
  write(os.path.join(folder, "test.tsv"),
        ["index\tsentence"] + ["%d\t%s" % (i, sentence(rng, i % 2))
                               for i in range(6)])


def write_mnli(folder, rng):
  """MNLI: matched and mismatched dev and test files."""
  header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2"
  labels = ["contradiction", "entailment", "neutral"]
  files = [("train.tsv", 16, True), ("dev_matched.tsv", 6, True),
           ("dev_mismatched.tsv", 5, True), ("test_matched.tsv", 4, False),
           ("test_mismatched.tsv", 3, False)]
  for name, count, labelled in files:
    rows = [header + ("\tgold_label" if labelled else "")]
    for i in range(count):
      row = "%d\t%d\t%de\tgov\t%s\t%s" % (i, i, i, sentence(rng, 1),
                                            sentence(rng, i % 2))
      rows.append(row + ("\t" + labels[i % 3] if labelled else ""))
    write(os.path.join(folder, name), rows)


WRITERS = {"mnli": write_mnli, "mrpc": write_mrpc, "stsb": write_stsb, "multilabel":
           write_multilabel, "swag": write_swag, "cola": write_cola}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("classifier_data"))
  for name, writer in WRITERS.items():
    os.makedirs(os.path.join(root, name))
    writer(os.path.join(root, name), random.Random(name))
  return root


# ----------------------------------------------------------------------------
# A tiny random BERT


def vocab_tokens(data_root):
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  words = set()
  for name in glob.glob(os.path.join(data_root, "*", "*")):
    with open(name, encoding="utf-8-sig") as f:
      words.update(basic.tokenize(f.read()))
  chars = sorted(c for c in set("".join(words)) | set("abcdefghij!?.,")
                 if len(c) == 1)
  tokens = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
            sorted(w for w in words if len(w) < 12) + chars +
            ["##" + c for c in chars if c.isalnum()])
  return list(dict.fromkeys(tokens))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, data_root):
  return helpers.write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"),
                                 vocab_tokens(data_root))


# ----------------------------------------------------------------------------
# Running the script


def run_classifier(args):
  return helpers.run_script(args, "run_classifier.py")


def model_flags(model, **overrides):
  values = dict(max_seq_length=MAX_SEQ, train_batch_size=8,
                eval_batch_size=8, predict_batch_size=8, learning_rate=1e-3,
                num_train_epochs=1, log_every_n_steps=2)
  values.update(overrides)
  return helpers.model_flags(model, **values)


def read_results_tsv(path):
  lines = read_text(path).splitlines()
  return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


RUNS = {
    "mnli": dict(task_name="mnli", num_train_epochs=0.5, export_dir=None),
    "mrpc": dict(task_name="mrpc"),
    "stsb": dict(task_name="stsb"),
    "multilabel": dict(task_name="generic", task_type="multilabel",
                       id_column="id", multilabel_delimiter="|",
                       train_file="train.jsonl", dev_file="dev.jsonl",
                       test_file="test.jsonl"),
    "swag": dict(task_name="swag", max_seq_length=16),
    "cola": dict(task_name="cola", keep_best_metric="mcc",
                 save_checkpoints_steps=2, num_train_epochs=1.5),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root, tiny_bert):
  """One full run per head; returns {name: dict(out, export, log, task)}."""
  def run(name, flags, out):
    return run_classifier(["--do_train", "--do_eval", "--do_predict",
                           "--data_dir=" + os.path.join(data_root, name),
                           "--output_dir=" + out] +
                          model_flags(tiny_bert, **flags))

  jobs = {}
  # Two runs at a time: each spends seconds importing TensorFlow on one
  # core, so pairs finish the set in about two thirds of the time.
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    for name, flags in RUNS.items():
      out = str(tmp_path_factory.mktemp("run_" + name))
      flags = dict(dict(export_dir=os.path.join(out, "export")), **flags)
      jobs[name] = (out, flags, pool.submit(run, name, flags, out))
  done = {}
  for name, (out, flags, job) in jobs.items():
    proc = job.result()
    helpers.assert_ok(proc, name, tail=5000)
    done[name] = dict(out=out, log=proc.stderr, export=flags["export_dir"]
                      and saved_model_path(flags["export_dir"]),
                      max_seq=flags.get("max_seq_length", MAX_SEQ))
  return done


# ----------------------------------------------------------------------------
# Results of each head


def eval_results(run):
  with open(os.path.join(run["out"], "eval_results.json")) as f:
    results = json.load(f)
  txt = dict(line.split(" = ", 1) for line in
             read_text(os.path.join(run["out"], "eval_results.txt"))
             .splitlines())
  assert set(txt) == set(results)
  return results


@pytest.mark.parametrize("name,keys", [
    ("mnli", ["eval_accuracy", "eval_loss", "eval_mm_accuracy",
              "eval_mm_loss"]),
    ("mrpc", ["eval_accuracy", "eval_loss", "eval_f1", "eval_precision",
              "eval_recall"]),
    ("stsb", ["eval_loss", "eval_pearson", "eval_spearman"]),
    ("multilabel", ["eval_accuracy", "eval_loss", "eval_micro_f1",
                    "eval_macro_f1"]),
    ("swag", ["eval_accuracy", "eval_loss"]),
    ("cola", ["eval_accuracy", "eval_loss", "eval_mcc"]),
])
def test_eval_results_hold_the_task_metrics(runs, name, keys):
  results = eval_results(runs[name])
  for key in keys:
    assert key in results, (name, key, results)
    assert np.isfinite(results[key])
  assert "metric" in runs[name]["log"] and "eval_loss" in runs[name]["log"]


def test_test_results_tsv(runs):
  header, rows = read_results_tsv(
      os.path.join(runs["mrpc"]["out"], "test_results.tsv"))
  assert header == ["id", "0", "1", "prediction"]
  assert [r[0] for r in rows] == [str(i) for i in range(10)]
  for row in rows:
    probabilities = np.array(row[1:3], float)
    assert abs(probabilities.sum() - 1) < 1e-5
    assert row[3] == ["0", "1"][int(np.argmax(probabilities))]

  header, rows = read_results_tsv(
      os.path.join(runs["stsb"]["out"], "test_results.tsv"))
  assert header == ["id", "prediction"] and len(rows) == 8

  header, rows = read_results_tsv(
      os.path.join(runs["multilabel"]["out"], "test_results.tsv"))
  assert header == ["id"] + TOPICS + ["prediction"]
  assert [r[0] for r in rows] == ["t%d" % i for i in range(8)]
  for row in rows:
    chosen = [t for t, p in zip(TOPICS, row[1:4]) if float(p) >= 0.5]
    assert row[4] == "|".join(chosen)

  header, rows = read_results_tsv(
      os.path.join(runs["swag"]["out"], "test_results.tsv"))
  assert header == ["id", "choice_0", "choice_1", "choice_2", "choice_3",
                    "prediction"]
  assert len(rows) == 6


def test_mnli_mismatched_sets(runs):
  out = runs["mnli"]["out"]
  header, rows = read_results_tsv(os.path.join(out, "test_results.tsv"))
  assert header == ["id", "contradiction", "entailment", "neutral",
                    "prediction"] and len(rows) == 4
  _, rows = read_results_tsv(os.path.join(out, "test_results_mm.tsv"))
  assert len(rows) == 3
  assert os.path.isdir(os.path.join(out, "eval_mm"))  # TensorBoard.


def test_label_map_saved(runs):
  with open(os.path.join(runs["multilabel"]["out"], "label_map.json")) as f:
    saved = json.load(f)
  assert saved["labels"] == TOPICS and saved["task_type"] == "multilabel"


def test_keep_best_checkpoint(runs):
  run = runs["cola"]
  with open(os.path.join(run["out"], "best", "best.json")) as f:
    best = json.load(f)
  assert best["metric"] == "eval_mcc"
  # 32 examples * 1.5 epochs / batch 8 = 6 steps, judged every 2 steps.
  assert "step 2" in run["log"] and "step 4" in run["log"]
  prefix = best["checkpoint"]
  assert os.path.exists(prefix + ".index")
  assert tf.train.latest_checkpoint(os.path.join(run["out"], "best")) == \
      prefix
  results = eval_results(run)
  assert results["eval_mcc"] == pytest.approx(best["value"])
  assert results["best_checkpoint"] == prefix
  # The export is of the kept checkpoint.
  exported = tf.train.load_variable(
      os.path.join(run["export"], "variables", "variables"), "output_bias")
  np.testing.assert_array_equal(
      exported, tf.train.load_variable(prefix, "output_bias"))


# ----------------------------------------------------------------------------
# SavedModels: a fresh process, both signatures, saved_model_cli

SERVE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the ops of the raw-text signature
with open(sys.argv[1]) as f:
  requests = json.load(f)
answers = {}
for name, request in requests.items():
  model = tf.saved_model.load(request["export"])
  out = {"signatures": sorted(model.signatures.keys())}
  for signature, feed in (("serving_default", request["ids"]),
                          ("serve_text", request["text"])):
    function = model.signatures[signature]
    result = function(**{k: tf.constant(np.asarray(v, np.int32)
                                        if signature == "serving_default"
                                        else v) for k, v in feed.items()})
    out[signature] = {k: (v.numpy().tolist() if v.dtype != tf.string else
                          [x.decode() for x in v.numpy().tolist()])
                      for k, v in result.items()}
  answers[name] = out
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def served(runs, data_root, tiny_bert, tmp_path_factory):
  """Every export loaded in one fresh process, both signatures run."""
  folder = tmp_path_factory.mktemp("serve")
  requests = {}
  for name in SERVED:
    ids, text, _ = requests_for(name, data_root, tiny_bert,
                                runs[name]["max_seq"])
    requests[name] = dict(export=runs[name]["export"], ids=ids, text=text)
  (folder / "requests.json").write_text(json.dumps(requests))
  (folder / "serve.py").write_text(SERVE_SCRIPT)
  proc = helpers.run_script([str(folder / "requests.json")],
                            str(folder / "serve.py"), cwd=None, timeout=300)
  helpers.assert_ok(proc, tail=3000)
  return json.loads(proc.stdout.strip().splitlines()[-1])


SERVED = ["mrpc", "stsb", "multilabel", "swag"]


def requests_for(name, data_root, tiny_bert, max_seq):
  """(ids request, text request, examples) for the run's test file."""
  processor = {"mrpc": cd.MrpcProcessor(), "stsb": cd.StsbProcessor(),
               "swag": cd.SwagProcessor(), "cola": cd.ColaProcessor()}.get(name)
  if processor is None:
    processor = cd.TableProcessor(cd.TableLayout(
        "jsonl", text_a="text", label="label", guid="id"), cd.MULTILABEL)
    examples = processor.read(os.path.join(data_root, name, "test.jsonl"),
                              "test")
  else:
    examples = processor.get_test_examples(os.path.join(data_root, name))
  tokenizer = tokenization.FullTokenizer(tiny_bert["vocab"], True)
  ids = {"input_ids": [], "input_mask": [], "segment_ids": []}
  for example in examples:
    feature, _, _ = cd.convert_single_example(
        example, tokenizer, max_seq, processor.task_type, TOPICS)
    for key in ids:
      values = getattr(feature, key)
      if example.choices:
        values = np.reshape(values, [len(example.choices), max_seq]).tolist()
      ids[key].append(values)
  text = {"text_a": [e.text_a for e in examples]}
  if examples[0].choices:
    text["text_b"] = [e.choices for e in examples]
  elif examples[0].text_b is not None:
    text["text_b"] = [e.text_b for e in examples]
  return ids, text, examples


@pytest.mark.parametrize("name", SERVED)
def test_saved_model_matches_predictions(runs, served, name):
  """Fresh-process outputs of both signatures equal test_results.tsv."""
  answer = served[name]
  assert answer["signatures"] == ["serve_text", "serving_default"]
  _, rows = read_results_tsv(os.path.join(runs[name]["out"],
                                          "test_results.tsv"))
  expected = np.array([r[1:] if name == "stsb" else r[1:-1] for r in rows],
                      float)
  key = "prediction" if name == "stsb" else "probabilities"
  by_ids = np.array(answer["serving_default"][key]).reshape(expected.shape)
  by_text = np.array(answer["serve_text"][key]).reshape(expected.shape)
  np.testing.assert_allclose(by_ids, expected, atol=2e-6)
  # The raw-text signature tokenises in the graph to the very same ids.
  np.testing.assert_allclose(by_text, by_ids, atol=1e-6)
  if name in ("mrpc", "multilabel"):
    assert answer["serving_default"]["label"] == [r[-1] for r in rows]
    assert answer["serve_text"]["label"] == [r[-1] for r in rows]


def test_saved_model_cli(runs, data_root, tiny_bert, tmp_path):
  """The stock saved_model_cli runs an ids-only export (--notext_signature);
  a raw-text export runs through `python text_serving.py`, saved_model_cli
  with tensorflow-text's ops registered."""
  run = runs["mrpc"]
  _, rows = read_results_tsv(os.path.join(run["out"], "test_results.tsv"))
  expected = np.array([r[1:3] for r in rows[:3]], float)
  ids, text, _ = requests_for("mrpc", data_root, tiny_bert, MAX_SEQ)
  export = str(tmp_path / "ids_only")
  proc = run_classifier(["--task_name=mrpc", "--output_dir=" + run["out"],
                         "--export_dir=" + export, "--notext_signature"] +
                        model_flags(tiny_bert, init_checkpoint=None))
  helpers.assert_ok(proc, tail=3000)
  inputs = str(tmp_path / "inputs.npz")
  np.savez(inputs, **{k: np.asarray(v[:3], np.int32) for k, v in ids.items()})
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  for command, model, signature, feed in [
      ([cli], saved_model_path(export), "serving_default",
       ["--inputs", ";".join("%s=%s[%s]" % (k, inputs, k) for k in ids)]),
      ([sys.executable, "text_serving.py"], run["export"], "serve_text",
       ["--input_exprs", "text_a=%s;text_b=%s" % (
           json.dumps(text["text_a"][:3]), json.dumps(text["text_b"][:3]))]),
  ]:
    outdir = str(tmp_path / signature)
    proc = helpers.run_command(
        command + ["run", "--dir", model, "--tag_set", "serve",
                   "--signature_def", signature, "--outdir", outdir] + feed,
        timeout=300)
    helpers.assert_ok(proc, tail=3000)
    np.testing.assert_allclose(
        np.load(os.path.join(outdir, "probabilities.npy")), expected,
        atol=2e-6)


# ----------------------------------------------------------------------------
# Bad input: one line, exit code 2, before any training


@pytest.mark.parametrize("task,file_name,line,old,new,message", [
    ("mrpc", "dev.tsv", 4, "\t", "\t2\t", "unknown label '2'; the task's "
     "label list has: 0, 1"),
    ("stsb", "train.tsv", 3, None, "high", "label 'high' is not a number; a "
     "regression task needs a numeric label"),
    ("mrpc", "test.tsv", 2, "\t", "\t\t", "6 columns, expected 5 as in the "
     "header"),
])
def test_bad_input_fails_with_file_and_line(tmp_path, data_root, tiny_bert,
                                            task, file_name, line, old, new,
                                            message):
  import shutil  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path / "data")
  shutil.copytree(os.path.join(data_root, task), folder)
  path = os.path.join(folder, file_name)
  with open(path, encoding="utf-8-sig") as f:
    lines = f.read().splitlines()
  if old is None:  # Replace the last column.
    lines[line - 1] = lines[line - 1].rsplit("\t", 1)[0] + "\t" + new
  elif new == "\t2\t":  # Replace the first column (MRPC's label).
    lines[line - 1] = "2" + lines[line - 1][lines[line - 1].index("\t"):]
  else:
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
  write(path, lines)
  out = str(tmp_path / "out")
  proc = run_classifier(["--task_name=" + task, "--do_train", "--do_eval",
                         "--do_predict", "--data_dir=" + folder,
                         "--output_dir=" + out] + model_flags(tiny_bert))
  assert proc.returncode == 2, proc.stderr[-3000:]
  last = helpers.last_line(proc)
  assert last.startswith("error: %s:%d: %s" % (path, line, message)), last
  assert not glob.glob(os.path.join(out, "*"))  # Nothing written.


def test_predict_and_export_from_the_run_folder_alone(runs, data_root,
                                                      tmp_path):
  """No model flags: they come from the run's run.json and its copies of the
  model files. Another test file gets results of its own."""
  out = str(tmp_path / "mrpc")
  shutil.copytree(runs["mrpc"]["out"], out)
  data = os.path.join(data_root, "mrpc")
  first = read_text(os.path.join(out, "test_results.tsv"))
  os.remove(os.path.join(out, "test_results.tsv"))
  helpers.assert_ok(run_classifier(["--do_predict", "--data_dir=" + data,
                                    "--output_dir=" + out]))
  assert read_text(os.path.join(out, "test_results.tsv")) == first

  other = str(tmp_path / "other.tsv")
  shutil.copy(os.path.join(data, "test.tsv"), other)
  helpers.assert_ok(run_classifier(["--do_predict", "--test_file=" + other,
                                    "--output_dir=" + out]))
  assert read_text(os.path.join(out, "other_results.tsv")) == first
  assert read_text(os.path.join(out, "test_results.tsv")) == first

  export = str(tmp_path / "export")
  proc = run_classifier(["--export_dir=" + export, "--output_dir=" + out])
  helpers.assert_ok(proc)
  assert "serve_text" in proc.stderr
  assert saved_model_path(export)

  proc = run_classifier(["--do_predict", "--task_name=sst2",
                         "--data_dir=" + data, "--output_dir=" + out])
  helpers.assert_one_line_error(
      proc, "task_name: mrpc in this output_dir, sst2 now", returncode=2)
