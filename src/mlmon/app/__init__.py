"""The shell users run: the CLI, the embedded mode, the supervisor, one service per process.

Top layer: may import every other package; nothing imports it.
"""
