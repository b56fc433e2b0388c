"""Static checks of the monitoring stack: the Grafana dashboard, its provisioning and Prometheus.

Nothing here starts Grafana or Prometheus. The dashboard may only query metrics mlmon exports
(EXPORTED_METRICS below, kept in step with ops.telemetry and ops.monitors), its panels must
tile the 24-column grid, and the provisioning files must point at the paths compose.yaml mounts.
promtool (Debian package `prometheus`) checks prometheus.yml when installed; under CI=true a
missing promtool fails, not skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.compose_file import volume_mounts

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "mlmon.json"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "mlmon.yaml"

DATASOURCE_UID = "mlmon-prometheus"  # compose's provisioned datasource; no panel names it
GRID_COLUMNS = 24
MLMON_SERVICES = ("features", "model", "metric", "plot")
METRICS_PORT = 9100

COUNTERS = {
    "mlmon_sent_total",
    "mlmon_predicted_total",
    "mlmon_joined_total",
    "mlmon_dead_lettered_total",
    "mlmon_duplicates_total",
    "mlmon_orphans_total",
    "mlmon_renders_total",
}
GAUGES = {
    "mlmon_pending_y_true",
    "mlmon_pending_y_pred",
    "mlmon_ready",
    "mlmon_build_info",
    "mlmon_label_coverage",
    "mlmon_window_mae",
    "mlmon_window_rmse",
    "mlmon_window_r2",
    "mlmon_window_bias",
    "mlmon_window_records",
    "mlmon_window_abs_error_quantile",
    "mlmon_drift_psi",
    "mlmon_drift_ks_statistic",
    "mlmon_drift_ks_pvalue",
    "mlmon_drift_detected",
}
HISTOGRAMS = {"mlmon_absolute_error", "mlmon_end_to_end_latency_seconds"}
EXPORTED_METRICS = COUNTERS | GAUGES | HISTOGRAMS
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# What the dashboard is for: each of these must appear in some query.
REQUIRED_METRICS = {
    "mlmon_absolute_error",
    "mlmon_window_mae",
    "mlmon_window_rmse",
    "mlmon_window_r2",
    "mlmon_window_bias",
    "mlmon_window_abs_error_quantile",
    "mlmon_drift_psi",
    "mlmon_drift_detected",
    "mlmon_label_coverage",
    "mlmon_pending_y_true",
    "mlmon_pending_y_pred",
    "mlmon_orphans_total",
    "mlmon_dead_lettered_total",
    "mlmon_sent_total",
    "mlmon_predicted_total",
    "mlmon_joined_total",
    "mlmon_end_to_end_latency_seconds",
    "mlmon_ready",
}

METRIC_TOKEN = re.compile(r"\bmlmon_[a-z0-9_]+")
VARIABLE_REFERENCE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
BUILTIN_VARIABLES = {"__range", "__rate_interval", "__interval", "__all"}
DURATION = re.compile(r"(\d+)(ms|s|m|h)")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
    return loaded


def _seconds(duration: str) -> float:
    match = DURATION.fullmatch(duration)
    assert match, f"unsupported duration {duration!r}"
    number, unit = int(match.group(1)), match.group(2)
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a container path of a service lives on the host, through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for target, source in volume_mounts(service).items():
        if not source.startswith((".", "/")):  # a named volume, not a bind mount
            continue
        if wanted == PurePosixPath(target) or PurePosixPath(target) in wanted.parents:
            return ROOT / source / wanted.relative_to(target)
    return None


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/", 1)[0].rsplit(":", 1)[-1]))
    return ports


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """deploy/grafana/dashboards/mlmon.json, parsed."""
    loaded = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


@pytest.fixture(scope="module")
def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard's template variables by name."""
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


@pytest.fixture(scope="module")
def expressions(panels: list[dict[str, Any]], variables: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and template variable queries."""
    found = [str(t["expr"]) for p in panels for t in p.get("targets", []) if "expr" in t]
    for variable in variables.values():
        if variable["type"] == "query":
            query = variable["query"]
            found.append(str(query["query"] if isinstance(query, dict) else query))
    return found


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """The services of compose.yaml (anchors and merges resolved by PyYAML)."""
    found = _load_yaml(COMPOSE_FILE)["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml, parsed."""
    return _load_yaml(PROMETHEUS_CONFIG)


# ---- the dashboard ----------------------------------------------------------------------------


def test_dashboard_identity_and_defaults(dashboard: dict[str, Any]) -> None:
    """The dashboard has its fixed uid and title, refreshes every 5 s and shows 15 minutes."""
    assert dashboard["uid"] == "mlmon"
    assert dashboard["title"] == "mlmon — model quality"
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["refresh"] == "5s"
    assert dashboard["time"] == {"from": "now-15m", "to": "now"}
    assert dashboard.get("id") is None, "a provisioned dashboard must not carry a database id"


def test_panel_ids_are_unique(panels: list[dict[str, Any]]) -> None:
    """Every panel, rows included, has an integer id no other panel has."""
    ids = [panel.get("id") for panel in panels]
    assert all(isinstance(panel_id, int) for panel_id in ids), ids
    assert len(ids) == len(set(ids)), sorted(ids)


def test_panels_fit_the_grid(panels: list[dict[str, Any]]) -> None:
    """Every gridPos is whole, non-empty and inside the 24 columns."""
    for panel in panels:
        pos = panel["gridPos"]
        assert all(isinstance(pos[key], int) for key in ("x", "y", "w", "h")), panel["title"]
        assert min(pos["x"], pos["y"]) >= 0, panel["title"]
        assert min(pos["w"], pos["h"]) >= 1, panel["title"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS, panel["title"]


def test_no_two_panels_overlap(dashboard: dict[str, Any]) -> None:
    """No two top-level panels share a grid cell."""
    boxes = [(panel["title"], panel["gridPos"]) for panel in dashboard["panels"]]
    for (first, a), (second, b) in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, f"{first!r} overlaps {second!r}"


def test_every_panel_has_a_title_and_a_query(panels: list[dict[str, Any]]) -> None:
    """Every non-row panel has a title and at least one target with a PromQL expression."""
    for panel in panels:
        assert panel.get("title"), panel["id"]
        if panel["type"] == "row":
            continue
        targets = panel.get("targets", [])
        assert targets, panel["title"]
        assert all(str(target.get("expr", "")).strip() for target in targets), panel["title"]
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def _resolves_to_prometheus(datasource: Any, variables: dict[str, dict[str, Any]]) -> bool:
    """A reference to the dashboard's Prometheus datasource variable, never a literal uid."""
    if not isinstance(datasource, dict):  # a bare name or variable reference
        datasource = {"uid": datasource}
    reference = VARIABLE_REFERENCE.fullmatch(str(datasource.get("uid", "")))
    if reference is None:
        return False
    variable = variables.get(reference.group(1) or reference.group(2), {})
    return variable.get("type") == "datasource" and variable.get("query") == "prometheus"


def test_every_query_uses_the_datasource_variable(
    panels: list[dict[str, Any]], variables: dict[str, dict[str, Any]]
) -> None:
    """Panels, targets and query variables all name the Prometheus datasource through the
    datasource variable, so the dashboard works with whatever Prometheus Grafana has."""
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert _resolves_to_prometheus(panel.get("datasource"), variables), panel["title"]
        for target in panel["targets"]:
            assert _resolves_to_prometheus(target.get("datasource"), variables), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert _resolves_to_prometheus(variable.get("datasource"), variables), variable


def _datasource_uids(node: Any) -> list[str]:
    """Every datasource uid anywhere in the dashboard's JSON."""
    if isinstance(node, list):
        return [uid for item in node for uid in _datasource_uids(item)]
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        if key == "datasource" and isinstance(value, dict) and "uid" in value:
            found.append(str(value["uid"]))
        elif key == "datasource" and isinstance(value, str):
            found.append(value)
        else:
            found += _datasource_uids(value)
    return found


def test_no_datasource_uid_is_hard_coded(dashboard: dict[str, Any]) -> None:
    """Importable into a team's own Grafana: no panel, target or variable names a datasource
    uid of compose's Grafana (Grafana's own built-in annotation source aside)."""
    uids = set(_datasource_uids(dashboard)) - {"-- Grafana --"}
    assert uids == {"${DS_PROMETHEUS}"}, uids
    assert DATASOURCE_UID not in json.dumps(dashboard)


def test_the_datasource_is_an_import_input_and_a_variable(
    dashboard: dict[str, Any], variables: dict[str, dict[str, Any]]
) -> None:
    """Grafana's import convention: an `__inputs` entry DS_PROMETHEUS (the import dialog asks
    for a Prometheus datasource and puts it in place of `${DS_PROMETHEUS}`), and a datasource
    variable of that name with no fixed value, so a provisioned copy (compose's) takes the
    default Prometheus datasource and a viewer may switch to another."""
    inputs = {entry["name"]: entry for entry in dashboard["__inputs"]}
    assert inputs["DS_PROMETHEUS"]["type"] == "datasource"
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    variable = variables["DS_PROMETHEUS"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    assert not variable.get("current"), "a fixed current value is a uid other Grafanas lack"
    requires = {(entry["type"], entry["id"]) for entry in dashboard["__requires"]}
    assert ("datasource", "prometheus") in requires


def _exported(token: str) -> bool:
    if token in EXPORTED_METRICS:
        return True
    return any(
        token.endswith(suffix) and token.removesuffix(suffix) in HISTOGRAMS
        for suffix in HISTOGRAM_SUFFIXES
    )


def test_queries_use_only_metrics_mlmon_exports(expressions: list[str]) -> None:
    """Every mlmon_* name in any PromQL expression is a metric mlmon exports."""
    assert expressions
    unknown = {
        token
        for expr in expressions
        for token in METRIC_TOKEN.findall(expr)
        if not _exported(token)
    }
    assert not unknown, f"the dashboard queries metrics mlmon does not export: {sorted(unknown)}"


def test_histograms_are_queried_through_their_series(expressions: list[str]) -> None:
    """A histogram is queried as _bucket, _sum or _count, never by its bare family name."""
    for expr in expressions:
        for token in METRIC_TOKEN.findall(expr):
            assert token not in HISTOGRAMS, f"{token} has no series of its own: {expr}"


def test_dashboard_covers_quality_drift_and_pipeline(expressions: list[str]) -> None:
    """Every metric the dashboard is meant to show appears in some query."""
    used = set()
    for token in (t for expr in expressions for t in METRIC_TOKEN.findall(expr)):
        for suffix in HISTOGRAM_SUFFIXES:
            if token.endswith(suffix) and token.removesuffix(suffix) in HISTOGRAMS:
                token = token.removesuffix(suffix)
        used.add(token)
    assert not REQUIRED_METRICS - used, sorted(REQUIRED_METRICS - used)
    assert any(
        "histogram_quantile" in expr and "mlmon_end_to_end_latency_seconds_bucket" in expr
        for expr in expressions
    )


def test_queries_are_balanced(expressions: list[str]) -> None:
    """Every expression closes its brackets and quotes, the cheapest PromQL sanity check."""
    pairs = {")": "(", "]": "[", "}": "{"}
    for expr in expressions:
        assert expr.count('"') % 2 == 0, expr
        stack: list[str] = []
        for char in re.sub(r'"[^"]*"', '""', expr):
            if char in "([{":
                stack.append(char)
            elif char in pairs:
                assert stack, f"unopened {char} in {expr}"
                assert stack.pop() == pairs[char], expr
        assert not stack, expr


def test_queries_reference_only_defined_variables(
    dashboard: dict[str, Any], variables: dict[str, dict[str, Any]]
) -> None:
    """Every $variable in a query, title or repeat is a template variable or a builtin."""
    texts = [
        str(target.get("expr", ""))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    texts += [str(panel.get("title", "")) for panel in dashboard["panels"]]
    for text in texts:
        for match in VARIABLE_REFERENCE.finditer(text):
            name = match.group(1) or match.group(2)
            assert name in variables or name in BUILTIN_VARIABLES, f"${name} in {text!r}"
    for panel in dashboard["panels"]:
        if "repeat" in panel:
            assert panel["repeat"] in variables, panel["title"]


def test_model_variable_lists_the_models(variables: dict[str, dict[str, Any]]) -> None:
    """A `model` variable lists the models from mlmon_window_mae and allows all of them."""
    model = variables["model"]
    query = model["query"]
    text = query["query"] if isinstance(query, dict) else query
    assert re.sub(r"\s", "", str(text)) == "label_values(mlmon_window_mae,model)"
    assert model["includeAll"] is True
    assert model["multi"] is True


# ---- Grafana provisioning ---------------------------------------------------------------------


def test_datasource_provisioning_points_at_the_prometheus_service(
    services: dict[str, dict[str, Any]],
) -> None:
    """One Prometheus datasource, the default (what the dashboard's datasource variable takes
    when provisioned), at the prometheus service's port."""
    provisioning = _load_yaml(DATASOURCES_FILE)
    assert provisioning["apiVersion"] == 1
    (datasource,) = provisioning["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    assert datasource["isDefault"] is True
    url = urlsplit(datasource["url"])
    assert url.hostname in services, f"{url.hostname} is not a compose service"
    assert url.port in _container_ports(services[url.hostname])
    assert _seconds(datasource["jsonData"]["timeInterval"]) == 5


def test_dashboard_provider_loads_the_mounted_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    """The provider's path is where compose mounts deploy/grafana/dashboards in grafana."""
    provisioning = _load_yaml(PROVIDERS_FILE)
    assert provisioning["apiVersion"] == 1
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file"
    host = _host_path(services["grafana"], provider["options"]["path"])
    assert host is not None, "grafana does not mount the provider's path"
    assert host.resolve() == DASHBOARD_FILE.parent.resolve()


@pytest.mark.parametrize(
    ("kind", "provisioning_file"),
    [("datasources", DATASOURCES_FILE), ("dashboards", PROVIDERS_FILE)],
)
def test_grafana_mounts_the_provisioning_files(
    services: dict[str, dict[str, Any]], kind: str, provisioning_file: Path
) -> None:
    """grafana reads each provisioning file from /etc/grafana/provisioning/<kind>, read-only."""
    grafana = services["grafana"]
    container_path = f"/etc/grafana/provisioning/{kind}/{provisioning_file.name}"
    host = _host_path(grafana, container_path)
    assert host is not None, f"grafana does not mount {container_path}"
    assert host.resolve() == provisioning_file.resolve()
    volumes = [str(entry) for entry in grafana["volumes"] if isinstance(entry, str)]
    assert all(entry.endswith(":ro") for entry in volumes), volumes


def test_grafana_allows_anonymous_viewers_and_opens_the_dashboard(
    services: dict[str, dict[str, Any]],
) -> None:
    """Anonymous users may view (not edit); a home dashboard, if set, is a mounted file."""
    grafana = services["grafana"]
    environment = _environment(grafana)
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = environment.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home is not None:
        host = _host_path(grafana, home)
        assert host is not None, f"grafana does not mount {home}"
        assert host.is_file(), home
    assert "prometheus" in grafana["depends_on"]


# ---- Prometheus -------------------------------------------------------------------------------


def test_prometheus_scrapes_the_four_services(prometheus_config: dict[str, Any]) -> None:
    """Jobs features, model, metric and plot scrape <service>:9100, plus Prometheus itself."""
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    assert len(jobs) == len(prometheus_config["scrape_configs"]), "job names must be unique"
    assert {*MLMON_SERVICES, "prometheus"} <= set(jobs)
    for name in MLMON_SERVICES:
        targets = [t for config in jobs[name]["static_configs"] for t in config["targets"]]
        assert targets == [f"{name}:{METRICS_PORT}"]
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_scrapes_every_5_seconds(prometheus_config: dict[str, Any]) -> None:
    """The global interval is 5 s, no job overrides it, and the timeout fits inside it."""
    interval = _seconds(prometheus_config["global"]["scrape_interval"])
    assert interval == 5
    timeout = _seconds(prometheus_config["global"].get("scrape_timeout", "10s"))
    assert timeout <= interval
    for job in prometheus_config["scrape_configs"]:
        assert _seconds(job.get("scrape_interval", "5s")) == interval, job["job_name"]


def test_services_serve_metrics_on_the_scraped_port(services: dict[str, dict[str, Any]]) -> None:
    """Each scraped service sets MLMON_METRICS_PORT to the port Prometheus scrapes."""
    for name in MLMON_SERVICES:
        assert _environment(services[name]).get("MLMON_METRICS_PORT") == str(METRICS_PORT), name


def test_prometheus_service_reads_the_mounted_config(services: dict[str, dict[str, Any]]) -> None:
    """The prometheus service's --config.file is deploy/prometheus/prometheus.yml, read-only."""
    prometheus = services["prometheus"]
    flags = dict(
        str(arg).removeprefix("--").split("=", 1)
        for arg in prometheus.get("command", [])
        if str(arg).startswith("--") and "=" in str(arg)
    )
    config_file = flags.get("config.file", "/etc/prometheus/prometheus.yml")
    host = _host_path(prometheus, config_file)
    assert host is not None, f"prometheus does not mount {config_file}"
    assert host.resolve() == PROMETHEUS_CONFIG.resolve()
    config_mounts = [
        str(entry)
        for entry in prometheus["volumes"]
        if isinstance(entry, str) and "deploy/prometheus" in entry
    ]
    assert config_mounts, "mount ./deploy/prometheus with the short volume syntax"
    assert all(entry.endswith(":ro") for entry in config_mounts)
    assert 9090 in _container_ports(prometheus)


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (Debian package `prometheus` ships it)"
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true this check fails instead of skipping")
        pytest.skip(reason)
    return found


# What Grafana substitutes for the variables, so that promtool can parse the expressions.
SAMPLE_VARIABLES = {
    "__range": "15m",
    "__rate_interval": "20s",
    "__interval": "5s",
    "model": ".*",
    "window": "last_500",
}


def test_promtool_parses_every_query(expressions: list[str], tmp_path: Path) -> None:
    """Every dashboard expression, variables filled in, is valid PromQL to `promtool`."""
    promtool = _promtool()

    def fill(match: re.Match[str]) -> str:
        return SAMPLE_VARIABLES[match.group(1) or match.group(2)]

    rules = [
        {"alert": f"DashboardQuery{number}", "expr": VARIABLE_REFERENCE.sub(fill, expr)}
        for number, expr in enumerate(expressions)
        if not expr.startswith("label_values(")  # a Grafana function, not PromQL
    ]
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8"
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_config() -> None:
    """`promtool check config` accepts deploy/prometheus/prometheus.yml."""
    promtool = _promtool()
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
