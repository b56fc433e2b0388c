"""Dataset columns streamed as tags (--tag-columns): not features, aligned with the rows kept,
an empty cell no tag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlmon.errors import DatasetError
from mlmon.model.dataset import load_dataset
from mlmon.services.features import _tags


@pytest.mark.parametrize("target_kind", ["numeric", "label"])
def test_tag_columns_go_with_the_rows_kept(tmp_path: Path, target_kind: str) -> None:
    data = tmp_path / "d.csv"
    target = ["1.0", "", "3.0", "4.0"] if target_kind == "numeric" else ["a", "", "c", "d"]
    lines = ["x,region,device,y"]
    for i, (region, device) in enumerate([("eu", "ios"), ("us", ""), ("eu", ""), ("us", "web")]):
        lines.append(f"{i}.5,{region},{device},{target[i]}")
    data.write_text("\n".join(lines) + "\n")
    loaded = load_dataset(data, "y", tags=("region", "device"))
    assert loaded.feature_names == ("x",)
    assert loaded.named
    assert loaded.tags["region"].tolist() == ["eu", "eu", "us"]  # the row without y left out
    assert _tags(loaded, np.arange(3)) == [
        {"region": "eu", "device": "ios"},
        {"region": "eu"},
        {"region": "us", "device": "web"},
    ]


def test_an_unknown_tag_column_is_named(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n")
    with pytest.raises(DatasetError, match="no column 'region' \\(--tag-columns\\)"):
        load_dataset(data, "y", tags=("region",))
    with pytest.raises(DatasetError, match="diabetes set has no such columns"):
        load_dataset(None, tags=("region",))
