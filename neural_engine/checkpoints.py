"""Reading state dicts and training checkpoints without running code.

``torch.load`` unpickles, and a pickle may call any function while it loads: a checkpoint planted
in a shared store (Ray Train's checkpoints, a run's ``checkpoints/best.pt``) would run code in
whoever opens it. :func:`load_checkpoint` reads with ``weights_only=True`` — tensors, numbers,
strings, ``None``, lists, tuples and dicts, which is all a state dict, an optimizer's and a
scheduler's state and the training loop's counters hold — and refuses anything else with a
:class:`~neural_engine.errors.CheckpointError`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from neural_engine.errors import CheckpointError

_TRUST_HINT = (
    "use a file NeuralForge wrote (a finished run's checkpoints/best.pt); if you trust where "
    "this one came from, load it yourself and save only its tensors: "
    "torch.save(model.state_dict(), 'best.pt')"
)


def load_checkpoint(path: str | Path, *, what: str = "the checkpoint"):
    """What ``torch.save`` wrote to ``path``, on the CPU, if it is only tensors and plain data.

    >>> import os, tempfile, torch
    >>> f = os.path.join(tempfile.mkdtemp(), "best.pt")
    >>> torch.save({"w": torch.ones(2), "epoch": 3}, f)
    >>> load_checkpoint(f)["w"].tolist()
    [1.0, 1.0]
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError
    ) as err:  # torch's weights-only unpickler refused it (or it is no torch file)
        raise CheckpointError(
            f"{what} must hold only tensors and plain data (numbers, strings, lists, dicts); {path} holds "
            f"something else ({_detail(err)}), so it was refused for safety: unpickling it could run code",
            hint=_TRUST_HINT,
        ) from None
    except (OSError, EOFError, RuntimeError) as err:  # missing, empty, a truncated zip
        raise CheckpointError(
            f"{what} must be a readable file written by torch.save; received {path} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'empty'})",
            hint="train the run again, or point at another checkpoint",
        ) from None


def _detail(err: Exception) -> str:
    """The line of torch's refusal that names what was found, e.g. ``unsupported GLOBAL posix.system``."""
    lines = [line.strip() for line in str(err).splitlines()[1:]]
    found = [
        line
        for line in lines
        if line and not line.startswith(("Please file an issue", "Check the documentation"))
    ]
    return found[0].rstrip(".") if found else "not a torch file"
