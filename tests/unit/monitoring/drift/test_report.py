"""DriftReport: no figures before any row, and a plain-JSON dict of the drifted columns."""

from __future__ import annotations

import json

from mlmon.model.dataset import Dataset
from mlmon.monitoring.drift.monitor import DriftMonitor
from mlmon.monitoring.drift.reference import PREDICTION, Reference
from tests.unit.monitoring.drift.streams import Predict, bootstrap, report_of


def test_empty_monitor_reports_no_figures(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Before any row: every column warming up, no statistics, and the dict is valid JSON."""
    report = DriftMonitor(diabetes[2]).report()
    assert report.rows == 0
    assert all(column.psi is None and column.warming_up for column in report.columns)
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_dict_is_plain_json(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """to_dict() holds the drifted columns and each column's figures, as strict JSON."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    report = report_of(reference, stream, predict(stream) + 100.0)
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["drifted_columns"] == [PREDICTION]
    assert payload["columns"]["bmi"]["drifted"] is False
    assert set(payload["columns"][PREDICTION]) == {
        "kind",
        "rows",
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "chi2_statistic",
        "chi2_pvalue",
        "js_distance",
        "p_value",
        "adjusted_pvalue",
        "drifted",
        "warming_up",
    }
    assert payload["columns"][PREDICTION]["kind"] == "numeric"
    assert payload["columns"][PREDICTION]["chi2_pvalue"] is None
