"""Training settings → torch objects: search values give their default everywhere."""

from __future__ import annotations

import pytest
import torch

from neural_engine.ir import HPO, Call
from neural_engine.objectives import loss_spec, make_scheduler, optimizer_spec

# (schedule, torch scheduler class, what it was built with)
SCHEDULES = [
    (
        Call("StepDecay", (HPO("choice", (5, 10)), HPO("range", low=0.1, high=0.5))),
        "StepLR",
        lambda s: (s.step_size, s.gamma),
        (5, 0.1),
    ),
    (
        Call("StepDecay", (), {"step_size": HPO("choice", (3, 6)), "gamma": 0.5}),
        "StepLR",
        lambda s: (s.step_size, s.gamma),
        (3, 0.5),
    ),
    (
        Call("ExponentialDecay", (HPO("log_range", low=1e-3, high=1e-1), HPO("choice", (100, 200)), 0.9)),
        "LambdaLR",
        lambda s: round(s.lr_lambdas[0](100), 6),
        0.9,
    ),
]


@pytest.mark.parametrize(
    "setting,cls,read,expected", SCHEDULES, ids=[f"{s[0].name}-{i}" for i, s in enumerate(SCHEDULES)]
)
def test_schedules_take_search_values_at_their_defaults(setting, cls, read, expected):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler, _ = make_scheduler(setting, optimizer, epochs=3, steps_per_epoch=2)
    assert type(scheduler).__name__ == cls and read(scheduler) == expected


def test_optimizer_and_loss_take_search_values_at_their_defaults():
    opt = Call(
        "Adam",
        (),
        {"learning_rate": HPO("log_range", low=1e-4, high=1e-2), "beta_1": HPO("choice", (0.8, 0.9))},
    )
    assert optimizer_spec(opt) == ("Adam", {"lr": 1e-4, "betas": (0.8, 0.999)})
    assert loss_spec(Call("huber", (), {"delta": HPO("choice", (0.5, 1.0))}))[2] == {"delta": 0.5}
