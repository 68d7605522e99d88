"""The BERT encoder in graph-mode TensorFlow (tf.compat.v1), with Google's names.

Every variable is named exactly as in Google's released checkpoints
(`bert/embeddings/word_embeddings`, `bert/encoder/layer_0/attention/self/query/
kernel`, ...), so those checkpoints, the Chinese and multilingual ones included,
load with no name mapping.

Shape legend used in the docstrings:
  B = batch size          S = sequence length
  F = `from` length       T = `to` length (S for self-attention)
  H = hidden size         N = number of attention heads
  D = size of one head (H / N)   I = intermediate (feed-forward) size
  V = vocabulary size
"""

import collections
import copy
import hashlib
import json
import math
import re

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1

# Keys a config must have; everything else has Google's defaults.
_REQUIRED_CONFIG_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers",
                         "num_attention_heads")


class BertConfigError(ValueError):
  """A BERT config file or dict that cannot be used."""


class BertConfig(object):
  """Hyper-parameters of a BertModel (Google's `bert_config.json` keys)."""

  def __init__(self,
               vocab_size,
               hidden_size=768,
               num_hidden_layers=12,
               num_attention_heads=12,
               intermediate_size=3072,
               hidden_act="gelu",
               hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1,
               max_position_embeddings=512,
               type_vocab_size=16,
               initializer_range=0.02,
               layer_norm_eps=1e-12):
    """Builds a config.

    Args:
      vocab_size: V, rows of the word-embedding table.
      hidden_size: H, width of every encoder layer.
      num_hidden_layers: number of Transformer layers.
      num_attention_heads: N; must divide H.
      intermediate_size: I, width of the feed-forward layer.
      hidden_act: activation of the feed-forward layer; see get_activation.
      hidden_dropout_prob: dropout on embeddings, attention output and FFN.
      attention_probs_dropout_prob: dropout on the attention probabilities.
      max_position_embeddings: longest sequence the model accepts.
      type_vocab_size: number of segment (token type) ids.
      initializer_range: stddev of the truncated-normal initialiser.
      layer_norm_eps: epsilon of every layer norm (1e-12 in Google's and
        Hugging Face's BERT).
    """
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.hidden_act = hidden_act
    self.intermediate_size = intermediate_size
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range
    self.layer_norm_eps = layer_norm_eps

  @classmethod
  def from_dict(cls, json_object, source="config"):
    """Builds a config from a dict; unknown keys are kept as attributes.

    Raises:
      BertConfigError: when a required key is missing or a value has the
        wrong type. The message names `source` (the file, when there is one).
    """
    if not isinstance(json_object, dict):
      raise BertConfigError("%s: expected a JSON object of BERT settings, got %s"
                            % (source, type(json_object).__name__))
    missing = [k for k in _REQUIRED_CONFIG_KEYS if k not in json_object]
    if missing:
      raise BertConfigError("%s: missing required key(s): %s"
                            % (source, ", ".join(missing)))
    config = cls(vocab_size=None)
    for key, value in json_object.items():
      config.__dict__[key] = value
    for key in _REQUIRED_CONFIG_KEYS + ("intermediate_size",
                                        "max_position_embeddings",
                                        "type_vocab_size"):
      value = config.__dict__[key]
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BertConfigError("%s: `%s` must be a positive integer, got %r"
                              % (source, key, value))
    if config.hidden_size % config.num_attention_heads:
      raise BertConfigError(
          "%s: hidden_size (%d) is not a multiple of num_attention_heads (%d)"
          % (source, config.hidden_size, config.num_attention_heads))
    return config

  @classmethod
  def from_json_file(cls, json_file):
    """Reads a `bert_config.json` (Google's) or `config.json` (HF) file."""
    if tf.io.gfile.isdir(json_file):
      raise BertConfigError("%s: is a directory; expected the model's "
                            "bert_config.json file" % json_file)
    try:
      with tf.io.gfile.GFile(json_file, "rb") as reader:
        text = reader.read().decode("utf-8-sig")
    except tf.errors.NotFoundError:
      raise BertConfigError("%s: config file not found" % json_file)
    except tf.errors.OpError as e:  # e.g. permission denied
      raise BertConfigError("%s: cannot read it (%s)" % (
          json_file, e.message.split("; ")[-1]))
    except UnicodeDecodeError as e:
      raise BertConfigError("%s: not UTF-8 (byte 0x%02x at offset %d); "
                            "expected a JSON file" % (
                                json_file, e.object[e.start], e.start))
    try:
      data = json.loads(text)
    except ValueError as e:
      raise BertConfigError("%s: not valid JSON (%s)" % (json_file, e))
    return cls.from_dict(data, source=json_file)

  def to_dict(self):
    return copy.deepcopy(self.__dict__)

  def to_json_string(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


class BertModel(object):
  """BERT: embeddings, a Transformer encoder and a pooler on [CLS].

  Example:

  ```python
  input_ids = tf1.placeholder(tf.int32, [None, 128])
  config = modeling.BertConfig.from_json_file("bert_config.json")
  model = modeling.BertModel(config, is_training=True, input_ids=input_ids)
  pooled = model.get_pooled_output()          # [B, H], for classification
  sequence = model.get_sequence_output()      # [B, S, H], for tagging
  ```
  """

  def __init__(self,
               config,
               is_training,
               input_ids,
               input_mask=None,
               token_type_ids=None,
               use_one_hot_embeddings=False,
               scope=None):
    """Builds the graph.

    Args:
      config: a BertConfig.
      is_training: True turns dropout on; False turns it off.
      input_ids: int32 [B, S] word-piece ids.
      input_mask: optional int32 [B, S], 1 for real tokens, 0 for padding.
      token_type_ids: optional int32 [B, S] segment ids.
      use_one_hot_embeddings: look embeddings up by a one-hot matmul (faster
        on TPUs) instead of a gather.
      scope: variable scope; "bert" by default, as Google's checkpoints expect.

    Raises:
      ValueError: when S is known and longer than max_position_embeddings.
    """
    config = copy.deepcopy(config)
    if not is_training:
      config.hidden_dropout_prob = 0.0
      config.attention_probs_dropout_prob = 0.0

    input_shape = get_shape_list(input_ids, expected_rank=2)
    batch_size, seq_length = input_shape[0], input_shape[1]
    if input_mask is None:
      input_mask = tf.ones([batch_size, seq_length], dtype=tf.int32)
    if token_type_ids is None:
      token_type_ids = tf.zeros([batch_size, seq_length], dtype=tf.int32)
    eps = getattr(config, "layer_norm_eps", 1e-12)

    with tf1.variable_scope(scope, default_name="bert"):
      with tf1.variable_scope("embeddings"):
        self.word_embedding_output, self.embedding_table = embedding_lookup(
            input_ids=input_ids,
            vocab_size=config.vocab_size,
            embedding_size=config.hidden_size,
            initializer_range=config.initializer_range,
            word_embedding_name="word_embeddings",
            use_one_hot_embeddings=use_one_hot_embeddings)
        self.embedding_output = embedding_postprocessor(
            input_tensor=self.word_embedding_output,
            use_token_type=True,
            token_type_ids=token_type_ids,
            token_type_vocab_size=config.type_vocab_size,
            token_type_embedding_name="token_type_embeddings",
            use_position_embeddings=True,
            position_embedding_name="position_embeddings",
            initializer_range=config.initializer_range,
            max_position_embeddings=config.max_position_embeddings,
            dropout_prob=config.hidden_dropout_prob,
            layer_norm_eps=eps)

      with tf1.variable_scope("encoder"):
        attention_mask = create_attention_mask_from_input_mask(
            input_ids, input_mask)
        self.all_encoder_layers = transformer_model(
            input_tensor=self.embedding_output,
            attention_mask=attention_mask,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            intermediate_act_fn=get_activation(config.hidden_act),
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            do_return_all_layers=True,
            layer_norm_eps=eps)
      self.sequence_output = self.all_encoder_layers[-1]

      with tf1.variable_scope("pooler"):
        # The pooler reads only [CLS]: pretraining taught it to summarise the
        # pair for next-sentence prediction.
        first_token = self.sequence_output[:, 0, :]
        self.pooled_output = dense_layer(
            first_token, config.hidden_size, activation=tf.tanh,
            initializer_range=config.initializer_range, name="dense")

  def get_pooled_output(self):
    """[B, H] tanh(dense([CLS])), the sentence-level output."""
    return self.pooled_output

  def get_sequence_output(self):
    """[B, S, H] output of the last encoder layer."""
    return self.sequence_output

  def get_all_encoder_layers(self):
    """List of num_hidden_layers tensors [B, S, H], first layer first."""
    return self.all_encoder_layers

  def get_embedding_output(self):
    """[B, S, H] embeddings after adding positions/segments, norm, dropout."""
    return self.embedding_output

  def get_embedding_table(self):
    """[V, H] the word-embedding table (tied to the masked-LM output)."""
    return self.embedding_table


def gelu(x):
  """Exact GELU, x * Phi(x) with the Gaussian CDF through erf.

  This is what `"hidden_act": "gelu"` means in Hugging Face configs (and in
  the MiniLM this project tests against).

  Args:
    x: float tensor of any shape.
  Returns:
    `x` with the activation applied.
  """
  return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
  """GELU by Google's tanh approximation (what Google's code calls `gelu`).

  Differs from the exact form by up to ~4e-3 on real activations; choose it
  with `"hidden_act": "gelu_tanh"` (alias `"gelu_new"`, HF's name for it).
  """
  cdf = 0.5 * (1.0 + tf.tanh(
      math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))
  return x * cdf


_ACTIVATIONS = {
    "linear": None,
    "relu": tf.nn.relu,
    "gelu": gelu,
    "gelu_tanh": gelu_tanh,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "tanh": tf.tanh,
    "swish": tf.nn.swish,
    "silu": tf.nn.swish,
}


def get_activation(activation_string):
  """Maps a config's activation name to a function.

  Args:
    activation_string: a name (case-insensitive) or a callable, which is
      returned as is. "" and "linear" mean no activation (None).
  Returns:
    A function of one tensor, or None.
  Raises:
    ValueError: for an unknown name.
  """
  if not isinstance(activation_string, str):
    return activation_string
  if not activation_string:
    return None
  name = activation_string.lower()
  if name not in _ACTIVATIONS:
    raise ValueError("Unsupported activation %r; choose one of %s"
                     % (activation_string, ", ".join(sorted(_ACTIVATIONS))))
  return _ACTIVATIONS[name]


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
  """Pairs graph variables with same-named checkpoint variables.

  Args:
    tvars: list of variables (usually the trainable ones).
    init_checkpoint: checkpoint path.
  Returns:
    (assignment_map, initialized_variable_names): an OrderedDict
    checkpoint name -> graph name for tf1.train.init_from_checkpoint, and a
    dict whose keys are the graph names (with and without ":0") that the
    checkpoint will initialise.
  """
  name_to_variable = collections.OrderedDict()
  for var in tvars:
    name = re.sub(r":\d+$", "", var.name)
    name_to_variable[name] = var
  assignment_map = collections.OrderedDict()
  initialized_variable_names = {}
  for name, _ in tf.train.list_variables(init_checkpoint):
    if name not in name_to_variable:
      continue
    assignment_map[name] = name
    initialized_variable_names[name] = 1
    initialized_variable_names[name + ":0"] = 1
  return assignment_map, initialized_variable_names


# Graph collection holding the step that keys dropout's masks; see
# seed_dropout_by_step.
DROPOUT_STEP_COLLECTION = "bert_dropout_step"


def seed_dropout_by_step(step):
  """Makes every later `dropout` in this graph a function of (the graph's
  seed, the dropout's name scope, `step`) instead of a stateful stream.

  TensorFlow's stateful random ops restart their stream in every new
  session, so a run resumed from a checkpoint would draw the masks of steps
  1, 2, ... again. Keyed by the global step, stateless masks make step k draw
  the same masks whether or not the run stopped on the way, and the same in
  every run with the same --random_seed. The step must be read before it is
  incremented (the train op increments it after the update, which needs the
  masks). Under a tf.distribute strategy each replica's id is folded in, so
  replicas draw different masks. Without a graph-level seed, dropout stays
  stateful (nothing would make it reproducible anyway).

  Args:
    step: integer scalar tensor or variable, e.g. the global step.
  """
  tf1.add_to_collection(DROPOUT_STEP_COLLECTION, step)


def _dropout_seed(graph, scope):
  """[2] int64 seed of the dropout in `scope`, or None (stateful dropout)."""
  steps = graph.get_collection(DROPOUT_STEP_COLLECTION)
  if not steps or graph.seed is None:
    return None
  # A stable hash of the op's place in the model: Python's hash() changes
  # from process to process.
  digest = hashlib.sha256(("%d/%s" % (graph.seed, scope)).encode("utf-8"))
  key = int.from_bytes(digest.digest()[:8], "little") & (2**63 - 1)
  step = tf.cast(steps[-1], tf.int64)
  replicas = tf.distribute.get_replica_context()
  if replicas is not None and replicas.num_replicas_in_sync > 1:
    step = step * replicas.num_replicas_in_sync + tf.cast(
        replicas.replica_id_in_sync_group, tf.int64)
  return tf.stack([tf.constant(key, tf.int64), step])


def dropout(input_tensor, dropout_prob):
  """Dropout with the drop probability (not the keep probability).

  Stateless, keyed by (seed, name scope, step), in graphs that called
  seed_dropout_by_step (training under the estimator); stateful otherwise.

  Args:
    input_tensor: float tensor.
    dropout_prob: probability of dropping a value; None or 0.0 is a no-op.
  Returns:
    A tensor of the same shape.
  """
  if dropout_prob is None or dropout_prob == 0.0:
    return input_tensor
  graph = tf1.get_default_graph()
  with tf.name_scope("dropout") as scope:
    seed = _dropout_seed(graph, scope)
    if seed is None:
      return tf.nn.dropout(input_tensor, rate=dropout_prob)
    return tf.nn.experimental.stateless_dropout(input_tensor, dropout_prob,
                                                seed)


def layer_norm(input_tensor, name=None, epsilon=1e-12):
  """Layer norm over the last axis, with variables `beta` and `gamma`.

  Written through tf.nn.batch_normalization: a hand-written
  (x - mean) * rsqrt(var + eps) crashed TF 2.15's oneDNN graph remapper on
  these machines, while this form (Google's) is fused safely.

  Args:
    input_tensor: float tensor [..., H].
    name: variable scope; Google's checkpoints call it "LayerNorm".
    epsilon: added to the variance.
  Returns:
    A tensor of the same shape.
  """
  with tf1.variable_scope(name, default_name="LayerNorm"):
    width = get_shape_list(input_tensor)[-1]
    beta = tf1.get_variable("beta", [width],
                            initializer=tf1.zeros_initializer())
    gamma = tf1.get_variable("gamma", [width],
                             initializer=tf1.ones_initializer())
    mean, variance = tf.nn.moments(input_tensor, [-1], keepdims=True)
    return tf.nn.batch_normalization(
        input_tensor, mean, variance, offset=tf.cast(beta, input_tensor.dtype),
        scale=tf.cast(gamma, input_tensor.dtype), variance_epsilon=epsilon)


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None,
                           epsilon=1e-12):
  """Layer norm, then dropout (the embedding layer's order)."""
  output_tensor = layer_norm(input_tensor, name, epsilon=epsilon)
  return dropout(output_tensor, dropout_prob)


def create_initializer(initializer_range=0.02):
  """Truncated-normal initialiser with the given stddev (Google's)."""
  return tf1.truncated_normal_initializer(stddev=initializer_range)


def dense_layer(input_tensor, units, activation=None, initializer_range=0.02,
                name=None):
  """x @ kernel + bias with variables `kernel` [in, units] and `bias`.

  The same variable names as tf.layers.dense, without its Keras machinery.

  Args:
    input_tensor: float tensor [..., in]; rank 2 is the fast path.
    units: output width.
    activation: function or None.
    initializer_range: stddev for the kernel initialiser.
    name: variable scope.
  Returns:
    Tensor [..., units].
  """
  with tf1.variable_scope(name, default_name="dense"):
    in_width = get_shape_list(input_tensor)[-1]
    kernel = tf1.get_variable("kernel", [in_width, units],
                              initializer=create_initializer(initializer_range))
    bias = tf1.get_variable("bias", [units],
                            initializer=tf1.zeros_initializer())
    kernel = tf.cast(kernel, input_tensor.dtype)
    bias = tf.cast(bias, input_tensor.dtype)
    if input_tensor.shape.ndims == 2:
      output = tf.matmul(input_tensor, kernel)
    else:
      output = tf.tensordot(input_tensor, kernel, [[-1], [0]])
    output = tf.nn.bias_add(output, bias)
    if activation is not None:
      output = activation(output)
    return output


def embedding_lookup(input_ids,
                     vocab_size,
                     embedding_size=128,
                     initializer_range=0.02,
                     word_embedding_name="word_embeddings",
                     use_one_hot_embeddings=False):
  """Looks word-piece ids up in a [V, H] table.

  Args:
    input_ids: int32 [B, S].
    vocab_size: V.
    embedding_size: H.
    initializer_range: stddev of the table's initialiser.
    word_embedding_name: the table's variable name.
    use_one_hot_embeddings: a one-hot matmul (fast on TPU) instead of gather.
  Returns:
    (output [B, S, H], embedding_table [V, H]).
  """
  input_shape = get_shape_list(input_ids, expected_rank=2)
  embedding_table = tf1.get_variable(
      name=word_embedding_name,
      shape=[vocab_size, embedding_size],
      initializer=create_initializer(initializer_range))
  flat_input_ids = tf.reshape(input_ids, [-1])
  if use_one_hot_embeddings:
    one_hot_input_ids = tf.one_hot(flat_input_ids, depth=vocab_size)
    output = tf.matmul(one_hot_input_ids, embedding_table)
  else:
    output = tf.gather(embedding_table, flat_input_ids)
  output = tf.reshape(output, input_shape + [embedding_size])
  return output, embedding_table


def embedding_postprocessor(input_tensor,
                            use_token_type=False,
                            token_type_ids=None,
                            token_type_vocab_size=16,
                            token_type_embedding_name="token_type_embeddings",
                            use_position_embeddings=True,
                            position_embedding_name="position_embeddings",
                            initializer_range=0.02,
                            max_position_embeddings=512,
                            dropout_prob=0.1,
                            layer_norm_eps=1e-12):
  """Adds segment and position embeddings, then layer norm and dropout.

  Args:
    input_tensor: float [B, S, H] word embeddings.
    use_token_type: add segment embeddings.
    token_type_ids: int32 [B, S]; required when use_token_type.
    token_type_vocab_size: rows of the segment table.
    token_type_embedding_name: its variable name.
    use_position_embeddings: add learned absolute position embeddings.
    position_embedding_name: their variable name.
    initializer_range: stddev of the initialisers.
    max_position_embeddings: rows of the position table; S may not exceed it.
    dropout_prob: dropout after the layer norm.
    layer_norm_eps: epsilon of the layer norm.
  Returns:
    float [B, S, H].
  Raises:
    ValueError: if S is statically known to exceed max_position_embeddings.
  """
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, width = input_shape
  output = input_tensor

  if use_token_type:
    if token_type_ids is None:
      raise ValueError("`token_type_ids` must be given when use_token_type")
    token_type_table = tf1.get_variable(
        name=token_type_embedding_name,
        shape=[token_type_vocab_size, width],
        initializer=create_initializer(initializer_range))
    # A one-hot matmul: the segment vocabulary is tiny, and this is faster
    # than a gather on TPU and no slower elsewhere.
    flat_token_type_ids = tf.reshape(token_type_ids, [-1])
    one_hot_ids = tf.one_hot(flat_token_type_ids, depth=token_type_vocab_size,
                             dtype=token_type_table.dtype.base_dtype)
    token_type_embeddings = tf.matmul(one_hot_ids, token_type_table)
    output += tf.reshape(token_type_embeddings,
                         [batch_size, seq_length, width])

  if use_position_embeddings:
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
      raise ValueError(
          "Sequence length %d is longer than max_position_embeddings (%d) of "
          "the BERT config; use a max_seq_length of at most %d"
          % (seq_length, max_position_embeddings, max_position_embeddings))
    full_position_embeddings = tf1.get_variable(
        name=position_embedding_name,
        shape=[max_position_embeddings, width],
        initializer=create_initializer(initializer_range))
    checks = []
    if not isinstance(seq_length, int):
      checks.append(tf.debugging.assert_less_equal(
          seq_length, max_position_embeddings,
          message="sequence longer than max_position_embeddings"))
    with tf.control_dependencies(checks):
      # Positions are 0..S-1 for every example, so a slice replaces a gather.
      position_embeddings = tf.slice(full_position_embeddings, [0, 0],
                                     [seq_length, -1])
    output += tf.expand_dims(position_embeddings, 0)

  return layer_norm_and_dropout(output, dropout_prob, epsilon=layer_norm_eps)


def create_attention_mask_from_input_mask(from_tensor, to_mask):
  """Builds a 3-D attention mask from a 2-D padding mask.

  Args:
    from_tensor: [B, F, ...] (only its first two dims are used).
    to_mask: int32 [B, T], 1 for tokens that may be attended to.
  Returns:
    float32 [B, F, T] mask, 1.0 where attention is allowed.
  """
  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  batch_size, from_seq_length = from_shape[0], from_shape[1]
  to_shape = get_shape_list(to_mask, expected_rank=2)
  to_seq_length = to_shape[1]
  to_mask = tf.cast(
      tf.reshape(to_mask, [batch_size, 1, to_seq_length]), tf.float32)
  # Every `from` position (padding included) sees the same keys; padded query
  # rows are ignored downstream, so no [B, F, 1] factor is needed.
  broadcast_ones = tf.ones([batch_size, from_seq_length, 1], dtype=tf.float32)
  return broadcast_ones * to_mask


def attention_layer(from_tensor,
                    to_tensor,
                    attention_mask=None,
                    num_attention_heads=1,
                    size_per_head=512,
                    query_act=None,
                    key_act=None,
                    value_act=None,
                    attention_probs_dropout_prob=0.0,
                    initializer_range=0.02,
                    do_return_2d_tensor=False,
                    batch_size=None,
                    from_seq_length=None,
                    to_seq_length=None):
  """Multi-headed scaled dot-product attention from `from` to `to`.

  Inputs may be passed as 2-D [B*F, width] tensors (with batch_size and the
  lengths given) to avoid reshapes between layers, which matters on TPU.

  Args:
    from_tensor: float [B, F, width] or [B*F, width].
    to_tensor: float [B, T, width] or [B*T, width].
    attention_mask: optional [B, F, T], 1.0 where attention is allowed.
    num_attention_heads: N.
    size_per_head: D.
    query_act, key_act, value_act: optional activations of the projections.
    attention_probs_dropout_prob: dropout on the attention probabilities.
    initializer_range: stddev of the projection initialisers.
    do_return_2d_tensor: return [B*F, N*D] instead of [B, F, N*D].
    batch_size, from_seq_length, to_seq_length: needed for 2-D inputs.
  Returns:
    float [B, F, N*D] (or [B*F, N*D]).
  """
  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  to_shape = get_shape_list(to_tensor, expected_rank=[2, 3])
  if len(from_shape) != len(to_shape):
    raise ValueError("`from_tensor` and `to_tensor` must have the same rank")
  if len(from_shape) == 3:
    batch_size, from_seq_length, to_seq_length = (
        from_shape[0], from_shape[1], to_shape[1])
  elif batch_size is None or from_seq_length is None or to_seq_length is None:
    raise ValueError("2-D inputs need batch_size, from_seq_length and "
                     "to_seq_length")

  from_2d = reshape_to_matrix(from_tensor)
  to_2d = reshape_to_matrix(to_tensor)
  width = num_attention_heads * size_per_head
  # [B*F, N*D], [B*T, N*D], [B*T, N*D]
  query = dense_layer(from_2d, width, query_act, initializer_range, "query")
  key = dense_layer(to_2d, width, key_act, initializer_range, "key")
  value = dense_layer(to_2d, width, value_act, initializer_range, "value")

  def split_heads(x, seq_length):
    # [B*S, N*D] -> [B, N, S, D]
    x = tf.reshape(x, [batch_size, seq_length, num_attention_heads,
                       size_per_head])
    return tf.transpose(x, [0, 2, 1, 3])

  query = split_heads(query, from_seq_length)
  key = split_heads(key, to_seq_length)
  # [B, N, F, T]
  scores = tf.matmul(query, key, transpose_b=True)
  scores *= 1.0 / math.sqrt(float(size_per_head))
  if attention_mask is not None:
    # [B, 1, F, T]; disallowed positions get -10000 before the softmax, which
    # leaves them with ~0 probability.
    mask = tf.expand_dims(tf.cast(attention_mask, scores.dtype), axis=1)
    scores += (1.0 - mask) * -10000.0
  probs = tf.nn.softmax(scores)
  probs = dropout(probs, attention_probs_dropout_prob)

  value = split_heads(value, to_seq_length)
  # [B, N, F, D] -> [B, F, N, D]
  context = tf.transpose(tf.matmul(probs, value), [0, 2, 1, 3])
  if do_return_2d_tensor:
    return tf.reshape(context, [batch_size * from_seq_length, width])
  return tf.reshape(context, [batch_size, from_seq_length, width])


def transformer_model(input_tensor,
                      attention_mask=None,
                      hidden_size=768,
                      num_hidden_layers=12,
                      num_attention_heads=12,
                      intermediate_size=3072,
                      intermediate_act_fn=gelu,
                      hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1,
                      initializer_range=0.02,
                      do_return_all_layers=False,
                      layer_norm_eps=1e-12):
  """The Transformer encoder of "Attention is All You Need" (post-norm).

  Args:
    input_tensor: float [B, S, H].
    attention_mask: optional [B, S, S], 1.0 where attention is allowed.
    hidden_size: H.
    num_hidden_layers: number of layers.
    num_attention_heads: N; must divide H.
    intermediate_size: I.
    intermediate_act_fn: activation of the feed-forward layer.
    hidden_dropout_prob: dropout on each sub-layer's output.
    attention_probs_dropout_prob: dropout on attention probabilities.
    initializer_range: stddev of the initialisers.
    do_return_all_layers: return every layer's output, not just the last.
    layer_norm_eps: epsilon of the layer norms.
  Returns:
    float [B, S, H], or a list of num_hidden_layers of them.
  """
  if hidden_size % num_attention_heads != 0:
    raise ValueError("hidden size (%d) is not a multiple of the number of "
                     "attention heads (%d)" % (hidden_size, num_attention_heads))
  size_per_head = hidden_size // num_attention_heads
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, input_width = input_shape
  if isinstance(input_width, int) and input_width != hidden_size:
    raise ValueError("input width (%d) != hidden size (%d)"
                     % (input_width, hidden_size))

  # The layers work on [B*S, H]: reshaping once here instead of around every
  # matmul keeps the TPU from padding and copying.
  prev_output = reshape_to_matrix(input_tensor)
  all_layer_outputs = []
  for layer_idx in range(num_hidden_layers):
    with tf1.variable_scope("layer_%d" % layer_idx):
      layer_input = prev_output
      with tf1.variable_scope("attention"):
        with tf1.variable_scope("self"):
          attention_output = attention_layer(
              from_tensor=layer_input,
              to_tensor=layer_input,
              attention_mask=attention_mask,
              num_attention_heads=num_attention_heads,
              size_per_head=size_per_head,
              attention_probs_dropout_prob=attention_probs_dropout_prob,
              initializer_range=initializer_range,
              do_return_2d_tensor=True,
              batch_size=batch_size,
              from_seq_length=seq_length,
              to_seq_length=seq_length)
        with tf1.variable_scope("output"):
          attention_output = dense_layer(attention_output, hidden_size,
                                         None, initializer_range, "dense")
          attention_output = dropout(attention_output, hidden_dropout_prob)
          attention_output = layer_norm(attention_output + layer_input,
                                        epsilon=layer_norm_eps)
      with tf1.variable_scope("intermediate"):
        intermediate_output = dense_layer(attention_output, intermediate_size,
                                          intermediate_act_fn,
                                          initializer_range, "dense")
      with tf1.variable_scope("output"):
        layer_output = dense_layer(intermediate_output, hidden_size, None,
                                   initializer_range, "dense")
        layer_output = dropout(layer_output, hidden_dropout_prob)
        layer_output = layer_norm(layer_output + attention_output,
                                  epsilon=layer_norm_eps)
      prev_output = layer_output
      all_layer_outputs.append(layer_output)

  if do_return_all_layers:
    return [reshape_from_matrix(x, input_shape) for x in all_layer_outputs]
  return reshape_from_matrix(prev_output, input_shape)


def get_shape_list(tensor, expected_rank=None, name=None):
  """The shape of a tensor, with Python ints where static, scalars elsewhere.

  Args:
    tensor: a tf.Tensor.
    expected_rank: optional int or list of ints; a different rank raises.
    name: the tensor's name for the error message.
  Returns:
    A list with one entry per dimension: an int when known at graph-build
    time, else a scalar int32 tensor (e.g. a dynamic batch size).
  """
  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name)
  shape = tensor.shape.as_list()
  dynamic = None
  for index, dim in enumerate(shape):
    if dim is None:
      if dynamic is None:
        dynamic = tf.shape(tensor)
      shape[index] = dynamic[index]
  return shape


def reshape_to_matrix(input_tensor):
  """[..., W] -> [prod(...), W]; a rank-2 input is returned unchanged."""
  ndims = input_tensor.shape.ndims
  if ndims < 2:
    raise ValueError("Input tensor must have at least rank 2. Shape = %s"
                     % (input_tensor.shape,))
  if ndims == 2:
    return input_tensor
  width = input_tensor.shape[-1]
  return tf.reshape(input_tensor, [-1, width])


def reshape_from_matrix(output_tensor, orig_shape_list):
  """[prod(...), W] -> [..., W] with `...` taken from orig_shape_list."""
  if len(orig_shape_list) == 2:
    return output_tensor
  output_shape = get_shape_list(output_tensor)
  return tf.reshape(output_tensor, orig_shape_list[0:-1] + [output_shape[-1]])


def assert_rank(tensor, expected_rank, name=None):
  """Raises ValueError when the tensor's static rank is not as expected.

  Args:
    tensor: a tf.Tensor.
    expected_rank: int or list of ints.
    name: used in the message; defaults to the tensor's name.
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")
  if isinstance(expected_rank, int):
    expected_rank = [expected_rank]
  actual_rank = tensor.shape.ndims
  if actual_rank not in expected_rank:
    raise ValueError(
        "For the tensor `%s`, the actual rank `%s` (shape = %s) is not equal "
        "to the expected rank `%s`" % (name, actual_rank, tensor.shape,
                                       expected_rank))


def count_parameters(variables):
  """Total number of scalars in a list of variables (for logs)."""
  return int(sum(np.prod(v.shape.as_list()) for v in variables))
