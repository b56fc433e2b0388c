"""`.skops` models: scikit-learn objects saved without pickle, loaded without a trust flag.

skops rebuilds only the types it trusts by default; any other type in the file must be named
by the user (`MLMON_SKOPS_TRUSTED`, full type names as skops prints them). skops itself leaves
some scikit-learn types untrusted on purpose (e.g. HistGradientBoosting's TreePredictor, whose
node indices a crafted file could point out of bounds), so allowing one is the user's call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlmon.errors import ModelLoadError
from mlmon.model.estimator import EstimatorModel

TRUSTED_SETTING = "MLMON_SKOPS_TRUSTED"


def load_skops(path: Path, trusted: Sequence[str] = ()) -> EstimatorModel:
    import skops.io

    data = path.read_bytes()
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as error:
        msg = f"model file {path} is not a valid skops file: {error}"
        raise ModelLoadError(msg) from None
    refused = [name for name in untrusted if name not in set(trusted)]
    if refused:
        msg = (
            f"model file {path} holds types skops does not trust by default: "
            f"{', '.join(refused)}. Loading builds objects of these types from the file; if "
            f"you trust its source, allow them by name: "
            f"{TRUSTED_SETTING}={','.join(sorted(set(trusted) | set(refused)))}"
        )
        raise ModelLoadError(msg)
    try:
        estimator = skops.io.loads(data, trusted=[name for name in untrusted])
    except Exception as error:
        msg = f"model file {path} could not be loaded by skops: {error}"
        raise ModelLoadError(msg) from None
    return EstimatorModel.loaded(path, data, estimator)
