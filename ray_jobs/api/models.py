"""Request and response bodies (what ``/openapi.json`` describes).

The training and sweep options are not restated here: :data:`TrainRequest` and
:data:`TuneRequest` are built from the fields of ``ray_jobs.config.TrainConfig`` and
``ray_jobs.tune.SweepConfig`` (types, defaults and the flags' help), so the API, the CLI and the
jobs accept the same options and check them in the same place.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, create_model, model_validator

from ray_jobs.config import TrainConfig
from ray_jobs.tune import SweepConfig

GRAPH_DOC = (
    "a graph in the canvas/API JSON format: {name, layout, inputs: {name: shape}, nodes: [{id, type, "
    "params}], edges: [{id, source, target}], training}"
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GraphSource(Strict):
    """Exactly one of ``dsl`` (Neural DSL text), ``graph`` (graph JSON) or ``template``."""

    dsl: str | None = Field(
        None,
        description="Neural DSL text",
        examples=['network Net { input: (8, 8, 1) layers: Conv2D(8, 3) Flatten() Output(10, "softmax") }'],
    )
    graph: dict[str, Any] | None = Field(None, description=GRAPH_DOC)
    template: str | None = Field(None, description="a built-in template, e.g. mnist_cnn", max_length=100)
    network: str | None = Field(
        None, description="DSL: which network (default: the last defined)", max_length=200
    )
    classes: int | None = Field(None, ge=1, le=100_000, description="template: number of classes")
    input_shape: list[int] | None = Field(
        None, min_length=1, max_length=4, description="template: input shape, e.g. [32, 32, 3]"
    )
    width: int | None = Field(None, ge=1, le=4096, description="template: base width")

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("dsl", "graph", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of dsl, graph or template; received {', '.join(given) or 'none'}"
            )
        if self.input_shape is not None and not all(1 <= d <= 100_000 for d in self.input_shape):
            raise ValueError(f"input_shape must hold sizes from 1 to 100000; received {self.input_shape}")
        return self


# -- engine ----------------------------------------------------------------------------------------


class ParseRequest(Strict):
    dsl: str = Field(description="Neural DSL text (one or more networks)")
    network: str | None = Field(None, max_length=200, description="which network (default: the last defined)")


class Warning_(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None


class ParseResult(BaseModel):
    network: str
    networks: list[str]
    graph: dict[str, Any] = Field(description=GRAPH_DOC)
    warnings: list[Warning_]


class ShapesRequest(GraphSource):
    batch_size: int | None = Field(None, ge=1, le=1_048_576, description="for the memory estimate")
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


class NodeReport(BaseModel):
    id: str
    type: str
    inputs: list[str]
    output_shape: list[int | None]
    params: int
    non_trainable: int
    flops: int
    activation_bytes: int


class Memory(BaseModel):
    batch_size: int
    dtype: str
    optimizer: str
    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    total: int


class Lint(BaseModel):
    code: str
    node: str
    severity: str
    message: str
    hint: str | None = None


class ShapesResult(BaseModel):
    name: str
    layout: str
    inputs: dict[str, list[int | None]]
    outputs: list[str]
    nodes: list[NodeReport]
    params: int
    non_trainable: int
    flops: int
    dtype: str
    activation_bytes: int
    memory: Memory
    lints: list[Lint]
    warnings: list[Warning_] = []


class CompileRequest(GraphSource):
    target: Literal["pytorch", "keras"] = "pytorch"
    with_training: bool = Field(False, description="pytorch: append a training script")
    mode: Literal["auto", "sync", "async"] = Field(
        "auto", description="async: answer 202 with a task to poll; auto: async for large networks"
    )


class CompileResult(BaseModel):
    network: str
    target: str
    source: str


class CompileTask(BaseModel):
    id: str
    status: Literal["pending", "done", "failed"]
    url: str
    result: CompileResult | None = None
    error: dict[str, Any] | None = None


# -- jobs ------------------------------------------------------------------------------------------

SOURCE_FIELDS = ("dsl", "graph", "template", "network", "augment")


def _options(cls, skip: tuple[str, ...]) -> dict:
    """Pydantic fields of a config dataclass: its types, defaults and help."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        if typing.get_origin(kind) is tuple:
            kind = list[typing.get_args(kind)[0]]
        default = None if f.default is MISSING else f.default
        if isinstance(default, tuple):
            default = list(default)
        out[f.name] = (kind, Field(default, description=f.metadata["help"]))
    return out


class JobSource(Strict):
    """The network (one of dsl, graph, template, project: checked with the other options by
    ``TrainConfig``) and where the job reports to."""

    dsl: str | None = Field(None, description="Neural DSL text")
    graph: dict[str, Any] | None = Field(None, description=GRAPH_DOC)
    template: str | None = Field(None, max_length=100, description="a built-in template, e.g. mnist_cnn")
    network: str | None = Field(None, max_length=200, description="DSL: which network")
    augment: list[dict[str, Any]] | None = Field(
        None, description="augmentation pipeline (JSON list of torchvision.transforms.v2 operations)"
    )
    webhook_url: AnyHttpUrl | None = Field(None, description="POST started/progress/completed/failed here")


TrainRequest = create_model("TrainRequest", __base__=JobSource, **_options(TrainConfig, SOURCE_FIELDS))
TuneRequest = create_model(
    "TuneRequest",
    __base__=JobSource,
    **_options(TrainConfig, (*SOURCE_FIELDS, "workers")),
    **_options(SweepConfig, ("output",)),
)


class Progress(BaseModel):
    epoch: int = Field(description="epochs done")
    epochs: int | None = Field(None, description="epochs planned")
    fraction: float | None = None


class Delivery(BaseModel):
    id: str
    event: str
    attempts: int
    ok: bool
    status_code: int | None = None
    error: str | None = None
    at: float


class Webhook(BaseModel):
    url: str
    deliveries: list[Delivery]


class JobOut(BaseModel):
    id: str
    kind: str | None = Field(None, description="train or tune (jobs submitted through this API)")
    status: str = Field(description="PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED")
    message: str = ""
    entrypoint: str
    user: str = ""
    start_time: float | None = None
    end_time: float | None = None
    run_id: str | None = Field(None, description="its MLflow run (the sweep's parent run for tune)")
    run_name: str | None = None
    progress: Progress | None = None
    metrics: dict[str, float] = {}
    webhook: Webhook | None = None


class JobLogs(BaseModel):
    id: str
    logs: str


class JobStopped(BaseModel):
    id: str
    stopped: bool = Field(description="false when the job had already ended")


# -- tracking --------------------------------------------------------------------------------------


class Experiment(BaseModel):
    id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = {}


class RunRow(BaseModel):
    run_id: str
    name: str | None
    status: str
    start: str
    kind: str
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None


class ExperimentOut(Experiment):
    runs: list[RunRow]


class Run(BaseModel):
    run_id: str
    name: str | None
    experiment_id: str
    status: str
    lifecycle_stage: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


class Comparison(BaseModel):
    runs: list[str]
    params_differ: dict[str, list[str | None]]
    metrics: dict[str, list[float | None]]
    architecture: dict[str, Any]
    architecture_lines: dict[str, list[str]]


class Model(BaseModel):
    id: str
    name: str
    run_id: str | None
    experiment_id: str
    status: str
    created: int | None
    artifact_location: str
    tags: dict[str, str] = {}


class ExportRequest(Strict):
    run_id: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$", description="a training run (its best weights)"
    )
    template: str | None = Field(
        None, max_length=100, description="or an untrained template (random weights)"
    )
    classes: int | None = Field(None, ge=1, le=100_000)
    input_shape: list[int] | None = Field(None, min_length=1, max_length=4)
    format: Literal["onnx", "pt2", "torchscript"] = Field(
        "onnx",
        description="onnx (the dynamo exporter, the legacy one where it fails), pt2 (a torch.export "
        "program, the PyTorch-native format), torchscript (legacy)",
    )
    opset: int = Field(18, ge=17, le=20, description="ONNX opset (17 through onnx's converter)")
    onnx_exporter: Literal["auto", "dynamo", "legacy"] = Field(
        "auto", description="auto: dynamo, the legacy exporter where it fails"
    )
    quantize: str | None = Field(
        None, max_length=100, description="fp16, int8-dynamic, int8-static (comma-separated) or all"
    )
    prune: float | None = Field(None, gt=0, lt=1, description="magnitude-prune to this sparsity first")
    prune_method: Literal["unstructured", "structured"] = "unstructured"
    finetune_epochs: int = Field(0, ge=0, le=100)
    dataset: str | None = Field(None, max_length=200, description="validation data (default: the run's)")
    samples: int = Field(100, ge=1, le=10_000)
    max_abs_diff: float = Field(1e-4, gt=0)
    min_agreement: float = Field(1.0, ge=0, le=1)
    max_accuracy_drop: float = Field(0.01, ge=0, le=1)
    serving: bool = Field(False, description="also write the Triton and ONNX Runtime bundles")
    torchserve: bool = Field(
        False, description="legacy (TorchServe is archived): with serving, its bundle too"
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.run_id is None) == (self.template is None):
            raise ValueError("give exactly one of run_id or template")
        return self


class ExportOut(BaseModel):
    run_id: str | None
    directory: str
    passed: bool
    report: dict[str, Any] = Field(description="validation against torch, variants, advice, files")


# -- deployments -----------------------------------------------------------------------------------


class DeployRequest(Strict):
    run_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="a training run (its ONNX export; made if missing)"
    )
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$", description="the deployment; served at /NAME")
    replicas: int | None = Field(None, ge=1, le=64)
    cpus: float = Field(1.0, ge=0, le=64)
    canary_share: float | None = Field(None, gt=0, lt=1)
    port: int = Field(8000, ge=1024, le=65535, description="Serve's HTTP port when Serve starts")
    timeout: float = Field(180, gt=0, le=600)


class ScaleRequest(Strict):
    replicas: int = Field(ge=1, le=64)
    canary: bool = False
    timeout: float = Field(180, gt=0, le=600)


class Version(BaseModel):
    version: str
    source: str
    replicas: int
    share: float | None = None


class Deployment(BaseModel):
    name: str
    status: str | None
    url: str
    stable: Version
    canary: Version | None


class Deleted(BaseModel):
    name: str
    deleted: bool


# -- meta ------------------------------------------------------------------------------------------


class Component(BaseModel):
    ok: bool
    detail: str
    hint: str | None = None


class Health(BaseModel):
    ok: bool = Field(description="API, Ray, MLflow and storage all answer")
    api: Component
    ray: Component
    mlflow: Component
    storage: Component


class Root(BaseModel):
    name: str
    version: str
    links: dict[str, str]
