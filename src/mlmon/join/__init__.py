"""Pairing true values with predictions exactly once: joined rows, held halves, single records,
batches and the durable store.

Beside `metric_log` (neither imports the other); imports `bus`, `settings` and the leaves.
"""
