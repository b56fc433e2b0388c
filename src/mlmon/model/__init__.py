"""Models and data: predictors (linear JSON, pickle by consent), datasets and training.

Imports `metric_log`, `join` and below (import-linter's layers in pyproject.toml).
"""
