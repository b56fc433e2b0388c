"""The error-distribution PNG and the plot service."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from mlmon.metric_log.reader import MetricLogReader
from mlmon.ops.status import ServiceStats
from mlmon.render.error_distribution import DPI, FIGURE_SIZE, format_utc, render_error_groups
from mlmon.services import plot as plot_service
from mlmon.services.plot import PLOT_FILE, run_plot
from mlmon.settings import Settings
from mlmon.summary.error_group import ErrorGroup
from mlmon.summary.log_summary import LogSummary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2024, 5, 17, 12, 30, tzinfo=UTC)
HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"


def realistic_errors(n: int, seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0, 50, n))


def logged_groups(
    directory: Path, errors: np.ndarray, models: list[str] | None = None
) -> list[ErrorGroup]:
    """The groups the plot service draws for a metric log of `errors` (each row's model from
    `models`, or none named): the log is written, read as the service reads it, and removed."""
    path = directory / "metric_log.csv"
    names = [""] * len(errors) if models is None else models
    rows = zip(errors.tolist(), names, strict=True)
    lines = [HEADER] + [f"r-{i},0.0,{e!r},{e!r},{m},1,0.0,0.0\n" for i, (e, m) in enumerate(rows)]
    path.write_text("".join(lines))
    summary = LogSummary()
    MetricLogReader(path, summary).poll()
    path.unlink()
    return summary.error_groups()


def render_logged(path: Path, errors: np.ndarray, models: list[str] | None = None) -> None:
    """Render `errors` as the plot service does: from the groups of a log of them."""
    render_error_groups(logged_groups(path.parent, errors, models), path, NOW)


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    width, height = FIGURE_SIZE
    assert image.shape[:2] == (round(height * DPI), round(width * DPI))


def test_render_writes_a_valid_png(tmp_path: Path) -> None:
    """A realistic set of errors gives a PNG that an image reader accepts."""
    path = tmp_path / "error_distribution.png"
    render_logged(path, realistic_errors(1000))
    assert_valid_png(path)


def test_render_with_two_models(tmp_path: Path) -> None:
    """Errors from two models give a valid PNG (one colour per model)."""
    path = tmp_path / "plot.png"
    models = ["linear"] * 600 + ["forest"] * 400
    render_logged(path, realistic_errors(1000), models)
    assert_valid_png(path)


@pytest.mark.parametrize(
    "errors",
    [np.array([]), np.array([np.nan, np.inf]), np.array([3.0]), np.array([2.0, 2.0, 2.0])],
    ids=["empty", "non-finite", "one", "constant"],
)
def test_degenerate_input_still_gives_a_png(tmp_path: Path, errors: np.ndarray) -> None:
    """No rows, only non-finite rows, one row or equal rows: a PNG, never a traceback."""
    path = tmp_path / "plot.png"
    render_logged(path, errors)
    assert_valid_png(path)


def test_waiting_state_shows_the_message(tmp_path: Path) -> None:
    """With no rows the figure says it is waiting for data."""
    path = tmp_path / "plot.png"
    texts: list[str] = []
    original = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        texts.extend(text.get_text() for text in self.texts)
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", spy)
        render_logged(path, np.array([]))
    assert "Waiting for data: no rows in metric_log.csv yet" in texts
    assert "generated at 2024-05-17 12:30:00 UTC" in texts
    assert_valid_png(path)


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Rendering twice leaves exactly the PNG in its directory."""
    path = tmp_path / "plot.png"
    render_logged(path, realistic_errors(100))
    render_logged(path, realistic_errors(200))
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_failed_write_keeps_the_old_png_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render that fails mid-write leaves the previous PNG intact and cleans up."""
    path = tmp_path / "plot.png"
    render_logged(path, realistic_errors(100))
    before = path.read_bytes()

    def broken(self: Figure, handle: object, **_: object) -> None:
        handle.write(b"\x89PNG half")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        render_logged(path, realistic_errors(100))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_timestamps_are_shown_in_utc() -> None:
    """Aware datetimes are converted to UTC; naive ones are taken as UTC."""
    east = datetime(2024, 5, 17, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(east) == "2024-05-17 12:30:00 UTC"
    assert format_utc(datetime(2024, 5, 17, 12, 30)) == "2024-05-17 12:30:00 UTC"


def write_log(logs_dir: Path, rows: int) -> None:
    """Write a metric log of `rows` rows, replacing any old one in one step."""
    lines = ["id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"]
    lines += [f"r-{i},1.0,2.0,{float(i)!r},linear,1,0.0,0.0\n" for i in range(rows)]
    temporary = logs_dir / "metric_log.tmp"
    temporary.write_text("".join(lines))
    os.replace(temporary, logs_dir / "metric_log.csv")


def signal_renders(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> asyncio.Queue[int]:
    """Replace the service's renderer by one that reports each call's rows (from its thread)."""
    loop = asyncio.get_running_loop()
    calls: asyncio.Queue[int] = asyncio.Queue()
    real = plot_service.render_error_groups

    def render(groups: list[ErrorGroup], *args: object, **kwargs: object) -> None:
        try:
            if fail:
                raise RuntimeError("no fonts")
            real(groups, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            rows = sum(group.count for group in groups)
            loop.call_soon_threadsafe(calls.put_nowait, rows)

    monkeypatch.setattr(plot_service, "render_error_groups", render)
    return calls


async def test_run_plot_once_renders_and_reports(tmp_path: Path) -> None:
    """One pass renders the PNG, marks the service ready and counts rows and renders."""
    write_log(tmp_path, 25)
    stats = ServiceStats("plot")
    await run_plot(Settings(logs_dir=tmp_path), stats, asyncio.Event(), once=True)
    assert_valid_png(tmp_path / PLOT_FILE)
    assert stats.ready
    assert stats.counters["renders"] == 1
    assert stats.gauges["rows"] == 25


@pytest.mark.alone  # bounds a duration
async def test_run_plot_rerenders_only_on_new_rows_and_stops_promptly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renders at start and after new rows, not when idle, and returns soon after stop."""
    write_log(tmp_path, 5)
    renders = signal_renders(monkeypatch)
    stats = ServiceStats("plot")
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_plot(Settings(logs_dir=tmp_path, plot_interval=0.05), stats, stop)
    )
    assert await asyncio.wait_for(renders.get(), 10) == 5
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(renders.get(), 0.3)  # several idle intervals: no render
    write_log(tmp_path, 8)
    assert await asyncio.wait_for(renders.get(), 10) == 8
    stop.set()
    await asyncio.wait_for(task, 2)
    assert stats.counters["renders"] == 2
    assert stats.gauges["rows"] == 8


async def test_run_plot_redraws_when_the_log_starts_over_without_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log cut back to its header, then removed, brings no rows, yet the old picture must
    not stay up: each is drawn again (as waiting) once."""
    write_log(tmp_path, 5)
    renders = signal_renders(monkeypatch)
    stop = asyncio.Event()
    settings = Settings(logs_dir=tmp_path, plot_interval=0.02)
    task = asyncio.create_task(run_plot(settings, ServiceStats("plot"), stop))
    assert await asyncio.wait_for(renders.get(), 10) == 5
    write_log(tmp_path, 0)  # the header only
    assert await asyncio.wait_for(renders.get(), 10) == 0
    write_log(tmp_path, 3)
    assert await asyncio.wait_for(renders.get(), 10) == 3
    (tmp_path / "metric_log.csv").unlink()
    assert await asyncio.wait_for(renders.get(), 10) == 0
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(renders.get(), 0.2)  # and not again while nothing changes
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_run_plot_logs_render_errors_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing render is logged, not raised, and tried again on the next pass."""
    write_log(tmp_path, 3)
    renders = signal_renders(monkeypatch, fail=True)
    stats = ServiceStats("plot")
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="mlmon.services.plot"):
        task = asyncio.create_task(
            run_plot(Settings(logs_dir=tmp_path, plot_interval=0.02), stats, stop)
        )
        for _ in range(2):  # no new rows, yet tried again
            await asyncio.wait_for(renders.get(), 10)
        stop.set()
        await asyncio.wait_for(task, 2)
    assert not stats.ready
    assert stats.counters["render_errors"] >= 2
    assert "could not render" in caplog.text


def drawn_texts(render: Callable[[], None]) -> list[str]:
    """Every text of the figure `render` saves: figure texts and the axes' labels."""
    texts: list[str] = []
    original = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        texts.extend(text.get_text() for text in self.texts)
        texts.extend(axes.get_ylabel() for axes in self.axes)
        texts.extend(text.get_text() for legend in self.legends for text in legend.get_texts())
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", spy)
        render()
    return texts


def test_a_distribution_drawn_from_a_sample_says_so(tmp_path: Path) -> None:
    """Past the sample's size the figure states what is estimated and from how many rows."""
    errors = realistic_errors(100_000)
    exact = ErrorGroup.of("linear", errors)
    sample = ErrorGroup(
        "linear", exact.count, exact.mean, exact.std, exact.low, exact.high, errors[::10]
    )
    path = tmp_path / "plot.png"
    texts = "\n".join(drawn_texts(lambda: render_error_groups([sample], path, NOW)))
    assert "100,000 rows from model linear" in texts
    assert "uniform sample of 10,000" in texts
    assert "median*" in texts
    assert "median* = " in texts  # the legend marks the estimate too
    assert "* from a sample; mean, std, count exact" in texts
    assert "rows per bin, estimated" in texts
    assert_valid_png(path)
    whole = "\n".join(drawn_texts(lambda: render_error_groups([exact], path, NOW)))
    assert "sample" not in whole
    assert "estimated" not in whole


def test_with_exact_and_sampled_models_only_the_sampled_are_said_estimated(
    tmp_path: Path,
) -> None:
    """One sampled model among exact ones: the subtitle names it and its sample's size (not a
    sum over models as if all were sampled), and only its median (and the pooled one) is
    starred in the table."""
    errors = realistic_errors(100_000)
    whole = ErrorGroup.of("champion", errors)
    champion = ErrorGroup(
        "champion", whole.count, whole.mean, whole.std, whole.low, whole.high, errors[::10]
    )
    challenger = ErrorGroup.of("challenger", realistic_errors(5_000, seed=1) + 3)
    path = tmp_path / "plot.png"
    texts = drawn_texts(lambda: render_error_groups([champion, challenger], path, NOW))
    everything = "\n".join(texts)
    assert "champion's bars, density and median from a uniform sample of 10,000 of its rows" in (
        everything
    )
    assert "15,000" not in everything
    table = next(text for text in texts if text.startswith("model"))
    starred = {line.split()[0]: "*" in line for line in table.splitlines()[1:-1]}
    assert starred == {"all": True, "champion": True, "challenger": False}
    assert "median*" not in table  # the header: not every median is an estimate
    both = ErrorGroup(
        "challenger",
        challenger.count,
        challenger.mean,
        challenger.std,
        challenger.low,
        challenger.high,
        challenger.sample[::5],
    )
    texts = drawn_texts(lambda: render_error_groups([champion, both], path, NOW))
    assert "medians of champion (10,000 rows), challenger (1,000 rows) from uniform samples" in (
        "\n".join(texts)
    )


def test_models_past_five_are_drawn_together(tmp_path: Path) -> None:
    models = [f"m{i % 7}" for i in range(7_000)]
    texts = "\n".join(
        drawn_texts(lambda: render_logged(tmp_path / "p.png", realistic_errors(7_000), models))
    )
    assert "7,000 rows from 7 models" in texts
    assert "2 others" in texts
    assert "\nall " in texts
