"""Models and data: predictors (linear JSON, ONNX, skops, pickle by consent) over named,
typed columns (`frame.py`), datasets and training.

Imports `metric_log`, `join` and below (import-linter's layers in pyproject.toml).
"""
