"""What operators read and get: status files, Prometheus, alert actions, progress, the report.

Imports `summary`, `model`, `metric_log`, `join`, `monitoring`, `bus` and the leaves.
"""
