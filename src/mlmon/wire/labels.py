"""Class labels as float codes, so a label travels the float columns of the join unchanged.

The join, its store and the batch paths carry every true value and prediction as a float64.
A numeric class label is its own number; a string label (or a numeric one sent as text, such
as "2", which is the number 2) becomes a code: minus (2**52 + a 52-bit BLAKE2b hash of its
text), an integer float no regression value is near. The code depends on the text alone, so
every process (the metric service, a restarted one, the log readers) computes the same one,
and two labels are equal exactly when their codes are. `label_text` maps a code back for the
CSV; the metric service persists the labels it has seen with its join store, so a half that
waited on disk across a restart is written with its text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import DecodeError

_BASE = 2.0**52  # codes lie in (-2**53, -2**52]: exact integers, and far from any real value
LABEL_CODES = -_BASE  # a value at or below this may be a label's code
_MASK = (1 << 52) - 1
# Distinct labels one process keeps: a classifier has a handful of classes; a producer that
# sends free text (an id, a timestamp) as the label would otherwise grow this without bound.
MAX_LABELS = 10_000

_codes: dict[str, float] = {}
_texts: dict[float, str] = {}
# The codes of `_texts` as an array, rebuilt when a label is added (`code_mask`'s lookup).
_known: list[Floats] = [np.empty(0)]
# Labels restored from the store: an earlier run's labels do not count against this run's cap.
_remembered = [0]


def label_code(text: str, remember: bool = True) -> float:
    """The float that stands for label `text` (a number written as text is that number).
    `remember=False`: the code alone, neither kept nor counted against MAX_LABELS (for texts
    a producer chose freely, such as score keys, which must not use up the labels' budget)."""
    code = _codes.get(text)
    if code is not None:
        return code
    number = as_number(text)
    if number is not None:
        return number
    if not remember:
        return _hashed(text)
    if coded_here() >= MAX_LABELS:
        msg = (
            f"more than {MAX_LABELS} distinct class labels: {text[:40]!r} would be one more "
            "(is the label a free-text field?)"
        )
        raise DecodeError(msg, text.encode())
    code = _hashed(text)
    _codes[text] = code
    _texts[code] = text
    return code


def _hashed(text: str) -> float:
    digest = blake2b(text.encode(), digest_size=8).digest()
    return -(_BASE + (int.from_bytes(digest, "little") & _MASK))


def label_text(code: float) -> str | None:
    """The label a code stands for, or None for a plain number."""
    return _texts.get(code) if code <= -_BASE else None


def is_code(value: float) -> bool:
    return value <= -_BASE and value in _texts


def code_mask(values: Floats) -> npt.NDArray[np.bool_]:
    """Which values are class labels' codes (a huge negative number that is no code is not)."""
    mask = values <= LABEL_CODES
    if mask.any():
        known = _known[0]
        if len(known) != len(_texts):  # labels are only ever added
            known = _known[0] = np.fromiter(_texts, np.float64, len(_texts))
        mask[mask] = np.isin(values[mask], known)
    return mask


def cell(value: float) -> str | float:
    """What a log cell shows for a value: a label's text, or the number."""
    text = label_text(value)
    return value if text is None else text


def coded_here() -> int:
    """Labels this process coded itself (the ones restored from a store not counted): what
    MAX_LABELS bounds."""
    return len(_codes) - _remembered[0]


def known_labels() -> dict[float, str]:
    """Every label this process has coded, code to text (a copy)."""
    return dict(_texts)


def labels_after(count: int) -> list[tuple[float, str]]:
    """The labels coded after the first `count` (codes in the order first seen)."""
    if count >= len(_texts):
        return []
    return list(_texts.items())[count:]


def remember(labels: Iterable[tuple[float, str]]) -> None:
    """Labels persisted by an earlier run (`known_labels`), so their codes map back to text."""
    for code, text in labels:
        if text not in _codes:
            _codes[text] = code
            _texts[code] = text
            _remembered[0] += 1


def as_number(text: str) -> float | None:
    """A label written as a finite number (JSON's grammar, roughly: no spaces, no 'nan'), or
    None. A classifier's integer classes are often sent as "0", "1"; they must meet 0 and 1."""
    if not text or text[0] not in "-0123456789" or text[-1] not in "0123456789.":
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
