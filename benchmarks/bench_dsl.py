"""DSL front end speed: parse + macro expansion + shape inference of a 1,000-layer file.

Baseline, measured in the same run: loading the same graph from its JSON form
(``json.loads`` + ``Graph.from_json``) and inferring it — the ratio is what the DSL costs over
reading the IR directly. Target (issue #3): <= 100 ms.

    python benchmarks/bench_dsl.py [--runs 20] [--json]
"""

from __future__ import annotations

import argparse
import json

from benchmarks.bench_shapes import median_ms
from neural_engine.dsl import parse
from neural_engine.ir import Graph
from neural_engine.shapes import propagate

HEADER = """
define ConvBN(filters, kernel_size=3) {
  Conv2D(filters=$filters, kernel_size=$kernel_size, padding="same", use_bias=false)
  BatchNormalization()
  Activation("relu")
}
define Block(f) { ConvBN($f) ConvBN(filters=$f, kernel_size=1) ResidualConnection { ConvBN($f) } }
"""


def thousand_layer_file() -> str:
    """Stem + 111 Blocks (10 layers each, via macros and `* N`): 1,111 layers after expansion."""
    body = ['Conv2D(32, 3, padding="same")'] + [f"Block({w}) * 37" for w in (32, 32, 32)]
    return HEADER + "network Big {\n  input: (32, 32, 3)\n  layers:\n    " + "\n    ".join(body) + "\n}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    text = thousand_layer_file()
    graph = parse(text)
    layers = len(graph.nodes) + sum(len(n.body) for n in graph.nodes)
    as_json = json.dumps(graph.to_json())
    dsl = median_ms(lambda: propagate(parse(text)), args.runs)
    base = median_ms(lambda: propagate(Graph.from_json(json.loads(as_json))), args.runs)
    result = {
        "layers": layers,
        "dsl_parse_expand_infer_ms": round(dsl, 2),
        "json_load_infer_ms": round(base, 2),
        "ratio_vs_json": round(dsl / base, 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{layers}-layer DSL file: parse + expand + infer  median {dsl:7.2f} ms  (target <= 100 ms)")
    print(f"same graph from JSON + infer (baseline)      median {base:7.2f} ms")
    print(f"DSL / JSON                                     {dsl / base:7.2f}x")


if __name__ == "__main__":
    main()
