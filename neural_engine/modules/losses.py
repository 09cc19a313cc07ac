"""Losses torch.nn lacks."""

from __future__ import annotations

from torch import nn

from neural_engine.modules import nf_module


@nf_module
class DiceLoss(nn.Module):
    """1 - soft Dice overlap averaged over classes: logits (N, C, ...) vs class ids (N, ...);
    ``with_bce`` adds binary cross-entropy on the one-hot targets."""

    def __init__(self, with_bce: bool = False):
        super().__init__()
        self.with_bce = with_bce

    def forward(self, logits, target):
        probs = logits.softmax(dim=1)
        one_hot = nn.functional.one_hot(target, probs.shape[1]).movedim(-1, 1).to(probs.dtype)
        dims = (0, *range(2, probs.dim()))  # all but the class axis
        overlap = (probs * one_hot).sum(dims)
        total = probs.sum(dims) + one_hot.sum(dims)
        loss = 1 - ((2 * overlap + 1) / (total + 1)).mean()
        if self.with_bce:
            loss = loss + nn.functional.binary_cross_entropy_with_logits(logits, one_hot)
        return loss
