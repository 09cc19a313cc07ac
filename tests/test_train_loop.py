"""The training loop without Ray: one device-placement step for every session, metrics a user can
act on, and ``torch.compile`` whose compilation is measured apart and changes nothing."""

from __future__ import annotations

import pytest
import torch

from neural_engine.data import load
from neural_engine.dsl import parse_file
from ray_jobs.config import TrainConfig, resolve
from ray_jobs.train import loop
from ray_jobs.train.setup import DEFAULT_LOSS, loop_config

NET = """network Small {
  input: (8, 8, 1)
  layers: Conv2D(4, 3, activation="relu") BatchNormalization() Flatten() Dropout(0.2) Output(10)
  train { epochs: 2, batch_size: 64 }
}"""


def _config(**flags) -> dict:
    graph = parse_file(NET, "small.neural").pick(None)
    config = TrainConfig(template="placeholder", **flags)
    dataset = load("digits")
    return loop_config(
        config, graph, resolve(config, graph, DEFAULT_LOSS[dataset.task]), dataset, None, threads=1
    )


def _train(config: dict, session_device=None) -> tuple[list[dict], loop.Session]:
    reports = []
    session = loop.tune_session(
        config, lambda metrics, checkpoint=None: reports.append(metrics), None, lambda d: None
    )
    loop.run_epochs(config, session)
    return reports, session


def test_a_tune_trial_places_every_batch_through_the_one_step(monkeypatch):
    placed, place = [], loop.to_device

    def spy(batch, device, channels_last=False):
        placed.append(device)
        return place(batch, device, channels_last)

    monkeypatch.setattr(loop, "to_device", spy)
    _, session = _train(_config(epochs=1))
    batches = sum(-(-n // 64) for n in (1257, 270))  # the train and val parts of digits, batches of 64
    assert placed and set(placed) == {session.device} and len(placed) == batches, (len(placed), batches)


def test_epoch_metrics_separate_training_time_and_data_wait():
    (first, second), _ = _train(_config())
    for m in (first, second):
        assert 0 <= m["data_wait_fraction"] <= 1
        assert 0 < m["train_seconds"] < m["epoch_seconds"]
        assert m["samples_per_s"] == pytest.approx(1257 / m["train_seconds"], rel=0.05)
    assert "compile_seconds" not in first


def test_a_slow_loader_gets_a_hint(capsys):
    import time

    from neural_engine.ir import Graph

    class Slow:
        def __init__(self, batches):
            self.batches = batches

        def __iter__(self):
            for b in self.batches:
                time.sleep(0.02)
                yield b

    graph = Graph.from_json(_config()["graph"])
    from neural_engine.build import build

    model = build(graph, logits=True)
    batches = [(torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))) for _ in range(5)]
    result = loop._run(
        model,
        Slow(batches),
        torch.nn.CrossEntropyLoss(),
        lambda b: loop.to_device(b, torch.device("cpu")),
        None,
        True,
        None,
    )
    assert result.wait_fraction > 0.5 and result.count == 320


@pytest.mark.slow
def test_compile_warm_up_changes_no_weight_buffer_or_random_state():
    from neural_engine.build import build
    from neural_engine.ir import Graph

    config = _config()
    model = build(Graph.from_json(config["graph"]), logits=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,)))]
    rng = torch.get_rng_state()
    compiled, seconds = loop._compiled(
        model, batches, torch.nn.CrossEntropyLoss(), lambda b: loop.to_device(b, torch.device("cpu")), None
    )
    assert seconds > 0 and compiled is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    assert all(p.grad is None for p in model.parameters())
    assert loop.unwrapped(compiled) is model
    torch.testing.assert_close(compiled.eval()(batches[0][0]), model.eval()(batches[0][0]))


@pytest.mark.slow
def test_compiled_training_reports_compile_seconds_once():
    (first, second), _ = _train(_config(compile=True))
    assert first["compile_seconds"] > 0 and "compile_seconds" not in second
    # the compilation (also for the smaller last batch) is not in the first epoch's time
    assert first["epoch_seconds"] < 3 * second["epoch_seconds"] + 2


@pytest.mark.parametrize("placement", ["device", "workers"])
def test_both_data_paths_train_with_augmentation(placement, tmp_path, capsys):
    import json

    pipeline = tmp_path / "augment.json"
    pipeline.write_text(
        json.dumps(
            [
                {"type": "RandomCrop", "params": {"size": 8, "padding": 1}},
                {"type": "RandomHorizontalFlip", "params": {"p": 0.5}},
            ]
        )
    )
    config = _config(epochs=3, augment=str(pipeline), data_placement=placement, learning_rate=0.01)
    reports, _ = _train(config)
    assert f"data placement: {placement}" in capsys.readouterr().out
    assert (
        reports[-1]["train_loss"] < reports[0]["train_loss"] and reports[-1]["val_accuracy"] > 0.25
    )  # chance: 0.1


def test_the_gpu_benchmark_says_no_gpu_and_succeeds_without_one(capsys, monkeypatch):
    from benchmarks import bench_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also where a GPU is
    assert bench_gpu.main([]) == 0
    assert capsys.readouterr().out.startswith("no GPU")


def test_the_gpu_benchmarks_loop_needs_neither_ray_nor_mlflow():
    """What the GPU machine runs (its own Python: torch and lark, no Ray, MLflow or data libraries),
    here on the CPU."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('ray', 'mlflow', 'polars', 'boto3', 'sklearn', 'pyarrow', 'pandas', 'psutil'):\n"
        "    sys.modules[name] = None  # not installed, as far as imports can tell\n"
        "from benchmarks import bench_gpu\n"
        "r = bench_gpu.loop_speed(bench_gpu.synthetic_cifar(64), 32, 1, bench_gpu.torch.device('cpu'),\n"
        "                         'device', True, False)\n"
        "print(r['img_s'] > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stderr[-2000:]


def test_an_augmentation_file_is_read_where_the_command_runs(tmp_path, monkeypatch):
    """`neuralforge train --augment aug.json` from the user's folder: Ray's workers run elsewhere."""
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "aug.json").write_text(json.dumps([{"type": "RandomHorizontalFlip", "params": {"p": 0.5}}]))
    config = _config(epochs=1, augment="aug.json")
    monkeypatch.chdir(tmp_path.parent)  # the worker's folder
    assert config["pipeline"] == [{"type": "RandomHorizontalFlip", "params": {"p": 0.5}}]
    reports, _ = _train(config)
    assert len(reports) == 1
