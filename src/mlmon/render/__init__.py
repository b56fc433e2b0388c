"""The PNGs (error distribution, metrics over time): the only package that imports matplotlib.

Imports `summary`, `ops` and below.
"""
