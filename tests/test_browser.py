"""The dashboard in a real browser: Debian's chromium driven by Playwright against the real
Streamlit server (on a loopback port) and a real local Ray head. Screenshots of every step go to
``test-artifacts/browser/`` (override with ``NF_TEST_ARTIFACTS``).

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

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("NF_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"

pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard(ray_head):
    """``http://127.0.0.1:PORT`` of ``neuralforge ui`` on the test's home and Ray head; stopped after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(ray_head.home / "dashboard.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ray_jobs.cli", "ui", "--no-cluster", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (ray_head.home / "dashboard.log").read_text()[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} must exist: `make test` installs Debian's chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(ARTIFACTS / "last.png"), full_page=True)  # where it ended, pass or fail
            browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def settle(page) -> None:
    """Wait until the script run that the last interaction started has finished (Streamlit shows
    its status widget while a run is in flight); widgets re-created by a run lose typed input."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=120_000)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (type to filter, then click)."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    settle(page)


def type_in(page, label: str, text: str) -> None:
    """Type into the text input whose label starts with ``label`` and commit it (Enter)."""
    box = page.get_by_role("textbox", name=re.compile(f"^{re.escape(label)}"))
    box.fill(text)
    box.press("Enter")
    settle(page)
    assert box.input_value() == text


def test_canvas_and_train_in_a_real_browser(dashboard, page):
    page.goto(dashboard)
    page.get_by_text("Parameters").first.wait_for()
    canvas = page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]')
    canvas.locator(".react-flow__node").first.wait_for()
    shot(page, "1-canvas-mnist")

    # ResNet-18: totals and tensor shapes on the edges
    choose(page, "Template", "resnet18 ")
    page.get_by_role("button", name="Open template").click()
    page.get_by_text("11,689,512").wait_for()
    settle(page)
    canvas.locator('.react-flow__node[data-id="add_1"]').wait_for()
    labels = canvas.locator(".react-flow__edge-text").all_text_contents()
    assert "(224, 224, 3)" in labels and "(112, 112, 64)" in labels and "(1000,)" not in labels[:1], labels[:5]
    shot(page, "2-canvas-resnet18")

    # a Conv2D after the classifier's output cannot work: the node turns red, the message says why
    choose(page, "Family", "conv")
    choose(page, "Layer", "Conv2D")
    type_in(page, "filters", "8")
    type_in(page, "kernel_size", "3")
    page.get_by_role("button", name="Add layer").click()
    error = page.get_by_test_id("stAlertContentError").filter(has_text=re.compile(r"\(node conv2d_\d+\)"))
    error.wait_for()
    assert "Conv2D" in error.inner_text() and "Hint:" in error.inner_text(), error.inner_text()
    bad = canvas.locator(".react-flow__node", has_text="⚠").first
    bad.wait_for()
    assert "rgb(221, 51, 51)" in bad.evaluate("n => getComputedStyle(n).borderColor")
    assert "(1000,)" in canvas.locator(".react-flow__edge-text").all_text_contents()  # still labelled
    shot(page, "3-canvas-broken-shapes")

    # Train: a smoke run of the MNIST CNN on digits, submitted to Ray; its curve appears
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train").first.wait_for()
    choose(page, "Architecture", "template:mnist_cnn")
    page.get_by_text("Smoke test").click()
    settle(page)
    page.get_by_text("Estimated time").wait_for()
    shot(page, "4-train-form")
    page.get_by_role("button", name="Submit to Ray").click()
    page.get_by_text(re.compile(r"Submitted raysubmit_")).wait_for()
    shot(page, "5-train-submitted")
    chart = page.get_by_test_id("stVegaLiteChart").first
    chart.wait_for(timeout=300_000)
    page.get_by_text(re.compile(r"epoch 1 of 1")).wait_for(timeout=60_000)
    chart.scroll_into_view_if_needed()
    shot(page, "6-train-curve")
    # jobs live in Ray and MLflow: a reload (a new session) shows the same job and curve
    page.reload()
    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"epoch 1 of 1")).wait_for()
    shot(page, "7-train-after-reload")
