"""Pure maths over joined rows: quality windows (one file per concept), drift and alert rules.

No I/O and no bus; imports only the leaves (`wire`, `ids`, `errors`, `arrays`).
"""
