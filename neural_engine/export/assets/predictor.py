"""A small ONNX Runtime inference server and the input checks every NeuralForge endpoint uses.

Standalone (Python standard library, numpy; onnxruntime to run a model):

    python predictor.py --model model.onnx --signature signature.json --port 8001
    curl -s -X POST http://127.0.0.1:8001/predict -H 'Content-Type: application/json' \\
         -d '{"inputs": [[[[0.0, 0.5, ...]]]]}'

Requests are JSON objects ``{"inputs": BATCH}`` (one-input models) or ``{"inputs": {NAME: BATCH}}``;
a BATCH is a nested list shaped like the model's input with the batch first. Answers:
``{"outputs": ..., "predictions": [...]}`` (predictions: top-1 class, for class outputs). Bad input
(not JSON, wrong shape, wrong dtype, non-finite numbers, too many samples) gets 400 with a message.

>>> spec = {"inputs": [{"name": "x", "dtype": "float32", "shape": [None, 2]}], "outputs": []}
>>> check_payload(spec, {"inputs": [[1, 2], [3, 4]]})["x"].shape
(2, 2)
>>> try:
...     check_payload(spec, {"inputs": [[1, 2, 3]]})
... except BadInput as e:
...     print(e)
input x must have shape (N, 2); received (1, 3)
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

MAX_SAMPLES = 1024
MAX_BODY_BYTES = 64 * 2**20


class BadInput(ValueError):
    """The request is malformed; the message says what was expected and what was received."""


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bool)": "bool",
}


def _shape_text(shape) -> str:
    dims = ["N" if i == 0 else (str(d) if isinstance(d, int) else "?") for i, d in enumerate(shape)]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


def check_array(name: str, value, dtype: str, shape, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """``value`` (nested lists) as an array of ``dtype`` with ``shape`` (dim 0: the batch)."""
    try:
        arr = np.asarray(value)
    except ValueError:
        raise BadInput(
            f"input {name} must be a rectangular nested list of numbers; received a ragged one"
        ) from None
    if arr.dtype == object:
        raise BadInput(
            f"input {name} must be a rectangular nested list of numbers; received mixed or ragged values"
        )
    integer = np.dtype(dtype).kind in "iu"
    kind = arr.dtype.kind
    if kind not in "iuf" or (integer and kind == "f"):
        got = {"U": "strings", "S": "bytes", "b": "booleans", "f": "non-integer numbers"}.get(
            kind, str(arr.dtype)
        )
        want = "integers" if integer else "numbers"
        raise BadInput(f"input {name} must hold {want} ({dtype}); received {got}")
    if kind == "f" and not np.isfinite(arr).all():
        raise BadInput(f"input {name} must hold finite numbers; received NaN or infinity")
    if arr.ndim != len(shape) or any(isinstance(d, int) and d != a for d, a in zip(shape[1:], arr.shape[1:])):
        raise BadInput(
            f"input {name} must have shape {_shape_text(shape)}; received {tuple(arr.shape)}"
            + (" (wrap a single sample in a list)" if arr.ndim == len(shape) - 1 else "")
        )
    if arr.shape[0] < 1 or arr.shape[0] > max_samples:
        raise BadInput(f"input {name} must hold 1 to {max_samples} samples; received {arr.shape[0]}")
    return arr.astype(dtype)


def check_payload(spec: dict, payload, max_samples: int = MAX_SAMPLES) -> dict[str, np.ndarray]:
    """The model's feed from a decoded JSON request, or BadInput."""
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise BadInput(
            f'the request must be a JSON object with "inputs"; received {type(payload).__name__}'
            + (f" with keys {sorted(payload)[:5]}" if isinstance(payload, dict) else "")
        )
    inputs, names = payload["inputs"], [i["name"] for i in spec["inputs"]]
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise BadInput(f'"inputs" must be an object with the inputs {names}; received a list')
        inputs = {names[0]: inputs}
    if sorted(inputs) != sorted(names):
        raise BadInput(f'"inputs" must name the inputs {names}; received {sorted(inputs)}')
    feed = {
        i["name"]: check_array(i["name"], inputs[i["name"]], i["dtype"], i["shape"], max_samples)
        for i in spec["inputs"]
    }
    if len({len(a) for a in feed.values()}) > 1:
        raise BadInput(
            f"every input must hold the same number of samples; received "
            f"{ {k: len(a) for k, a in feed.items()} }"
        )
    return feed


def answer(outputs: list[np.ndarray], names: list[str]) -> dict:
    """The JSON answer: outputs (one array, or an object by name) and the top-1 class."""
    body = {
        "outputs": outputs[0].tolist()
        if len(outputs) == 1
        else {n: o.tolist() for n, o in zip(names, outputs)}
    }
    first = outputs[0]
    if first.ndim >= 2 and first.shape[1] > 1:
        body["predictions"] = first.argmax(1).tolist()
    return body


def session_options(level: str = "all", threads: int = 1):
    """onnxruntime session options: ``threads`` intra-op threads, one inter-op, the given
    graph optimisation level, errors-only logging (also used by the engine's runners)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    options.log_severity_level = 3  # errors only: no per-node warnings for quantized graphs
    return options


class Predictor:
    """An onnxruntime session plus its signature (from ``signature.json`` or the model itself)."""

    def __init__(
        self, model: str | Path | bytes, spec: dict | None = None, threads: int = 1, level: str = "all"
    ):
        import onnxruntime as ort

        options = session_options(level, threads)
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.spec = spec or {
            "inputs": [
                {
                    "name": i.name,
                    "dtype": _ORT_TYPES.get(i.type, "float32"),
                    "shape": [d if isinstance(d, int) else None for d in i.shape],
                }
                for i in self.session.get_inputs()
            ],
            "outputs": [{"name": o.name} for o in self.session.get_outputs()],
        }
        self.output_names = [o["name"] for o in self.spec["outputs"]]

    def check(self, payload, max_samples: int = MAX_SAMPLES) -> dict[str, np.ndarray]:
        return check_payload(self.spec, payload, max_samples)

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return self.session.run(None, feed)
        except Exception as e:  # onnxruntime reports bad values (e.g. token ids out of range) as errors
            if "INVALID_ARGUMENT" in str(e) or "InvalidArgument" in type(e).__name__:
                raise BadInput(f"the model refused the input: {str(e).splitlines()[0][:300]}") from None
            raise

    def predict(self, payload) -> dict:
        return answer(self.run(self.check(payload)), self.output_names)


def _handler(predictor: Predictor, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/health", "/"):
                self._send(200, {"status": "ok", "signature": predictor.spec})
            else:
                self._send(404, {"error": f"unknown path {self.path}; use POST /predict"})

        def do_POST(self):
            if self.path not in ("/predict", "/"):
                return self._send(404, {"error": f"unknown path {self.path}; use POST /predict"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return self._send(
                    413, {"error": f"the body must be at most {MAX_BODY_BYTES} bytes; received {length}"}
                )
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return self._send(400, {"error": f"the body must be JSON; it is not ({e})"})
            try:
                with lock:
                    body = predictor.predict(payload)
            except BadInput as e:
                return self._send(400, {"error": str(e)})
            except Exception as e:  # noqa: BLE001 - the server keeps serving; the client learns what failed
                return self._send(500, {"error": f"inference failed: {type(e).__name__}: {e}"})
            self._send(200, body)

        def log_message(self, *args):
            pass

    return Handler


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Serve an ONNX model over HTTP with onnxruntime.")
    ap.add_argument("--model", default="model.onnx")
    ap.add_argument(
        "--signature", default="signature.json", help="inputs/outputs (default: read from the model)"
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    spec_path = Path(args.signature)
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else None
    predictor = Predictor(args.model, spec, threads=args.threads, level=(spec or {}).get("ort_level", "all"))
    server = ThreadingHTTPServer((args.host, args.port), _handler(predictor, threading.Lock()))
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}/predict", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
