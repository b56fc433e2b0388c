"""The `metric_log.csv` contract: its layout, line format, durable append and the one
incremental reader.

Beside `join` (neither imports the other); imports `bus`, `settings` and the leaves.
"""
