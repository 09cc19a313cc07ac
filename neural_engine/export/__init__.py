"""Export a built network and prove it still computes the same thing.

Modules, in the order an export flows through them:

- ``weights``: the module to export (softmax heads keep their activation) from a graph and an
  optional training state dict (trained with ``logits=True``);
- ``samples``: validation inputs (the dataset's test split, else random inputs of the right
  shape) and calibration batches;
- ``onnx_export``: the ONNX file by the dynamo exporter (the legacy TorchScript-based one only
  where dynamo fails, and the report says why), checked by ``onnx.checker``;
- ``formats``: ``.pt2`` (``torch.export``, the PyTorch-native format) and legacy TorchScript;
- ``runners`` and ``validate``: torch against onnxruntime, the reloaded ``.pt2`` program or
  TorchScript — max abs/rel difference, top-1 agreement, accuracy, file size, latency at batch 1
  and 32;
- ``quantize``: FP16, INT8 dynamic and INT8 static (QDQ) variants through onnxruntime's tools,
  each measured against fp32 on real test data; ``advisor`` recommends one;
- ``prune``: magnitude pruning (unstructured or L1-structured channels), optional fine-tune;
- ``serving``: Triton and ONNX Runtime bundles generated from an export (TorchServe: legacy);
- ``layout``: where the files go — a folder of the export's own, or beside a model file the
  caller names (``m.onnx``, ``m.report.md``, ``m-serving/``);
- ``pipeline``: all of it for one request (``ExportSpec`` → files + a JSON/Markdown report).

onnx and onnxruntime (the ``export`` extra) load inside the functions that need them.

>>> from neural_engine.export.validate import Thresholds
>>> Thresholds().max_abs_diff
0.0001
"""
