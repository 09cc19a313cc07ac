"""The dashboard in Streamlit's AppTest: pages render, widgets drive the engine, errors are
messages. The canvas component is real; its events are simulated by replacing its function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit_flow.elements import StreamlitFlowEdge
from streamlit_flow.state import StreamlitFlowState

from app.canvas_view import apply_canvas, flow_state, insert_after, layout
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


def open_tab(at, name: str) -> None:
    at.session_state["canvas_tab"] = name
    at.run()


def test_opening_a_template_updates_the_canvas_the_totals_and_the_dsl(app):
    app.selectbox(key="template_picker").set_value("resnet18").run()
    app.button(key="open_template").click().run()
    assert not app.exception
    assert app.metric[0].value == "11,689,512"
    assert any(n["id"] == "add_1" for n in canvas_args(app)["nodes"])
    assert app.selectbox(key="template_picker").value == "resnet18"
    open_tab(app, "DSL")
    assert app.text_area(key="dsl_editor").value.startswith("network ResNet18")
    app.button(key="undo").click().run()  # back to the MNIST CNN, in every view
    assert app.text_area(key="dsl_editor").value.startswith("network MnistCNN")
    assert app.selectbox(key="template_picker").value is None  # no longer claims to hold resnet18


def test_dsl_edits_update_the_graph_and_errors_are_messages(app):
    open_tab(app, "DSL")
    bad = 'network T { input: (8, 8, 1) layers: Conv2D(4, 9) Flatten() Output(3, "softmax") }'
    app.text_area(key="dsl_editor").set_value(bad).run()
    app.button(key="apply_dsl").click().run()
    assert not app.exception
    assert any("does not fit the input (8, 8, 1)" in e.value for e in app.error)  # the check, on this tab
    assert app.session_state["canvas_tab"] == "DSL"
    app.text_area(key="dsl_editor").set_value(
        "network T { input: (8, 8, 1) layers: Conv2D(4, 3) Flaten() }"
    ).run()
    app.button(key="apply_dsl").click().run()
    assert any('Did you mean "Flatten"' in e.value or "Flatten" in e.value for e in app.error)
    assert "Flaten()" in app.text_area(key="dsl_editor").value  # a text that does not parse is kept
    good = 'network T { input: (8, 8, 1) layers: Conv2D(4, 3) Flatten() Output(3, "softmax") }'
    app.text_area(key="dsl_editor").set_value(good).run()
    app.button(key="apply_dsl").click().run()
    assert not app.exception and not app.error
    assert app.text_area(key="dsl_editor").value.startswith("network T {")  # printed from the graph
    open_tab(app, "Canvas")
    ids = [n["id"] for n in canvas_args(app)["nodes"]]
    assert ids == ["input", "conv2d_1", "flatten_1", "output_1"]


def test_dsl_text_written_against_an_older_graph_is_kept_and_asks_before_it_replaces_the_graph(app):
    open_tab(app, "DSL")
    edited = app.text_area(key="dsl_editor").value.replace("Dense(128", "Dense(64")
    app.text_area(key="dsl_editor").set_value(edited).run()
    assert any("Unapplied edit" in i.value for i in app.info)
    open_tab(app, "Canvas")
    app.selectbox(key="template_picker").set_value("lstm_classifier").run()
    app.button(key="open_template").click().run()  # the graph changes under the edit
    open_tab(app, "DSL")
    assert app.text_area(key="dsl_editor").value == edited  # the user's text is not lost
    assert any("written against an earlier graph" in w.value for w in app.warning)
    assert app.button(key="apply_dsl").label == "Apply anyway"
    app.button(key="discard_dsl").click().run()
    assert app.text_area(key="dsl_editor").value.startswith("network LSTMClassifier")
    assert not app.warning


def test_a_canvas_edit_that_breaks_shapes_turns_the_node_red(tmp_path, monkeypatch):
    from streamlit_flow.state import StreamlitFlowState

    from app import flow_component

    real = flow_component.canvas
    calls = []

    def fake(key, state, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the user draws an extra edge into dense_1
            return StreamlitFlowState(
                state.nodes,
                [*state.edges, StreamlitFlowEdge("new", "image", "dense_1")],
                timestamp=state.timestamp + 1,
            )
        return real(key, state, **kwargs)

    monkeypatch.setattr(flow_component, "canvas", fake)
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
    assert len(set(layout(graph).values())) == len(graph["nodes"]) + 1
    assert all(n.style is not state.nodes[0].style for n in state.nodes[1:])  # no shared style dict


def test_deleting_a_layer_keeps_the_chain_and_a_merge_keeps_its_input_slots():
    graph = template("resnet18_cifar", width=8).to_json()
    state = flow_state(graph, {"report": {"nodes": []}})
    # delete relu_1 (one input): its input now feeds what it fed, in the same slots
    feeds = [(e["target"], e.get("target_handle")) for e in graph["edges"] if e["source"] == "relu_1"]
    into = next(e["source"] for e in graph["edges"] if e["target"] == "relu_1")
    kept = StreamlitFlowState(
        [n for n in state.nodes if n.id != "relu_1"],
        [e for e in state.edges if "relu_1" not in (e.source, e.target)],
    )
    edited = apply_canvas(graph, kept)
    assert sorted(
        (e["target"], e.get("target_handle")) for e in edited["edges"] if e["source"] == into
    ) == sorted(
        [
            *feeds,
            *(
                (e["target"], e.get("target_handle"))
                for e in graph["edges"]
                if e["source"] == into and e["target"] != "relu_1"
            ),
        ]
    )
    # an edge deleted alone is gone, nothing bridged
    first = graph["edges"][1]
    edited = apply_canvas(
        graph, StreamlitFlowState(state.nodes, [e for e in state.edges if e.id != first["id"]])
    )
    assert (
        first["id"] not in {e["id"] for e in edited["edges"]}
        and len(edited["edges"]) == len(graph["edges"]) - 1
    )


def test_a_new_layer_goes_into_the_chain_unless_it_is_a_branch():
    graph = template("mnist_cnn").to_json()
    chain = insert_after(graph, "ReLU", {}, "dense_1")
    pairs = {(e["source"], e["target"]) for e in chain["edges"]}
    assert {("dense_1", "relu_1"), ("relu_1", "dropout_1")} <= pairs and ("dense_1", "dropout_1") not in pairs
    branch = insert_after(graph, "ReLU", {}, "dense_1", branch=True)
    pairs = {(e["source"], e["target"]) for e in branch["edges"]}
    assert {("dense_1", "relu_1"), ("dense_1", "dropout_1")} <= pairs
    assert [n["id"] for n in chain["nodes"]].index("relu_1") == [n["id"] for n in chain["nodes"]].index(
        "dense_1"
    ) + 1


@pytest.mark.parametrize(
    "name", ["mnist_cnn", "resnet18", "unet", "lstm_classifier", "transformer_classifier"]
)
def test_the_layout_separates_every_node(name):
    from app.canvas_view import NODE_H, NODE_W

    pos = layout(template(name).to_json())
    boxes = sorted(pos.values())
    for i, (x, y) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x - x2) >= NODE_W or abs(y - y2) >= NODE_H, (name, (x, y), (x2, y2))


def test_selecting_any_layer_of_a_template_edits_nothing(app):
    """The parameter editor shows a layer's values; showing them must not change the graph."""
    for name in ("mnist_cnn", "resnet18_cifar", "lstm_classifier", "transformer_classifier"):
        app.selectbox(key="template_picker").set_value(name).run()
        app.button(key="open_template").click().run()
        graph = app.session_state["graph_json"]
        for node in graph["nodes"]:
            before = app.session_state["graph_revision"]
            app.session_state["selected_node"] = node["id"]
            app.run()
            assert not app.exception and not app.error, (name, node, [e.value for e in app.error])
            assert app.session_state["graph_revision"] == before, (name, node["id"], node["params"])


def test_the_palette_offers_every_registry_layer(app):
    from neural_engine import layers

    every = sorted(s.name for f in layers.families().values() for s in f)
    assert app.selectbox(key="palette_family").value == "all families"
    assert list(app.selectbox(key="palette_layer").options) == every and len(every) >= 35
    app.selectbox(key="palette_family").set_value("recurrent").run()
    assert "LSTM" in app.selectbox(key="palette_layer").options
    assert "Conv2D" not in app.selectbox(key="palette_layer").options


def test_history_keeps_the_last_50_changes_and_a_new_change_ends_redo():
    from app.history import History

    h = History()
    for i in range(60):
        h.record({"v": i}, f"change {i}")
    assert len(h.past) == 50 and h.past[0][1] == "change 10"
    assert h.undo({"v": 60}) == ({"v": 59}, "change 59")
    h.record({"v": 59}, "another")
    assert h.redo({"v": 61}) is None
