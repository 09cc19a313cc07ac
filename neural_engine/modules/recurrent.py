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

    ``padding_mask`` (N, L), True at padded steps, makes it skip them as Keras does, for
    right-padded sequences (a sequence ends at its last real step; an earlier padded step is read
    as an ordinary one): the result is the state at the last real step; returned sequences repeat
    it over the padding (bidirectional ones are zero there, as Keras' ``Bidirectional``). Outputs
    are gathered by index, not packed, so the module exports to ONNX: the real steps come first,
    so the forward direction's outputs there are exact; the backward direction reads each
    sequence moved to end at the last step — a second pass of the (one-layer) RNN.
    """

    def __init__(self, rnn: nn.Module, return_sequences: bool = False, merge_mode: str = "concat"):
        super().__init__()
        self.rnn, self.return_sequences, self.merge_mode = rnn, return_sequences, merge_mode

    def forward(self, x, padding_mask=None):
        if padding_mask is not None:
            return self._masked(x, padding_mask)
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

    def _masked(self, x, padding_mask):
        n, steps = padding_mask.shape
        step = torch.arange(steps, device=x.device).expand(n, steps)  # (N, L)
        length = ((step + 1) * (~padding_mask)).amax(1, keepdim=True)  # (N, 1): last real step + 1
        last = (length - 1).clamp(min=0)
        out = self.rnn(x)[0]  # (N, L, H·d)
        some = (length > 0).to(out.dtype)  # (N, 1): an all-padding sequence gives zeros, as in Keras
        if not self.rnn.bidirectional:
            if self.return_sequences:  # Keras carries the last real output over the padding
                return _steps(out, torch.minimum(step, last)) * some.unsqueeze(-1)
            return _steps(out, last).squeeze(1) * some
        h = self.rnn.hidden_size
        shift = steps - length  # (N, 1): moved right by this, a sequence ends at the last step
        moved = self.rnn(_steps(x, (step - shift).clamp(min=0)))[0][..., h:]
        backward = _steps(moved, (step + shift).clamp(max=steps - 1))  # back to the real positions
        forward = out[..., :h]
        if self.return_sequences:
            real = (~padding_mask).unsqueeze(-1).to(out.dtype)
            forward, backward = forward * real, backward * real
        else:
            forward, backward = _steps(forward, last).squeeze(1) * some, backward[:, 0] * some
        return _MERGE[self.merge_mode](forward, backward)

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}, merge_mode={self.merge_mode!r}"


def _steps(x, index):
    """``x[i, index[i, j]]`` for (N, L, F) ``x`` and (N, J) ``index`` -> (N, J, F)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


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
