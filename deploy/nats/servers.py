"""Local ``nats-server`` processes: configuration and start/stop for one node or a 3-node cluster.

Used by the fault and security tests (each starts its own servers on free loopback ports) and usable by
hand: ``python -m deploy.nats.servers cluster DIR`` writes the configuration of a 3-node loopback
cluster into DIR and runs it until Ctrl-C. Every node keeps JetStream with ``sync_interval: always``
(acknowledged means on disk, STACK_NOTES.md). ``auth`` adds an ``authorization`` block (see
``deploy/nats/auth.py``).
"""

from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.processes import killed, stopped
from shared.retry import poll_blocking

NATS_SERVER = Path(sys.executable).parent / "nats-server"
CLUSTER_NAME = "salesops"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class NatsNode:
    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store_dir: Path
    config_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def monitor(self, path: str) -> dict[str, object]:
        """GET a monitoring endpoint (``/connz``, ``/jsz``, ``/healthz`` ...) as JSON."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}{path}", timeout=5) as reply:
            loaded: dict[str, object] = json.loads(reply.read())
            return loaded


@dataclass
class NatsServers:
    """``size`` nats-server processes on loopback (size 1 = a single server, 3 = a cluster)."""

    base_dir: Path
    size: int = 1
    auth: str | None = None  # an ``authorization { ... }`` block, or None for no authentication
    nodes: list[NatsNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.size):
            name = f"n{index + 1}"
            self.nodes.append(
                NatsNode(
                    name=name,
                    port=free_port(),
                    cluster_port=free_port(),
                    monitor_port=free_port(),
                    store_dir=self.base_dir / name / "jetstream",
                    config_path=self.base_dir / f"{name}.conf",
                )
            )
        for node in self.nodes:
            node.config_path.write_text(self.config(node))

    @property
    def urls(self) -> str:
        """All nodes, comma-separated: the form ``SALESOPS_NATS_URL`` takes."""
        return ",".join(node.url for node in self.nodes)

    def config(self, node: NatsNode) -> str:
        lines = [
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f"http: 127.0.0.1:{node.monitor_port}",
            "max_payload: 1MB",
            "jetstream {",
            f'  store_dir: "{node.store_dir}"',
            "  # acknowledged means on disk: the default fsyncs only every 2 minutes",
            "  sync_interval: always",
            "}",
        ]
        if self.size > 1:
            routes = ", ".join(
                f"nats://127.0.0.1:{other.cluster_port}" for other in self.nodes if other is not node
            )
            lines += [
                "cluster {",
                f"  name: {CLUSTER_NAME}",
                f"  listen: 127.0.0.1:{node.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        if self.auth:
            lines.append(self.auth)
        return "\n".join(lines) + "\n"

    def start(self, index: int | None = None) -> None:
        """Start every node (or one, e.g. again after a kill)."""
        for node in self.nodes if index is None else [self.nodes[index]]:
            log = open(self.base_dir / f"{node.name}.log", "ab")  # noqa: SIM115 - the process owns it
            node.process = subprocess.Popen(
                [str(NATS_SERVER), "-c", str(node.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
            log.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every running node reports healthy (in a cluster: routes up, JetStream meta leader known)."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.process is None:
                continue
            if not poll_blocking(
                functools.partial(self._healthy, node),
                bool,
                timeout=max(deadline - time.monotonic(), 0.0),
                every=0.1,
            ):
                raise TimeoutError(f"nats-server {node.name} not healthy in {timeout:.0f}s")

    def _healthy(self, node: NatsNode) -> bool:
        """Whether it answers healthy now; RuntimeError once its process has exited."""
        try:
            if node.monitor("/healthz").get("status") == "ok":
                return True
        except OSError:
            pass
        except ValueError:  # an unhealthy node answers 503 with a JSON body: urllib raises
            pass
        if node.process is None or node.process.poll() is not None:
            raise RuntimeError(f"nats-server {node.name} exited; see {self.base_dir}/{node.name}.log")
        return False

    def kill(self, index: int) -> None:
        """kill -9 one node: no clean shutdown, as in a crash."""
        process = self.nodes[index].process
        if process is not None:
            killed(process)
            self.nodes[index].process = None

    def stop(self) -> None:
        stopped(*(node.process for node in self.nodes if node.process is not None), timeout=10)
        for node in self.nodes:
            node.process = None

    def __enter__(self) -> NatsServers:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("single", "cluster"):
        print("usage: python -m deploy.nats.servers single|cluster DIR", file=sys.stderr)
        raise SystemExit(2)
    servers = NatsServers(Path(sys.argv[2]).resolve(), size=1 if sys.argv[1] == "single" else 3)
    with servers:
        print(f"SALESOPS_NATS_URL={servers.urls}")
        if servers.size > 1:
            print("SALESOPS_STREAM_REPLICAS=3")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
