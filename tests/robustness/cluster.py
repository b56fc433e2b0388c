"""A throwaway 3-node RabbitMQ cluster on this machine, for the cluster test.

Each node is the packaged `rabbitmq-server`, run in the foreground as a child process with
its own node name, AMQP and distribution ports, data, log and config files under a temporary
directory, and one Erlang cookie shared by the three (a HOME of their own, so neither the
machine's broker on 5672 nor its cookie is touched). The nodes find each other by classic
peer discovery, started together; stopping one is a SIGTERM, restarting it the same command on
the same data directory, and it rejoins.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.robustness.harness import terminate

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the package's own, not its su wrapper
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
HOST = "localhost"


def cluster_tools_missing() -> str | None:
    """Why no cluster can be started here, or None."""
    for tool in (SERVER, CTL):
        if not Path(tool).exists() and shutil.which(Path(tool).name) is None:
            return f"{tool} is not installed (apt-get install rabbitmq-server)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    name: str  # mlmon-test-1@localhost
    port: int  # AMQP
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        with self.log.open("ab") as out:
            # A session of its own: rabbitmq-server runs the Erlang VM as its child, and a
            # SIGKILL of the script alone would leave the VM running with the node's ports.
            self.process = subprocess.Popen(
                [SERVER], env=self.env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (RabbitMQ stops cleanly on it); after `grace` seconds SIGKILL to the whole
        process group, the Erlang VM included."""
        running = self.process is not None and self.process.poll() is None
        if running and self.process and terminate(self.process, grace) == float("inf"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def await_booted(self, deadline: float) -> None:
        """Until the node answers and has booted (it is unknown to epmd for its first second
        or two: `await_startup` refuses a node it cannot reach yet)."""
        while True:
            if not self.running:
                msg = f"{self.name} exited while starting: see {self.log}"
                raise RuntimeError(msg)
            try:
                self.ctl("await_startup", "--timeout", "5", timeout=30)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        done = subprocess.run(
            [CTL, "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            msg = f"rabbitmqctl {' '.join(args)} on {self.name}: {done.stderr or done.stdout}"
            raise RuntimeError(msg)
        return done.stdout


class LocalCluster:
    """Three RabbitMQ nodes clustered together under `base`; `start()` waits for all three."""

    def __init__(self, base: Path, size: int = 3) -> None:
        home = base / "home"
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        run = f"{os.getpid()}-{secrets.token_hex(2)}"
        names = [f"mlmon-test-{run}-{k}@{HOST}" for k in range(1, size + 1)]
        self.nodes: list[Node] = []
        for k, name in enumerate(names, start=1):
            directory = base / f"node{k}"
            directory.mkdir()
            port = _free_port()
            (directory / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{port}\n"
                "cluster_formation.peer_discovery_backend = classic_config\n"
                + "".join(
                    f"cluster_formation.classic_config.nodes.{i} = {peer}\n"
                    for i, peer in enumerate(names, start=1)
                )
            )
            (directory / "enabled_plugins").write_text("[].\n")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),  # the shared cookie
                "RABBITMQ_NODENAME": name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(port),
                "RABBITMQ_DIST_PORT": str(_free_port()),
                "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
                "RABBITMQ_LOG_BASE": str(directory / "log"),
                "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
                "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            }
            (directory / "rabbitmq-env.conf").write_text("")
            self.nodes.append(Node(name, port, env, directory / "console.log"))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self, patience: float = 90.0) -> None:
        for node in self.nodes:
            node.start()
        self.await_running(len(self.nodes), patience)

    def await_running(self, count: int, patience: float = 90.0) -> None:
        """Wait until every started node has booted and `count` nodes run in one cluster."""
        deadline = time.monotonic() + patience
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.await_booted(deadline)
        left = max(deadline - time.monotonic(), 1.0)
        self.nodes[0 if self.nodes[0].running else 1].ctl(
            "await_online_nodes", str(count), "--timeout", f"{left * 1000:.0f}", timeout=left + 5
        )

    def running_nodes(self) -> int:
        status = self.nodes[1].ctl("cluster_status", "--formatter", "json")
        import json

        return len(json.loads(status)["running_nodes"])

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
