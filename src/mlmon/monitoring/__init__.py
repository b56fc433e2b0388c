"""Pure maths over joined rows and features: quality windows (one file per concept, and
quality by event time in `quality/by_time.py`), drift (numeric and categorical, flags under
false discovery control), data quality against the drift reference (`data_quality.py`), the ring
buffer both keep their window in (`ring.py`), change detectors on the error stream
(`detectors.py`), quality estimated before labels (`estimation`), and alert rules.

No I/O and no bus; imports only the leaves (`wire`, `ids`, `errors`, `arrays`).
"""
