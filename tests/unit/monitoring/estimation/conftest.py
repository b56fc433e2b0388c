"""One OpenMP thread for the gradient-boosted trees: on the two shared cores, OpenMP's
spinning threads made one fit take 20 s instead of 0.6 s while other tests ran."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="package")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield
