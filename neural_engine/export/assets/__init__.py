"""Files copied into serving bundles (an ONNX Runtime HTTP server, a TorchServe handler).

They depend on nothing from NeuralForge, so a bundle runs where only onnxruntime (or
TorchServe) is installed; ``predictor.Predictor`` is also what the Ray Serve replicas run.
"""
