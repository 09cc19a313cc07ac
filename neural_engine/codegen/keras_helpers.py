"""Source of the small Keras layers a generated file defines for what ``keras.layers`` lacks.

Fixed text (no user input): :mod:`neural_engine.codegen.keras` copies the ones a model uses
into the generated file, after the imports. Each mirrors the torch module NeuralForge builds.
"""

from __future__ import annotations

HELPERS: dict[str, str] = {}

HELPERS["gelu_tanh"] = '''
def gelu_tanh(x):
    """GELU with the tanh approximation (torch's GELU(approximate="tanh"))."""
    return keras.activations.gelu(x, approximate=True)
'''

HELPERS["Pad"] = '''
class Pad(layers.Layer):
    """Constant padding: ``pad_width`` is a (before, after) pair per axis, the batch axis included."""

    def __init__(self, pad_width, value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.pad_width, self.value = pad_width, value

    def call(self, x):
        return keras.ops.pad(x, self.pad_width, constant_values=self.value)

    def compute_output_shape(self, shape):
        return tuple(None if n is None else n + a + b for n, (a, b) in zip(shape, self.pad_width))
'''

HELPERS["PaddedAveragePooling"] = '''
class PaddedAveragePooling(layers.Layer):
    """Average pooling after zero padding that the average leaves out (torch's
    count_include_pad=False): the pooled sum over the pooled count of real values."""

    def __init__(self, pool, pad_width, **kwargs):
        super().__init__(**kwargs)
        self.pool, self.pad = pool, Pad(pad_width)

    def call(self, x):
        return self.pool(self.pad(x)) / self.pool(self.pad(keras.ops.ones_like(x)))
'''

HELPERS["PositionalEncoding"] = '''
def sinusoid_table(max_len, dim):
    """(max_len, dim): sin on even features, cos on odd ones (Vaswani et al. 2017)."""
    position = keras.ops.expand_dims(keras.ops.arange(max_len, dtype="float32"), 1)
    rate = keras.ops.exp(keras.ops.arange(0, dim, 2, dtype="float32") * (-math.log(10000.0) / dim))
    angles = position * rate                                             # (max_len, ceil(dim / 2))
    pairs = keras.ops.stack([keras.ops.sin(angles), keras.ops.cos(angles)], axis=-1)
    return keras.ops.reshape(pairs, (max_len, -1))[:, :dim]


class PositionalEncoding(layers.Layer):
    """Adds a position table to (N, steps, embed_dim) — fixed sine/cosine or learned — then dropout."""

    def __init__(self, max_len, embed_dim, learnable=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_len, self.embed_dim, self.learnable = max_len, embed_dim, learnable
        self.dropout = layers.Dropout(dropout)
        if learnable:
            self.table = self.add_weight(shape=(max_len, embed_dim), name="table",
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x, training=None):
        table = self.table if self.learnable else sinusoid_table(self.max_len, self.embed_dim)
        return self.dropout(x + table[: keras.ops.shape(x)[1]], training=training)
'''

HELPERS["TransformerBlock"] = '''
class TransformerBlock(layers.Layer):
    """torch's TransformerEncoderLayer in Keras (TransformerDecoderLayer with ``cross``):
    self-attention, cross-attention on ``memory``, a feed-forward network; each sub-layer is
    residual, with LayerNorm after it (before it when ``norm_first``)."""

    def __init__(self, embed_dim, num_heads, ff_dim, dropout=0.1, activation="relu", norm_first=False,
                 causal=False, cross=False, **kwargs):
        super().__init__(**kwargs)
        self.norm_first, self.causal = norm_first, causal
        head_dim = embed_dim // num_heads
        self.attention = [layers.MultiHeadAttention(num_heads, head_dim, dropout=dropout)
                          for _ in range(2 if cross else 1)]
        self.norms = [layers.LayerNormalization(epsilon=1e-5) for _ in range(len(self.attention) + 1)]
        self.feed_forward = [layers.Dense(ff_dim, activation=activation), layers.Dropout(dropout),
                             layers.Dense(embed_dim)]
        self.dropouts = [layers.Dropout(dropout) for _ in self.norms]

    def _residual(self, i, x, sublayer, training):
        if self.norm_first:
            return x + self.dropouts[i](sublayer(self.norms[i](x)), training=training)
        return self.norms[i](x + self.dropouts[i](sublayer(x), training=training))

    def _feed_forward(self, x, training=None):
        up, drop, down = self.feed_forward
        return down(drop(up(x), training=training))

    def call(self, x, memory=None, training=None):
        x = self._residual(0, x, lambda h: self.attention[0](h, h, use_causal_mask=self.causal,
                                                             training=training), training)
        if memory is not None:
            x = self._residual(1, x, lambda h: self.attention[1](h, memory, training=training), training)
        return self._residual(-1, x, lambda h: self._feed_forward(h, training), training)
'''

# helpers that need other helpers or modules first
NEEDS = {"PaddedAveragePooling": ("Pad",)}
NEEDS_MATH = ("PositionalEncoding",)
