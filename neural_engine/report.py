"""The analysis report: per node output shape, parameters, FLOPs, activation memory; totals;
a training-memory estimate; lints. Shapes are in the user's notation, batch excluded.

>>> from neural_engine.templates import template
>>> r = report(template("mnist_cnn"))
>>> r.nodes[0].output_shape, r.params > 0
((26, 26, 32), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

from neural_engine.ir import HPO, Graph, Shape
from neural_engine.layers.base import fmt_shape, numel
from neural_engine.lints import Lint, lint
from neural_engine.optim import call_name, optimizer
from neural_engine.search import defaults_text, search_values
from neural_engine.shapes import Analysis, propagate

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@dataclass(slots=True)  # analysis record: read-only by convention (frozen costs ~1 us/node)
class NodeReport:
    id: str
    type: str
    inputs: tuple[str, ...]
    output_shape: Shape
    params: int
    non_trainable: int
    flops: int
    activation_bytes: int  # one sample's output of this node


@dataclass(frozen=True)
class MemoryEstimate:
    """Training memory for one step, in bytes::

        weights     = (P + N) * b            P trainable, N non-trainable, b = dtype bytes
        gradients   = P * b
        optimizer   = P * 4 * slots          fp32 state (Adam: 2 slots, SGD+momentum: 1)
        activations = B * (sum of every node's output + inputs) * b
        total       = weights + gradients + optimizer + activations

    The activation term assumes every layer output is kept for the backward pass (true for
    most layers; in-place activations and fused kernels save some), so it is an upper bound.
    """

    batch_size: int
    dtype: str
    optimizer: str
    weights: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations


@dataclass(frozen=True)
class Report:
    analysis: Analysis = field(repr=False, compare=False)
    dtype: str
    params: int  # torch ``parameters()`` (all trainable)
    non_trainable: int  # saved float buffers: BatchNorm running statistics
    flops: int
    activation_bytes: int
    memory: MemoryEstimate
    lints: tuple[Lint, ...]

    @property
    def name(self) -> str:
        return self.analysis.graph.name

    @property
    def layout(self) -> str:
        return self.analysis.graph.layout

    @property
    def inputs(self) -> dict[str, Shape]:
        return dict(self.analysis.graph.inputs)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.analysis.outputs

    @cached_property
    def search_values(self) -> dict[str, HPO]:
        """The network's search values by path; every number here uses each one's default."""
        return search_values(self.analysis.graph)

    @cached_property
    def nodes(self) -> tuple[NodeReport, ...]:
        """Per-node rows, made when first read (the analysis already holds the numbers)."""
        b = DTYPE_BYTES[self.dtype]
        return tuple(
            NodeReport(
                nid,
                info.spec.name,
                info.sources,
                info.output.user,
                info.params,
                info.non_trainable,
                info.flops,
                info.elements * b,
            )
            for nid, info in self.analysis.nodes.items()
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "layout": self.layout,
            "inputs": self.inputs,
            "outputs": list(self.outputs),
            "nodes": [asdict(n) for n in self.nodes],
            "params": self.params,
            "non_trainable": self.non_trainable,
            "flops": self.flops,
            "dtype": self.dtype,
            "activation_bytes": self.activation_bytes,
            "memory": {**asdict(self.memory), "total": self.memory.total},
            "lints": [asdict(lint) for lint in self.lints],
            "search_values": {
                path: {**h.to_json(), "default": h.default} for path, h in self.search_values.items()
            },
        }

    def table(self) -> str:
        """A Keras-style summary table."""
        rows = [("Layer (type)", "Output shape", "Params", "FLOPs", "Connected to")]
        rows += [
            (
                f"{n.id} ({n.type})",
                fmt_shape(n.output_shape),
                f"{n.params:,}",
                human(n.flops),
                ", ".join(n.inputs),
            )
            for n in self.nodes
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        line = "  ".join("─" * w for w in widths)
        fmt = lambda r: "  ".join(
            c.ljust(w) if i in (0, 1, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        m = self.memory
        text = [
            f'Model: "{self.name}"  (layout {self.layout}, inputs '
            + ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())
            + ")",
            line,
            fmt(rows[0]),
            line,
            *(fmt(r) for r in rows[1:]),
            line,
            f"Params: {self.params:,} trainable"
            + (
                f" + {self.non_trainable:,} non-trainable (BatchNorm statistics)"
                if self.non_trainable
                else ""
            ),
            f"FLOPs per sample: {human(self.flops)} ({self.flops:,})",
            (
                f"Training memory (batch {m.batch_size}, {m.dtype}, {m.optimizer}): {human_bytes(m.total)}"
                f" = weights {human_bytes(m.weights)} + grads {human_bytes(m.gradients)}"
                f" + optimizer {human_bytes(m.optimizer_state)} + activations {human_bytes(m.activations)}"
            ),
        ]
        text += [
            f"{lint.severity}: [{lint.node}] {lint.message}" + (f" — {lint.hint}" if lint.hint else "")
            for lint in self.lints
        ]
        if self.search_values:
            text.append("Search values, each at its default in these numbers (a sweep tries the others):")
            text += [f"  {line}" for line in defaults_text(self.analysis.graph)]
        return "\n".join(text)


def human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}P"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def training_memory(
    analysis: Analysis, batch_size: int = 32, dtype: str = "float32", optimizer_name: str = "Adam"
) -> MemoryEstimate:
    """Estimate one training step's memory; the formula is in :class:`MemoryEstimate`."""
    b = DTYPE_BYTES[dtype]
    trainable = sum(i.params for i in analysis.nodes.values())
    frozen = sum(i.non_trainable for i in analysis.nodes.values())
    opt = optimizer(optimizer_name)
    slots = opt.state_slots if opt else 2
    elements = sum(i.elements for i in analysis.nodes.values()) + sum(
        numel(t.shape) for t in analysis.inputs.values()
    )
    return MemoryEstimate(
        batch_size,
        dtype,
        opt.name if opt else optimizer_name,
        (trainable + frozen) * b,
        trainable * b,
        trainable * 4 * slots,
        batch_size * elements * b,
    )


def report(graph: Graph | Analysis, *, batch_size: int | None = None, dtype: str = "float32") -> Report:
    """Analyse ``graph`` and summarise it (batch size defaults to the graph's training settings,
    else 32)."""
    analysis = graph if isinstance(graph, Analysis) else propagate(graph)
    g = analysis.graph
    batch = g.training.get("batch_size")
    batch = batch_size or int((batch.default if isinstance(batch, HPO) else batch) or 32)
    b = DTYPE_BYTES[dtype]
    params = non_trainable = flops = elements = 0
    for info in analysis.nodes.values():
        params += info.params
        non_trainable += info.non_trainable
        flops += info.flops
        elements += info.elements
    opt_name = call_name(g.training.get("optimizer")) or "Adam"
    return Report(
        analysis,
        dtype,
        params,
        non_trainable,
        flops,
        elements * b,
        training_memory(analysis, batch, dtype, opt_name),
        tuple(lint(analysis, batch_size=batch, dtype_bytes=b)),
    )
