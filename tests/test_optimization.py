"""optimization.py against NumPy references of AdamW and every schedule."""

import math

import numpy as np
import pytest
import tensorflow as tf

import optimization

tf1 = tf.compat.v1


# --------------------------------------------------------------------------
# NumPy references.

def numpy_adamw(param, grads, lrs, weight_decay_rate, decay, bias_correction,
                beta_1=0.9, beta_2=0.999, epsilon=1e-6):
  """Google's AdamW (optionally bias-corrected) in float64; returns p, m, v."""
  p = param.astype(np.float64)
  m = np.zeros_like(p)
  v = np.zeros_like(p)
  for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    m_hat, v_hat = m, v
    if bias_correction:
      m_hat = m / (1 - beta_1**t)
      v_hat = v / (1 - beta_2**t)
    update = m_hat / (np.sqrt(v_hat) + epsilon)
    if decay:
      update = update + weight_decay_rate * p
    p = p - lr * update
  return p, m, v


def reference_lr(name, step, init_lr, total, warmup, power=1.0, end_lr=0.0,
                 num_cycles=None):
  """Closed forms: Google's `linear`, transformers' schedules for the rest."""
  if name == "constant":
    return init_lr
  if name == "linear":
    if warmup and step < warmup:
      return init_lr * step / warmup
    return init_lr * (1.0 - min(step, total) / total)
  if step < warmup:
    return init_lr * step / max(1, warmup)
  if name == "constant_with_warmup":
    return init_lr
  progress = (step - warmup) / max(1, total - warmup)
  if name == "cosine":
    cycles = 0.5 if num_cycles is None else num_cycles
    return init_lr * max(0.0, 0.5 * (1 + math.cos(math.pi * cycles * 2 *
                                                  progress)))
  if name == "cosine_with_restarts":
    cycles = 1.0 if num_cycles is None else num_cycles
    if progress >= 1.0:
      return 0.0
    return init_lr * max(0.0, 0.5 * (1 + math.cos(math.pi * ((cycles *
                                                              progress) % 1))))
  if name == "polynomial":
    if step > total:
      return end_lr
    remaining = 1 - (step - warmup) / (total - warmup)
    return (init_lr - end_lr) * remaining**power + end_lr
  raise AssertionError(name)


# --------------------------------------------------------------------------
# AdamWeightDecayOptimizer.

_ADAM_VARS = {
    "layer/kernel": (np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]), True),
    "layer/LayerNorm/gamma": (np.array([1.0, 0.9, 1.1]), False),
    "layer/bias": (np.array([0.1, -0.2, 0.3]), False),
}


def _adam_grads(rng, shape, num_steps):
  # Gradients well away from 0, so eps does not dominate the comparison.
  # float32 values, so the float64 reference sees exactly what TF is fed.
  signs = rng.choice([-1.0, 1.0], size=(num_steps,) + shape)
  grads = signs * rng.uniform(0.1, 2.0, size=(num_steps,) + shape)
  return grads.astype(np.float32)


def _run_adamw(grads_by_name, lrs, weight_decay_rate, bias_correction):
  """Runs the optimizer with fed gradients; returns {name: (p, m, v)}."""
  graph = tf.Graph()
  with graph.as_default():
    lr = tf1.placeholder(tf.float32, [])
    pairs, feeds = [], {}
    for name, (init, _) in _ADAM_VARS.items():
      var = tf1.get_variable(name, initializer=tf.constant(init, tf.float32))
      grad = tf1.placeholder(tf.float32, init.shape)
      pairs.append((grad, var))
      feeds[name] = grad
    opt = optimization.AdamWeightDecayOptimizer(
        learning_rate=lr, weight_decay_rate=weight_decay_rate,
        bias_correction=bias_correction)
    train_op = opt.apply_gradients(pairs)
    with tf1.Session(graph=graph) as sess:
      sess.run(tf1.global_variables_initializer())
      for step, step_lr in enumerate(lrs):
        feed = {lr: step_lr}
        for name, placeholder in feeds.items():
          feed[placeholder] = grads_by_name[name][step]
        sess.run(train_op, feed)
      return {
          name: sess.run((var, opt.get_slot(var, "adam_m"),
                          opt.get_slot(var, "adam_v")))
          for (_, var), name in zip(pairs, feeds)
      }


@pytest.mark.parametrize("bias_correction", [False, True])
def test_adamw_matches_numpy(bias_correction):
  rng = np.random.RandomState(0)
  num_steps, weight_decay_rate = 6, 0.1
  lrs = [0.01, 0.02, 0.015, 0.01, 0.005, 0.02]
  grads = {name: _adam_grads(rng, init.shape, num_steps)
           for name, (init, _) in _ADAM_VARS.items()}
  got = _run_adamw(grads, lrs, weight_decay_rate, bias_correction)
  for name, (init, decay) in _ADAM_VARS.items():
    want = numpy_adamw(init, grads[name], lrs, weight_decay_rate, decay,
                       bias_correction)
    for got_t, want_t in zip(got[name], want):
      np.testing.assert_allclose(got_t, want_t, rtol=1e-6, atol=1e-7,
                                 err_msg=name)
    # The decision to decay matters at this tolerance: the other choice fails.
    other = numpy_adamw(init, grads[name], lrs, weight_decay_rate, not decay,
                        bias_correction)[0]
    assert np.max(np.abs(other - got[name][0])) > 1e-4, name


def test_bias_corrected_adamw_matches_torch():
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(1)
  num_steps, weight_decay_rate = 5, 0.05
  lrs = [0.01, 0.02, 0.01, 0.005, 0.02]
  grads = {name: _adam_grads(rng, init.shape, num_steps)
           for name, (init, _) in _ADAM_VARS.items()}
  got = _run_adamw(grads, lrs, weight_decay_rate, bias_correction=True)

  params = {name: torch.nn.Parameter(torch.tensor(init, dtype=torch.float64))
            for name, (init, _) in _ADAM_VARS.items()}
  groups = [{"params": [params[name]],
             "weight_decay": weight_decay_rate if decay else 0.0}
            for name, (_, decay) in _ADAM_VARS.items()]
  torch_opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(0.9, 0.999),
                                eps=1e-6)
  for step, step_lr in enumerate(lrs):
    for group in torch_opt.param_groups:
      group["lr"] = step_lr
    for name, param in params.items():
      param.grad = torch.tensor(grads[name][step], dtype=torch.float64)
    torch_opt.step()
  for name, param in params.items():
    np.testing.assert_allclose(got[name][0], param.detach().numpy(),
                               rtol=1e-6, atol=1e-7, err_msg=name)


def test_slot_names_follow_google_and_strip_output_suffix():
  graph = tf.Graph()
  with graph.as_default():
    var = tf1.get_variable("bert/encoder/layer_0/output/dense/kernel", [2, 2])
    opt = optimization.AdamWeightDecayOptimizer(learning_rate=0.1)
    opt.apply_gradients([(tf.ones([2, 2]), var)])
    names = sorted(v.op.name for v in tf1.global_variables())
  assert names == ["bert/encoder/layer_0/output/dense/kernel",
                   "bert/encoder/layer_0/output/dense/kernel/adam_m",
                   "bert/encoder/layer_0/output/dense/kernel/adam_v"]
  assert opt._get_variable_name("bert/x/LayerNorm/beta:0") == (
      "bert/x/LayerNorm/beta")
  assert not opt._do_use_weight_decay("bert/x/LayerNorm/beta")
  assert not opt._do_use_weight_decay("bert/x/dense/bias")
  assert opt._do_use_weight_decay("bert/x/dense/kernel")


def _embedding_steps(sparse, accum_steps, num_steps=3):
  """Table after a few steps when looked up by tf.gather or by a matmul."""
  graph = tf.Graph()
  with graph.as_default():
    table = tf1.get_variable(
        "embeddings", initializer=tf.reshape(tf.range(8.0), [4, 2]) / 10.0)
    ids = tf.constant([1, 1, 3])
    if sparse:
      rows = tf.gather(table, ids)
    else:
      rows = tf.matmul(tf.one_hot(ids, 4), table)
    loss = tf.reduce_sum(rows * tf.constant([[1.0, 2.0], [3.0, 4.0],
                                             [5.0, 6.0]]))
    grad = tf1.gradients(loss, [table])[0]
    assert isinstance(grad, tf.IndexedSlices) == sparse
    train_op = optimization.create_optimizer(
        loss, 0.1, 10 * accum_steps, 0, False,
        gradient_accumulation_steps=accum_steps)
    with tf1.Session(graph=graph) as sess:
      sess.run([tf1.global_variables_initializer(),
                tf1.local_variables_initializer()])
      for _ in range(num_steps * accum_steps):
        sess.run(train_op)
      return sess.run(table)


@pytest.mark.parametrize("accum_steps", [1, 2])
def test_sparse_gradients_update_like_dense(accum_steps):
  # Google's update is dense: rows 0 and 2 still move through weight decay
  # and (after the first step) through their decaying moments.
  sparse = _embedding_steps(True, accum_steps)
  dense = _embedding_steps(False, accum_steps)
  np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------
# Schedules.

_INIT_LR, _TOTAL, _WARMUP = 5e-5, 1000, 100
_STEPS = [0, 1, 50, 99, 100, 101, 250, 500, 550, 999, 1000, 1001, 1500]

_SCHEDULE_CASES = [
    ("constant", _WARMUP, {}),
    ("constant_with_warmup", _WARMUP, {}),
    ("constant_with_warmup", 0, {}),
    ("linear", _WARMUP, {}),
    ("linear", 0, {}),
    ("cosine", _WARMUP, {}),
    ("cosine", _WARMUP, {"num_cycles": 2.0}),
    ("cosine_with_restarts", _WARMUP, {}),
    ("cosine_with_restarts", _WARMUP, {"num_cycles": 3}),
    ("polynomial", _WARMUP, {}),
    ("polynomial", _WARMUP, {"power": 2.0, "end_learning_rate": 1e-6}),
    ("polynomial", 0, {"power": 0.5, "end_learning_rate": 1e-7}),
]


@pytest.mark.parametrize("name,warmup,kwargs", _SCHEDULE_CASES)
def test_schedule_matches_formula(name, warmup, kwargs):
  graph = tf.Graph()
  with graph.as_default():
    step = tf1.placeholder(tf.int64, [])
    lr = optimization.learning_rate_schedule(name, _INIT_LR, step, _TOTAL,
                                             warmup, **kwargs)
    assert lr.dtype == tf.float32 and lr.shape.rank == 0
    with tf1.Session(graph=graph) as sess:
      got = [sess.run(lr, {step: s}) for s in _STEPS]
  want = [reference_lr(name, s, _INIT_LR, _TOTAL, warmup,
                       power=kwargs.get("power", 1.0),
                       end_lr=kwargs.get("end_learning_rate", 0.0),
                       num_cycles=kwargs.get("num_cycles"))
          for s in _STEPS]
  np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6 * _INIT_LR)


def test_schedule_names_are_complete():
  assert set(optimization.SCHEDULES) == {
      "constant", "constant_with_warmup", "linear", "cosine",
      "cosine_with_restarts", "polynomial"}


def test_unknown_schedule_raises_listing_names():
  with tf.Graph().as_default():
    with pytest.raises(ValueError) as err:
      optimization.learning_rate_schedule("cosine_annealing", 1e-4,
                                          tf.constant(0), 10, 1)
  for name in optimization.SCHEDULES:
    assert name in str(err.value)


def test_create_optimizer_rejects_unknown_schedule():
  with tf.Graph().as_default():
    var = tf1.get_variable("w", initializer=1.0)
    with pytest.raises(ValueError, match="cosine_annealing"):
      optimization.create_optimizer(var * var, 1e-4, 10, 1, False,
                                    schedule="cosine_annealing")


# --------------------------------------------------------------------------
# create_optimizer: clipping, learning-rate exposure, TPU wrapping.

def _first_adam_m(clip_norm):
  """adam_m after one step on a loss whose gradient is [300, 400, 0, 0]."""
  graph = tf.Graph()
  with graph.as_default():
    var = tf1.get_variable("x", initializer=tf.zeros([4]))
    loss = tf.reduce_sum(tf.constant([300.0, 400.0, 0.0, 0.0]) * var)
    train_op = optimization.create_optimizer(
        loss, 1e-3, 10, 0, False, weight_decay_rate=0.0, clip_norm=clip_norm)
    slot, = [v for v in tf1.global_variables() if v.op.name == "x/adam_m"]
    with tf1.Session(graph=graph) as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(train_op)
      return sess.run(slot)


def test_gradient_clipped_to_global_norm():
  # After one step adam_m = (1 - beta_1) * gradient.
  clipped = _first_adam_m(clip_norm=1.0) / 0.1
  np.testing.assert_allclose(clipped, [0.6, 0.8, 0.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(clipped), 1.0, rtol=1e-6)
  for disabled in (None, 0):
    np.testing.assert_allclose(_first_adam_m(clip_norm=disabled) / 0.1,
                               [300.0, 400.0, 0.0, 0.0], rtol=1e-6)


def test_create_optimizer_exposes_learning_rate_and_steps():
  graph = tf.Graph()
  with graph.as_default():
    var = tf1.get_variable("w", initializer=2.0)
    train_op = optimization.create_optimizer(var * var, 1e-3, 10, 4, False)
    lr = optimization.get_learning_rate()
    summaries = [op for op in graph.get_operations()
                 if op.type == "ScalarSummary"]
    names = sorted(v.op.name for v in tf1.global_variables())
    with tf1.Session(graph=graph) as sess:
      sess.run(tf1.global_variables_initializer())
      seen = []
      for _ in range(6):
        seen.append(sess.run(lr))
        sess.run(train_op)
      step = sess.run(tf1.train.get_global_step())
  assert isinstance(train_op, tf.Operation)
  assert step == 6
  want = [reference_lr("linear", s, 1e-3, 10, 4) for s in range(6)]
  np.testing.assert_allclose(seen, want, rtol=1e-6)
  assert sorted(op.name for op in summaries) == ["gradient_norm",
                                                 "learning_rate"]
  # Exactly Google's variable set: nothing a Google checkpoint lacks.
  assert names == ["global_step", "w", "w/adam_m", "w/adam_v"]


@pytest.mark.parametrize("accumulation", [1, 2])
def test_create_optimizer_wraps_cross_shard_on_tpu(monkeypatch, accumulation):
  wrapped = []
  real_cls = tf1.tpu.CrossShardOptimizer

  class SpyCrossShardOptimizer(real_cls):

    def __init__(self, opt, *args, **kwargs):
      wrapped.append(opt)
      super(SpyCrossShardOptimizer, self).__init__(opt, *args, **kwargs)

  monkeypatch.setattr(tf1.tpu, "CrossShardOptimizer", SpyCrossShardOptimizer)
  graph = tf.Graph()
  with graph.as_default():
    var = tf1.get_variable("w", initializer=tf.ones([3]))
    loss = tf.reduce_sum(tf.square(var))
    train_op = optimization.create_optimizer(
        loss, 1e-3, 10, 2, True, gradient_accumulation_steps=accumulation)
    op_types = {op.type for op in graph.get_operations()}
    for function in graph._functions.values():  # cond branches (If op)
      op_types.update(n.op for n in function.definition.node_def)
  assert isinstance(train_op, tf.Operation)
  assert len(wrapped) == 1
  assert isinstance(wrapped[0], optimization.AdamWeightDecayOptimizer)
  assert "CrossReplicaSum" in op_types
  # On TPU summaries go through host_call; none is put in the TPU graph.
  assert "ScalarSummary" not in op_types
  assert optimization.get_learning_rate(graph) is not None
  # CrossReplicaSum has no CPU kernel in TF 2.15, so outside a TPU the step
  # cannot run; if a future TF can, it must also count the step.
  with tf1.Session(graph=graph) as sess:
    try:
      sess.run([tf1.global_variables_initializer(),
                tf1.local_variables_initializer()])
      sess.run(train_op)
    except tf.errors.InvalidArgumentError as err:
      assert "CrossReplicaSum" in str(err)
    else:
      assert sess.run(tf1.train.get_global_step()) == 1


# --------------------------------------------------------------------------
# Gradient accumulation.

def _build_linear_model(accum_steps, num_train_steps, num_warmup_steps,
                        schedule, bias_correction):
  """y = x W + b with mean squared error, fed through placeholders."""
  x = tf1.placeholder(tf.float32, [None, 3])
  y = tf1.placeholder(tf.float32, [None, 2])
  kernel = tf1.get_variable(
      "dense/kernel",
      initializer=tf.constant([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]]))
  bias = tf1.get_variable("dense/bias", initializer=tf.constant([0.1, -0.1]))
  loss = tf.reduce_mean(tf.square(tf.matmul(x, kernel) + bias - y))
  train_op = optimization.create_optimizer(
      loss, 0.05, num_train_steps, num_warmup_steps, False, schedule=schedule,
      gradient_accumulation_steps=accum_steps,
      bias_correction=bias_correction)
  return x, y, train_op, [kernel, bias]


def _accumulation_run(accum_steps, batches, schedule, bias_correction):
  """Trains on `batches` split in accum_steps micro-batches; records state.

  Returns:
    (variables after every micro-step, global step at the end, names of the
    local variables).
  """
  updates = 10
  graph = tf.Graph()
  with graph.as_default():
    x, y, train_op, tvars = _build_linear_model(
        accum_steps, updates * accum_steps, 3 * accum_steps, schedule,
        bias_correction)
    local_names = sorted(v.op.name for v in tf1.local_variables())
    trainable = set(tf1.trainable_variables())
    assert not trainable.intersection(tf1.local_variables())
    history = []
    with tf1.Session(graph=graph) as sess:
      sess.run([tf1.global_variables_initializer(),
                tf1.local_variables_initializer()])
      for batch_x, batch_y in batches:
        for micro_x, micro_y in zip(np.split(batch_x, accum_steps),
                                    np.split(batch_y, accum_steps)):
          sess.run(train_op, {x: micro_x, y: micro_y})
          history.append(sess.run(tvars))
      return history, sess.run(tf1.train.get_global_step()), local_names


@pytest.mark.parametrize("schedule,bias_correction,control_flow_v2", [
    ("linear", False, True),
    ("cosine", True, True),
    ("linear", False, False),
])
def test_accumulation_equals_large_batch(schedule, bias_correction,
                                         control_flow_v2):
  rng = np.random.RandomState(3)
  accum_steps, num_updates = 4, 5
  batches = [(rng.normal(size=(8, 3)).astype(np.float32),
              rng.normal(size=(8, 2)).astype(np.float32))
             for _ in range(num_updates)]
  if not control_flow_v2:
    tf1.disable_control_flow_v2()
  try:
    micro, micro_step, local_names = _accumulation_run(
        accum_steps, batches, schedule, bias_correction)
  finally:
    if not control_flow_v2:
      tf1.enable_control_flow_v2()
  large, large_step, _ = _accumulation_run(1, batches, schedule,
                                           bias_correction)

  assert micro_step == accum_steps * num_updates
  assert large_step == num_updates
  assert local_names == ["dense/bias/grad_accum", "dense/kernel/grad_accum",
                         "gradient_norm_of_last_update"]
  for update in range(num_updates):
    # Between applies the variables stay exactly where they were.
    group = micro[update * accum_steps:(update + 1) * accum_steps]
    for state in group[1:-1]:
      for got, want in zip(state, group[0]):
        np.testing.assert_array_equal(got, want)
    if update:
      for got, want in zip(group[0], micro[update * accum_steps - 1]):
        np.testing.assert_array_equal(got, want)
    # After each apply: the same variables as the 4x larger batch.
    for got, want in zip(group[-1], large[update]):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    if update:  # (update 0 may run at learning rate 0: warmup starts at 0)
      assert any(np.max(np.abs(a - b)) > 1e-3
                 for a, b in zip(large[update], large[update - 1]))


def test_accumulation_rejects_bad_step_counts():
  with tf.Graph().as_default():
    var = tf1.get_variable("w", initializer=1.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
      optimization.create_optimizer(var * var, 1e-4, 10, 1, False,
                                    gradient_accumulation_steps=0)
    with pytest.raises(ValueError, match="num_train_steps"):
      optimization.create_optimizer(var * var, 1e-4, 3, 1, False,
                                    gradient_accumulation_steps=4)
