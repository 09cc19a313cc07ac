"""TorchServe handler for a NeuralForge export: a module-level ``handle(data, context)`` (needs no
import from TorchServe). The archive's serialized file is TorchScript (``.pt``, run by torch) or
ONNX (``.onnx``, run by onnxruntime); ``signature.json`` and ``predictor.py`` (the input checks)
come as extra files. Requests with TorchServe batching are run as one batch; a bad request gets
status 400 and a message, the others in its batch are answered as usual.

>>> class Ctx:  # what TorchServe passes, reduced to what the handler reads
...     system_properties, manifest = {"model_dir": "."}, {"model": {"serializedFile": "model.pt"}}
>>> handle(None, Ctx()) is None   # TorchServe's warm-up call
True
"""

from __future__ import annotations

import json
import os
import sys

_STATE: dict = {}


def _load(context) -> dict:
    model_dir = context.system_properties.get("model_dir") or "."
    if model_dir not in sys.path:
        sys.path.insert(0, model_dir)
    import predictor  # an extra file of the archive

    with open(os.path.join(model_dir, "signature.json")) as f:
        spec = json.load(f)
    path = os.path.join(model_dir, context.manifest["model"]["serializedFile"])
    if path.endswith(".onnx"):
        session = predictor.Predictor(path, spec, level=spec.get("ort_level", "all"))
        run = session.run
    else:
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "jit.load is deprecated": TorchServe's format
            module = torch.jit.load(path, map_location="cpu").eval()

        def run(feed):
            with torch.inference_mode():
                out = module(*(torch.from_numpy(feed[i["name"]]) for i in spec["inputs"]))
            return [o.numpy() for o in (out if isinstance(out, tuple | list) else (out,))]

    _STATE.update(spec=spec, run=run, predictor=predictor)
    return _STATE


def _decode(row):
    body = (
        row.get("data")
        if isinstance(row, dict) and row.get("data") is not None
        else (row.get("body") if isinstance(row, dict) else row)
    )
    return json.loads(body) if isinstance(body, bytes | bytearray | str) else body


def handle(data, context):
    if data is None:
        return None
    state = _STATE or _load(context)
    p, spec = state["predictor"], state["spec"]
    results, feeds = [None] * len(data), []
    for i, row in enumerate(data):
        try:
            feeds.append((i, p.check_payload(spec, _decode(row))))
        except ValueError as e:  # json.JSONDecodeError and predictor.BadInput
            results[i] = {
                "error": str(e) if isinstance(e, p.BadInput) else f"the body must be JSON; it is not ({e})"
            }
            if hasattr(context, "set_response_status"):
                context.set_response_status(400, results[i]["error"], idx=i)
    if feeds:
        import numpy as np

        names = [i["name"] for i in spec["inputs"]]
        batch = {n: np.concatenate([f[n] for _, f in feeds]) for n in names}
        outputs = state["run"](batch)
        start = 0
        for i, feed in feeds:
            size = len(feed[names[0]])
            results[i] = p.answer(
                [o[start : start + size] for o in outputs], [o["name"] for o in spec["outputs"]]
            )
            start += size
    return results
