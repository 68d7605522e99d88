"""Keep the best checkpoint by a dev-set metric while training.

`train_keeping_best` trains in chunks of `every` steps (the checkpoint
interval), evaluates each new checkpoint and copies the best so far to
`output_dir/best/` with `best.json` (metric, value, step, results): the
estimator's own `keep_checkpoint_max` may delete it from `output_dir`, the
copy stays. A killed run resumes: the checkpoint it left is judged first.
Any task script can use it with its own `evaluate_fn`.
"""

import json
import os

from absl import logging
import tensorflow as tf

tf1 = tf.compat.v1
BEST_DIR = "best"


def metric_key(name):
  """'f1' and 'eval_f1' both name the results key 'eval_f1'."""
  return name if name.startswith("eval_") else "eval_" + name


def is_better(key, value, best):
  """Lower is better for losses, higher for everything else."""
  if best is None:
    return True
  return value < best if key.endswith("loss") else value > best


def load_state(output_dir):
  path = os.path.join(output_dir, BEST_DIR, "best.json")
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _write_json(path, data):
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
  tf.io.gfile.rename(tmp, path, overwrite=True)


def keep_if_best(output_dir, metric, results, checkpoint):
  """Copies `checkpoint` to output_dir/best/ if its metric beats the kept one.

  Args:
    output_dir: the run's folder.
    metric: results key (see metric_key).
    results: dict of eval results of `checkpoint`, with global_step.
    checkpoint: checkpoint prefix.
  Returns:
    The best record: dict metric, value, step, checkpoint, results.
  """
  best_dir = os.path.join(output_dir, BEST_DIR)
  state = load_state(output_dir)
  value = float(results[metric])
  if not is_better(metric, value, state and state["value"]):
    logging.info("%s = %.4f at step %d; the best stays %.4f (step %d)",
                 metric, value, results["global_step"], state["value"],
                 state["step"])
    return state
  tf.io.gfile.makedirs(best_dir)
  stale = set(tf.io.gfile.glob(os.path.join(best_dir, "*.ckpt-*")))
  for source in tf.io.gfile.glob(checkpoint + ".*"):
    target = os.path.join(best_dir, os.path.basename(source))
    tf.io.gfile.copy(source, target + ".tmp", overwrite=True)
    tf.io.gfile.rename(target + ".tmp", target, overwrite=True)
    stale.discard(target)
  prefix = os.path.join(best_dir, os.path.basename(checkpoint))
  tf1.train.update_checkpoint_state(best_dir, prefix)
  for path in stale:
    tf.io.gfile.remove(path)
  state = {"metric": metric, "value": value, "step": results["global_step"],
           "checkpoint": prefix, "results": results}
  _write_json(os.path.join(best_dir, "best.json"), state)
  logging.info("New best %s = %.4f at step %d, kept in %s", metric, value,
               state["step"], best_dir)
  return state


def train_keeping_best(estimator, input_fn, num_steps, every, metric,
                       evaluate_fn):
  """Trains to num_steps in chunks of `every`, keeping the best checkpoint.

  Args:
    estimator: the (TPU)Estimator; its model_dir is the run's output_dir.
    input_fn: training input_fn.
    num_steps: total training steps.
    every: steps between evaluations (use the checkpoint interval).
    metric: results key to judge by (see metric_key).
    evaluate_fn: function checkpoint prefix -> results dict with the metric
      and global_step.
  Returns:
    The best record (see keep_if_best).
  """
  output_dir = estimator.model_dir
  every = max(int(every), 1)
  latest = tf.train.latest_checkpoint(output_dir)
  step = int(tf.train.load_variable(latest, "global_step")) if latest else 0
  state = load_state(output_dir)
  if latest and step > 0 and (state is None or state["step"] != step):
    state = keep_if_best(output_dir, metric, evaluate_fn(latest), latest)
  while step < num_steps:
    step = min((step // every + 1) * every, num_steps)
    estimator.train(input_fn, max_steps=step)
    latest = tf.train.latest_checkpoint(output_dir)
    state = keep_if_best(output_dir, metric, evaluate_fn(latest), latest)
  return state


def best_checkpoint(output_dir):
  """The kept checkpoint prefix, or None."""
  return tf.train.latest_checkpoint(os.path.join(output_dir, BEST_DIR))
