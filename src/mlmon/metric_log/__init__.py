"""The `metric_log.csv` contract: its layout, line format, durable append and the one
incremental reader.

Imports only leaves (`wire`, `ids`, `errors`, `arrays`) and `settings`.
"""
