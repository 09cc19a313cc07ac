"""Dashboard speed: server time for the Canvas page to re-render after an edit of ResNet-18
(~70 nodes), in Streamlit's AppTest. Baseline in the same run: a rerun with no edit (what any
widget interaction costs). Target (issue #8): <= 150 ms for the edit.

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
    from neural_engine.templates import template
    at = AppTest.from_file(PAGE, default_timeout=120)
    graph = template("resnet18").to_json()
    at.session_state[state.GRAPH] = graph
    at.run()
    idle, edits = [], []
    for i in range(args.runs):
        start = time.perf_counter()
        at.run()
        idle.append(time.perf_counter() - start)
        edited = json.loads(json.dumps(graph))
        edited["nodes"][0]["params"]["filters"] = 64 + 8 * (i + 1)  # a new width: every shape below changes
        at.session_state[state.GRAPH] = edited
        at.session_state[state.FLOW] = None
        start = time.perf_counter()
        at.run()
        edits.append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    result = {"nodes": len(graph["nodes"]), "rerun_ms": round(1000 * statistics.median(idle), 1),
              "edit_ms": round(1000 * statistics.median(edits), 1)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Canvas rerun, no edit (baseline)     median {result['rerun_ms']:7.1f} ms")
    print(f"Canvas after an edit, {result['nodes']} nodes     median {result['edit_ms']:7.1f} ms  (target <= 150 ms)")


if __name__ == "__main__":
    main()
