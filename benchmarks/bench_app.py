"""Dashboard speed: server time for the Canvas page after an edit of U-Net (67 layers), in
Streamlit's AppTest. Baseline in the same run: a rerun with no edit (what any widget interaction
costs). Two edits: a parameter change (every shape below it changes; positions kept) and an
inserted layer (the Sugiyama layout of the whole graph computed again). Target: <= 150 ms each.

    python -m benchmarks.bench_app [--runs 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "app" / "app_pages" / "canvas.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from app import state
    from app.canvas_view import insert_after, layout, set_params, with_layout
    from neural_engine.templates import template

    at = AppTest.from_file(PAGE, default_timeout=120)
    graph = with_layout(template("unet").to_json())
    at.session_state[state.GRAPH] = graph
    at.run()
    idle, params, inserts, layouts = [], [], [], []

    def show(edited: dict, into: list) -> None:
        at.session_state[state.GRAPH] = edited
        at.session_state[state.FLOW] = None  # what editing.commit does: a new canvas instance
        start = time.perf_counter()
        at.run()
        into[-1] += time.perf_counter() - start
        assert not at.exception, [e.value for e in at.exception]

    for i in range(args.runs):
        start = time.perf_counter()
        at.run()
        idle.append(time.perf_counter() - start)
        conv = graph["nodes"][0]
        start = time.perf_counter()
        edited = set_params(graph, conv["id"], {**conv["params"], "filters": 64 + 8 * (i + 1)})
        params.append(time.perf_counter() - start)
        show(edited, params)
        start = time.perf_counter()
        edited = insert_after(graph, "ReLU", {}, graph["nodes"][i]["id"])  # the layout computed again
        inserts.append(time.perf_counter() - start)
        show(edited, inserts)
        start = time.perf_counter()
        layout(graph)
        layouts.append(time.perf_counter() - start)
    ms = lambda xs: round(1000 * statistics.median(xs), 1)
    result = {
        "nodes": len(graph["nodes"]),
        "rerun_ms": ms(idle),
        "param_edit_ms": ms(params),
        "insert_ms": ms(inserts),
        "layout_ms": ms(layouts),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    n = result["nodes"]
    print(f"Canvas rerun, no edit (baseline)               median {result['rerun_ms']:7.1f} ms")
    print(
        f"U-Net ({n} layers): a parameter edit + rerun    median {result['param_edit_ms']:7.1f} ms  "
        f"({result['param_edit_ms'] / result['rerun_ms']:.1f}x baseline; target <= 150 ms)"
    )
    print(
        f"U-Net ({n} layers): insert + layout + rerun     median {result['insert_ms']:7.1f} ms  "
        f"({result['insert_ms'] / result['rerun_ms']:.1f}x baseline; target <= 150 ms)"
    )
    print(f"  of which the Sugiyama layout alone              median {result['layout_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
