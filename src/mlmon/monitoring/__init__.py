"""Pure maths over joined rows: quality windows (one file per concept), drift, alert rules, and
quality estimated before labels (`estimation`).

No I/O and no bus; imports only the leaves (`wire`, `ids`, `errors`, `arrays`).
"""
