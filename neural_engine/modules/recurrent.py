"""Recurrent wrappers: Keras' return conventions around torch's RNNs, and TimeDistributed."""

from __future__ import annotations

import torch
from torch import nn

from neural_engine.modules import nf_module

_MERGE = {
    "concat": lambda f, b: torch.cat((f, b), dim=-1),
    "sum": lambda f, b: f + b,
    "mul": lambda f, b: f * b,
    "ave": lambda f, b: (f + b) / 2,
}


@nf_module
class Recurrent(nn.Module):
    """A batch-first ``nn.LSTM``/``nn.GRU``/``nn.RNN`` returning what Keras returns.

    (N, L, F) -> (N, L, H·d) with ``return_sequences``, else the last layer's final hidden state
    (N, H·d), taken from ``h_n`` so a bidirectional RNN's backward direction is its state after
    reading the whole sequence backwards. Bidirectional outputs are merged by ``merge_mode``.
    """

    def __init__(self, rnn: nn.Module, return_sequences: bool = False, merge_mode: str = "concat"):
        super().__init__()
        self.rnn, self.return_sequences, self.merge_mode = rnn, return_sequences, merge_mode

    def forward(self, x):
        out, h_n = self.rnn(x)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)
        if self.return_sequences:
            if not self.rnn.bidirectional or self.merge_mode == "concat":
                return out  # (N, L, H·d)
            forward, backward = out.chunk(2, dim=-1)
            return _MERGE[self.merge_mode](forward, backward)
        if self.rnn.bidirectional:  # h_n: (layers·2, N, H)
            return _MERGE[self.merge_mode](h_n[-2], h_n[-1])
        return h_n[-1]  # (N, H)

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}, merge_mode={self.merge_mode!r}"


@nf_module
class TimeDistributed(nn.Module):
    """Applies ``layer`` to every time step: (N, T, ...) -> (N·T, ...) -> layer -> (N, T, ...)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        n, t = x.shape[:2]
        y = self.layer(x.reshape(n * t, *x.shape[2:]))
        return y.reshape(n, t, *y.shape[1:])
