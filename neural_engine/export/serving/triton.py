"""An NVIDIA Triton model repository for the ONNX file: ``NAME/config.pbtxt``, ``NAME/1/model.onnx``.

The config is protobuf text format of Triton's ``ModelConfig`` (``backend: "onnxruntime"``,
``max_batch_size`` so ``dims`` leave out the batch, ``dynamic_batching`` with preferred sizes and
a queue delay, CPU instances).

>>> from neural_engine.export.serving import Signature, TensorSpec
>>> image = TensorSpec("image", "float32", (None, 1, 8, 8))
>>> output = TensorSpec("output", "float32", (None, 10))
>>> sig = Signature((image,), (output,))
>>> print(config_text("digits", sig, 32).splitlines()[6])
    data_type: TYPE_FP32
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from neural_engine.errors import ExportError
from neural_engine.export.serving import Bundle, Signature

TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "float64": "TYPE_FP64",
    "int64": "TYPE_INT64",
    "int32": "TYPE_INT32",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "bool": "TYPE_BOOL",
}


def _tensors(field_name: str, specs) -> list[str]:
    lines = [f"{field_name} ["]
    for i, t in enumerate(specs):
        if t.dtype not in TRITON_TYPES:
            raise ExportError(
                f"Triton configs support {', '.join(TRITON_TYPES)} tensors; {t.name} is {t.dtype}"
            )
        dims = ", ".join(str(d if d is not None else -1) for d in t.shape[1:])
        lines += [
            "  {",
            f"    name: {json.dumps(t.name)}",
            f"    data_type: {TRITON_TYPES[t.dtype]}",
            f"    dims: [ {dims} ]",
            "  }" + ("," if i < len(specs) - 1 else ""),
        ]
    return lines + ["]"]


def config_text(
    name: str, signature: Signature, max_batch_size: int = 32, delay_us: int = 500, instances: int = 1
) -> str:
    preferred = [b for b in (4, 8, 16, 32, 64) if b <= max_batch_size] or [max_batch_size]
    lines = [
        f"name: {json.dumps(name)}",
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        *_tensors("input", signature.inputs),
        *_tensors("output", signature.outputs),
        "dynamic_batching {",
        f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]",
        f"  max_queue_delay_microseconds: {delay_us}",
        "}",
        "instance_group [",
        "  {",
        f"    count: {instances}",
        "    kind: KIND_CPU",
        "  }",
        "]",
    ]
    return "\n".join(lines) + "\n"


def _readme(name: str, signature: Signature) -> str:
    t = signature.inputs[0]
    example_shape = [1, *(d or 1 for d in t.shape[1:])]
    datatype = TRITON_TYPES[t.dtype].removeprefix("TYPE_")
    return f"""# Triton model repository: {name}

```
{name}/config.pbtxt      # ONNX Runtime backend, dynamic batching, CPU instances
{name}/1/model.onnx      # version 1
```

Start Triton on this folder (pick a release tag, e.g. 24.08):

    docker run --rm -p 8000:8000 -p 8001:8001 -p 8002:8002 -v "$PWD":/models \\
        nvcr.io/nvidia/tritonserver:24.08-py3 tritonserver --model-repository=/models

Check and call it (KServe v2 protocol; `data` is the flattened tensor):

    curl -s localhost:8000/v2/models/{name}/ready -o /dev/null -w '%{{http_code}}\\n'
    curl -s -X POST localhost:8000/v2/models/{name}/infer -H 'Content-Type: application/json' \\
        -d '{{"inputs": [{{"name": "{t.name}", "shape": {example_shape},
              "datatype": "{datatype}", "data": [...]}}]}}'

For GPUs, change `kind: KIND_CPU` to `KIND_GPU` in `config.pbtxt`.
"""


def write(
    directory: Path, name: str, onnx_path: Path, signature: Signature, max_batch_size: int = 32
) -> Bundle:
    if not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ExportError(f"--max-batch-size must be a positive integer; received {max_batch_size!r}")
    model_dir = directory / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    config = model_dir / "config.pbtxt"
    config.write_text(config_text(name, signature, max_batch_size))
    model = shutil.copyfile(onnx_path, model_dir / "1" / "model.onnx")
    readme = directory / "README.md"
    readme.write_text(_readme(name, signature))
    run = [
        "docker",
        "run",
        "--rm",
        "-p",
        "8000:8000",
        "-v",
        f"{directory.resolve()}:/models",
        "nvcr.io/nvidia/tritonserver:24.08-py3",
        "tritonserver",
        "--model-repository=/models",
    ]
    return Bundle("triton", directory, [config, Path(model), readme], {"serve": run})
