"""All of mlmon's settings: environment variables, overridden by command-line flags.

Validated once at start-up; a wrong value raises ConfigError naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlmon.errors import ConfigError

ENV_PREFIX = "MLMON_"
# Batched, a consumer holds about this many records unacked: enough batches in flight to keep
# it busy, while the backlog waits in the broker's durable queues, where operators see it.
PREFETCH_RECORDS = 64_000


class Settings(BaseSettings):
    """The effective configuration of every mlmon service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    broker_url: str | None = Field(
        None,
        description="AMQP URL of RabbitMQ, or the comma-separated URLs of a cluster's nodes "
        "(tried in turn); unset = embedded in-process bus",
    )
    logs_dir: Path = Field(Path("logs"), description="where metric_log.csv and the PNG go")
    queue_features: str = Field("features", min_length=1, description="feature vectors queue")
    queue_y_true: str = Field("y_true", min_length=1, description="true values queue")
    queue_y_pred: str = Field("y_pred", min_length=1, description="predictions queue")
    seed_compatible: bool = Field(
        False, description="declare queues exactly as the seeds do (plain, non-durable)"
    )
    queue_type: Literal["quorum", "classic"] = Field(
        "quorum", description="durable queue type when not seed-compatible"
    )
    connect_patience: float = Field(
        30.0, gt=0, description="seconds a service keeps trying an unreachable broker at start"
    )
    delivery_limit: int = Field(
        20, ge=1, description="deliveries of one message before it is dead-lettered (quorum)"
    )
    rate: float = Field(5.0, ge=0, description="records per second sent; 0 = as fast as possible")
    count: int | None = Field(None, ge=1, description="records to send; unset = forever")
    order: Literal["random", "sequential"] = Field("random", description="order of dataset rows")
    seed: int | None = Field(None, description="random seed for reproducible streams")
    dataset: Path | None = Field(None, description="CSV/Parquet file; unset = diabetes")
    target: str | None = Field(None, description="target column of --dataset")
    id_column: str = Field(
        "id",
        min_length=1,
        description="column of --dataset holding record ids, not a feature (used when present)",
    )
    # Comma-separated, as in the environment, so that a child process gets them back as given.
    features: str = Field(
        "",
        description="feature columns of the dataset, comma-separated, in this order; unset = "
        "every column but the target and the id column",
    )
    exclude: str = Field("", description="columns of the dataset that are not features")
    tag_columns: str = Field(
        "",
        description="columns of the dataset sent as each record's tags (segments), "
        "comma-separated; they are not features",
    )
    segment_features: str = Field(
        "",
        description="features whose values are copied into each prediction's tags, so quality "
        "is split by them (segments), comma-separated; a missing value is '(missing)'",
    )
    model_path: Path | None = Field(None, description="model file; unset = shipped default")
    trust_pickle: bool = Field(False, description="allow loading pickle/joblib model files")
    skops_trusted: str = Field(
        "",
        description="comma-separated type names a .skops model may hold beyond the types skops "
        "trusts by default (the load error lists them)",
    )
    model_name: str | None = Field(
        None,
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the model's name in metrics and rows; unset = the name in the model file",
    )
    model_queue: str | None = Field(
        None,
        min_length=1,
        description="queue this model service reads, bound to the features fan-out; unset = "
        "MLMON_QUEUE_FEATURES (a challenger gets its own)",
    )
    plot_interval: float = Field(10.0, gt=0, description="seconds between PNG renders")
    wire_format: Literal["batched", "single"] = Field(
        "batched", description="messages between mlmon services: many records, or one each"
    )
    batch_size: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="records per batched message, at most (fewer where that many would exceed "
        "MLMON_MAX_MESSAGE_BYTES)",
    )
    prefetch: int = Field(
        500,
        ge=1,
        le=65535,
        description="unacked deliveries per consumer (batched: at most ~64,000 records' worth)",
    )
    # 5 ms: at 1,000 records/s, five records a message instead of two; each message costs
    # every service and the broker far more than a record, and that load, not the wait, set
    # the latency's tail (a shorter linger gave a longer tail in bench_pipeline's latency run).
    batch_linger_ms: float = Field(
        5.0, ge=0, description="ms to wait for more records before a batch goes out"
    )
    publish_timeout: float = Field(
        10.0,
        gt=0,
        description="seconds to wait for a channel before retrying; while confirms are "
        "outstanding, how often to warn (messages in flight are not sent twice)",
    )
    max_message_bytes: int = Field(
        1_000_000,
        ge=64,
        description="larger messages are dead-lettered; features keeps its own within it",
    )
    max_label_wait: float = Field(
        3600.0, gt=0, description="seconds a half waits for its partner before it is orphaned"
    )
    task: Literal["regression", "classification"] = Field(
        "regression",
        description="regression: |y_true - y_pred| per row; classification: 0/1 error, accuracy, "
        "precision, recall, F1",
    )
    # Change detection on the error stream (monitoring/detectors.py), run by the plot service.
    change_detection: bool = Field(
        True, description="flag changes of the error stream per model and segment (ADWIN etc.)"
    )
    change_adwin_delta: float = Field(
        1e-4, gt=0, lt=1, description="ADWIN's confidence: smaller = fewer, later change points"
    )
    change_ph_threshold: float = Field(
        100.0, gt=0, description="Page-Hinkley's alarm level, in units of the warm-up mean error"
    )
    change_max_segments: int = Field(
        32, ge=0, description="tag segments per model with detectors of their own (first seen)"
    )
    change_alert_hold: float = Field(
        3600.0,
        gt=0,
        description="seconds the change_points signal counts a change point (alert rules)",
    )
    quality_window: int = Field(500, ge=1, description="records in the rolling count window")
    quality_seconds: float = Field(60.0, gt=0, description="seconds in the rolling time window")
    reference: Path | None = Field(
        None,
        description="reference dataset (CSV/Parquet with MLMON_TARGET, not the training set): "
        "drift's reference (unset = the streamed dataset) and estimation's (unset = off)",
    )
    drift_window: int = Field(1000, ge=10, description="latest rows compared with the reference")
    estimate_every: int = Field(
        1,
        ge=1,
        description="estimate every n-th prediction of a batch (a regressor's loss model costs "
        "~15 us a row); estimation is on when MLMON_REFERENCE is set",
    )
    psi_threshold: float = Field(
        0.2, gt=0, description="PSI marked as a large shift on the dashboard (never flags alone)"
    )
    drift_fdr: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="false discovery rate of the drift flags: a column drifts when its test's "
        "p-value (KS, chi-square) is a Benjamini-Hochberg discovery at this rate across columns",
    )
    alerts: str = Field(
        "", description="alert rules, `;`-separated, e.g. `high-mae: mae[last_500] > 60 for 30s`"
    )
    alert_webhook: str | None = Field(None, description="URL to POST alert changes to (JSON)")
    # Notifications (ops/notifications.py): what goes to the webhook, how often, and how hard
    # mlmon tries; delivery runs off the pipeline's path.
    alert_format: Literal["mlmon", "alertmanager", "slack"] = Field(
        "mlmon",
        description="webhook body: mlmon's JSON, Alertmanager's webhook format, or Slack's "
        "(`text` and blocks, for an incoming webhook)",
    )
    alert_repeat_interval: float = Field(
        300.0,
        ge=0,
        description="seconds after a notified firing before the same alert (rule and model) "
        "notifies again; a flap within it stays quiet",
    )
    alert_retries: int = Field(
        5, ge=1, le=20, description="delivery attempts per notification (exponential back-off)"
    )
    alert_queue_size: int = Field(
        100, ge=1, description="notifications waiting for delivery; when full the oldest goes"
    )
    dashboard_url: str | None = Field(
        None, description="public URL of the dashboard, linked from alerts and alert rules"
    )
    alert_notify: str | None = Field(
        None,
        description="apprise URLs, space-separated, to notify besides the webhook (e.g. "
        "slack://..., mailtos://...; needs the `notify` extra)",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve Prometheus /metrics on this port; unset = off"
    )
    error_buckets: str = Field(
        "", description="bounds of mlmon_absolute_error, e.g. `100,1000,10000`; unset = fitted"
    )
    status_interval: float = Field(1.0, gt=0, description="seconds between status updates")
    dashboard_port: int = Field(
        8050, ge=1, le=65535, description="live dashboard port (`up`, `dashboard`)"
    )
    dashboard_host: str = Field("127.0.0.1", description="address the dashboard listens on")
    metric_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="metric workers the records are sharded over by id (every service must "
        "agree: publishers route by it); each writes its own log shard",
    )
    metric_shard: int | None = Field(
        None, ge=1, description="this metric worker's shard, 1..MLMON_METRIC_WORKERS"
    )

    @field_validator("broker_url")
    @classmethod
    def _amqp_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        urls = [url.strip() for url in value.split(",") if url.strip()]
        wrong = [url for url in urls if not url.startswith(("amqp://", "amqps://"))]
        if not urls or wrong:
            msg = f"must start with amqp:// or amqps:// ({redact_url(', '.join(wrong))})"
            raise ValueError(msg)
        return ",".join(urls)

    @field_validator("features", "exclude")
    @classmethod
    def _column_list(cls, value: str) -> str:
        names = column_list(value)
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            msg = f"names {', '.join(map(repr, repeated))} more than once"
            raise ValueError(msg)
        return ",".join(names)

    @field_validator("alerts")
    @classmethod
    def _parse_alerts(cls, value: str) -> str:
        from mlmon.monitoring.alert_rules import parse_rules

        parse_rules(value)  # a ConfigError (a ValueError) names the bad rule
        return value

    @field_validator("alert_webhook", "dashboard_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            msg = "must start with http:// or https://"
            raise ValueError(msg)
        return value or None

    @model_validator(mode="after")
    def _alert_windows_exist(self) -> Settings:
        """A rule that would never fire (an unknown signal, a window nobody tracks): say so now."""
        from mlmon.monitoring.alert_rules import check_rules, parse_rules

        windows = (f"last_{self.quality_window}", f"last_{self.quality_seconds:g}s", "all")
        check_rules(parse_rules(self.alerts), windows)
        return self

    @model_validator(mode="after")
    def _shard_exists(self) -> Settings:
        if self.metric_workers > 1 and self.broker_url is None:
            msg = (
                "MLMON_METRIC_WORKERS > 1 needs a broker (MLMON_BROKER_URL or --broker): "
                "the embedded bus runs one metric"
            )
            raise ValueError(msg)
        if self.metric_shard is not None and self.metric_shard > self.metric_workers:
            msg = (
                f"MLMON_METRIC_SHARD={self.metric_shard} is past "
                f"MLMON_METRIC_WORKERS={self.metric_workers}"
            )
            raise ValueError(msg)
        return self

    @property
    def broker_urls(self) -> tuple[str, ...]:
        """The broker's addresses, in the order they are tried."""
        return tuple(self.broker_url.split(",")) if self.broker_url else ()

    @property
    def batched(self) -> bool:
        """Batched messages, unless single ones were asked for (seed-compatible implies it)."""
        return self.wire_format == "batched" and not self.seed_compatible

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The columns `features` names; empty: all but the target and the id column."""
        return column_list(self.features)

    @property
    def excluded_columns(self) -> tuple[str, ...]:
        return column_list(self.exclude)

    @property
    def tag_column_names(self) -> tuple[str, ...]:
        return column_list(self.tag_columns)

    @property
    def segment_feature_names(self) -> tuple[str, ...]:
        return column_list(self.segment_features)

    @property
    def features_queue_of_model(self) -> str:
        """The queue this model service reads: its own, or the features queue itself."""
        return self.model_queue or self.queue_features

    @property
    def consumer_prefetch(self) -> int:
        """Unacked deliveries per consumer: `prefetch` single records, or as many batches as
        hold about PREFETCH_RECORDS records, so that a consumer's memory does not grow with
        the batch size while the backlog waits in the broker."""
        if not self.batched:
            return self.prefetch
        return min(self.prefetch, max(1, PREFETCH_RECORDS // self.batch_size))

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @property
    def state_dir(self) -> Path:
        """Private state of the services (join store, status files)."""
        return self.logs_dir / ".mlmon"


# Command-line flags whose names differ from their field's.
_FLAGS = {
    "broker_url": "--broker",
    "logs_dir": "--logs",
    "model_path": "--model",
    "plot_interval": "--interval",
    "model_name": "--name",
    "model_queue": "--queue",
    "metric_shard": "--shard",
}


def column_list(value: str) -> tuple[str, ...]:
    """Column names from a comma-separated list, spaces around them dropped."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def flag_name(field: str) -> str:
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment and non-None flag overrides."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        raise ConfigError(_describe(error, given)) from None


def _describe(error: ValidationError, flags: dict[str, Any]) -> str:
    lines = []
    for problem in error.errors():
        if not problem["loc"]:  # a check across several settings: its message names them
            lines.append(str(problem["msg"]).removeprefix("Value error, "))
            continue
        field = str(problem["loc"][0])
        source = flag_name(field) if field in flags else env_name(field)
        value = flags.get(field, os.environ.get(env_name(field)))
        lines.append(f"{source}={value!r}: {str(problem['msg']).removeprefix('Value error, ')}")
    return "invalid setting: " + "; ".join(lines)


def explain(settings: Settings, flags: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of (variable, value, source, description) for `mlmon config`."""
    rows = []
    for field, info in Settings.model_fields.items():
        if flags.get(field) is not None:
            source = f"flag {flag_name(field)}"
        elif env_name(field) in os.environ:
            source = "environment"
        else:
            source = "default"
        value = getattr(settings, field)
        shown = redact_url(value) if field == "broker_url" else value
        rows.append((env_name(field), str(shown), source, info.description or ""))
    return rows


def redact_url(url: object) -> str:
    """Hide the password of an AMQP URL (of each, in a comma-separated list)."""
    if isinstance(url, str) and "," in url:
        return ",".join(redact_url(part) for part in url.split(","))
    if not isinstance(url, str) or "@" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
