"""The reporting helper (neural_engine.progress) and the per-epoch stream of training
(ray_jobs.train.epochs): lines on stderr, bars only where a person watches, JSON alone on stdout."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from neural_engine.errors import DSLSyntaxError, Span
from neural_engine.progress import SILENT, Progress, emit, epoch_line, error_json, json_stdout


def test_lines_and_bars_without_a_terminal_are_plain_lines():
    err = io.StringIO()
    p = Progress(stream=err)
    assert not p.interactive  # a StringIO is not a terminal
    p.line("staging model.onnx")
    with p.bar("reading pets.zip", total=3, unit="image") as bar:
        for _ in range(3):
            bar.update()
    with p.bar("uploading", bytes=True) as bar:
        bar.update(2_500_000)
    with p.waiting("job raysubmit_1") as w:
        for state in ("PENDING", "PENDING", "RUNNING", "SUCCEEDED"):
            w.state(state)
    lines = err.getvalue().splitlines()
    assert lines[0] == "staging model.onnx"
    assert lines[1].startswith("reading pets.zip: 3 images in ") and lines[1].endswith(" s")
    assert lines[2].startswith("uploading: 2.5 MB in ")
    assert lines[3:] == ["job raysubmit_1: PENDING", "job raysubmit_1: RUNNING", "job raysubmit_1: SUCCEEDED"]
    assert "\r" not in err.getvalue()  # no bar drawing in a log


def test_phases_say_when_they_start_and_how_long_they_took():
    err = io.StringIO()
    p = Progress(stream=err)
    with p.phase("exporting Net to onnx"):
        time.sleep(0.05)
    with pytest.raises(KeyError), p.phase("validating"):
        raise KeyError("x")
    lines = err.getvalue().splitlines()
    assert lines[0] == "exporting Net to onnx…" and lines[2] == "validating…"
    assert re.fullmatch(r"exporting Net to onnx: done in 0\.\d s", lines[1]), lines
    assert re.fullmatch(r"validating: failed after 0\.\d s", lines[3]), lines


def test_a_terminal_gets_a_live_bar_and_json_or_silence_none():
    err = io.StringIO()
    with Progress(stream=err, interactive=True).bar("reading", total=4, unit="image") as bar:
        bar.update(4)
    assert "\r" in err.getvalue() and "| 0/4 [" in err.getvalue()  # tqdm drew on the stream
    assert err.getvalue().rstrip().splitlines()[-1].startswith("reading: 4 images in ")
    assert not Progress(json=True, stream=err).interactive
    quiet = io.StringIO()
    silent = Progress(stream=quiet, enabled=False)
    silent.line("x")
    with silent.bar("y", total=1) as bar:
        bar.update()
    assert quiet.getvalue() == "" and not SILENT.enabled


def test_epoch_lines():
    metrics = {
        "train_loss": 0.5,
        "val_loss": 0.25,
        "val_accuracy": 0.9,
        "val_auc": 0.97,
        "lr": 0.001,
        "samples_per_s": 12345.6,
        "epoch_seconds": 2.04,
    }
    assert epoch_line(0, 3, metrics) == (
        "epoch 1/3  train_loss 0.5000  val_loss 0.2500  val_accuracy 0.9000  val_auc 0.9700  "
        "12,346 samples/s  2.0 s"
    )
    assert epoch_line(4, None, {"train_loss": 1.0}) == "epoch 5  train_loss 1.0000"


def test_json_stdout_sends_everything_else_to_stderr(capsys):
    with json_stdout():
        print("chatter from a library")
        emit({"run_id": "abc", "loss": float("nan")})
    out, err = capsys.readouterr()
    assert json.loads(out) == {"run_id": "abc", "loss": None} and "chatter" in err
    with json_stdout(enabled=False):
        print("plain")
    assert capsys.readouterr().out == "plain\n"


def test_error_json_says_what_where_and_how_to_fix():
    err = DSLSyntaxError("expected a layer; received '('", span=Span(3, 5, file="net.neural"), hint="fix")
    assert error_json(err) == {
        "error": {
            "type": "DSLSyntaxError",
            "message": "expected a layer; received '('",
            "node": None,
            "line": 3,
            "column": 5,
            "file": "net.neural",
            "hint": "fix",
        }
    }
    assert error_json(ValueError("x")) == {"error": {"type": "ValueError", "message": "x"}}


def test_epochs_stream_in_order_as_they_are_written():
    from ray_jobs.train import epochs

    seen, times = [], []
    with epochs.EpochStream(lambda m: (seen.append(m["epoch"]), times.append(time.monotonic()))) as s:
        callback = s.callback()
        callback.after_report(None, [{"epoch": 0}], None)
        with open(s.path, "a") as f:  # a line still being written is not read half
            f.write('{"epoch": 1')
        time.sleep(3 * epochs.POLL_S)
        assert seen == [0]
        with open(s.path, "a") as f:
            f.write("}\n")
        time.sleep(3 * epochs.POLL_S)
        assert seen == [0, 1]  # read while the run goes on, not at its end
        callback.after_report(None, [], None)  # no report: no line
        for epoch in (2, 3):
            callback.after_report(None, [{"epoch": epoch}, {"epoch": epoch}], None)  # rank 0's only
    assert seen == [0, 1, 2, 3] and times == sorted(times)


def test_progress_goes_to_the_stderr_of_the_moment(capsys):
    Progress().line("to stderr")
    out, err = capsys.readouterr()
    assert out == "" and err == "to stderr\n"
