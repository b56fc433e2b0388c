"""Array leaves: the one float64 array alias, and a block's rows split by model code once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]  # every float column, window and sample
Rows = npt.NDArray[np.intp] | slice


def rows_by_model(codes: npt.NDArray[np.int32]) -> Iterator[tuple[int, Rows]]:
    """Each model code present in `codes`, smallest first, with the positions of
    its rows in log order. One stable sort for the block, not a mask per model: the cost does
    not grow with the number of models a block names."""
    if not len(codes):
        return
    if bool((codes == codes[0]).all()):  # the usual case: one model; no need to sort
        yield int(codes[0]), slice(None)
        return
    order = np.argsort(codes, kind="stable")  # stable: each model's rows stay in log order
    ordered = codes[order]
    starts = np.flatnonzero(np.diff(ordered)) + 1
    for rows in np.split(order, starts):
        yield int(codes[rows[0]]), rows
