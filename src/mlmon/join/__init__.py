"""Pairing true values with predictions exactly once: joined rows, held halves, single records,
batches and the durable store.

Imports only `metric_log`-free leaves (`wire`, `ids`, `errors`, `arrays`) and `settings`.
"""
