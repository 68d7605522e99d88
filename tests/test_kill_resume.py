# coding=utf-8
"""A training run killed with SIGKILL at any point resumes exactly.

One run_ner.py command (tiny BERT, dropout on, 32 steps, a checkpoint every 4,
--export_dir) is killed four times in a row, each rerun of the same command
picking up what the last one left:

  1. while writing its cached training TFRecord (fault injection);
  2. inside the save of checkpoint 12: data and index written, the
     `checkpoint` file not yet naming them (fault injection);
  3. from outside, between checkpoints: the test polls the folder and kills
     the process as soon as checkpoint 16 is recorded;
  4. during export: the SavedModel complete in its staging folder, not yet
     renamed into export_dir (fault injection).

The fifth run finishes. Each rerun must say it resumes from the last complete
checkpoint, reuse nothing half-written (and tidy it away), and the end state
must equal an uninterrupted run of the same command: every checkpoint tensor
and every SavedModel variable bit-equal, the same predictions, the same files.
The injection points (task_plumbing.KILL_AT_ENV) do nothing unless the
environment variable names them.
"""
import glob
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

import helpers
import ner_data
import test_run_ner

KILL_AT = "BERT_TOOLKIT_KILL_AT"
STEPS = 32  # 32 sentences, batch 4, 4 epochs


def command(model, data, out):
  return [sys.executable, "run_ner.py", "--do_train", "--data_dir=" + data,
          "--output_dir=" + out, "--export_dir=" + os.path.join(out, "export"),
          "--max_seq_length=32", "--train_batch_size=4",
          "--num_train_epochs=4", "--save_checkpoints_steps=4",
          "--log_every_n_steps=100"] + helpers.model_flags(model)


def start(args, log, kill_at=None):
  """Starts the command, its log (stderr) going to the file `log`; with
  kill_at, the fault injection point named."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop(KILL_AT, None)
  if kill_at:
    env[KILL_AT] = kill_at
  with open(log, "w") as f:
    proc = subprocess.Popen(args, cwd=helpers.REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=f)
  proc.log = log
  return proc


def finish(proc, what):
  """Waits for proc, which must succeed; returns its log."""
  proc.wait(timeout=600)
  log = helpers.read_text(proc.log)
  assert proc.returncode == 0, "%s: exit %d\n%s" % (what, proc.returncode,
                                                     log[-4000:])
  return log


def killed(proc, what):
  """Waits for proc, which must have died of SIGKILL; returns its log."""
  proc.wait(timeout=600)
  log = helpers.read_text(proc.log)
  assert proc.returncode == -signal.SIGKILL, "%s: exit %d, not killed\n%s" % (
      what, proc.returncode, log[-4000:])
  return log


def recorded_step(out):
  """The step the `checkpoint` file names (None if there is none)."""
  latest = tf.train.latest_checkpoint(out)
  return int(latest.rsplit("-", 1)[1]) if latest else None


def kill_once_recorded(proc, out, step):
  """Polls out/checkpoint and SIGKILLs proc as soon as it names >= step."""
  path = os.path.join(out, "checkpoint")
  while proc.poll() is None:
    try:
      with open(path) as f:
        match = re.match(r'model_checkpoint_path: "model\.ckpt-(\d+)"',
                         f.read())
    except FileNotFoundError:
      match = None
    if match and int(match.group(1)) >= step:
      proc.send_signal(signal.SIGKILL)
      break
    time.sleep(0.005)


def temp_names(folder):
  return sorted(n for n in os.listdir(folder) if ".tmp-" in n)


def checkpoint_tensors(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


def assert_bit_equal(a, b, what):
  assert sorted(a) == sorted(b), what
  differ = [n for n in sorted(a) if a[n].dtype != b[n].dtype or
            a[n].shape != b[n].shape or a[n].tobytes() != b[n].tobytes()]
  assert not differ, "%s: %d tensors differ, e.g. %s" % (what, len(differ),
                                                         differ[:5])


def files_of(out):
  """Relative paths under out, the SavedModel's timestamped folder named
  SAVED_MODEL. Left out: event files (one per process) and checkpoints'
  .meta graphs, which a Saver writes after naming the checkpoint in
  `checkpoint`: a kill there leaves a complete checkpoint without one
  (nothing restores from it) and a temp file, which the rerun removes."""
  paths = []
  for root, _, names in os.walk(out):
    for name in names:
      path = os.path.relpath(os.path.join(root, name), out)
      if "events.out.tfevents" in name or name.endswith(".meta"):
        continue
      paths.append(re.sub(r"^export/\d+/", "export/SAVED_MODEL/", path))
  return sorted(paths)


def predictions(saved_model, vocab_size):
  """The SavedModel's serving_default outputs on fixed random ids."""
  rng = np.random.RandomState(0)
  ids = rng.randint(5, vocab_size, size=(6, 32)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[:, 20:] = 0
  ids[:, 0], ids[:, 20:] = 2, 0
  fn = tf.saved_model.load(saved_model).signatures["serving_default"]
  outputs = fn(input_ids=tf.constant(ids), input_mask=tf.constant(mask),
               segment_ids=tf.zeros_like(ids))
  return {k: v.numpy() for k, v in outputs.items()}


def test_killed_four_times_ends_as_an_uninterrupted_run(tmp_path):
  data = str(tmp_path / "data")
  os.makedirs(data)
  ner_data.write_sample_ner_data(data, num_train=32, num_dev=4, num_test=4)
  model = helpers.write_tiny_bert(str(tmp_path),
                                  test_run_ner.vocab_tokens(data))
  ref_out, out = str(tmp_path / "reference"), str(tmp_path / "killed")
  args = command(model, data, out)
  logs = tmp_path / "logs"
  os.makedirs(logs)
  reference = start(command(model, data, ref_out), str(logs / "reference"))

  # 1. Killed while writing the training TFRecord: one record is on disk
  # under a temp name, nothing under the record's own name.
  killed(start(args, str(logs / "1"), "tfrecord_write"), "run 1")
  partial = temp_names(out)
  assert len(partial) == 1 and os.path.getsize(
      os.path.join(out, partial[0])) > 0, os.listdir(out)
  assert not glob.glob(os.path.join(out, "*.tf_record*"))
  assert recorded_step(out) is None

  # 2. Killed inside the save of checkpoint 12. The rerun rebuilt the
  # record (the partial one neither reused nor kept) and trained afresh.
  log = killed(start(args, str(logs / "2"), "checkpoint_write:12"), "run 2")
  assert re.search(r"Removed %s, left in \S+ by a killed run" %
                   re.escape(partial[0]), log), log[-3000:]
  assert re.search(r"Wrote \d+ records to \S+train-\w+\.tf_record", log)
  assert "Resuming" not in log and temp_names(out) == []
  assert recorded_step(out) == 8
  assert os.path.exists(os.path.join(out, "model.ckpt-12.index"))

  # 3. Resumes from 8, not from the unrecorded 12 (whose files it removes);
  # killed from outside once checkpoint 16 is recorded.
  proc = start(args, str(logs / "3"))
  kill_once_recorded(proc, out, 16)
  log = killed(proc, "run 3")
  assert "Removed model.ckpt-12.data-00000-of-00001, model.ckpt-12.index " \
         "of an unfinished checkpoint save" in log, log[-3000:]
  assert re.search(r"Resuming training from \S+/model\.ckpt-8 \(global step "
                   r"8 of %d\)" % STEPS, log), log[-3000:]
  assert "Input: skipping the 32 training records of the 8 steps" in log
  assert re.search(r"Reusing \S+train-\w+\.tf_record", log)
  step = recorded_step(out)
  assert 16 <= step < STEPS, step

  # 4. Trains the rest and is killed during export: the SavedModel exists
  # only in a staging folder, export_dir has none a server would load.
  log = killed(start(args, str(logs / "4"), "export"), "run 4")
  assert re.search(r"Resuming training from \S+/model\.ckpt-%d \(global "
                   r"step %d of %d\)" % (step, step, STEPS), log), log[-3000:]
  assert recorded_step(out) == STEPS
  export = os.path.join(out, "export")
  staged = temp_names(export)
  assert len(staged) == 1 and glob.glob(
      os.path.join(export, staged[0], "*", "saved_model.pb")), staged
  assert sorted(os.listdir(export)) == staged

  # 5. Nothing left to train; the export is redone and the staging removed.
  log = finish(start(args, str(logs / "5")), "run 5")
  assert "is at global step %d of %d: nothing left to train" % (
      STEPS, STEPS) in log, log[-3000:]
  assert re.search(r"Removed %s, left in \S+ by a killed run" %
                   re.escape(staged[0]), log), log[-3000:]

  ref_log = finish(reference, "reference run")
  assert "Resuming" not in ref_log
  assert recorded_step(ref_out) == STEPS
  assert_bit_equal(checkpoint_tensors(tf.train.latest_checkpoint(out)),
                   checkpoint_tensors(tf.train.latest_checkpoint(ref_out)),
                   "final checkpoint")
  saved, ref_saved = (helpers.saved_model_path(os.path.join(o, "export"))
                      for o in (out, ref_out))
  assert_bit_equal(
      checkpoint_tensors(os.path.join(saved, "variables", "variables")),
      checkpoint_tensors(os.path.join(ref_saved, "variables", "variables")),
      "SavedModel variables")
  got, want = (predictions(p, model["vocab_size"]) for p in (saved, ref_saved))
  assert sorted(got) == sorted(want) and "tag_ids" in got
  for key in want:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert files_of(out) == files_of(ref_out)


def test_cleanup_removes_only_what_dead_writers_left(tmp_path):
  """The tidying a rerun does, on names a kill can leave: temp names of dead
  processes on this machine go, a live writer's, another machine's and
  anything else stay; checkpoint files newer than the last complete one and
  TensorFlow's temp files go, complete checkpoints stay."""
  import atomic_files  # pylint: disable=g-import-not-at-top
  import task_plumbing  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path / "run")
  live = os.path.basename(atomic_files.make_temp_file(folder))
  dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
  dead_proc.wait()
  tag = "%d@%s-" % (dead_proc.pid, live.split("@", 1)[1].split("-", 1)[0])
  names = {"dead_file": ".tmp-" + tag + "abc", "dead_dir": ".tmp-export-" +
           tag + "def", "other_host": ".tmp-%d@elsewhere-x" % dead_proc.pid,
           "old_style": ".tmp-k2j4h5"}
  for key, name in names.items():
    path = os.path.join(folder, name)
    if key == "dead_dir":
      os.makedirs(os.path.join(path, "1234"))
    else:
      helpers.write_lines(path, ["partial"])
  removed = atomic_files.remove_stale_temp(folder)
  assert removed == sorted([names["dead_dir"], names["dead_file"]])
  assert sorted(os.listdir(folder)) == sorted(
      [live, names["other_host"], names["old_style"]])

  run = str(tmp_path / "ckpt")
  os.makedirs(os.path.join(run, "model.ckpt-12_temp"))
  kept = ["checkpoint", "graph.pbtxt", "model.ckpt-8.index",
          "model.ckpt-8.data-00000-of-00001", "model.ckpt-8.meta",
          "train-0a.tf_record"]
  gone = ["model.ckpt-12.index", "model.ckpt-12.data-00000-of-00001",
          "checkpoint.tmp" + "0" * 32, "model.ckpt-8.meta.tmp" + "a1" * 16]
  for name in kept + gone:
    helpers.write_lines(os.path.join(run, name), ["x"])
  assert task_plumbing.discard_unfinished_checkpoints(run, None) == sorted(
      gone[2:])
  assert task_plumbing.discard_unfinished_checkpoints(run, 8) == sorted(
      gone[:2] + ["model.ckpt-12_temp"])
  assert sorted(os.listdir(run)) == sorted(kept)
