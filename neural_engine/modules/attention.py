"""Attention modules: Keras-style multi-head attention, a causal decoder, positional encodings."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from neural_engine.modules import nf_module


@nf_module
class MultiHeadAttention(nn.Module):
    """Keras' ``MultiHeadAttention``: ``forward(query, value=None, key=None, key_padding_mask=None)``.

    query (N, L, Eq), value (N, S, Ev), key (N, S, Ek); key defaults to value, value to query.
    Projects q/k to ``num_heads·key_dim`` and v to ``num_heads·value_dim``, attends per head with
    ``F.scaled_dot_product_attention`` and projects back to ``output_dim`` -> (N, L, output_dim).
    ``key_padding_mask`` (N, S), True at padded key steps: no query attends to those.
    """

    def __init__(
        self,
        query_features: int,
        key_features: int,
        value_features: int,
        num_heads: int,
        key_dim: int,
        value_dim: int,
        output_dim: int,
        dropout: float = 0.0,
        bias: bool = True,
    ):
        super().__init__()
        self.num_heads, self.key_dim, self.value_dim, self.dropout = num_heads, key_dim, value_dim, dropout
        self.query = nn.Linear(query_features, num_heads * key_dim, bias=bias)
        self.key = nn.Linear(key_features, num_heads * key_dim, bias=bias)
        self.value = nn.Linear(value_features, num_heads * value_dim, bias=bias)
        self.output = nn.Linear(num_heads * value_dim, output_dim, bias=bias)

    def _heads(self, x, dim: int):
        n, length = x.shape[:2]
        return x.view(n, length, self.num_heads, dim).transpose(1, 2)  # (N, heads, length, dim)

    def forward(self, query, value=None, key=None, key_padding_mask=None):
        value = query if value is None else value
        key = value if key is None else key
        q = self._heads(self.query(query), self.key_dim)
        k = self._heads(self.key(key), self.key_dim)
        v = self._heads(self.value(value), self.value_dim)
        mask = _additive(key_padding_mask, q.dtype)
        mask = None if mask is None else mask[:, None, None, :]  # (N, 1, 1, S)
        dropout = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        n, _, length, _ = o.shape
        return self.output(o.transpose(1, 2).reshape(n, length, self.num_heads * self.value_dim))


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(L, L) float mask: 0 on and below the diagonal, -inf above (no looking ahead)."""
    return nn.Transformer.generate_square_subsequent_mask(length, device=device)


@nf_module
class CausalDecoder(nn.Module):
    """A transformer decoder whose target attends only to earlier positions.

    ``stack`` is an ``nn.TransformerDecoder`` (called with target and memory: self-attention,
    cross-attention, feed-forward) or, for a decoder-only model, an ``nn.TransformerEncoder``
    (called with the target alone: masked self-attention and feed-forward).
    """

    def __init__(self, stack: nn.Module, causal: bool = True):
        super().__init__()
        self.stack, self.causal = stack, causal

    def forward(self, target, memory=None, tgt_key_padding_mask=None, memory_key_padding_mask=None):
        """``*_key_padding_mask`` (N, steps), True at padded steps: never attended to."""
        mask = causal_mask(target.shape[1], target.device) if self.causal else None
        pad, memory_pad = _additive(tgt_key_padding_mask), _additive(memory_key_padding_mask)
        if memory is None:
            return self.stack(target, mask=mask, src_key_padding_mask=pad, is_causal=self.causal)
        return self.stack(
            target,
            memory,
            tgt_mask=mask,
            tgt_key_padding_mask=pad,
            memory_key_padding_mask=memory_pad,
            tgt_is_causal=self.causal,
        )


def _additive(padding_mask, dtype=torch.float32):
    """A boolean padding mask (True at padded steps) as an additive float one: 0, or the dtype's
    lowest value at padded steps — not -inf, so a query that may attend to nothing else (a
    sequence of padding only) gets finite weights instead of NaN, as Keras' large negative does.
    Float like the causal mask, so torch need not mix the two kinds."""
    if padding_mask is None:
        return None
    zeros = torch.zeros(padding_mask.shape, dtype=dtype, device=padding_mask.device)
    return zeros.masked_fill(padding_mask, torch.finfo(dtype).min)


def sinusoid_table(max_len: int, dim: int) -> torch.Tensor:
    """(max_len, dim): sin on even features, cos on odd ones (Vaswani et al. 2017)."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
    return table


@nf_module
class PositionalEncoding(nn.Module):
    """Adds a position table to (N, L, E) inputs, then dropout.

    The sinusoidal table is a non-persistent buffer (recomputed, never saved or counted); the
    learnable one is a (max_len, E) parameter.
    """

    def __init__(self, max_len: int, embed_dim: int, learnable: bool = False, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        if learnable:
            self.table = nn.Parameter(torch.randn(max_len, embed_dim) * 0.02)
        else:
            self.register_buffer("table", sinusoid_table(max_len, embed_dim), persistent=False)

    def forward(self, x):
        return self.dropout(x + self.table[: x.shape[1]])
