"""torch is the oracle: every registry layer, several rows each, built and run for real."""

from __future__ import annotations

import pytest
import torch

from neural_engine import layers
from neural_engine.build import build, example_inputs
from neural_engine.ir import GraphBuilder
from neural_engine.shapes import propagate
from tests.cases import Case, all_cases
from tests.oracle import FLOP_EXCEPTIONS, persistent_float_buffers, run_counted

CASES = all_cases()
BATCH = 2


def single_layer_graph(case: Case):
    names = ["x"] if len(case.inputs) == 1 else [f"x{i}" for i in range(len(case.inputs))]
    g = GraphBuilder("Case", dict(zip(names, case.inputs)), layout=case.layout)
    body = [g.node(t, **p) for t, p in case.body]
    g.add(case.layer, *names, id="layer", body=body, **case.params)
    return g.build()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_layer_matches_torch(case: Case):
    torch.manual_seed(0)
    analysis = propagate(single_layer_graph(case))
    info = analysis.nodes["layer"]
    if case.expect is not None:
        assert info.output.user == tuple(case.expect)
    model = build(analysis)
    out, flops = run_counted(model, example_inputs(analysis, batch=BATCH))
    out = out[0] if isinstance(out, tuple) else out
    assert tuple(out.shape[1:]) == tuple(d or out.shape[i + 1] for i, d in enumerate(info.output.shape))
    assert info.params == sum(p.numel() for p in model.parameters())
    assert info.non_trainable == persistent_float_buffers(model)
    if info.spec.name not in FLOP_EXCEPTIONS:
        assert info.flops * BATCH == flops  # the engine counts per sample


def test_mask_zero_is_torchs_padding_index_zero():
    g = GraphBuilder("Mask", {"ids": (6,)})
    g.add("Embedding", "ids", id="layer", input_dim=20, output_dim=4, mask_zero=True)
    emb = build(propagate(g.build())).layers["layer"]
    assert emb.padding_idx == 0 and not emb.weight[0].any()


def test_every_layer_has_oracle_rows():
    covered = {layers.get(c.layer).name for c in CASES}
    missing = sorted(set(layers.REGISTRY) - covered)
    assert not missing, f"layers without oracle rows in tests/cases/: {missing}"


def test_registry_has_45_plus_types():
    assert len(layers.REGISTRY) >= 45


def test_duplicate_names_are_refused():
    spec = layers.get("Dense")
    with pytest.raises(ValueError, match="registered twice"):
        layers.register(spec)
