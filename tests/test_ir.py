"""Graph IR: JSON round trip and the structural checks run before inference."""

from __future__ import annotations

import json

import pytest
import torch

from neural_engine.build import build
from neural_engine.errors import ValidationError
from neural_engine.ir import HPO, Edge, Graph, GraphBuilder, Node
from neural_engine.shapes import propagate


def two_input_graph() -> Graph:
    g = GraphBuilder("TwoIn", {"image": (8, 8, 3), "meta": (5,)})
    a = g.chain("image", ("Conv2D", {"filters": 4, "kernel_size": 3}), ("GlobalAveragePooling2D", {}))
    b = g.add("Dense", "meta", units=4, activation="relu")
    m = g.add("Concatenate", a, b)
    g.add("Output", m, units=3, activation="softmax")
    g.training = {"loss": "categorical_crossentropy", "epochs": 3}
    return g.build()


def test_json_round_trip_is_exact():
    g = two_input_graph()
    text = json.dumps(g.to_json())
    assert Graph.from_json(json.loads(text)) == g


def test_json_format_matches_the_canvas_contract():
    d = two_input_graph().to_json()
    assert set(d) == {"name", "layout", "inputs", "nodes", "edges", "training"}
    node = d["nodes"][0]
    assert {"id", "type", "params", "position"} <= set(node) and set(node["position"]) == {"x", "y"}
    assert set(d["edges"][0]) >= {"id", "source", "target"}


def test_hpo_values_round_trip_and_infer_with_their_default():
    g = GraphBuilder("H", {"x": (8,)})
    g.add("Dense", "x", units=HPO("choice", (16, 32)))
    g.add("Dropout", "dense_1", rate=HPO("range", low=0.1, high=0.5, step=0.1))
    graph = g.build()
    assert Graph.from_json(json.loads(json.dumps(graph.to_json()))) == graph
    assert propagate(graph).nodes["dense_1"].output.user == (16,)


def test_named_multiple_inputs_build_and_run():
    g = two_input_graph()
    model = build(g)
    y = model(torch.randn(2, 3, 8, 8), torch.randn(2, 5))
    assert y.shape == (2, 3)
    assert model(image=torch.randn(1, 3, 8, 8), meta=torch.randn(1, 5)).shape == (1, 3)


def test_channels_first_layout_takes_shapes_as_written():
    g = GraphBuilder("CF", {"x": (3, 16, 16)}, layout="channels_first")
    g.add("Conv2D", "x", filters=8, kernel_size=3)
    a = propagate(g.build())
    assert a.nodes["conv2d_1"].output.user == (8, 14, 14)


def test_unknown_layer_suggests_the_closest_name():
    g = GraphBuilder("U", {"x": (8, 8, 1)})
    g.add("Conv2d_", "x", filters=2, kernel_size=3)
    with pytest.raises(ValidationError, match='unknown layer type "Conv2d_"') as e:
        propagate(g.build())
    assert 'Did you mean "Conv2D"?' in e.value.hint


def test_layer_names_match_case_insensitively():
    g = GraphBuilder("C", {"x": (8,)})
    g.add("dense", "x", units=2)
    assert propagate(g.build()).nodes["dense_1"].spec.name == "Dense"


def test_cycle_is_refused():
    nodes = (Node("a", "Dense", {"units": 4}), Node("b", "Dense", {"units": 4}))
    edges = (Edge("1", "x", "a"), Edge("2", "a", "b"), Edge("3", "b", "a"))
    g = Graph("Cyc", {"x": (4,)}, nodes, edges)
    with pytest.raises(ValidationError, match="acyclic"):
        propagate(g)


def test_unreachable_node_is_refused():
    nodes = (Node("a", "Dense", {"units": 4}), Node("orphan", "Dense", {"units": 4}))
    g = Graph("Orph", {"x": (4,)}, nodes, (Edge("1", "x", "a"),))
    with pytest.raises(ValidationError, match="reachable from an input") as e:
        propagate(g)
    assert e.value.node == "orphan"


def test_merge_needs_two_inputs():
    g = GraphBuilder("M", {"x": (4,)})
    g.add("Add", "x")
    with pytest.raises(ValidationError, match="Add takes 2 or more inputs; received 1"):
        propagate(g.build())


def test_plain_layer_refuses_two_inputs():
    g = GraphBuilder("M", {"x": (4,), "y": (4,)})
    g.add("Dense", "x", "y", units=2)
    with pytest.raises(ValidationError, match="Dense takes 1 input; received 2") as e:
        propagate(g.build())
    assert "merge" in e.value.hint


def test_duplicate_ids_and_dangling_edges_are_refused():
    with pytest.raises(ValidationError, match="unique"):
        propagate(Graph("D", {"x": (4,)}, (Node("a", "Dense", {"units": 1}),) * 2, (Edge("1", "x", "a"),)))
    with pytest.raises(ValidationError, match="unknown node 'ghost'"):
        propagate(
            Graph(
                "D",
                {"x": (4,)},
                (Node("a", "Dense", {"units": 1}),),
                (Edge("1", "x", "a"), Edge("2", "ghost", "a")),
            )
        )


def test_bad_layout_and_input_dims_are_refused():
    with pytest.raises(ValidationError, match="layout must be one of"):
        Graph("L", {"x": (4,)}, (), (), layout="nhwc")
    with pytest.raises(ValidationError, match="positive integers"):
        propagate(Graph("L", {"x": (0, 4)}, (Node("a", "Dense", {"units": 1}),), (Edge("1", "x", "a"),)))


def test_bad_device_hint_lists_the_valid_ones():
    g = Graph("Dev", {"x": (4,)}, (Node("a", "Dense", {"units": 1}, device="npu"),), (Edge("1", "x", "a"),))
    with pytest.raises(ValidationError, match="cpu, cuda, cuda:N, gpu, tpu, xla"):
        propagate(g)


def test_device_hints_are_kept_and_ignored_by_the_builder():
    g = Graph(
        "Dev", {"x": (4,)}, (Node("a", "Dense", {"units": 1}, device="cuda:1"),), (Edge("1", "x", "a"),)
    )
    assert Graph.from_json(g.to_json()).nodes[0].device == "cuda:1"
    assert build(g)(torch.randn(2, 4)).shape == (2, 1)


def test_malformed_json_says_what_is_missing():
    with pytest.raises(ValidationError, match="missing nodes"):
        Graph.from_json({"inputs": {"x": [4]}})


def test_ids_that_collide_as_python_names_are_refused():
    g = GraphBuilder("C", {"x": (4,)})
    g.add("Dense", "x", id="a.b", units=2)
    g.add("Dense", "a.b", id="a_b", units=2)
    with pytest.raises(ValidationError, match="distinct as Python names"):
        propagate(g.build())


def test_ids_named_like_module_attributes_build():
    g = GraphBuilder("C", {"x": (4,)})
    g.add("Dense", "x", id="training", units=2)
    g.add("Dense", "training", id="keys", units=2)
    assert build(g.build())(torch.randn(1, 4)).shape == (1, 2)
