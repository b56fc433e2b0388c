"""The live dashboard: a small web app that streams aggregates of the pipeline to a page.

Imports `ops`, `summary` and below, never `render` (so never matplotlib).
"""
