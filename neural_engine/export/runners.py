"""Run a model on numpy/torch inputs the same way whatever it is: a torch module, an ONNX file
in onnxruntime, a ``torch.export`` program (``.pt2``) or a TorchScript file (legacy). Each runner
returns a list of numpy outputs.

Runners use the same number of threads (torch's), so latency ratios compare runtimes, not
thread counts.

>>> import torch
>>> r = TorchRunner(torch.nn.Linear(3, 2))
>>> [o.shape for o in r((torch.zeros(4, 3),))]
[(4, 2)]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

ORT_LEVELS = ("all", "extended", "basic", "disabled")


class TorchRunner:
    name = "torch"

    def __init__(self, module: torch.nn.Module):
        self.module = module.eval()

    def __call__(self, inputs) -> list[np.ndarray]:
        with torch.inference_mode():
            out = self.module(*(torch.as_tensor(x) for x in inputs))
        return [o.numpy() for o in (out if isinstance(out, tuple | list) else (out,))]


class Pt2Runner(TorchRunner):
    """A saved ``torch.export`` program, run as the module ``torch.export.load(path).module()``."""

    name = "pt2"

    def __init__(self, path: str | Path):
        # the program was captured in eval mode; its module refuses .eval() ("not supported yet")
        self.module = torch.export.load(str(path)).module()


class TorchScriptRunner(TorchRunner):
    name = "torchscript"

    def __init__(self, path: str | Path):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated": still the loader
            super().__init__(torch.jit.load(str(path), map_location="cpu"))


def session_options(level: str = "all", threads: int | None = None):
    from neural_engine.export.assets.predictor import session_options as options

    return options(level, threads or torch.get_num_threads())


class OrtRunner:
    """An onnxruntime CPU session; inputs are cast to the dtypes the model declares."""

    name = "onnxruntime"

    def __init__(self, model: str | Path | bytes, level: str = "all", threads: int | None = None):
        import onnxruntime as ort

        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(
            source, session_options(level, threads), providers=["CPUExecutionProvider"]
        )
        self.inputs = [(i.name, _NUMPY[i.type]) for i in self.session.get_inputs()]

    def __call__(self, inputs) -> list[np.ndarray]:
        feed = {
            name: np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x, dtype=dtype)
            for (name, dtype), x in zip(self.inputs, inputs, strict=True)
        }
        return self.session.run(None, feed)


_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
}


def run_batched(runner, samples, batch: int = 32, on_batch=None) -> list[np.ndarray]:
    """All of ``samples`` through ``runner`` in batches; outputs concatenated per output.
    ``on_batch(n)`` after each batch of ``n`` samples (a progress bar's ``update``)."""
    parts = []
    for inputs in samples.batches(batch):  # a tuple of arrays, one per model input: (n, ...)
        parts.append(runner(inputs))
        if on_batch is not None:
            on_batch(len(inputs[0]))
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def latency_ms(runner, inputs, *, budget_s: float = 0.25, max_reps: int = 50) -> float:
    """Median wall time of one call in milliseconds: one warm-up call, then repeats until
    ``budget_s`` is spent (at least 3, at most ``max_reps``)."""
    runner(inputs)
    times, spent = [], 0.0
    while len(times) < 3 or (spent < budget_s and len(times) < max_reps):
        start = time.perf_counter()
        runner(inputs)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times) * 1e3
