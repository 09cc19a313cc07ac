"""Thin entry points run by `ray job submit`, the CLI and the dashboard: training, sweeps,
serving, job submission. They use the engine (``neural_engine``), Ray and MLflow."""
