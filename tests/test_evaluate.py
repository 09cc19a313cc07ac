"""Evaluation: every metric equals scikit-learn's on the same predictions; reports and figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from neural_engine.metrics import classification_report, regression_report, roc_auc, segmentation_report
from ray_jobs.runs import evaluate as ev


def _probs(rng, n, c, *, ties=False):
    logits = rng.normal(size=(n, c))
    if ties:  # coarse scores: many tied values, the case where AUC definitions differ
        logits = np.round(logits)
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("n,c,ties", [(200, 5, False), (300, 10, True), (50, 2, False), (80, 3, True)])
def test_classification_metrics_equal_scikit_learn(n, c, ties):
    rng = np.random.default_rng(n + c)
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)  # every class present
    probs = _probs(rng, n, c, ties=ties)
    pred = probs.argmax(1)
    labels = list(range(c))
    r = classification_report(y, probs, [str(i) for i in labels])
    m = r.metrics
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for name, fn in (
        ("precision_macro", skm.precision_score),
        ("recall_macro", skm.recall_score),
        ("f1_macro", skm.f1_score),
    ):
        expected = fn(y, pred, labels=labels, average="macro", zero_division=0)
        assert m[name] == pytest.approx(expected, abs=1e-12)
    expected_auc = (
        skm.roc_auc_score(y, probs[:, 1])
        if c == 2
        else skm.roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=labels)
    )
    assert m["auc_ovr"] == pytest.approx(expected_auc, abs=1e-12)
    np.testing.assert_array_equal(r.confusion, skm.confusion_matrix(y, pred, labels=labels))
    p, rec, f1, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for i, row in enumerate(r.per_class):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == (
            pytest.approx(p[i]),
            pytest.approx(rec[i]),
            pytest.approx(f1[i]),
            support[i],
        )
        assert row["auc"] == pytest.approx(skm.roc_auc_score(y == i, probs[:, i]), abs=1e-12)


def test_a_class_never_predicted_counts_as_zero_precision_and_auc_skips_absent_classes():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0], [0.8, 0.2, 0], [0.3, 0.7, 0], [0.6, 0.4, 0]])  # class 2 never occurs
    r = classification_report(y, probs, ("a", "b", "c"))
    assert r.metrics["precision_macro"] == pytest.approx(
        skm.precision_score(y, probs.argmax(1), labels=[0, 1, 2], average="macro", zero_division=0)
    )
    assert np.isnan(r.per_class[2]["auc"]) and r.metrics["auc_ovr"] == pytest.approx(
        np.mean([skm.roc_auc_score(y == 0, probs[:, 0]), skm.roc_auc_score(y == 1, probs[:, 1])])
    )
    assert np.isnan(roc_auc([True, True], [0.1, 0.2]))


def test_segmentation_metrics_equal_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, (6, 16, 16))
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 3, truth.shape))
    m = segmentation_report(truth, pred, ("bg", "a", "b")).metrics
    t, p = truth.ravel(), pred.ravel()
    assert m["pixel_accuracy"] == pytest.approx(skm.accuracy_score(t, p), abs=1e-12)
    assert m["dice"] == pytest.approx(skm.f1_score(t, p, average="macro"), abs=1e-12)
    assert m["iou"] == pytest.approx(skm.jaccard_score(t, p, average="macro"), abs=1e-12)


@pytest.mark.parametrize("constant", [False, True])
def test_regression_metrics_equal_scikit_learn(constant):
    rng = np.random.default_rng(4)
    y = np.full(40, 2.0) if constant else rng.normal(size=40)
    pred = y + rng.normal(scale=0.3, size=40)
    m = regression_report(y, pred).metrics
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, pred), abs=1e-12)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-12)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)


def _loader(x, y, batch=16):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


def test_evaluating_a_model_scores_its_own_predictions():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    x, y = torch.rand(60, 1, 4, 4), torch.randint(0, 4, (60,))
    e = ev.evaluate_model(
        model,
        _loader(x, y),
        task="classification",
        classes=("a", "b", "c", "d"),
        loss_fn=torch.nn.CrossEntropyLoss(),
    )
    with torch.no_grad():
        logits = model(x)
    probs = torch.softmax(logits, 1).numpy()
    assert e.metrics()["test_accuracy"] == pytest.approx(skm.accuracy_score(y, probs.argmax(1)))
    assert e.metrics()["test_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
    loss = float(torch.nn.functional.cross_entropy(logits, y))
    assert e.metrics()["test_loss"] == pytest.approx(loss, rel=1e-5)
    wrong = int((probs.argmax(1) != y.numpy()).sum())
    assert len(e.examples) == min(wrong, ev.GRID)
    assert all(true != pred for _, true, pred in e.examples)
    out = ev.files(e)
    assert {
        "metrics.json",
        "per_class.json",
        "per_class.csv",
        "confusion_matrix.json",
        "confusion_matrix.png",
        "misclassified.png",
    } <= set(out)
    assert out["confusion_matrix.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert out["misclassified.png"][:4] == b"\x89PNG"
    cm = json.loads(out["confusion_matrix.json"])
    assert cm["matrix"] == skm.confusion_matrix(y, probs.argmax(1), labels=range(4)).tolist()
    assert out["per_class.csv"].decode().splitlines()[0] == "class,precision,recall,f1,auc,support"


def test_segmentation_and_regression_models_and_split_prefixes():
    torch.manual_seed(1)
    seg = torch.nn.Conv2d(1, 3, 1)
    x, masks = torch.rand(8, 1, 6, 6), torch.randint(0, 3, (8, 6, 6))
    e = ev.evaluate_model(seg, _loader(x, masks), task="segmentation", classes=("bg", "a", "b"), split="val")
    with torch.no_grad():
        pred = seg(x).argmax(1).numpy().ravel()
    expected = skm.jaccard_score(masks.numpy().ravel(), pred, average="macro")
    assert e.metrics()["eval_val_iou"] == pytest.approx(expected)
    assert set(ev.files(e)) >= {"confusion_matrix.png", "per_class.json"}
    reg = torch.nn.Linear(3, 1)
    x, t = torch.rand(30, 3), torch.rand(30)
    e = ev.evaluate_model(reg, _loader(x, t), task="regression")
    with torch.no_grad():
        out = reg(x).squeeze(1).numpy()
    assert e.metrics()["test_r2"] == pytest.approx(skm.r2_score(t.numpy(), out), rel=1e-6)
    assert set(ev.files(e)) == {"metrics.json"}
