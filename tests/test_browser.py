"""The dashboard in a real browser: Debian's chromium driven by Playwright against the real
Streamlit server (on a loopback port) and a real local Ray head. Every check is a user's gesture
on the real page (clicks, keys, drags); every wait is on a condition, never a fixed sleep.
Screenshots of every step go to ``test-artifacts/browser/`` (override with ``NF_TEST_ARTIFACTS``).

Chromium comes from Debian (``make test`` installs it: ``apt-get install chromium``); Playwright
never downloads a browser here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import RAY_ENV_CLEARED, free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("NF_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
CANVAS = 'iframe[title*="streamlit_flow"]'
LAST_FRAME = f"[...document.querySelectorAll('{CANVAS}')].pop()"  # the newest canvas (see canvas_of)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dashboard(ray_head_session):
    """``http://127.0.0.1:PORT`` of ``neuralforge ui`` on the session's Ray head and data home."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in RAY_ENV_CLEARED}
    env.update(ray_head_session.env)
    log_path = ray_head_session.home / f"dashboard-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ray_jobs.cli", "ui", "--no-cluster", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} must exist: `make test` installs Debian's chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, dashboard, request):
    """A new browser context (a new Streamlit session) on the dashboard's first page."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(dashboard)
    page.get_by_text("Parameters").first.wait_for()
    canvas_of(page).locator(".react-flow__node").first.wait_for()
    settle(page)
    try:
        yield page
    finally:  # where it ended, pass or fail
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def settle(page) -> None:
    """Wait until the script run that the last interaction started has finished and its stale
    elements are gone (Streamlit marks the app's run state for tests; its status widget shows only
    for slow runs). A click while a run still removes elements above its target lands elsewhere."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        """() => { const app = document.querySelector('[data-testid="stApp"]');
        return app && app.dataset.testScriptState === 'notRunning'
            && !document.querySelector('[data-stale="true"]'); }""",
        timeout=120_000,
    )


def canvas_of(page):
    """The canvas's frame. While a changed graph's canvas replaces the old one, both frames are on
    the page for a moment: the newer is the last."""
    return page.frame_locator(CANVAS).last


def node(page, node_id: str):
    return canvas_of(page).locator(f'.react-flow__node[data-id="{node_id}"]')


def edge(page, source: str, target: str):
    return canvas_of(page).locator(f'.react-flow__edge[aria-label="Edge from {source} to {target}"]')


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (type to filter, then click)."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    settle(page)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)
    assert page.get_by_role("tab", name=name).get_attribute("aria-selected") == "true"


def dsl_text(page) -> str:
    return page.get_by_role("textbox", name="DSL").input_value()


def dsl_has(page, *present: str, absent: tuple[str, ...] = ()) -> None:
    """Wait until the DSL text holds every ``present`` and none of ``absent``: it follows the graph."""
    pattern = "^" + "".join(rf"(?=[\s\S]*{re.escape(p)})" for p in present)  # a JavaScript regex
    pattern += "".join(rf"(?![\s\S]*{re.escape(a)})" for a in absent)
    expect(page.get_by_role("textbox", name="DSL")).to_have_value(re.compile(pattern), timeout=60_000)


def open_template(page, name: str) -> None:
    choose(page, "Template", f"{name} ")
    page.get_by_role("button", name="Open template").click()
    page.get_by_test_id("stAlertContentSuccess").filter(has_text=f"Opened {name}.").wait_for()
    settle(page)


# -- the Canvas: editing as in every graph editor -------------------------------------------------


def test_canvas_edits_like_a_graph_editor(page):
    shot(page, "edit-1-mnist")
    # click a layer, type a value, press Tab: the edit is applied and the layer stays selected
    node(page, "dense_1").click()
    settle(page)
    units = page.get_by_role("textbox", name=re.compile("^units"))
    units.fill("200")
    units.press("Tab")
    node(page, "dense_1").filter(has_text="(200,)").wait_for()
    settle(page)
    page.get_by_text("Dense · dense_1").first.wait_for()
    expect(page.get_by_role("textbox", name=re.compile("^units"))).to_have_value("200")
    shot(page, "edit-2-tab-commits")
    tab(page, "DSL")
    dsl_has(page, "Dense(200")
    tab(page, "Canvas")

    # Add layer with dense_1 selected: inserted into the chain, dense_1 → relu_1 → dropout_1
    node(page, "dense_1").click()
    settle(page)
    choose(page, "Layer", "ReLU")
    page.get_by_text("Dense · dense_1").first.wait_for()  # the palette kept the selection
    page.get_by_role("button", name="Add layer").click()
    edge(page, "relu_1", "dropout_1").wait_for()
    edge(page, "dense_1", "relu_1").wait_for()
    edge(page, "dense_1", "dropout_1").wait_for(state="detached")
    settle(page)
    shot(page, "edit-3-inserted")

    # keyboard Delete on the selected layer: gone, the chain bridged
    node(page, "relu_1").click()
    settle(page)
    page.keyboard.press("Delete")
    node(page, "relu_1").wait_for(state="detached")
    edge(page, "dense_1", "dropout_1").wait_for()
    settle(page)
    shot(page, "edit-4-deleted")

    # drag from flatten_1's output handle to output_1's input: a second input the Output refuses
    source = node(page, "flatten_1").locator(".react-flow__handle.source")
    target = node(page, "output_1").locator(".react-flow__handle.target")
    source.drag_to(target)
    error = page.get_by_test_id("stAlertContentError").filter(has_text="Output takes 1 input; received 2")
    error.wait_for()
    node(page, "output_1").filter(has_text="⚠").wait_for()
    settle(page)
    shot(page, "edit-5-connected")

    # click that edge, Backspace: removed, the error with it
    edge(page, "flatten_1", "output_1").locator(".react-flow__edge-interaction").click(force=True)
    page.keyboard.press("Backspace")
    edge(page, "flatten_1", "output_1").wait_for(state="detached")
    error.wait_for(state="detached")
    settle(page)
    shot(page, "edit-6-edge-deleted")

    # Ctrl+Z (outside the canvas): the edge and its error are back; the button redoes
    page.get_by_role("heading", name="Canvas").first.click()
    page.keyboard.press("Control+z")
    edge(page, "flatten_1", "output_1").wait_for()
    error.wait_for()
    assert (
        "Undid: delete edge flatten_1 → output_1"
        in page.get_by_test_id("stAlertContentInfo").first.inner_text()
    )
    page.get_by_role("button", name="Redo").click()
    edge(page, "flatten_1", "output_1").wait_for(state="detached")
    settle(page)
    shot(page, "edit-7-undo-redo")


# -- the DSL view follows the graph; stale text never replaces it silently -----------------------


def test_the_dsl_follows_the_graph_and_stale_text_asks_first(page):
    open_template(page, "lstm_classifier")
    tab(page, "DSL")
    dsl_has(page, "network LSTMClassifier")
    shot(page, "dsl-1-opened-template")

    # an edit with a typo: the error is shown here, on the DSL tab, and the text is kept
    box = page.get_by_role("textbox", name="DSL")
    box.fill(dsl_text(page).replace("Dropout(", "Dropot("))
    page.get_by_role("button", name="Apply DSL").click()
    page.get_by_test_id("stAlertContentError").filter(has_text='unknown layer type "Dropot"').wait_for()
    assert page.get_by_role("tab", name="DSL").get_attribute("aria-selected") == "true"
    dsl_has(page, "Dropot(")
    shot(page, "dsl-2-error-stays-on-tab")

    # the canvas changes under the unapplied text: the text is kept, and applying it asks first
    box.fill(dsl_text(page).replace("Dropot(", "Dropout(").replace("LSTM(", "GRU("))
    tab(page, "Canvas")
    node(page, "dropout_1").click()
    settle(page)
    page.keyboard.press("Delete")
    node(page, "dropout_1").wait_for(state="detached")
    settle(page)
    tab(page, "DSL")
    dsl_has(page, "GRU(")
    page.get_by_test_id("stAlertContentWarning").filter(
        has_text="written against an earlier graph"
    ).wait_for()
    assert page.get_by_role("button", name="Apply DSL").count() == 0
    shot(page, "dsl-3-stale-guard")
    page.get_by_role("button", name="Apply anyway").click()
    page.get_by_test_id("stAlertContentSuccess").filter(has_text="applied to the canvas").wait_for()
    dsl_has(page, "GRU(", "Dropout(")

    # undo the apply: the DSL shows the graph before it (LSTMs, no dropout)
    page.get_by_role("button", name="Undo").click()
    page.get_by_test_id("stAlertContentInfo").filter(has_text="Undid: apply DSL").wait_for()
    settle(page)
    dsl_has(page, "LSTM(", absent=("GRU(", "Dropout("))
    shot(page, "dsl-4-undo")
    expect(page.get_by_role("combobox", name="Template")).to_have_value("")  # no longer the template


# -- readable layouts ---------------------------------------------------------------------------

CHAIN_20 = (
    "network Chain20 { input: (64,) layers: "
    + " ".join(f'Dense({32 + i}, "relu")' for i in range(19))
    + ' Output(10, "softmax") }'
)


def inside(page) -> bool:
    """Whether every node's box lies inside the canvas's visible area."""
    return (
        canvas_of(page)
        .locator("body")
        .evaluate("""() => {
        const w = window.innerWidth, h = window.innerHeight;
        return [...document.querySelectorAll('.react-flow__node')].every(n => {
            const r = n.getBoundingClientRect();
            return r.left >= 0 && r.top >= 0 && r.right <= w && r.bottom <= h; });
    }""")
    )


def test_large_graphs_fit_and_text_stays_readable(page):
    tab(page, "DSL")
    page.get_by_role("textbox", name="DSL").fill(CHAIN_20)
    page.get_by_role("button", name="Apply DSL").click()
    page.get_by_test_id("stAlertContentSuccess").filter(has_text="Chain20 applied").wait_for()
    tab(page, "Canvas")
    node(page, "output_1").wait_for()
    page.wait_for_function(f"""() => {{ const f = {LAST_FRAME};
        const v = f && f.contentDocument.querySelector('.react-flow__viewport');
        return v && /scale/.test(v.style.transform); }}""")
    px = (
        canvas_of(page)
        .locator(".react-flow__node")
        .first.evaluate("""n => {
        const scale = new DOMMatrix(getComputedStyle(n.closest('.react-flow__viewport')).transform).a;
        return parseFloat(getComputedStyle(n).fontSize) * scale; }""")
    )
    assert px >= 11, f"node text is {px:.1f} px at the zoom that fits 20 layers"
    assert inside(page)
    shot(page, "layout-1-chain20")
    for name in ("resnet18", "unet"):
        open_template(page, name)
        page.wait_for_function(
            f"() => {{ const f = {LAST_FRAME}; "
            "return f && f.contentDocument.querySelectorAll('.react-flow__node').length > 60; }"
        )
        settle(page)
        assert inside(page), f"fit view must show the whole of {name}"
        shot(page, f"layout-2-{name}")


# -- Sweeps: open the best network -----------------------------------------------------------------


def test_open_the_best_network_of_a_sweep(page, ray_head):
    """A sweep recorded as ``ray_jobs.tune`` records it (parent run, ``sweep/best.neural``); the
    Sweeps page opens its winner on the Canvas."""
    from mlflow.tracking import MlflowClient

    from neural_engine.settings import settings

    client = MlflowClient(settings().mlflow_uri)
    exp = client.create_experiment(
        f"sweeps-{time.time_ns()}", artifact_location=str(ray_head.home / "artifacts")
    )
    parent = client.create_run(exp, run_name="BestOfSweep-sweep", tags={"neuralforge.kind": "sweep"})
    best = (
        'network BestOfSweep { input: (8, 8, 1) layers: Conv2D(8, 3, activation="relu") Flatten() '
        'Dense(48, "relu") Output(10, "softmax") }'
    )
    client.log_text(parent.info.run_id, best, "sweep/best.neural")
    client.set_tag(parent.info.run_id, "neuralforge.best_run", parent.info.run_id)
    page.get_by_role("link", name="Sweeps").first.click()
    page.get_by_role("heading", name="Sweeps").first.wait_for()
    choose(page, "Sweep", "BestOfSweep-sweep")
    shot(page, "sweep-1-page")
    page.get_by_role("button", name="Open the best network on the Canvas").click()
    page.get_by_test_id("stAlertContentSuccess").filter(
        has_text="Opened the best network of sweep"
    ).wait_for()
    node(page, "dense_1").filter(has_text="(48,)").wait_for()
    settle(page)
    shot(page, "sweep-2-best-on-canvas")
    assert not page.get_by_test_id("stException").count()


DIGITS_HPO = (
    'network CanvasSweep { input: (8, 8, 1) layers: Conv2D(8, 3, activation="relu") Flatten() '
    'Dense(HPO(choice(16, 32)), "relu") Output(10, "softmax") train { epochs: 2 } }'
)


def test_sweep_the_network_on_the_canvas(page, ray_head):
    """The Sweeps page sweeps what is on the Canvas: saved as a version first, then submitted."""
    from neural_engine.dsl import parse
    from neural_engine.projects import load_project_ref
    from ray_jobs.cluster import submit as jobs

    tab(page, "DSL")
    page.get_by_role("textbox", name="DSL").fill(DIGITS_HPO)
    page.get_by_role("button", name="Apply DSL").click()
    page.get_by_test_id("stAlertContentSuccess").filter(has_text="CanvasSweep applied").wait_for()
    page.get_by_role("link", name="Sweeps").first.click()
    page.get_by_role("heading", name="Sweeps").first.wait_for()
    # the Canvas's network and its search value (the table's cells are drawn on a canvas)
    page.get_by_text("dense_1.units").first.wait_for(state="attached")
    expect(page.get_by_role("combobox", name="Architecture")).to_have_value(  # the first choice
        "the Canvas's network (CanvasSweep)"
    )
    shot(page, "sweep-0-canvas-network")
    page.get_by_role("button", name="Start sweep").click()
    shown = page.get_by_text(re.compile(r"Sweep submitted as Ray job raysubmit_\w+"))
    shown.wait_for()
    job_id = re.search(r"raysubmit_\w+", shown.inner_text()).group(0)
    entry = jobs.status(job_id).entrypoint
    ref = re.search(r"--project (\S+)", entry).group(1)
    assert entry.startswith("python -m ray_jobs.tune") and load_project_ref(ref).graph == parse(DIGITS_HPO)
    jobs.stop(job_id)
    wait_done(job_id)


# -- Train: a run on a dataset version, live, stopped ----------------------------------------------


def test_a_run_on_a_dataset_version_is_live_and_stop_kills_it(page, ray_head):
    import json

    from mlflow.tracking import MlflowClient

    from neural_engine.data import load
    from neural_engine.data.augment import Pipeline
    from neural_engine.data.registry import derive, register_dataset
    from neural_engine.settings import settings

    name = f"digits-aug-{time.time_ns() % 10**6}"
    register_dataset(load("digits"), name)
    pipeline = [
        {"type": "RandomCrop", "params": {"padding": 1, "size": 8}},
        {"type": "RandomHorizontalFlip", "params": {"p": 0.5}},
    ]
    version = derive(name, pipeline=pipeline)

    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train").first.wait_for()
    page.get_by_text("Estimated time").wait_for()  # the first choice fits: no error at once
    assert not page.get_by_test_id("stAlertContentError").count()
    choose_dataset(page, name, version.version)
    choose(page, "Augmentation", "RandomCrop")
    choose(page, "Architecture", "template:mnist_cnn")

    # a short run to its end: the estimate shown before it is within 2x of what it took
    set_epochs(page, 8)
    estimate = estimated_seconds(page)
    shot(page, "train-1-form")
    job_id = submit(page)
    page.get_by_text(re.compile(r"epoch 8 of 8")).first.wait_for(timeout=300_000)
    job = wait_done(job_id)
    real = job.end_time - job.start_time
    assert job.status == "SUCCEEDED" and real / 2 <= estimate <= real * 2, (estimate, real)
    shot(page, "train-2-finished")

    # a long run: live progress of the planned epochs, then Stop
    set_epochs(page, 40)
    submit(page)
    page.get_by_text(re.compile(r"epoch \d+ of 40")).first.wait_for(timeout=300_000)
    chart = page.get_by_test_id("stVegaLiteChart").first
    page.get_by_text(re.compile(r"epoch [1-9]\d* of 40")).first.wait_for(timeout=120_000)
    chart.scroll_into_view_if_needed()
    shot(page, "train-3-live")

    page.locator("[class*='st-key-stop_'] button").click()
    page.get_by_text(re.compile(r"\(KILLED\)")).first.wait_for(timeout=120_000)
    page.get_by_text("STOPPED").first.wait_for()
    label = page.get_by_text(re.compile(r"epoch \d+ of 40")).first.inner_text()
    assert int(re.search(r"epoch (\d+) of 40", label).group(1)) < 40  # the plan, not what ran
    shot(page, "train-4-stopped")

    client = MlflowClient(settings().mlflow_uri)
    run_id = re.search(r"MLflow run (\w+)", label).group(1)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.params["dataset_version"] == version.version
    assert json.loads(run.data.params["augmentation"]) == Pipeline.from_json(pipeline).to_json()
    assert run.data.params["train.epochs"] == "40"
    # jobs live in Ray and MLflow: a reload (a new session) shows the same job
    page.reload()
    page.get_by_text(re.compile(r"epoch \d+ of 40")).first.wait_for(timeout=60_000)
    shot(page, "train-5-after-reload")


def choose_dataset(page, name: str, version: str, timeout: float = 60) -> None:
    """Pick a dataset registered a moment ago and its version: the page lists datasets as of a few
    seconds ago (cached), so reopen it, as a user would, until it lists this one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        try:
            for label, option in (("Dataset", name), ("Version", version)):
                box = page.get_by_role("combobox", name=label)
                box.click()
                box.fill(option)
                page.get_by_role("option", name=re.compile(re.escape(option))).first.click(timeout=3000)
                settle(page)
            return
        except PlaywrightTimeout:
            assert time.monotonic() < deadline, (
                f"the Train page must list {name}@{version} within {timeout:g} s"
            )
            page.keyboard.press("Escape")
            page.reload()
            page.get_by_text("Estimated time").wait_for()


def set_epochs(page, n: int) -> None:
    epochs = page.get_by_role("spinbutton", name="Epochs")
    epochs.fill(str(n))
    epochs.press("Enter")
    settle(page)
    page.get_by_test_id("stMetricValue").filter(has_text=f"{n} ×").wait_for()


def estimated_seconds(page) -> float:
    label = page.get_by_test_id("stMetric").filter(has_text="Estimated time").inner_text()
    return float(re.search(r"~(\d+) s", label).group(1))


def submit(page) -> str:
    """Submit the form to Ray; the job's id, once the page shows it."""
    page.get_by_role("button", name="Submit to Ray").click()
    shown = page.get_by_text(re.compile(r"Submitted raysubmit_\w+"))
    shown.wait_for()
    job_id = re.search(r"raysubmit_\w+", shown.inner_text()).group(0)
    settle(page)
    return job_id


def wait_done(job_id: str, timeout: float = 300):
    from ray_jobs.cluster import submit as jobs

    deadline = time.monotonic() + timeout
    while not (job := jobs.status(job_id)).done:
        assert time.monotonic() < deadline, f"{job_id} must end within {timeout:g} s: {job.status}"
        time.sleep(1)
    return job
