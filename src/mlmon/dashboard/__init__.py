"""The live dashboard: a small web app that streams aggregates of the pipeline to a page."""
