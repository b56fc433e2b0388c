"""The bounded per-model view of the metric log that the PNGs and the dashboard draw from.

Imports `metric_log`, `monitoring` and the leaves; never matplotlib.
"""
