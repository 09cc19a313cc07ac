"""``POST /parse``, ``POST /shapes``, ``POST /compile`` (+ ``GET /compile/{task}``): the engine's
parser, shape report and code generators, nothing else."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from fastapi import APIRouter, Depends, Request, Response

from neural_engine.dsl import parse_file
from neural_engine.errors import NeuralForgeError
from neural_engine.report import report
from neural_engine.shapes import propagate
from neural_engine.templates import template
from ray_jobs.api import models as m
from ray_jobs.api.auth import require
from ray_jobs.api.errors import NotFound, body
from ray_jobs.api.jobs import graph_from_json

router = APIRouter(tags=["engine"], dependencies=[Depends(require("read"))])
ASYNC_NODES = 400  # "auto": networks with more nodes compile in the background
ASYNC_DSL_CHARS = 50_000  # … or DSL texts longer than this


def warnings_of(parsed) -> list[dict]:
    return [
        {
            "message": w.message,
            "line": w.span.line if w.span else None,
            "column": w.span.column if w.span else None,
        }
        for w in parsed.warnings
    ]


def load(source: m.GraphSource):
    """(graph, DSL warnings) of a request's dsl, graph or template."""
    if source.dsl is not None:
        from neural_engine.dsl import parse_file

        parsed = parse_file(source.dsl)
        return parsed.pick(source.network), warnings_of(parsed)
    if source.graph is not None:
        return graph_from_json(source.graph), []

    options = {k: v for k, v in (("classes", source.classes), ("width", source.width)) if v is not None}
    if source.input_shape:
        options["input_shape"] = tuple(source.input_shape)
    return template(source.template, **options), []


@router.post("/parse", response_model=m.ParseResult, summary="DSL text -> graph JSON and warnings")
def parse(req: m.ParseRequest):

    parsed = parse_file(req.dsl)
    graph = parsed.pick(req.network)
    return {
        "network": graph.name,
        "networks": list(parsed.graphs),
        "graph": graph.to_json(),
        "warnings": warnings_of(parsed),
    }


@router.post(
    "/shapes",
    response_model=m.ShapesResult,
    summary="per-node shapes, parameters, FLOPs, memory estimate and lints",
)
def shapes(req: m.ShapesRequest):

    graph, warnings = load(req)
    return {**report(graph, batch_size=req.batch_size, dtype=req.dtype).to_json(), "warnings": warnings}


def compile_source(req: m.CompileRequest) -> dict:
    from neural_engine.codegen import generate_keras, generate_pytorch

    graph, _ = load(req)
    propagate(graph)  # a network that does not check compiles to nothing: say where it fails
    source = (
        generate_pytorch(graph, with_training=req.with_training)
        if req.target == "pytorch"
        else generate_keras(graph)
    )
    return {"network": graph.name, "target": req.target, "source": source}


class CompileTasks:
    """Background compilations: one worker thread, the last ``keep`` results kept in memory."""

    def __init__(self, keep: int = 256):
        self.pool: ThreadPoolExecutor | None = None  # made on first use, again after close()
        self.tasks: OrderedDict[str, Future] = OrderedDict()
        self.keep, self.lock = keep, threading.Lock()

    def start(self, req: m.CompileRequest) -> str:
        task_id = uuid.uuid4().hex
        with self.lock:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compile")
            self.tasks[task_id] = self.pool.submit(compile_source, req)
            while len(self.tasks) > self.keep:
                self.tasks.popitem(last=False)
        return task_id

    def view(self, task_id: str, url: str) -> dict:
        future = self.tasks.get(task_id)
        if future is None:
            raise NotFound(
                f"the compile task must exist; no task has the id {task_id!r} (results are kept "
                f"for the last {self.keep} tasks of this server process)"
            )
        out = {"id": task_id, "url": url, "status": "pending"}
        if future.done():
            err = future.exception()
            if err is None:
                out.update(status="done", result=future.result())
            elif isinstance(err, NeuralForgeError):
                out.update(status="failed", error=body(err))
            else:
                out.update(
                    status="failed",
                    error={"error": "InternalError", "message": f"{type(err).__name__}: {err}"},
                )
        return out

    def close(self) -> None:
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _large(req: m.CompileRequest) -> bool:
    if req.dsl is not None:
        return len(req.dsl) > ASYNC_DSL_CHARS
    if req.graph is not None:
        nodes = req.graph.get("nodes")
        return isinstance(nodes, list) and len(nodes) > ASYNC_NODES
    return False


@router.post(
    "/compile",
    response_model=m.CompileResult,
    responses={202: {"model": m.CompileTask, "description": "compiling in the background"}},
    summary="PyTorch or Keras 3 source of a network (large ones: 202 and a task to poll)",
)
def compile_(req: m.CompileRequest, request: Request):
    if req.mode == "async" or (req.mode == "auto" and _large(req)):
        tasks: CompileTasks = request.app.state.compile_tasks
        task_id = tasks.start(req)
        url = str(request.url_for("compile_task", task_id=task_id).path)
        return Response(
            m.CompileTask(**tasks.view(task_id, url)).model_dump_json(),
            202,
            headers={"Location": url},
            media_type="application/json",
        )
    return compile_source(req)


@router.get(
    "/compile/{task_id}",
    response_model=m.CompileTask,
    name="compile_task",
    summary="a background compilation: pending, done (with the source) or failed",
)
def compile_task(task_id: str, request: Request):
    return request.app.state.compile_tasks.view(task_id, request.url.path)
