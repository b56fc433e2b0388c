"""The bounded per-model view of the metric log that the PNGs, the dashboard and `mlmon report`
draw from.

Imports `metric_log`, `monitoring` and the leaves; never matplotlib.
"""
