"""The dashboard in Streamlit's AppTest: pages render, widgets drive the engine, errors are
messages. The canvas component is real; its events are simulated by replacing its function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit_flow.elements import StreamlitFlowEdge

from app.canvas_view import apply_canvas, flow_state, layered_positions
from neural_engine.templates import template

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app" / "streamlit_app.py")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def canvas_args(at) -> dict:
    (component,) = at.get("component_instance")
    return json.loads(component.proto.json_args)


def test_canvas_shows_shapes_on_nodes_and_edges(app):
    args = canvas_args(app)
    contents = {n["id"]: n["data"]["content"] for n in args["nodes"]}
    assert "(26, 26, 32)" in contents["conv2d_1"] and "320 params" in contents["conv2d_1"]
    labels = {(e["source"], e["target"]): e["label"] for e in args["edges"]}
    assert labels[("image", "conv2d_1")] == "(28, 28, 1)"
    assert labels[("conv2d_1", "maxpooling2d_1")] == "(26, 26, 32)"
    assert app.metric[0].value == "315,146"


def test_opening_a_template_updates_the_canvas_and_totals(app):
    app.selectbox[0].set_value("resnet18").run()
    app.button(key="open_template").click().run()
    assert not app.exception
    assert app.metric[0].value == "11,689,512"
    assert any(n["id"] == "add_1" for n in canvas_args(app)["nodes"])


def test_dsl_edits_update_the_graph_and_errors_are_messages(app):
    bad = 'network T { input: (8, 8, 1) layers: Conv2D(4, 9) Flatten() Output(3, "softmax") }'
    app.text_area[0].set_value(bad)
    app.button(key="apply_dsl").click().run()
    assert not app.exception
    assert any("does not fit the input (8, 8, 1)" in e.value for e in app.error)
    good = 'network T { input: (8, 8, 1) layers: Conv2D(4, 3) Flatten() Output(3, "softmax") }'
    app.text_area[0].set_value(good)
    app.button(key="apply_dsl").click().run()
    assert not app.exception and not app.error
    ids = [n["id"] for n in canvas_args(app)["nodes"]]
    assert ids == ["input", "conv2d_1", "flatten_1", "output_1"]


def test_a_canvas_edit_that_breaks_shapes_turns_the_node_red(tmp_path, monkeypatch):
    import streamlit_flow
    real = streamlit_flow.streamlit_flow
    calls = []

    def fake(key, state, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the user draws an extra edge into dense_1
            state.edges.append(StreamlitFlowEdge("new", "image", "dense_1"))
            return state
        return real(key, state, **kwargs)

    monkeypatch.setattr(streamlit_flow, "streamlit_flow", fake)
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Dense takes 1 input; received 2" in e.value for e in at.error)
    node = next(n for n in canvas_args(at)["nodes"] if n["id"] == "dense_1")
    assert node["style"]["border"] == "2px solid #d33" and "received 2" in node["data"]["content"]
    # shapes not downstream of the error stay labelled; dense_1 and what it feeds have none
    args = canvas_args(at)
    contents = {n["id"]: n["data"]["content"] for n in args["nodes"]}
    assert "(2304,)" in contents["flatten_1"] and contents["output_1"].endswith("?")
    labels = {(e["source"], e["target"]): e["label"] for e in args["edges"]}
    assert labels[("flatten_1", "dense_1")] == "(2304,)" and labels[("dense_1", "dropout_1")] == ""


def test_other_pages_render(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    for page in ("datasets.py", "experiments.py"):
        at = AppTest.from_file(str(ROOT / "app" / "app_pages" / page), default_timeout=90)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
    at = AppTest.from_file(str(ROOT / "app" / "app_pages" / "datasets.py"), default_timeout=90)
    at.run()
    at.button[0].click().run()
    assert not at.exception and at.get("vega_lite_chart")


def test_canvas_round_trip_keeps_the_graph():
    graph = template("resnet18_cifar", width=8).to_json()
    analysis = {"report": {"nodes": []}}
    state = flow_state(graph, analysis)
    assert apply_canvas(graph, state)["edges"] == graph["edges"]
    assert len(set(layered_positions(graph).values())) == len(graph["nodes"]) + 1
    assert all(n.style is not state.nodes[0].style for n in state.nodes[1:])  # no shared style dict


def test_the_palette_offers_every_registry_layer(app):
    from neural_engine import layers
    every = sorted(s.name for f in layers.families().values() for s in f)
    assert app.selectbox(key="palette_family").value == "all families"
    assert list(app.selectbox(key="palette_layer").options) == every and len(every) >= 35
    app.selectbox(key="palette_family").set_value("recurrent").run()
    assert "LSTM" in app.selectbox(key="palette_layer").options
    assert "Conv2D" not in app.selectbox(key="palette_layer").options
