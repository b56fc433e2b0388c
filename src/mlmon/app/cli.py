"""The `mlmon` command line. Every flag has an MLMON_* environment variable (see `mlmon config`)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from mlmon import __version__
from mlmon.app.logging_setup import configure_logging
from mlmon.errors import EXIT_BAD_INPUT, EXIT_BROKER, BrokerError, ConfigError, MlmonError
from mlmon.settings import Settings, explain, load_settings

if TYPE_CHECKING:  # numpy and the model loaders stay out of `mlmon health` and `mlmon config`
    from mlmon.app.embedded import RunLimits
    from mlmon.model.predictors import Predictor

app = typer.Typer(
    help="Real-time quality monitoring of a deployed ML model, over RabbitMQ. Every flag has an "
    "MLMON_* environment variable: `mlmon config` lists them with their values.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Rich markup would eat every [bracket]: `[default: logs]`, `mae[last_500] > 60`.
    rich_markup_mode=None,
)


def _default(field: str) -> str:
    """A settings-backed flag's default as its help shows it: the flag itself defaults to
    None (not given), so Typer cannot know the setting's own default."""
    value = Settings.model_fields[field].default
    return f"{value:g}" if isinstance(value, float) else str(value)


def _help(text: str, default: str) -> str:
    """Help text ending in `[default: ...]` as Click writes it (a string `show_default` would
    be shown in parentheses)."""
    return f"{text}  [default: {default}]"


Broker = Annotated[
    str | None,
    typer.Option("--broker", metavar="URL", help="AMQP URL; unset = embedded bus"),
]
Logs = Annotated[
    Path | None,
    typer.Option("--logs", metavar="DIR", help=_help("logs directory", _default("logs_dir"))),
]
MetricWorkers = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help=_help(
            "metric workers the records are sharded over by id (--broker; every service of "
            "the run must agree)",
            _default("metric_workers"),
        ),
    ),
]
Count = Annotated[
    int | None, typer.Option("--count", metavar="N", help="records to send, then stop")
]
Rate = Annotated[
    float | None,
    typer.Option(
        "--rate",
        metavar="N",
        help=_help("records/s; 0 = as fast as possible", _default("rate")),
    ),
]
Dataset = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="CSV or Parquet file to stream; unset = diabetes"),
]
Target = Annotated[str | None, typer.Option(metavar="COLUMN", help="target column of --dataset")]
IdColumn = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN",
        help=_help(
            "record id column of --dataset, not a feature (used when present)",
            _default("id_column"),
        ),
    ),
]
Features = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN,...",
        help="feature columns of the dataset, in this order; unset = every column but the "
        "target and the id column",
    ),
]
Exclude = Annotated[
    str | None,
    typer.Option(metavar="COLUMN,...", help="columns of the dataset that are not features"),
]
TagColumns = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN,...",
        help="columns of the dataset sent as each record's tags (segments), not as features",
    ),
]
Example = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="a shipped example, e.g. penguins: its dataset and target and, for `up`, a model "
        "fitted on it on first use (kept in the logs directory's examples/), unless given",
    ),
]
Order = Annotated[
    str | None,
    typer.Option(metavar="ORDER", help=_help("random or sequential", _default("order"))),
]
TrustPickle = Annotated[
    bool | None, typer.Option("--trust-pickle", help="allow pickle models", show_default=False)
]


def _settings(**flags: Any) -> Settings:
    try:
        return load_settings(**flags)
    except MlmonError as error:
        _fail(error)


def _fail(error: BaseException) -> NoReturn:
    typer.secho(f"mlmon: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_BROKER if isinstance(error, BrokerError) else EXIT_BAD_INPUT)


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except MlmonError as error:
        _fail(error)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mlmon {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        # Eager: answered while the arguments are parsed, before a missing command is noticed.
        typer.Option(
            "--version", help="print the version and exit", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Real-time quality monitoring of a deployed ML model, over RabbitMQ."""


@app.command()
def up(
    broker: Broker = None,
    duration: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="stop after this many seconds")
    ] = None,
    count: Count = None,
    rate: Rate = None,
    logs: Logs = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(
            "--model",
            metavar="FILE",
            help=_help(
                "model file (.onnx, .skops, mlmon's linear .json, or .pkl/.joblib with "
                "--trust-pickle); repeat it to run "
                "challengers beside the first (champion)",
                "the shipped diabetes model",
            ),
        ),
    ] = None,
    trust_pickle: TrustPickle = None,
    no_model: Annotated[
        bool,
        typer.Option(
            "--no-model",
            help="monitor a model you serve: no features or model service, predictions and "
            "true values come from your own service (needs --broker)",
        ),
    ] = False,
    model_workers: Annotated[
        int, typer.Option(min=1, metavar="N", help="competing processes per model (--broker)")
    ] = 1,
    metric_workers: MetricWorkers = None,
    dataset: Dataset = None,
    target: Target = None,
    id_column: IdColumn = None,
    features: Features = None,
    exclude: Exclude = None,
    tag_columns: TagColumns = None,
    example: Example = None,
    order: Order = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="serve the live dashboard")
    ] = True,
    dashboard_port: Annotated[
        int | None,
        typer.Option(metavar="PORT", help=_help("dashboard port", _default("dashboard_port"))),
    ] = None,
    alerts: Annotated[
        str | None,
        typer.Option(
            metavar="RULES",
            help="alert rules, `;`-separated, e.g. 'high-mae: mae[last_500] > 60 for 30s'",
        ),
    ] = None,
) -> None:
    """Run the whole pipeline: in-process by default, or one process per service with --broker."""
    from mlmon.app.embedded import RunLimits, run_embedded
    from mlmon.app.model_slots import plan_models
    from mlmon.model.predictors import renamed
    from mlmon.ops.progress import closing_line

    configure_logging()
    settings = _settings(
        broker_url=broker,
        count=count,
        rate=rate,
        logs_dir=logs,
        model_path=model[0] if model else None,
        trust_pickle=trust_pickle,
        dataset=dataset,
        target=target,
        id_column=id_column,
        features=features,
        exclude=exclude,
        tag_columns=tag_columns,
        dashboard_port=dashboard_port,
        alerts=alerts,
        metric_workers=metric_workers,
        order=order,
    )
    if example is not None:
        settings = _with_example(settings, example, with_model=True)
    limits = RunLimits(duration, settings.count)
    if no_model:
        _up_external(settings, limits, bool(model), dashboard)
        return
    # The example's model, unless --model or MLMON_MODEL_PATH names one.
    paths: list[Path | None] = list(model) if model else [settings.model_path if example else None]
    # Load every model before starting anything: a bad file fails here, naming itself.
    loaded = [_load_model(settings.model_copy(update={"model_path": p})) for p in paths]
    slots = plan_models(paths, [m.name for m in loaded], settings.queue_features)
    predictors = [renamed(m, slot.name) for m, slot in zip(loaded, slots, strict=True)]
    if "task" not in settings.model_fields_set and predictors[0].task == "classification":
        # The model says it classifies: 0/1 errors and classification figures, no setting needed.
        settings = settings.model_copy(update={"task": "classification"})
    _check_dataset(settings, predictors)  # and the dataset: no service starts on a bad one
    mode = "embedded in-process bus" if settings.embedded else "RabbitMQ, one process each"
    typer.echo(f"mlmon up: {mode}; logs in {settings.logs_dir}/ (Ctrl-C stops)")
    if len(slots) > 1:
        typer.echo("models: " + ", ".join(p.name for p in predictors) + " (champion first)")
    if dashboard:
        typer.echo(f"dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/")
    if settings.embedded:
        final = _run(
            run_embedded(settings, list(zip(slots, predictors, strict=True)), limits, dashboard)
        )
    else:
        from mlmon.app.supervisor import Supervisor

        final = _run(Supervisor(settings, slots, model_workers, dashboard).run(limits))
    typer.echo(closing_line(final, settings.logs_dir))


def _up_external(settings: Settings, limits: RunLimits, model: bool, dashboard: bool) -> None:
    """`up --no-model`: the metric, plot and dashboard services over the broker, for
    predictions and true values published by the team's own service."""
    from mlmon.app.supervisor import Supervisor
    from mlmon.ops.progress import closing_line

    if settings.embedded:
        _fail(ConfigError(
            "--no-model monitors predictions your own service publishes: give --broker URL "
            "(the embedded bus lives inside this process, out of your service's reach)"
        ))  # fmt: skip
    if model:
        _fail(ConfigError("--no-model runs no model: drop --model"))
    typer.echo(
        f"mlmon up --no-model: waiting for records on {settings.queue_y_pred} and "
        f"{settings.queue_y_true}; logs in {settings.logs_dir}/ (Ctrl-C stops)"
    )
    if dashboard:
        typer.echo(f"dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/")
    final = _run(Supervisor(settings, [], 1, dashboard, external=True).run(limits))
    typer.echo(closing_line(final, settings.logs_dir))


@app.command()
def features(
    broker: Broker = None,
    count: Count = None,
    rate: Rate = None,
    dataset: Dataset = None,
    target: Target = None,
    id_column: IdColumn = None,
    features: Features = None,
    exclude: Exclude = None,
    tag_columns: TagColumns = None,
    example: Example = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="random seed")] = None,
    order: Order = None,
    metric_workers: MetricWorkers = None,
) -> None:
    """Stream dataset rows to the features and y_true queues."""
    settings = _settings(
        broker_url=broker,
        metric_workers=metric_workers,
        count=count,
        rate=rate,
        dataset=dataset,
        target=target,
        id_column=id_column,
        features=features,
        exclude=exclude,
        tag_columns=tag_columns,
        seed=seed,
        order=order,
    )
    if example is not None:
        settings = _with_example(settings, example, with_model=False)
    _check_dataset(settings, [])
    _service("features", settings)


@app.command()
def model(
    broker: Broker = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            metavar="FILE",
            help=_help(
                "model file (.onnx, .skops, mlmon's linear .json, or .pkl/.joblib with "
                "--trust-pickle)",
                "the shipped diabetes model",
            ),
        ),
    ] = None,
    trust_pickle: TrustPickle = None,
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help=_help("the model's name in metrics", "its file's name")),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            metavar="QUEUE",
            help=_help("own features queue, for a challenger", _default("queue_features")),
        ),
    ] = None,
    metric_workers: MetricWorkers = None,
) -> None:
    """Predict each feature vector and publish it to y_pred."""
    settings = _settings(
        broker_url=broker,
        metric_workers=metric_workers,
        model_path=model,
        trust_pickle=trust_pickle,
        model_name=name,
        model_queue=queue,
    )
    _service("model", settings, predictor=_load_model(settings))


@app.command()
def dashboard(
    logs: Logs = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "--dashboard-port",
            metavar="PORT",
            help=_help("port", _default("dashboard_port")),
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            "--dashboard-host",
            metavar="HOST",
            help=_help("address", _default("dashboard_host")),
        ),
    ] = None,
) -> None:
    """Serve the live dashboard (error distribution, metrics over time, drift, alerts, health)."""
    settings = _settings(logs_dir=logs, dashboard_port=port, dashboard_host=host)
    typer.echo(f"dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/")
    _service("dashboard", settings)


@app.command()
def metric(
    broker: Broker = None,
    logs: Logs = None,
    metric_workers: MetricWorkers = None,
    shard: Annotated[
        int | None,
        typer.Option(metavar="K", help="with several metric workers: this one's shard, 1..N"),
    ] = None,
) -> None:
    """Join y_true and y_pred by id and append rows to metric_log.csv (a worker of several:
    to its shard's, metric-shards/K-of-N/metric_log.csv)."""
    flags = {"metric_workers": metric_workers, "metric_shard": shard}
    _service("metric", _settings(broker_url=broker, logs_dir=logs, **flags))


@app.command()
def plot(
    logs: Logs = None,
    interval: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help=_help("seconds between renders", _default("plot_interval")),
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="render once and exit")] = False,
) -> None:
    """Render error_distribution.png from metric_log.csv, every --interval seconds."""
    _service("plot", _settings(logs_dir=logs, plot_interval=interval), once=once)


def _load_model(settings: Settings) -> Predictor:
    from mlmon.model.predictors import model_of

    try:
        return model_of(settings)
    except MlmonError as error:
        _fail(error)


def _check_dataset(settings: Settings, models: list[Predictor]) -> None:
    """Read the dataset now, and match it with every model: a wrong file, a missing --target
    or columns the model does not take (by name when it names them, else by width) fail here,
    before any service or the dashboard."""
    from mlmon.model.columns_data import check_column_kinds
    from mlmon.model.dataset import check_model_columns, dataset_of
    from mlmon.model.records import ColumnKinds

    configure_logging()  # the dataset's warnings (rows left out) read like the services' logs
    try:
        data = dataset_of(settings)
        for predictor in models:
            names = predictor.feature_names
            check_model_columns(data, names, predictor.n_features, predictor.name)
            if data.named:
                kinds = ColumnKinds.of(predictor).categorical
                check_column_kinds(data.name, data.columns, kinds, predictor.name)
    except MlmonError as error:
        _fail(error)


def _with_example(settings: Settings, name: str, with_model: bool) -> Settings:
    """The settings with a shipped example's dataset, target and model where none was given."""
    from mlmon.model.examples import apply_example

    try:
        resolved = apply_example(settings, name, with_model)
    except MlmonError as error:
        _fail(error)
    model = f", model {resolved.model_path}" if with_model and resolved.model_path else ""
    typer.echo(f"example {name}: {resolved.dataset} (target {resolved.target}){model}")
    return resolved


def _service(name: str, settings: Settings, **kwargs: Any) -> None:
    from mlmon.app.service_main import run_service

    configure_logging()
    _run(run_service(name, settings, **kwargs))


@app.command()
def config(broker: Broker = None, logs: Logs = None) -> None:
    """Print the effective settings and where each came from."""
    flags = {"broker_url": broker, "logs_dir": logs}
    settings = _settings(**flags)
    rows = explain(settings, flags)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for variable, value, source, description in rows:
        typer.echo(
            f"{variable:<{widths[0]}}  {value:<{widths[1]}}  {source:<{widths[2]}}  # {description}"
        )


@app.command()
def train(
    output: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="where to write the model [default: model.<format>]"),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help=_help("CSV or Parquet", "diabetes")),
    ] = None,
    target: Target = None,
    id_column: IdColumn = None,
    features: Features = None,
    exclude: Exclude = None,
    model_format: Annotated[
        Literal["linear", "skops", "onnx"],
        typer.Option(
            "--format",
            help="linear: a linear regressor in mlmon's JSON; skops/onnx: imputation, one-hot "
            "categories and gradient boosting (a classifier for a string target, or one with "
            "at most 10 whole-number values)",
        ),
    ] = "linear",
    estimator: Annotated[
        Literal["boosting", "linear"],
        typer.Option(
            help="skops/onnx: gradient boosting, or a logistic (ridge) regression on "
            "standardised numbers, ~10 times cheaper to run"
        ),
    ] = "boosting",
    task: Annotated[
        Literal["auto", "classification", "regression"],
        typer.Option(
            help="skops/onnx: a classifier or a regressor; auto: a classifier when the target "
            "is text or has at most 10 whole-number values"
        ),
    ] = "auto",
) -> None:
    """Fit a model on a dataset and save it in a safe format (no pickle)."""
    from mlmon.model.pipeline import ModelFormat
    from mlmon.model.training import SUFFIXES, train_linear, train_pipeline
    from mlmon.settings import column_list

    output = output or Path(f"model{SUFFIXES[model_format]}")
    ids = id_column or _default("id_column")
    chosen, left_out = column_list(features or ""), column_list(exclude or "")
    try:
        if model_format == "linear":
            if task == "classification":
                msg = "--task classification needs --format skops or onnx (linear: a regressor)"
                raise ConfigError(msg)
            fitted = train_linear(output, dataset, target, None, ids, chosen, left_out)
            done = f"{fitted.name} v{fitted.version}, {fitted.n_features} features"
        else:
            kind: ModelFormat = "onnx" if model_format == "onnx" else "skops"
            trained = train_pipeline(
                output, kind, dataset, target, ids, chosen, left_out, estimator, task
            )
            done = (
                f"{trained.task}, {trained.rows} rows, {len(trained.numeric)} numeric and "
                f"{len(trained.categorical)} categorical features"
            )
            if trained.unlabelled:
                done += f" ({trained.unlabelled} rows without a {target!r} value left out)"
    except MlmonError as error:
        _fail(error)
    typer.echo(f"wrote {output}: {done}")
    if model_format == "skops" and trained.untrusted:
        typer.echo(
            "skops does not trust some of its types by default; to load it, allow them: "
            f"MLMON_SKOPS_TRUSTED={','.join(trained.untrusted)}"
        )


@app.command()
def report(
    logs: Logs = None,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    last: Annotated[
        int, typer.Option(min=1, metavar="N", help="records in the count window")
    ] = 500,
    seconds: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="seconds in the time window")
    ] = 60.0,
    from_log: Annotated[
        bool, typer.Option("--from-log", help="recompute from metric_log.csv, not live figures")
    ] = False,
) -> None:
    """Print the current quality figures per model (MAE, RMSE, R², quantiles...) and the join's."""
    from mlmon.ops.report import current_report, format_report

    settings = _settings(logs_dir=logs)
    figures = current_report(
        settings.logs_dir,
        settings.state_dir,
        time.time(),
        count_window=last,
        time_window=seconds,
        task=settings.task,
        from_log=from_log,
    )
    typer.echo(json.dumps(figures, indent=2) if json_output else format_report(figures))


@app.command()
def health(
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="features, model, metric, plot or dashboard")
    ],
    logs: Logs = None,
    max_age: Annotated[
        float, typer.Option(metavar="SECONDS", help="seconds a status may be old")
    ] = 15.0,
    live: Annotated[bool, typer.Option("--live", help="liveness only, not readiness")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the status")] = False,
) -> None:
    """Exit 0 if the service is ready (or, with --live, alive), else 1: a Docker healthcheck."""
    from mlmon.ops.status import read_statuses

    settings = _settings(logs_dir=logs)
    statuses = [
        s
        for s in read_statuses(settings.state_dir, since=time.time() - max_age)
        if s.get("service") == service and not s.get("stopped")
    ]
    healthy = bool(statuses) if live else any(s.get("ready") for s in statuses)
    if json_output:
        typer.echo(json.dumps(statuses, indent=2))
    else:
        typer.echo(f"{service}: {_health_state(statuses)}")
    raise typer.Exit(0 if healthy else 1)


def _health_state(statuses: list[dict[str, Any]]) -> str:
    if not statuses:
        return "no fresh status (not running?)"
    if any(s.get("ready") for s in statuses):
        return "ready"
    if any(s.get("broker_connected") is False for s in statuses):
        return "alive, not ready: broker unreachable"
    return "alive, not ready yet"


alerts_app = typer.Typer(
    help="Alert rules for the ops stack: Prometheus rule files for Alertmanager.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("rules")
def alerts_rules(
    alerts: Annotated[
        str | None,
        typer.Option(
            "--alerts",
            metavar="RULES",
            help="alert rules; default: MLMON_ALERTS (see `mlmon up --help` for the syntax)",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="write the rule file here (default: stdout)"
        ),
    ] = None,
) -> None:
    """Write the alert rules as a Prometheus rule file (same names, thresholds, durations)."""
    from mlmon.monitoring.alert_rules import parse_rules
    from mlmon.ops.prometheus_rules import prometheus_rules

    settings = _settings(alerts=alerts)
    try:
        text = prometheus_rules(parse_rules(settings.alerts), settings.dashboard_url)
    except MlmonError as error:
        _fail(error)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        _fail(ConfigError(f"cannot write {output}: {error.strerror or error}"))
    typer.echo(f"wrote {len(parse_rules(settings.alerts))} alert rule(s) to {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
