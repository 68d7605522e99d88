# coding=utf-8
"""Bad input, script by script: a table of cases generated from one good
tiny setup per script.

Every script (run_ner, run_classifier, run_squad, create_pretraining_data,
run_pretraining, extract_features, convert_checkpoint) gets a good setup: a
tiny random BERT (helpers.write_tiny_bert), small data files and flags that
work. Each case breaks one thing in a copy of it - a truncated or
wrong-column line, an unknown label, an empty file, non-UTF-8 bytes, a
folder where a file belongs, an unreadable file, a vocab / config /
checkpoint that do not fit together, out-of-range sizes, an unwritable or
full output folder - and must end the same way:

  * exit code 2;
  * stderr's last line starts with `error:` and holds the case's needles
    (the file, and the line, field or tensor, and what was expected);
  * no traceback (only --verbosity=debug shows one);
  * nothing new in the output folder; after a full disk, nothing a rerun
    would trust (checkpoints, cached records, results, half-written temp
    files), and the rerun with room to write succeeds.

`test_print_table` prints the table (script | case | message) from the same
case list; `pytest -s tests/test_bad_inputs.py -k print_table` shows it.

Speed: the cases run in children forked from one server that imported
TensorFlow once (tests/fork_runner.py); a few also run in fresh interpreters
to show that both ways give the same result.
"""

import collections
import concurrent.futures
import fnmatch
import json
import os
import shutil
import stat

import pytest

import classifier_data as cd
import create_pretraining_data as cpd
import fork_runner
import helpers
import ner_data
import squad_data
import tokenization

MAX_SEQ = 32
POSITIONS = helpers.TINY_BERT_CONFIG["max_position_embeddings"]  # 64
# RLIMIT_FSIZE of the full-disk cases, in bytes: label maps pass, the first
# record file or run.json fails. LATE_FSIZE lets every input file and cached
# record through and stops the estimator's own writes (graph, checkpoint).
FSIZE = 512
LATE_FSIZE = 64 << 10

# ----------------------------------------------------------------------------
# The good data

NER_SENTENCES = [
    [("john", "B-PER"), ("smith", "I-PER"), ("lives", "O"), ("in", "O"),
     ("paris", "B-LOC"), (".", "O")],
    [("mary", "B-PER"), ("works", "O"), ("for", "O"), ("acme", "B-ORG"),
     ("in", "O"), ("london", "B-LOC"), (".", "O")],
    [("google", "B-ORG"), ("hired", "O"), ("mary", "B-PER"),
     ("jones", "I-PER"), (".", "O")],
    [("the", "O"), ("river", "O"), ("runs", "O"), ("through", "O"),
     ("paris", "B-LOC"), (".", "O")],
]
CLASSIFIER_ROWS = [("the film was great", "pos"), ("the plot was dull", "neg"),
                   ("a good story", "pos"), ("a bad film", "neg")]
PARIS = "john smith lives in paris . mary works for acme in london ."
QUESTIONS = [("q1", "where does john live ?", "paris"),
             ("q2", "who works for acme ?", "mary"),
             ("q3", "where is acme ?", "london")]
CORPUS = [["john smith lives in paris .", "mary works for acme in london .",
           "the river runs through paris ."],
          ["google hired mary jones .", "the film was great .",
           "the plot was dull ."],
          ["a good story .", "a bad film .", "who works for acme ?"]]
EXTRACT_LINES = ["john smith lives in paris .",
                 "where does john live ? ||| in paris ."]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def all_text():
  texts = [w for s in NER_SENTENCES for w, _ in s]
  texts += [t for t, _ in CLASSIFIER_ROWS] + [PARIS]
  texts += [q for _, q, _ in QUESTIONS] + [l for d in CORPUS for l in d]
  return " ".join(texts + EXTRACT_LINES)


def vocab_tokens():
  """Specials, every word of the data, and single characters."""
  words = sorted(set(tokenization.BasicTokenizer(True).tokenize(all_text())))
  chars = "abcdefghijklmnopqrstuvwxyz0123456789"
  return list(dict.fromkeys(SPECIAL + words + ["##" + c for c in chars] +
                            list(chars) + ["|"]))


def conll(sentences):
  return "".join("".join("%s %s\n" % pair for pair in s) + "\n"
                 for s in sentences)


def squad_json(questions, context=PARIS):
  qas = [{"id": qid, "question": q,
          "answers": [{"text": a, "answer_start": context.index(a)}]}
         for qid, q, a in questions]
  return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": qas}]}]}, indent=1)


def write(path, text, mode="w"):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
    f.write(text)
  return path


def write_data(root):
  """The good data files; returns their folders and paths."""
  d = {}
  d["ner"] = os.path.join(root, "ner")
  write(os.path.join(d["ner"], "train.txt"), conll(NER_SENTENCES * 2))
  write(os.path.join(d["ner"], "dev.txt"), conll(NER_SENTENCES))
  d["cls"] = os.path.join(root, "cls")
  table = "text\tlabel\n" + "".join("%s\t%s\n" % r for r in CLASSIFIER_ROWS)
  write(os.path.join(d["cls"], "train.tsv"), table)
  write(os.path.join(d["cls"], "dev.tsv"), table)
  d["squad_train"] = write(os.path.join(root, "squad", "train.json"),
                           squad_json(QUESTIONS))
  d["squad_dev"] = write(os.path.join(root, "squad", "dev.json"),
                         squad_json(QUESTIONS[:2]))
  d["corpus"] = write(os.path.join(root, "corpus", "corpus.txt"),
                      "\n\n".join("\n".join(doc) for doc in CORPUS) + "\n")
  d["extract"] = write(os.path.join(root, "extract", "input.txt"),
                       "\n".join(EXTRACT_LINES) + "\n")
  d["vocab"] = write(os.path.join(root, "model", "vocab.txt"),
                     "\n".join(vocab_tokens()) + "\n")
  return d


# ----------------------------------------------------------------------------
# The server, the good setup


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  log = tmp_path_factory.mktemp("fork_server") / "server.log"
  s = fork_runner.ForkServer(str(log))
  # Forking is sound only from a single-threaded server (fork_runner.py).
  assert s.info["threads"] == 1, s.info
  yield s
  s.close()


def run_jobs(server, jobs, parallel=2):
  """Runs jobs on the server; returns their results with stdout/stderr."""
  results = server.run(jobs, parallel=parallel)
  for job, result in zip(jobs, results):
    result["stdout"] = helpers.read_text(job["stdout"])
    result["stderr"] = helpers.read_text(job["stderr"])
  return results


def script_job(script, args, log_base, **extra):
  job = dict(script=script, args=args, stdout=log_base + ".out",
             stderr=log_base + ".err")
  job.update(extra)
  return job


def code_job(code, log_base):
  return dict(code=code, stdout=log_base + ".out", stderr=log_base + ".err")


def as_args(flags):
  out = []
  for name, value in flags.items():
    if value is None:
      continue
    if value is True:
      out.append("--" + name)
    elif value is False:
      out.append("--no" + name)
    else:
      out.append("--%s=%s" % (name, value))
  return out


World = collections.namedtuple("World", ["root", "data", "model", "wide",
                                         "records", "hf"])


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
  """The good setup of every script: data, a tiny BERT (and one of another
  hidden size), pretraining records, a Hugging Face copy of the model."""
  root = str(tmp_path_factory.mktemp("bad_inputs"))
  data = write_data(root)
  logs = os.path.join(root, "logs")
  os.makedirs(logs)
  model_dir = os.path.dirname(data["vocab"])
  wide_dir = os.path.join(root, "wide")
  os.makedirs(wide_dir)
  records = os.path.join(root, "records", "pretrain.tfrecord")
  write_model = ("import helpers; helpers.write_tiny_bert(%r, vocab_file=%r"
                 "%s)")
  jobs = [
      code_job(write_model % (model_dir, data["vocab"], ""),
               os.path.join(logs, "model")),
      code_job(write_model % (wide_dir, data["vocab"], ", hidden_size=48"),
               os.path.join(logs, "wide")),
      script_job("create_pretraining_data.py", as_args(good_flags(
          "create_pretraining_data.py", None, data, output=records)),
                 os.path.join(logs, "records")),
  ]
  for job, result in zip(jobs, run_jobs(server, jobs)):
    assert result["returncode"] == 0, result["stderr"][-3000:]
  model = dict(dir=model_dir, vocab=data["vocab"],
               config=os.path.join(model_dir, "bert_config.json"),
               ckpt=os.path.join(model_dir, "bert_model.ckpt"))
  wide = dict(dir=wide_dir, ckpt=os.path.join(wide_dir, "bert_model.ckpt"),
              config=os.path.join(wide_dir, "bert_config.json"))
  hf = os.path.join(root, "hf")
  job = script_job("convert_checkpoint.py", [
      "--direction=tf_to_hf", "--input_dir=" + model_dir,
      "--output_dir=" + hf], os.path.join(logs, "hf"))
  result, = run_jobs(server, [job])
  assert result["returncode"] == 0, result["stderr"][-3000:]
  return World(root, data, model, wide, records, hf)


# ----------------------------------------------------------------------------
# Good flags per script


def good_flags(script, world, data=None, output=None):
  """The flags of a run that works, writing under `output`."""
  data = data or world.data
  model = world.model if world else None
  common = lambda: collections.OrderedDict([
      ("vocab_file", model["vocab"]), ("bert_config_file", model["config"]),
      ("init_checkpoint", model["ckpt"]), ("max_seq_length", MAX_SEQ),
      ("train_batch_size", 4), ("eval_batch_size", 4),
      ("predict_batch_size", 4), ("num_train_epochs", 1),
      ("output_dir", output)])
  if script == "run_ner.py":
    flags = common()
    flags.update(do_train=True, do_eval=True, data_dir=data["ner"])
  elif script == "run_classifier.py":
    flags = common()
    flags.update(task_name="generic", do_train=True, do_eval=True,
                 data_dir=data["cls"], train_file="train.tsv",
                 dev_file="dev.tsv")
  elif script == "run_squad.py":
    flags = common()
    flags.update(do_train=True, do_predict=True,
                 train_file=data["squad_train"],
                 predict_file=data["squad_dev"], doc_stride=8,
                 max_query_length=8, n_best_size=3)
  elif script == "run_pretraining.py":
    flags = common()
    del flags["vocab_file"], flags["predict_batch_size"]
    del flags["num_train_epochs"]
    flags.update(do_train=True, do_eval=True, input_file=world.records,
                 max_predictions_per_seq=5, num_train_steps=2,
                 max_eval_steps=1)
  elif script == "create_pretraining_data.py":
    flags = collections.OrderedDict([
        ("input_file", data["corpus"]), ("output_file", output),
        ("vocab_file", data["vocab"]), ("max_seq_length", MAX_SEQ),
        ("max_predictions_per_seq", 5), ("dupe_factor", 2),
        ("num_workers", 1)])
  elif script == "extract_features.py":
    flags = common()
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size",
                 "num_train_epochs", "output_dir"):
      del flags[name]
    flags.update(input_file=data["extract"], output_file=output,
                 batch_size=4, layers="-1,-2")
  elif script == "convert_checkpoint.py":
    flags = collections.OrderedDict([
        ("direction", "tf_to_hf"), ("input_dir", model["dir"]),
        ("output_dir", output)])
  else:
    raise ValueError(script)
  return flags


# Where each script writes, under the case's `out` folder.
OUTPUT_NAME = {"create_pretraining_data.py": "pretrain.tfrecord",
               "extract_features.py": "features.jsonl",
               "convert_checkpoint.py": "hf"}
OUTPUT_FLAG = {"create_pretraining_data.py": "output_file",
               "extract_features.py": "output_file"}


# ----------------------------------------------------------------------------
# Cases: a mutation of the good setup and the needles of its message

DIR, UNREADABLE, MISSING = "<dir>", "<unreadable>", "<missing>"

Case = collections.namedtuple("Case", ["script", "name", "mutate", "needles",
                                       "fault"])


class Stage(object):
  """One case's copy of the setup: flags, files, the job's extras."""

  def __init__(self, world, script, case_dir):
    self.world, self.script, self.dir = world, script, case_dir
    self.out = os.path.join(case_dir, "out")
    os.makedirs(self.out)
    output = os.path.join(self.out, OUTPUT_NAME.get(script, ""))
    self.flags = good_flags(script, world, output=output.rstrip("/"))
    self.extra = {}
    self.file = None  # the file the case broke

  def copy_folder(self, flag, name):
    """Copies the folder named by --flag into the case; returns the copy."""
    copy = os.path.join(self.dir, name)
    if not os.path.exists(copy):
      shutil.copytree(self.flags[flag], copy)
      self.flags[flag] = copy
    return copy

  def needle(self, text):
    return text.format(file=self.file, out=self.out, dir=self.dir)


def set_flags(**values):
  def mutate(stage):
    for name, value in values.items():
      stage.flags[name] = value.format(dir=stage.dir) if isinstance(
          value, str) else value
  return mutate


def wide_checkpoint(stage):
  """--init_checkpoint of the model with hidden size 48."""
  stage.flags["init_checkpoint"] = stage.world.wide["ckpt"]


def break_file(where, content, suffix=""):
  """Replaces a file of the setup in the case's copy.

  Args:
    where: a flag naming the file ("vocab_file"), or "data_dir:NAME" /
      "input_dir:NAME" for a file in the folder a flag names.
    content: bytes, a function old bytes -> bytes, or DIR (a folder there),
      UNREADABLE (mode 000, with the child's DAC capabilities dropped), or
      MISSING.
  """

  def mutate(stage):
    if ":" in where:
      flag, name = where.split(":")
      folder = stage.copy_folder(flag, flag)
      path = os.path.join(folder, name)
    else:
      old = stage.flags[where]
      path = os.path.join(stage.dir, "broken", os.path.basename(old))
      os.makedirs(os.path.dirname(path), exist_ok=True)
      if where == "init_checkpoint":  # a prefix: copy its files
        for name in (".index", ".data-00000-of-00001"):
          shutil.copy(old + name, path + name)
      else:
        shutil.copy(old, path)
      stage.flags[where] = path
    stage.file = path
    path += suffix
    if content is DIR:
      os.remove(path)
      os.makedirs(path)
    elif content is UNREADABLE:
      os.chmod(path, 0)
      stage.extra["drop_dac"] = True
    elif content is MISSING:
      os.remove(path)
    else:
      with open(path, "rb") as f:
        old_bytes = f.read()
      new = content(old_bytes) if callable(content) else content
      with open(path, "wb") as f:
        f.write(new)

  return mutate



def unusable_file(script, what, where, folder_word="directory"):
  """The two cases every input file gets: a folder in its place, and a file
  the run may not read."""
  return [
      Case(script, what + ": a folder", break_file(where, DIR),
           ["{file}", folder_word], None),
      Case(script, what + ": unreadable", break_file(where, UNREADABLE),
           ["{file}", "ermission denied"], None),
  ]

def unwritable_output(stage):
  """The output folder exists but this user may not write into it."""
  os.chmod(stage.out, stat.S_IRUSR | stat.S_IXUSR)
  stage.extra["drop_dac"] = True


def output_under_a_file(stage):
  """The output path lies under a regular file (unwritable even for root)."""
  blocker = os.path.join(stage.out, "blocker")
  helpers.write_lines(blocker, ["not a folder"])
  stage.file = blocker
  flag = OUTPUT_FLAG.get(stage.script, "output_dir")
  stage.flags[flag] = os.path.join(blocker, "sub",
                                   OUTPUT_NAME.get(stage.script, "out"))


def output_is_a_folder(stage):
  flag = OUTPUT_FLAG[stage.script]
  os.makedirs(stage.flags[flag])
  stage.file = stage.flags[flag]


def full_disk(limit=FSIZE):
  def mutate(stage):
    stage.extra["fsize"] = limit
  return mutate


def failing_writer(budget=0):
  def mutate(stage):
    stage.extra["enospc"] = budget
  return mutate


def both(*mutations):
  def mutate(stage):
    for m in mutations:
      m(stage)
  return mutate


def replace(old, new, count=1):
  def edit(data):
    assert old in data, (old, data[:200])
    return data.replace(old, new, count)
  return edit


def cut_at(fraction):
  return lambda data: data[:int(len(data) * fraction)]


def append(extra):
  return lambda data: data + extra


def json_edit(fn):
  def edit(data):
    value = json.loads(data.decode("utf-8"))
    fn(value)
    return json.dumps(value).encode("utf-8")
  return edit


def config_with(**values):
  return json_edit(lambda config: config.update(values))


NOT_UTF8 = b"caf\xe9 \xff"
EXTRA_VOCAB = b"extra1\nextra2\nextra3\n"

TASK_SCRIPTS = ("run_ner.py", "run_classifier.py", "run_squad.py")
MODEL_SCRIPTS = TASK_SCRIPTS + ("run_pretraining.py", "extract_features.py")
VOCAB_SCRIPTS = TASK_SCRIPTS + ("extract_features.py",
                                "create_pretraining_data.py")


def shared_cases():
  """The model files, sizes and output folder: the same for every script."""
  c = []
  for s in VOCAB_SCRIPTS:
    c += [
        Case(s, "vocab: empty file", break_file("vocab_file", b""),
             ["{file}", "empty"], None),
        Case(s, "vocab: not UTF-8", break_file(
            "vocab_file", append(NOT_UTF8 + b"\n")), ["{file}", "UTF-8"],
             None),
    ] + unusable_file(s, "vocab", "vocab_file")
  for s in MODEL_SCRIPTS:
    c += [
        Case(s, "config: truncated JSON", break_file(
            "bert_config_file", cut_at(0.5)), ["{file}", "JSON"], None),
        Case(s, "config: not UTF-8", break_file(
            "bert_config_file", lambda d: NOT_UTF8 + d), ["{file}", "UTF-8"],
             None),
        Case(s, "config: empty file", break_file("bert_config_file", b""),
             ["{file}"], None),
    ] + unusable_file(s, "config", "bert_config_file") + [
        Case(s, "config: hidden_size != the checkpoint's", break_file(
            "bert_config_file", config_with(hidden_size=48)),
             ["bert/embeddings/word_embeddings", "hidden_size=48", "32]"],
             None),
        Case(s, "checkpoint: hidden size != the config's", wide_checkpoint,
             ["bert/embeddings/word_embeddings", "48]", "hidden_size=32"],
             None),
        Case(s, "config: vocab_size != the checkpoint's rows", break_file(
            "bert_config_file", config_with(vocab_size=7)),
             ["bert/embeddings/word_embeddings", "vocab_size=7"], None),
        Case(s, "checkpoint: missing", break_file("init_checkpoint",
                                                  MISSING, ".index"),
             ["{file}", "checkpoint"], None),
        Case(s, "checkpoint: truncated data file", break_file(
            "init_checkpoint", cut_at(0.5), ".data-00000-of-00001"),
             ["{file}", "truncated"], None),
        Case(s, "--max_seq_length above max_position_embeddings",
             set_flags(max_seq_length=POSITIONS + 1),
             ["--max_seq_length=%d" % (POSITIONS + 1),
              "max_position_embeddings=%d" % POSITIONS], None),
        Case(s, "--max_seq_length below 3", set_flags(max_seq_length=2),
             ["--max_seq_length=2", "at least"], None),
        Case(s, "output folder unwritable", unwritable_output,
             ["{out}", "ermission denied"], None),
        Case(s, "output folder under a regular file", output_under_a_file,
             ["{file}", "ot a directory"], None),
        Case(s, "full disk (file size limit)", full_disk(),
             ["{out}", "File too large"], "fsize"),
    ]
  for s in VOCAB_SCRIPTS[:-1]:
    c.append(Case(s, "vocab: size != the checkpoint's rows", break_file(
        "vocab_file", append(EXTRA_VOCAB)),
                  ["{file}", "bert/embeddings/word_embeddings"], None))
  for s in TASK_SCRIPTS:
    c += [
        Case(s, "--train_batch_size=0", set_flags(train_batch_size=0),
             ["--train_batch_size=0", "at least 1"], None),
        Case(s, "--eval_batch_size=-1", set_flags(eval_batch_size=-1),
             ["--eval_batch_size=-1", "at least 1"], None),
        Case(s, "--predict_batch_size=0", set_flags(predict_batch_size=0),
             ["--predict_batch_size=0", "at least 1"], None),
        Case(s, "--num_train_epochs=0", set_flags(num_train_epochs=0),
             ["--num_train_epochs=0", "greater than 0"], None),
        Case(s, "--num_train_epochs=-1", set_flags(num_train_epochs=-1),
             ["--num_train_epochs=-1", "greater than 0"], None),
        Case(s, "full disk (failing writer, ENOSPC)", failing_writer(),
             ["{out}", "No space left on device"], "enospc"),
    ]
  c += [
      Case("run_pretraining.py", "--train_batch_size=0",
           set_flags(train_batch_size=0), ["--train_batch_size=0",
                                           "at least 1"], None),
      Case("run_pretraining.py", "--eval_batch_size=0",
           set_flags(eval_batch_size=0), ["--eval_batch_size=0",
                                          "at least 1"], None),
      Case("run_pretraining.py", "--num_train_steps=0",
           set_flags(num_train_steps=0), ["--num_train_steps", ">= 1"],
           None),
      Case("extract_features.py", "--batch_size=0", set_flags(batch_size=0),
           ["--batch_size=0", "at least 1"], None),
      Case("extract_features.py", "output file is a folder",
           output_is_a_folder, ["{file}", "folder"], None),
      Case("run_ner.py", "full disk while training (file size limit)",
           full_disk(LATE_FSIZE), ["{out}", "File too large"], "fsize"),
      Case("extract_features.py", "full disk (failing writer, ENOSPC)",
           failing_writer(), ["features.jsonl", "No space left on device"],
           "enospc"),
  ]
  return c


def ner_cases():
  s = "run_ner.py"
  train = "data_dir:train.txt"
  return [
      Case(s, "train: wrong column count", break_file(
          train, replace(b"lives O\n", b"lives O extra\n")),
           ["{file}:3", "column"], None),
      Case(s, "train: truncated last line", break_file(
          train, lambda d: d.rstrip(b"\n").rsplit(b" ", 1)[0] + b"\n"),
           ["{file}:", "tag"], None),
      Case(s, "dev: unknown label", break_file(
          "data_dir:dev.txt", replace(b"paris B-LOC", b"paris B-CITY")),
           ["{dir}/data_dir/dev.txt:5", "B-CITY"], None),
      Case(s, "train: empty file", break_file(train, b""),
           ["{file}", "no sentences"], None),
      Case(s, "train: not UTF-8", break_file(
          train, replace(b"acme B-ORG", b"\xe9cme B-ORG")),
           ["{file}:11", "UTF-8"], None),
  ] + unusable_file(s, "train", train) + [
      Case(s, "train: I- tag after O (IOB2)", break_file(
          train, replace(b"hired O\nmary B-PER", b"hired O\nmary I-PER")),
           ["{file}:", "I-PER"], None),
      Case(s, "--doc_stride >= max_seq_length",
           set_flags(doc_stride=MAX_SEQ), ["--doc_stride=%d" % MAX_SEQ,
                                           "--max_seq_length=%d" % MAX_SEQ],
           None),
      Case(s, "--labels_file: empty", both(
          set_flags(labels_file=os.path.join("{dir}", "labels.txt")),
          lambda st: write(os.path.join(st.dir, "labels.txt"), "")),
           ["labels.txt", "no labels"], None),
  ]


def classifier_cases():
  s = "run_classifier.py"
  train = "data_dir:train.tsv"
  return [
      Case(s, "train: row without the label column", break_file(
          train, replace(b"the plot was dull\tneg", b"the plot was dull")),
           ["{file}:3", "column"], None),
      Case(s, "train: truncated last line", break_file(
          train, lambda d: d.rstrip(b"\n").rsplit(b"\t", 1)[0] + b"\n"),
           ["{file}:5", "column"], None),
      Case(s, "dev: unknown label", break_file(
          "data_dir:dev.tsv", replace(b"\tneg", b"\tmeh")),
           ["{dir}/data_dir/dev.tsv:3", "meh"], None),
      Case(s, "train: no label column in the header", break_file(
          train, replace(b"text\tlabel", b"text\tlbl")),
           ["{file}:1", "label"], None),
      Case(s, "train: empty file", break_file(train, b""),
           ["{file}", "empty"], None),
      Case(s, "train: not UTF-8", break_file(
          train, replace(b"a good story", b"a g\xf6od story")),
           ["{file}:4", "UTF-8"], None),
  ] + unusable_file(s, "train", train)


def squad_cases():
  s = "run_squad.py"
  return [
      Case(s, "train: truncated JSON", break_file("train_file", cut_at(0.6)),
           ["{file}", "malformed JSON at line"], None),
      Case(s, "train: question without its text", break_file(
          "train_file", json_edit(lambda d: d["data"][0]["paragraphs"][0][
              "qas"][1].pop("question"))),
           ["{file}", "qas[1]", '"question"'], None),
      Case(s, "train: answer_start outside the context", break_file(
          "train_file", json_edit(lambda d: d["data"][0]["paragraphs"][0][
              "qas"][0]["answers"][0].update(answer_start=500))),
           ["{file}", "qas[0]", "answer_start 500"], None),
      Case(s, "predict: empty file", break_file("predict_file", b""),
           ["{file}", "empty"], None),
      Case(s, "train: not UTF-8", break_file(
          "train_file", replace(b"acme ?", b"acm\xe9 ?")),
           ["{file}", "UTF-8"], None),
      Case(s, "train: a folder", break_file("train_file", DIR),
           ["{file}", "directory"], None),
      Case(s, "predict: unreadable", break_file("predict_file", UNREADABLE),
           ["{file}", "ermission denied"], None),
      Case(s, "--doc_stride >= max_seq_length",
           set_flags(doc_stride=MAX_SEQ), ["--doc_stride=%d" % MAX_SEQ,
                                           "--max_seq_length=%d" % MAX_SEQ],
           None),
      Case(s, "--max_query_length leaves no room",
           set_flags(max_query_length=MAX_SEQ),
           ["--max_seq_length=%d" % MAX_SEQ, "--max_query_length"], None),
  ]


def pretraining_data_cases():
  s = "create_pretraining_data.py"
  return [
      Case(s, "input: empty file", break_file("input_file", b""),
           ["{file}", "no text"], None),
      Case(s, "input: not UTF-8", break_file(
          "input_file", replace(b"google hired", b"g\xf6ogle hired")),
           ["{file}:5", "UTF-8"], None),
      Case(s, "input: truncated inside a character", break_file(
          "input_file", append("caf\u00e9".encode("utf-8")[:-1])),
           ["{file}:12", "UTF-8"], None),
  ] + unusable_file(s, "input", "input_file", "folder") + [
      Case(s, "--max_seq_length below 3", set_flags(max_seq_length=2),
           ["--max_seq_length", "at least"], None),
      Case(s, "--max_predictions_per_seq=0",
           set_flags(max_predictions_per_seq=0),
           ["--max_predictions_per_seq", ">= 1"], None),
      Case(s, "--dupe_factor=0", set_flags(dupe_factor=0),
           ["--dupe_factor", ">= 1"], None),
      Case(s, "--masked_lm_prob=0", set_flags(masked_lm_prob=0),
           ["--masked_lm_prob", "(0, 1)"], None),
      Case(s, "output folder unwritable", unwritable_output,
           ["{out}", "ermission denied"], None),
      Case(s, "output file under a regular file", output_under_a_file,
           ["{file}", "ot a directory"], None),
      Case(s, "output file is a folder", output_is_a_folder,
           ["{file}", "folder"], None),
      Case(s, "full disk (file size limit)", full_disk(),
           ["pretrain.tfrecord", "File too large"], "fsize"),
  ]


def pretraining_cases():
  s = "run_pretraining.py"
  return [
      Case(s, "input: empty file", break_file("input_file", b""),
           ["{file}", "no records"], None),
      Case(s, "input: truncated record", break_file(
          "input_file", lambda d: d[:len(d) * 7 // 10 - 5]),
           ["{file}", "truncated", "record"], None),
      Case(s, "input: text, not records", break_file(
          "input_file", b"john smith lives in paris .\n" * 20),
           ["{file}", "TFRecord"], None),
  ] + unusable_file(s, "input", "input_file", "folder") + [
      Case(s, "input: other max_seq_length", set_flags(max_seq_length=16),
           ["input_ids has length %d" % MAX_SEQ, "--max_seq_length=16"],
           None),
      Case(s, "input: other max_predictions_per_seq",
           set_flags(max_predictions_per_seq=3),
           ["masked_lm_positions", "--max_predictions_per_seq=3"], None),
  ]


def extract_cases():
  s = "extract_features.py"
  return [
      Case(s, "input: empty file", break_file("input_file", b""),
           ["{file}", "no text"], None),
      Case(s, "input: not UTF-8", break_file(
          "input_file", replace(b"||| in paris", b"||| in p\xe4ris")),
           ["{file}:2", "UTF-8"], None),
  ] + unusable_file(s, "input", "input_file") + [
      Case(s, "--layers out of range", set_flags(layers="-1,5"),
           ["--layers", "5", "2-layer"], None),
  ]


def hf_to_tf(stage):
  stage.flags["direction"] = "hf_to_tf"
  stage.flags["input_dir"] = stage.world.hf
  stage.flags["output_dir"] = os.path.join(stage.out, "tf")


IN_DIR = os.path.join("{dir}", "input_dir")


def convert_cases():
  s = "convert_checkpoint.py"
  ckpt_data = "input_dir:bert_model.ckpt.data-00000-of-00001"
  return [
      Case(s, "tf_to_hf: config truncated", break_file(
          "input_dir:bert_config.json", cut_at(0.5)),
           [IN_DIR, "bert_config.json", "line 1 column"], None),
      Case(s, "tf_to_hf: config not UTF-8", break_file(
          "input_dir:bert_config.json", lambda d: NOT_UTF8 + d),
           [IN_DIR, "bert_config.json", "not UTF-8"], None),
      Case(s, "tf_to_hf: config empty", break_file(
          "input_dir:bert_config.json", b""),
           [IN_DIR, "bert_config.json"], None),
      Case(s, "tf_to_hf: config a folder", break_file(
          "input_dir:bert_config.json", DIR), ["{file}", "directory"], None),
      Case(s, "tf_to_hf: config unreadable", break_file(
          "input_dir:bert_config.json", UNREADABLE),
           ["{file}", "ermission denied"], None),
      Case(s, "tf_to_hf: hidden_size != the checkpoint's", break_file(
          "input_dir:bert_config.json", config_with(hidden_size=48)),
           ["bert/embeddings/word_embeddings", "48"], None),
      Case(s, "tf_to_hf: vocab size != the checkpoint's rows", break_file(
          "input_dir:vocab.txt", append(EXTRA_VOCAB)),
           ["{file}", "bert/embeddings/word_embeddings"], None),
      Case(s, "tf_to_hf: vocab missing", break_file(
          "input_dir:vocab.txt", MISSING), ["vocab.txt"], None),
      Case(s, "tf_to_hf: checkpoint data truncated", break_file(
          ckpt_data, cut_at(0.5)), ["bert_model.ckpt", "truncated"], None),
      Case(s, "hf_to_tf: config truncated", both(hf_to_tf, break_file(
          "input_dir:config.json", cut_at(0.5))),
           [IN_DIR, "config.json", "line"], None),
      Case(s, "hf_to_tf: weights truncated", both(hf_to_tf, break_file(
          "input_dir:model.safetensors", cut_at(0.5))),
           ["{file}", "truncated"], None),
      Case(s, "hf_to_tf: weights a folder", both(hf_to_tf, break_file(
          "input_dir:model.safetensors", DIR)), ["{file}", "directory"],
           None),
      Case(s, "hf_to_tf: vocab not UTF-8", both(hf_to_tf, break_file(
          "input_dir:vocab.txt", append(NOT_UTF8))), ["{file}", "UTF-8"],
           None),
      Case(s, "output folder unwritable", unwritable_output,
           ["{out}", "ermission denied"], None),
      Case(s, "output folder under a regular file", output_under_a_file,
           ["{file}", "ot a directory"], None),
      Case(s, "full disk (file size limit)", full_disk(),
           ["{out}", "File too large"], "fsize"),
      Case(s, "hf_to_tf: full disk (file size limit)", both(
          hf_to_tf, full_disk()), ["{out}", "File too large"], "fsize"),
  ]


def all_cases():
  cases = (shared_cases() + ner_cases() + classifier_cases() + squad_cases()
           + pretraining_data_cases() + pretraining_cases() + extract_cases()
           + convert_cases())
  order = ("run_ner.py", "run_classifier.py", "run_squad.py",
           "create_pretraining_data.py", "run_pretraining.py",
           "extract_features.py", "convert_checkpoint.py")
  cases.sort(key=lambda c: order.index(c.script))
  ids = [case_id(c) for c in cases]
  assert len(ids) == len(set(ids)), "two cases share a name"
  return cases


def case_id(case):
  return "%s|%s" % (case.script[:-3], case.name)


CASES = all_cases()


# ----------------------------------------------------------------------------
# Running the table


def snapshot(folder):
  """Relative paths of the files under folder."""
  found = set()
  for base, _, files in os.walk(folder):
    for name in files:
      found.add(os.path.relpath(os.path.join(base, name), folder))
  return found


# What a rerun reads back and trusts, and so must not find after a failed
# run: outputs and results, checkpoints (the `checkpoint` state file names
# them; none is saved before these failures) and the toolkit's own temp
# files (its writers remove them on failure). run.json, label_map.json and
# the copied model files are written only once every input passed its
# checks, and a rerun checks them against its own flags; a cached record is
# reused only with its .json beside it (record_count checks it is whole).
OUTPUTS = ("checkpoint", "eval_results*", "*_results*", "*predictions*",
           "*entities*", "null_odds.json", "saved_model.pb",
           "conversion_info.json", "model.safetensors", "config.json",
           "bert_model.ckpt*", "pretrain.tfrecord*", "features.jsonl")


def record_count(path):
  """Whole records in a TFRecord file, or -1 if its last one is cut short."""
  import struct  # pylint: disable=g-import-not-at-top
  size, count, offset = os.path.getsize(path), 0, 0
  with open(path, "rb") as f:
    while offset < size:
      header = f.read(12)
      if len(header) < 12:
        return -1
      offset += 16 + struct.unpack("<Q", header[:8])[0]
      f.seek(offset)
      count += 1
  return count if offset == size else -1


def trusted_files(folder, files):
  """The files a rerun in `folder` would wrongly trust, with the reason."""
  out = []
  for path in sorted(files):
    name = os.path.basename(path)
    if name.startswith(".tmp") or any(p.startswith(".tmp") or ".tmp-" in p
                                      for p in path.split(os.sep)[:-1]):
      out.append((path, "temp file of the toolkit"))
    elif any(fnmatch.fnmatch(name, pattern) for pattern in OUTPUTS):
      out.append((path, "output"))
    elif name.endswith(".tf_record.json"):
      record = os.path.join(folder, path[:-len(".json")])
      with open(os.path.join(folder, path)) as f:
        claimed = json.load(f)["num_records"]
      if not os.path.exists(record) or record_count(record) != claimed:
        out.append((path, "cached record that is not whole"))
  return out


def make_job(world, case, folder, extra_args=()):
  """Stages `case` in world.root/cases/`folder`; returns (stage, job)."""
  case_dir = os.path.join(world.root, "cases", folder)
  stage = Stage(world, case.script, case_dir)
  case.mutate(stage)
  log = os.path.join(case_dir, "log")
  job = script_job(case.script, as_args(stage.flags) + list(extra_args), log,
                   timeout=240, **stage.extra)
  return stage, job


def restore_modes(folder):
  """Gives the tests back what the cases made unreadable or unwritable."""
  for base, dirs, files in os.walk(folder):
    for name in dirs + files:
      path = os.path.join(base, name)
      if not os.path.islink(path):
        os.chmod(path, os.stat(path).st_mode | stat.S_IRUSR | stat.S_IWUSR |
                 (stat.S_IXUSR if os.path.isdir(path) else 0))


Outcome = collections.namedtuple("Outcome", ["case", "stage", "job",
                                             "result", "before", "after"])


@pytest.fixture(scope="module")
def table(server, world):
  """Runs every case (forked); returns {case id: Outcome}."""
  staged = [make_job(world, case, "%03d" % i) for i, case in enumerate(CASES)]
  before = [snapshot(stage.out) for stage, _ in staged]
  results = run_jobs(server, [job for _, job in staged])
  outcomes = collections.OrderedDict()
  for case, (stage, job), old, result in zip(CASES, staged, before, results):
    restore_modes(stage.dir)
    outcomes[case_id(case)] = Outcome(case, stage, job, result, old,
                                      snapshot(stage.out))
  with open(os.path.join(world.root, "results.json"), "w") as f:
    json.dump([dict(case=case_id(o.case), seconds=o.result["seconds"],
                    returncode=o.result["returncode"],
                    line=error_line(o.result)) for o in outcomes.values()],
              f, indent=1)
  return outcomes


def error_line(result):
  lines = result["stderr"].strip().splitlines()
  return lines[-1] if lines else ""


def check_outcome(outcome):
  """The assertions every case must pass; returns its error line."""
  case, stage, result = outcome.case, outcome.stage, outcome.result
  where = "%s: exit %s\n%s" % (case_id(case), result["returncode"],
                               result["stderr"][-3000:])
  assert not result["timed_out"], where
  assert result["returncode"] == 2, where
  assert "Traceback" not in result["stderr"] + result["stdout"], where
  line = error_line(result)
  assert line.startswith("error: "), where
  assert [l for l in result["stderr"].splitlines()
          if l.startswith("error:")] == [line], where
  for needle in case.needles:
    assert stage.needle(needle) in line, (stage.needle(needle), where)
  new = sorted(outcome.after - outcome.before)
  if case.fault:
    assert not trusted_files(stage.out, new), (new, where)
  else:
    assert not new, (new, where)
  return line


@pytest.mark.parametrize("cid", [case_id(c) for c in CASES])
def test_case(table, cid):
  check_outcome(table[cid])


# ----------------------------------------------------------------------------
# The table, printed


def test_print_table(table, tmp_path):
  """Prints script | case | message for every case (pytest -s shows it) and
  writes it to bad_input_table.txt under the test's tmp folder."""
  rows = []
  for cid, outcome in table.items():
    line = error_line(outcome.result)
    message = line.replace(outcome.stage.dir, "<case>")
    rows.append((outcome.case.script, outcome.case.name,
                 "exit %d  %s" % (outcome.result["returncode"], message)))
  widths = [max(len(r[i]) for r in rows) for i in range(2)]
  text = "\n".join("%s | %s | %s" % (r[0].ljust(widths[0]),
                                     r[1].ljust(widths[1]), r[2])
                   for r in rows)
  print("\nBad-input table (%d cases; <case> is the case's folder):\n%s"
        % (len(rows), text))
  path = tmp_path / "bad_input_table.txt"
  path.write_text(text + "\n", encoding="utf-8")
  assert len(text.splitlines()) == len(CASES) == len(table)
  assert len({r[0] for r in rows}) == 7


# ----------------------------------------------------------------------------
# After a full disk: the rerun with room to write succeeds


RERUNS = collections.OrderedDict([
    ("run_ner|full disk while training (file size limit)",
     ["checkpoint", "eval_results.txt"]),
    ("run_classifier|full disk (file size limit)",
     ["checkpoint", "eval_results.txt"]),
    ("create_pretraining_data|full disk (file size limit)",
     ["pretrain.tfrecord"]),
    ("extract_features|full disk (failing writer, ENOSPC)",
     ["features.jsonl"]),
    ("convert_checkpoint|hf_to_tf: full disk (file size limit)",
     ["tf/bert_model.ckpt.index", "tf/conversion_info.json"]),
])
DEBUG_CASE = "run_ner|dev: unknown label"


@pytest.fixture(scope="module")
def reruns(server, world, table):
  """Each RERUNS case run again as it was, without the fault, in the same
  folder; and DEBUG_CASE staged anew with --verbosity=debug. Returns
  {case id: result} and the debug (stage, result)."""
  jobs = []
  for cid in RERUNS:
    outcome = table[cid]
    job = dict(outcome.job, stdout=outcome.job["stdout"] + ".rerun",
               stderr=outcome.job["stderr"] + ".rerun")
    for fault in ("fsize", "enospc", "drop_dac"):
      job.pop(fault, None)
    jobs.append(job)
  stage, job = make_job(world, table[DEBUG_CASE].case, "debug",
                        ["--verbosity=debug"])
  results = run_jobs(server, jobs + [job])
  return dict(zip(RERUNS, results)), (stage, results[-1])


@pytest.mark.parametrize("cid", list(RERUNS))
def test_rerun_after_full_disk_succeeds(table, reruns, cid):
  result = reruns[0][cid]
  assert result["returncode"] == 0, result["stderr"][-3000:]
  out = table[cid].stage.out
  for name in RERUNS[cid]:
    assert os.path.exists(os.path.join(out, name)), (name, snapshot(out))
  if cid.startswith("create_pretraining_data"):
    assert record_count(os.path.join(out, "pretrain.tfrecord")) > 0
  if cid.startswith("extract_features"):
    lines = helpers.read_text(os.path.join(out, "features.jsonl"))
    assert len(lines.splitlines()) == len(EXTRACT_LINES)


def test_debug_verbosity_shows_the_traceback(table, reruns):
  stage, result = reruns[1]
  assert result["returncode"] == 2, result["stderr"][-3000:]
  assert "Traceback (most recent call last)" in result["stderr"]
  assert "NerDataError" in result["stderr"]
  # The same one line closes the log, as without the flag.
  expected = error_line(table[DEBUG_CASE].result).replace(
      table[DEBUG_CASE].stage.dir, "<case>")
  assert error_line(result).replace(stage.dir, "<case>") == expected


# ----------------------------------------------------------------------------
# The forked runs match fresh interpreters


FRESH = ["run_ner|dev: unknown label",
         "run_pretraining|input: truncated record",
         "extract_features|--max_seq_length below 3",
         "convert_checkpoint|tf_to_hf: vocab size != the checkpoint's rows"]


@pytest.fixture(scope="module")
def fresh(world, table):
  """FRESH cases staged anew and run with helpers.run_script (a new
  interpreter each, two at a time)."""
  staged = [make_job(world, table[cid].case, "fresh%d" % i)
            for i, cid in enumerate(FRESH)]
  before = [snapshot(stage.out) for stage, _ in staged]

  def run(item):
    stage, job = item
    return helpers.run_script(job["args"], os.path.join(
        helpers.REPO_ROOT, job["script"]), timeout=240)

  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    procs = list(pool.map(run, staged))
  return {cid: (stage, proc, old, snapshot(stage.out))
          for cid, (stage, _), proc, old in zip(FRESH, staged, procs, before)}


@pytest.mark.parametrize("cid", FRESH)
def test_forked_run_matches_a_fresh_interpreter(table, fresh, cid):
  stage, proc, before, after = fresh[cid]
  forked = table[cid]
  line = helpers.assert_one_line_error(proc, returncode=2)
  assert proc.returncode == forked.result["returncode"]
  assert line.replace(stage.dir, "<case>") == error_line(
      forked.result).replace(forked.stage.dir, "<case>")
  assert sorted(after - before) == sorted(forked.after - forked.before) == []


# ----------------------------------------------------------------------------
# BOMs, CRLF line ends and trailing blank lines are no errors


def dirty(text):
  """The same text with a byte order mark, CRLF line ends and trailing
  blank lines."""
  return ("\ufeff" + text.replace("\n", "\r\n") + "\r\n\r\n\n").encode(
      "utf-8")


def clean_and_dirty(tmp_path, name, text):
  clean = write(str(tmp_path / "clean" / name), text)
  messy = write(str(tmp_path / "dirty" / name), dirty(text), mode="wb")
  with open(messy, "rb") as f:
    data = f.read()
  assert data.startswith(b"\xef\xbb\xbf") and b"\r\n\r\n" in data
  return clean, messy


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  path = write(str(tmp_path_factory.mktemp("bom_vocab") / "vocab.txt"),
               "\n".join(vocab_tokens()) + "\n")
  return tokenization.FullTokenizer(path, do_lower_case=True)


def as_lists(features, names):
  return [[list(getattr(f, n)) if isinstance(getattr(f, n), (list, tuple))
           else getattr(f, n) for n in names] for f in features]


def test_conll_with_bom_crlf_and_blank_lines(tmp_path, tokenizer):
  clean, messy = clean_and_dirty(tmp_path, "train.txt",
                                 conll(NER_SENTENCES))
  read = [ner_data.read_conll(p) for p in (clean, messy)]
  assert [(e.words, e.labels) for e in read[0]] == [
      ([w for w, _ in s], [t for _, t in s]) for s in NER_SENTENCES]
  assert [(e.words, e.labels) for e in read[1]] == [
      (e.words, e.labels) for e in read[0]]
  labels = ner_data.LabelMap(ner_data.collect_labels(read[0]))
  features = [ner_data.convert_examples(r, tokenizer, labels, MAX_SEQ)[0]
              for r in read]
  names = ner_data.FEATURE_NAMES
  assert as_lists(features[1], names) == as_lists(features[0], names)


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_table_with_bom_crlf_and_blank_lines(tmp_path, tokenizer, fmt):
  sep = "\t" if fmt == "tsv" else ","
  text = "text%slabel\n" % sep + "".join(
      "%s%s%s\n" % (t, sep, l) for t, l in CLASSIFIER_ROWS)
  clean, messy = clean_and_dirty(tmp_path, "train." + fmt, text)
  layout = cd.TableLayout(fmt, True, None, text_a="text", label="label")
  read = [cd.read_examples(p, layout, "train", cd.CLASSIFICATION)
          for p in (clean, messy)]
  assert [(e.text_a, e.label) for e in read[0]] == CLASSIFIER_ROWS
  assert [(e.text_a, e.label) for e in read[1]] == CLASSIFIER_ROWS
  labels = ["neg", "pos"]
  features = [[cd.convert_single_example(e, tokenizer, MAX_SEQ,
                                         cd.CLASSIFICATION, labels)[0]
               for e in r] for r in read]
  names = ("input_ids", "input_mask", "segment_ids", "label_ids")
  assert as_lists(features[1], names) == as_lists(features[0], names)


def test_squad_json_with_bom_crlf_and_blank_lines(tmp_path, tokenizer):
  clean, messy = clean_and_dirty(tmp_path, "train.json",
                                 squad_json(QUESTIONS))
  examples, other = [squad_data.read_squad_examples(p, is_training=True)[0]
                     for p in (clean, messy)]
  assert [e.orig_answer_text for e in examples] == [a for _, _, a in
                                                    QUESTIONS]
  assert other == examples
  features = [squad_data.convert_examples_to_features(
      e, tokenizer, MAX_SEQ, 8, 8, True)[0] for e in (examples, other)]
  names = ("input_ids", "input_mask", "segment_ids", "start_position",
           "end_position")
  assert as_lists(features[1], names) == as_lists(features[0], names)


def test_pretraining_text_with_bom_crlf_and_blank_lines(tmp_path, tokenizer):
  text = "\n\n".join("\n".join(doc) for doc in CORPUS) + "\n"
  clean, messy = clean_and_dirty(tmp_path, "corpus.txt", text)
  read = [cpd.read_documents(p, tokenizer, False, MAX_SEQ - 3)[0]
          for p in (clean, messy)]
  assert len(read[0]) == len(CORPUS)
  assert read[1] == read[0]
