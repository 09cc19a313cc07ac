"""Templates: built modules run, and torch agrees with the engine on shapes, params and FLOPs."""

from __future__ import annotations

import pytest
import torch
import torchvision

from neural_engine.build import build, example_inputs
from neural_engine.errors import ValidationError
from neural_engine.report import report
from neural_engine.shapes import propagate
from neural_engine.templates import TEMPLATES, template
from tests.oracle import run_counted

# small variants keep the suite fast; ResNet-18 at full size has its own test below
SMALL = {
    "mnist_cnn": {},
    "resnet18": {"input_shape": (64, 64, 3), "classes": 10, "width": 8},
    "resnet18_cifar": {"width": 8},
    "unet": {"input_shape": (32, 32, 3), "width": 4, "classes": 3},
    "lstm_classifier": {"input_shape": (20,), "width": 16, "vocab_size": 100},
    "transformer_classifier": {"input_shape": (16,), "width": 32, "vocab_size": 100},
}


def test_every_template_has_a_small_variant_here():
    assert set(SMALL) == set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_template_builds_runs_and_matches_torch(name):
    torch.manual_seed(0)
    analysis = propagate(template(name, **SMALL[name]))
    model = build(analysis)
    out, flops = run_counted(model, example_inputs(analysis, batch=1))
    (out_id,) = analysis.outputs
    assert tuple(out.shape[1:]) == analysis.nodes[out_id].output.shape
    assert sum(i.params for i in analysis.nodes.values()) == sum(p.numel() for p in model.parameters())
    assert sum(i.flops for i in analysis.nodes.values()) == flops


def test_resnet18_matches_torchvision_exactly():
    r = report(template("resnet18"))
    reference = torchvision.models.resnet18()
    assert r.params == sum(p.numel() for p in reference.parameters()) == 11_689_512
    assert r.inputs == {"image": (224, 224, 3)} and r.nodes[-1].output_shape == (1000,)
    _, flops = run_counted(reference, [torch.zeros(1, 3, 224, 224)])
    assert r.flops == flops
    # our own module agrees too, and its state_dict shapes line up with torchvision's in order
    ours = build(template("resnet18"))
    ours_shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert ours_shapes == sorted(tuple(p.shape) for p in reference.parameters())


def test_unet_has_four_levels_of_skip_concatenations():
    a = propagate(template("unet", input_shape=(64, 64, 1), width=4))
    concats = [i for i in a.nodes.values() if i.spec.name == "Concatenate"]
    assert len(concats) == 4
    assert [c.output.user[-1] for c in concats] == [64, 32, 16, 8]
    assert a.nodes[a.outputs[0]].output.user == (64, 64, 2)


def test_template_parameters_change_the_graph():
    g = template("mnist_cnn", classes=5, input_shape=(32, 32, 3), width=8)
    r = report(g)
    assert r.inputs == {"image": (32, 32, 3)} and r.nodes[-1].output_shape == (5,)
    assert r.nodes[0].output_shape == (30, 30, 8)


def test_unknown_template_suggests():
    with pytest.raises(ValidationError, match="unknown template") as e:
        template("resnet81")
    assert "resnet18" in e.value.hint
