"""ONNX export of masked models: the padding mask (ids == 0) and the index gathers that skip padded
steps export, and onnxruntime (the oracle) agrees with torch on right-padded batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neural_engine.build import build
from neural_engine.dsl import parse
from neural_engine.export.pipeline import ExportSpec, run_export
from neural_engine.export.weights import export_module
from neural_engine.shapes import propagate
from tests.test_masks import net, padded

ROWS = [
    "Bidirectional(LSTM(4, return_sequences=true)) Dropout(0.1) GRU(3)",
    "MultiHeadAttention(2) TransformerEncoder(2, use_attention_mask=true) GlobalAveragePooling1D()",
]


@pytest.mark.parametrize("layers", ROWS)
def test_masked_model_exports_to_onnx_and_matches_torch(layers, tmp_path):
    import onnxruntime as ort

    graph = parse(net(layers))
    result = run_export(graph, None, ExportSpec(serving=False, samples=8, latency_budget_s=0.002), tmp_path)
    assert result.passed, result.report.failures
    module, _ = export_module(graph)  # the weights the export wrote (seeded)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    ids = padded()  # right-padded to different lengths, a batch size the export did not see
    with torch.no_grad():
        expect = module(ids).numpy()
    (got,) = session.run(None, {session.get_inputs()[0].name: ids.numpy()})
    np.testing.assert_allclose(got, expect, atol=1e-5, rtol=0)
    with torch.no_grad():  # the mask matters here: the same ids without it give another result
        text = net(layers).replace("mask_zero=true", "mask_zero=false").replace("use_attention_mask=true", "")
        unmasked = build(propagate(parse(text)))
        unmasked.load_state_dict(module.state_dict())
        assert not np.allclose(unmasked.eval()(ids).numpy(), got, atol=1e-3)
