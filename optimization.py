"""Learning-rate schedules, AdamW and the BERT training op (tf.compat.v1).

The defaults reproduce google-research/bert's `optimization.py`: linear warmup
then linear decay, Adam with decoupled weight decay and no bias correction,
gradients clipped to global norm 1.0, and slot variables named
`<variable>/adam_m` and `<variable>/adam_v` so Google's pretraining checkpoints
restore unchanged. On top of that:

  * schedules by name (`SCHEDULES`), the cosine and polynomial ones with the
    formulas of Hugging Face's `transformers` schedules;
  * `bias_correction=True`, which turns the update into torch.optim.AdamW's;
  * gradient accumulation over N micro-batches (see `create_optimizer`);
  * the learning rate as a "learning_rate" summary and in a graph collection
    (`get_learning_rate`) so the training loop can log it;
  * the global norm of the applied gradient, before clipping, as a
    "gradient_norm" summary (`GRADIENT_NORM_TAG`).
"""

import math
import re

import tensorflow as tf

tf1 = tf.compat.v1

SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine",
             "cosine_with_restarts", "polynomial")

# Google fine-tunes without decay on layer-norm parameters and biases.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")

# Graph collection that holds the learning-rate tensor of `create_optimizer`.
LEARNING_RATE_COLLECTION = "learning_rate"

# Summary tag of the global norm of the applied gradient, before clipping.
GRADIENT_NORM_TAG = "gradient_norm"

# Schedules that reach zero (or end_learning_rate) at num_train_steps.
_DECAYING_SCHEDULES = ("linear", "cosine", "cosine_with_restarts",
                       "polynomial")


def learning_rate_schedule(schedule, init_lr, global_step, num_train_steps,
                           num_warmup_steps, power=1.0, end_learning_rate=0.0,
                           num_cycles=None):
  """The learning rate at `global_step` under the named schedule.

  Every schedule except `constant` warms up linearly from 0 to `init_lr` over
  the first `num_warmup_steps` steps (lr = init_lr * step / warmup). After
  warmup, with W = num_warmup_steps, T = num_train_steps, p = (step - W) /
  max(1, T - W):

    constant              init_lr (no warmup)
    constant_with_warmup  init_lr
    linear                Google's: init_lr * (1 - min(step, T) / T); the decay
                          runs over all T steps and warmup overrides it while
                          step < W, so it starts below init_lr after warmup.
    cosine                init_lr * max(0, 0.5 * (1 + cos(2 pi c p))), c =
                          num_cycles (default 0.5: one half-cosine to 0)
    cosine_with_restarts  init_lr * 0.5 * (1 + cos(pi * ((c p) mod 1))) while
                          p < 1, then 0; c = num_cycles (default 1)
    polynomial            (init_lr - end) * (1 - p)^power + end, with p capped
                          at 1; end = end_learning_rate

  Args:
    schedule: one of `SCHEDULES`.
    init_lr: float, peak learning rate.
    global_step: integer scalar tensor (or int), the step to evaluate at.
    num_train_steps: int, T; must be >= 1 for the decaying schedules.
    num_warmup_steps: int >= 0, W.
    power: float, exponent of `polynomial`.
    end_learning_rate: float, final rate of `polynomial`; <= init_lr.
    num_cycles: float or None, waves of `cosine` / `cosine_with_restarts`.

  Returns:
    A float32 scalar tensor.

  Raises:
    ValueError: for an unknown schedule name or inconsistent step counts.
  """
  if schedule not in SCHEDULES:
    raise ValueError("Unknown learning-rate schedule %r; expected one of: %s" %
                     (schedule, ", ".join(SCHEDULES)))
  if num_warmup_steps < 0:
    raise ValueError("num_warmup_steps must be >= 0, got %d" % num_warmup_steps)
  if schedule in _DECAYING_SCHEDULES and num_train_steps < 1:
    raise ValueError("Schedule %r needs num_train_steps >= 1, got %d" %
                     (schedule, num_train_steps))
  if schedule == "polynomial" and end_learning_rate > init_lr:
    raise ValueError("end_learning_rate (%g) must not exceed init_lr (%g)" %
                     (end_learning_rate, init_lr))

  with tf1.name_scope("learning_rate_schedule"):
    if schedule == "linear":
      return _google_linear(init_lr, global_step, num_train_steps,
                            num_warmup_steps)
    if schedule == "constant":
      return tf.constant(init_lr, dtype=tf.float32)
    step = tf.cast(global_step, tf.float32)
    if schedule == "constant_with_warmup":
      after_warmup = tf.constant(init_lr, dtype=tf.float32)
    elif schedule == "polynomial":
      after_warmup = _polynomial_decay(init_lr, step, num_train_steps,
                                       num_warmup_steps, power,
                                       end_learning_rate)
    else:
      if num_cycles is None:
        num_cycles = 0.5 if schedule == "cosine" else 1.0
      progress = ((step - float(num_warmup_steps)) /
                  float(max(1, num_train_steps - num_warmup_steps)))
      decay = (_cosine(progress, num_cycles) if schedule == "cosine"
               else _cosine_with_restarts(progress, num_cycles))
      after_warmup = init_lr * decay
    return _with_linear_warmup(init_lr, step, num_warmup_steps, after_warmup)


def _google_linear(init_lr, global_step, num_train_steps, num_warmup_steps):
  """Google's schedule, built the way its create_optimizer builds it."""
  learning_rate = tf1.train.polynomial_decay(
      tf.constant(init_lr, dtype=tf.float32), global_step, num_train_steps,
      end_learning_rate=0.0, power=1.0, cycle=False)
  if not num_warmup_steps:
    return learning_rate
  steps_int = tf.cast(global_step, tf.int32)
  warmup_int = tf.constant(num_warmup_steps, dtype=tf.int32)
  warmup_lr = init_lr * (tf.cast(steps_int, tf.float32) /
                         tf.cast(warmup_int, tf.float32))
  # Arithmetic blend rather than tf.where, exactly as Google does.
  is_warmup = tf.cast(steps_int < warmup_int, tf.float32)
  return (1.0 - is_warmup) * learning_rate + is_warmup * warmup_lr


def _with_linear_warmup(init_lr, step, num_warmup_steps, after_warmup):
  """Ramps 0 -> init_lr over the warmup steps, then `after_warmup`."""
  warmup_lr = init_lr * step / float(max(1, num_warmup_steps))
  return tf.where(step < float(num_warmup_steps), warmup_lr, after_warmup)


def _cosine(progress, num_cycles):
  """transformers' get_cosine_schedule_with_warmup multiplier."""
  wave = 0.5 * (1.0 + tf.cos(math.pi * float(num_cycles) * 2.0 * progress))
  return tf.maximum(0.0, wave)


def _cosine_with_restarts(progress, num_cycles):
  """transformers' hard-restart cosine multiplier; 0 once training is over."""
  phase = tf.math.floormod(float(num_cycles) * progress, 1.0)
  wave = tf.maximum(0.0, 0.5 * (1.0 + tf.cos(math.pi * phase)))
  return tf.where(progress >= 1.0, tf.zeros_like(wave), wave)


def _polynomial_decay(init_lr, step, num_train_steps, num_warmup_steps, power,
                      end_learning_rate):
  """transformers' polynomial decay from init_lr to end_learning_rate."""
  # Clamping the step keeps the base in [0, 1], so a fractional power never
  # sees a negative number (tf.where evaluates both branches).
  last_step = float(max(num_train_steps, num_warmup_steps))
  clamped = tf.clip_by_value(step, float(num_warmup_steps), last_step)
  decay_steps = float(max(1, num_train_steps - num_warmup_steps))
  # (T - step) / (T - W), not 1 - (step - W) / (T - W): near the end the
  # subtraction would cancel most of float32's digits.
  remaining = (last_step - clamped) / decay_steps
  return ((init_lr - end_learning_rate) * tf.pow(remaining, float(power)) +
          end_learning_rate)


class AdamWeightDecayOptimizer(tf1.train.Optimizer):
  """Adam with decoupled weight decay ("AdamW"), as in Google's BERT.

  For each variable p with gradient g (b1, b2 = beta_1, beta_2):

    m = b1 m + (1 - b1) g           v = b2 v + (1 - b2) g^2
    update = m / (sqrt(v) + eps) + weight_decay_rate * p
    p = p - lr * update

  Weight decay is skipped for variables whose name matches any regex in
  `exclude_from_weight_decay`. With `bias_correction=True`, m and v are
  replaced by m / (1 - b1^t) and v / (1 - b2^t) (t = number of updates so
  far), which makes the step identical to torch.optim.AdamW.

  Differences from tf.compat.v1.train.AdamOptimizer that keep Google's
  checkpoints and behaviour:
    * slots are `<variable>/adam_m` and `<variable>/adam_v`, and without bias
      correction no other variable is created (with it, one int64 non-slot
      variable `adam_step` counts the updates);
    * sparse gradients (IndexedSlices, e.g. from tf.gather on embeddings) are
      made dense, so m and v decay on every row as in Google's code;
    * `apply_gradients` never increments `global_step`; the caller does.
  Updates go through the base class, so tf.distribute strategies get their
  usual cross-replica gradient reduction.
  """

  def __init__(self,
               learning_rate,
               weight_decay_rate=0.01,
               beta_1=0.9,
               beta_2=0.999,
               epsilon=1e-6,
               exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
               bias_correction=False,
               name="AdamWeightDecayOptimizer"):
    """Builds the optimizer.

    Args:
      learning_rate: float or float32 scalar tensor (e.g. a schedule).
      weight_decay_rate: float, decoupled decay coefficient; 0 disables it.
      beta_1: float, decay rate of the first-moment estimate.
      beta_2: float, decay rate of the second-moment estimate.
      epsilon: float, added to sqrt(v); Google uses 1e-6.
      exclude_from_weight_decay: iterable of regexes searched in variable
        names; matching variables get no weight decay. None excludes nothing.
      bias_correction: bool; False is Google's update, True is Adam's.
      name: name of the ops this optimizer creates.
    """
    super(AdamWeightDecayOptimizer, self).__init__(use_locking=False,
                                                   name=name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = list(exclude_from_weight_decay or [])
    self.bias_correction = bias_correction

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """Applies one AdamW step; `global_step` is accepted and ignored.

    Google's create_optimizer passes global_step here and increments it
    itself, so incrementing it here too would count every step twice.

    Args:
      grads_and_vars: list of (gradient, variable); None gradients skipped.
      global_step: ignored (see above).
      name: optional name of the returned op.

    Returns:
      An Operation that updates the variables and their slots.
    """
    del global_step  # The caller owns the step counter, as in Google's code.
    dense = [(_densify(g), v) for g, v in grads_and_vars]
    return super(AdamWeightDecayOptimizer, self).apply_gradients(
        dense, global_step=None, name=name)

  def _create_slots(self, var_list):
    for var in var_list:
      self._zeros_slot(var, "adam_m", "adam_m")
      self._zeros_slot(var, "adam_v", "adam_v")
    if self.bias_correction:
      # Colocate with a fixed variable so the choice is deterministic.
      first = min(var_list, key=lambda v: v.name)
      # Kept on self: inside a cond branch the default graph is the branch's,
      # not the one this variable lives in.
      self._step = self._create_non_slot_variable(
          tf.constant(0, dtype=tf.int64), "adam_step", first)

  def _prepare(self):
    self._lr_t = tf.convert_to_tensor(self.learning_rate, name="learning_rate")

  def _bias_corrections(self, dtype):
    """(1 - b1^t, 1 - b2^t) for this update, t = updates so far + 1.

    Computed as -expm1(t log b): `1 - b^t` in float32 would lose ~1e-5 of
    relative precision to cancellation (0.999 is not exact in float32), and
    float64 is not available on TPUs.
    """
    t = tf.cast(self._step + 1, dtype)
    return (-tf.math.expm1(t * math.log(self.beta_1)),
            -tf.math.expm1(t * math.log(self.beta_2)))

  def _apply_dense(self, grad, var):
    return self._adamw_update(grad, var)

  def _resource_apply_dense(self, grad, handle):
    return self._adamw_update(grad, handle)

  def _apply_sparse(self, grad, var):
    raise NotImplementedError("apply_gradients densifies IndexedSlices.")

  def _resource_apply_sparse(self, grad, handle, indices):
    raise NotImplementedError("apply_gradients densifies IndexedSlices.")

  def _adamw_update(self, grad, var):
    """Builds the AdamW step for one variable; returns the grouped assigns."""
    dtype = var.dtype.base_dtype
    m = self.get_slot(var, "adam_m")
    v = self.get_slot(var, "adam_v")
    lr = tf.cast(self._lr_t, dtype)

    # The (1 - beta) factors are taken in Python doubles, as Google does:
    # 1 - float32(0.999) is 1.3e-5 away from 0.001.
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
    m_hat, v_hat = next_m, next_v
    if self.bias_correction:
      correction_1, correction_2 = self._bias_corrections(dtype)
      m_hat = next_m / correction_1
      v_hat = next_v / correction_2
    update = m_hat / (tf.sqrt(v_hat) + self.epsilon)

    # Decoupled decay: added to the Adam direction, so it is not scaled by
    # the moment estimates (adding p^2 to the loss would be).
    if self._do_use_weight_decay(self._get_variable_name(var.name)):
      update += tf.cast(self.weight_decay_rate, dtype) * var

    next_var = var - lr * update
    return tf.group(tf1.assign(var, next_var), tf1.assign(m, next_m),
                    tf1.assign(v, next_v))

  def _finish(self, update_ops, name_scope):
    if not self.bias_correction:
      return tf.group(*update_ops, name=name_scope)
    # Advance t only after every variable has read the current one.
    with tf.control_dependencies(update_ops):
      count = tf1.assign_add(self._step, 1)
    return tf.group(*(list(update_ops) + [count]), name=name_scope)

  def _do_use_weight_decay(self, param_name):
    """Whether to decay `param_name` (a name without ':0')."""
    if not self.weight_decay_rate:
      return False
    for pattern in self.exclude_from_weight_decay:
      if re.search(pattern, param_name) is not None:
        return False
    return True

  def _get_variable_name(self, param_name):
    """Strips the ':0' output suffix from a variable name, as Google does."""
    match = re.match("^(.*):\\d+$", param_name)
    if match is not None:
      param_name = match.group(1)
    return param_name


def _densify(grad):
  """IndexedSlices -> dense tensor; other gradients (and None) unchanged."""
  if isinstance(grad, tf.IndexedSlices):
    return tf.convert_to_tensor(grad)
  return grad


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                     schedule="linear", weight_decay_rate=0.01, clip_norm=1.0,
                     gradient_accumulation_steps=1, bias_correction=False,
                     power=1.0, end_learning_rate=0.0, num_cycles=None):
  """Builds the training op: schedule, AdamW, clipping, optional accumulation.

  With the defaults this is Google's create_optimizer: linear warmup/decay,
  AdamWeightDecayOptimizer (decay 0.01, LayerNorm and biases excluded),
  gradients clipped to global norm 1.0, and the global step incremented by
  the returned op.

  Gradient accumulation (N = gradient_accumulation_steps > 1): every call of
  the op is one micro-batch. Its gradient is added to a non-trainable local
  accumulator; on every N-th micro-step the mean of the N accumulated
  gradients is clipped and applied, and the accumulators are zeroed. Because
  `loss` is a mean over the micro-batch, this gives the same variables as
  one step on an N-times larger batch. Counting:
    * global_step increments on EVERY micro-step, so Estimator `max_steps`,
      checkpoints and logs count micro-batches;
    * the schedule runs on optimizer updates: it is evaluated at
      global_step // N with num_train_steps // N and num_warmup_steps // N.
      So pass num_train_steps and num_warmup_steps in micro-batches, as for
      max_steps; the schedule sees them in updates.
  Accumulators are local variables: they are not checkpointed, so a run
  resumed mid-accumulation applies a partly filled mean once. The apply sits
  in a tf.cond, which tf.distribute's merge_call cannot cross: accumulation
  works on one device and under TPUEstimator, not under MirroredStrategy.

  On TPU, gradients come from CrossShardOptimizer.compute_gradients (loss
  scaled by 1 / cores, then summed over cores: the mean gradient). Google
  called tf.gradients directly and so applied the sum. Clipping runs on each
  core's share before the sum, as in Google's code.

  Args:
    loss: float scalar tensor, the mean loss of the (micro-)batch.
    init_lr: float, peak learning rate.
    num_train_steps: int, training steps (micro-batches when accumulating).
    num_warmup_steps: int, warmup steps (micro-batches when accumulating).
    use_tpu: bool; wraps the optimizer in tf.compat.v1.tpu.CrossShardOptimizer
      (which averages gradients over TPU cores) and skips the learning_rate
      and gradient_norm summaries, which a TPU computation cannot hold (use a
      host_call with get_learning_rate).
    schedule: one of SCHEDULES.
    weight_decay_rate: float, AdamW decoupled weight decay.
    clip_norm: float, global-norm clipping threshold; None or 0 disables.
    gradient_accumulation_steps: int N >= 1, micro-batches per update.
    bias_correction: bool, Adam bias correction (False is Google's).
    power: float, exponent of the `polynomial` schedule.
    end_learning_rate: float, final rate of the `polynomial` schedule.
    num_cycles: float or None, for `cosine` and `cosine_with_restarts`.

  Summaries (not on TPU): "learning_rate", and "gradient_norm", the global
  norm of the gradient before clipping; with accumulation, of the averaged
  gradient of the last applied update (0 before the first one).

  Returns:
    A single Operation that runs one (micro-)step and increments global_step.
  """
  accum_steps = int(gradient_accumulation_steps)
  if accum_steps < 1:
    raise ValueError("gradient_accumulation_steps must be >= 1, got %d" %
                     gradient_accumulation_steps)
  if accum_steps > 1 and num_train_steps < accum_steps:
    raise ValueError(
        "num_train_steps (%d) is smaller than gradient_accumulation_steps "
        "(%d): no update would ever be applied" % (num_train_steps,
                                                    accum_steps))
  global_step = tf1.train.get_or_create_global_step()
  update_step = global_step if accum_steps == 1 else global_step // accum_steps
  learning_rate = learning_rate_schedule(
      schedule, init_lr, update_step, num_train_steps // accum_steps,
      num_warmup_steps // accum_steps, power=power,
      end_learning_rate=end_learning_rate, num_cycles=num_cycles)
  _expose_learning_rate(learning_rate, with_summary=not use_tpu)

  optimizer = AdamWeightDecayOptimizer(
      learning_rate=learning_rate, weight_decay_rate=weight_decay_rate,
      bias_correction=bias_correction)
  if use_tpu:
    optimizer = tf1.tpu.CrossShardOptimizer(optimizer)

  grads_and_vars = optimizer.compute_gradients(
      loss, tf1.trainable_variables())
  if accum_steps == 1:
    update, gradient_norm = _clip_and_apply(optimizer, grads_and_vars,
                                            clip_norm)
  else:
    update, gradient_norm = _accumulate_and_apply(
        optimizer, grads_and_vars, clip_norm, global_step, accum_steps)
  if not use_tpu:
    tf1.summary.scalar(GRADIENT_NORM_TAG, gradient_norm)
  # Incrementing after the update keeps the step the schedule read coherent.
  with tf.control_dependencies([update]):
    increment = tf1.assign_add(global_step, 1)
  return tf.group(update, increment, name="train_op")


def get_learning_rate(graph=None):
  """The learning-rate tensor create_optimizer built in `graph`, or None."""
  graph = graph or tf1.get_default_graph()
  tensors = graph.get_collection(LEARNING_RATE_COLLECTION)
  return tensors[-1] if tensors else None


def _expose_learning_rate(learning_rate, with_summary):
  tf1.add_to_collection(LEARNING_RATE_COLLECTION, learning_rate)
  if with_summary:
    tf1.summary.scalar("learning_rate", learning_rate)


def _clip_and_apply(optimizer, grads_and_vars, clip_norm):
  """Clips the gradients by global norm (unless disabled) and applies them.

  Returns:
    (the apply Operation, the global norm of the gradients before clipping).
  """
  grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
  # Dense before clipping: the norm of IndexedSlices with repeated ids (a
  # token seen twice in a batch) is not the norm of the gradient. Google's
  # code clipped the slices, so its CPU/GPU runs (tf.gather) and TPU runs
  # (one-hot matmul) saw different norms; the apply densifies anyway.
  grads = [_densify(g) for g, _ in grads_and_vars]
  tvars = [v for _, v in grads_and_vars]
  if clip_norm:
    grads, norm = tf.clip_by_global_norm(grads, clip_norm=clip_norm)
  else:
    norm = tf.linalg.global_norm(grads)
  return optimizer.apply_gradients(zip(grads, tvars)), norm


def _accumulate_and_apply(optimizer, grads_and_vars, clip_norm, global_step,
                          accum_steps):
  """One micro-step: accumulate, and on every N-th also apply and reset.

  Args:
    optimizer: the (possibly CrossShard-wrapped) AdamWeightDecayOptimizer.
    grads_and_vars: list of (gradient, variable) of this micro-batch.
    clip_norm: float or None, clipping of the averaged gradient.
    global_step: the global step variable, not yet incremented.
    accum_steps: int N > 1.

  Returns:
    (an Operation to run every micro-step, the global norm before clipping
    of the last applied mean gradient: a tensor outside the cond).
  """
  grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
  tvars = [v for _, v in grads_and_vars]
  accumulators = [_accumulator_for(v) for v in tvars]
  adds = [acc.assign_add(_densify(g), read_value=False)
          for acc, (g, _) in zip(accumulators, grads_and_vars)]
  # The sums are read outside the cond, after the adds, so the cond sees this
  # micro-batch's gradient in them.
  with tf.control_dependencies(adds):
    sums = [acc.read_value() for acc in accumulators]
  is_update_step = tf.equal(
      tf.math.floormod(global_step + 1, accum_steps), 0)

  # The norm of the last update, kept for the micro-steps in between: a
  # summary cannot read a tensor from inside the cond's branch.
  last_norm = _local_scalar("gradient_norm_of_last_update")

  def apply_and_reset():
    mean_grads = [s / float(accum_steps) for s in sums]
    apply_op, norm = _clip_and_apply(optimizer, zip(mean_grads, tvars),
                                     clip_norm)
    with tf.control_dependencies([apply_op]):
      resets = [tf1.assign(acc, tf.zeros(acc.shape, acc.dtype.base_dtype))
                for acc in accumulators]
      resets.append(tf1.assign(last_norm, norm))
    with tf.control_dependencies(resets):
      return tf.identity(norm)

  def keep_accumulating():
    return last_norm.read_value()

  with tf.control_dependencies(adds):
    applied = tf1.cond(is_update_step, apply_and_reset, keep_accumulating)
  return applied.op, applied


def _local_scalar(name):
  """A float32 local variable (not checkpointed) at the root scope, 0."""
  with tf1.variable_scope(tf1.VariableScope(reuse=False, name="")):
    return tf1.get_variable(
        name, shape=[], dtype=tf.float32, initializer=tf1.zeros_initializer(),
        trainable=False, collections=[tf1.GraphKeys.LOCAL_VARIABLES])


def _accumulator_for(var):
  """A zero-initialised local variable shaped like `var`: `<var>/grad_accum`."""
  name = re.sub(":\\d+$", "", var.name) + "/grad_accum"
  # The root scope keeps the name independent of the caller's scope.
  with tf1.variable_scope(tf1.VariableScope(reuse=False, name="")):
    return tf1.get_variable(
        name, shape=var.shape, dtype=var.dtype.base_dtype,
        initializer=tf1.zeros_initializer(), trainable=False,
        collections=[tf1.GraphKeys.LOCAL_VARIABLES])
