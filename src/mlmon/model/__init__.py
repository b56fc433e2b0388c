"""Models and data: predictors (linear JSON, pickle by consent), datasets and training.

Imports only `settings`, `errors`, `wire` and `arrays`.
"""
