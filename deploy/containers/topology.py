"""The compose topology run by podman-compose from docker-compose.yml with docker-compose.offline.yml: one
project per run (its own containers, network and volumes), health checks run as compose declares them,
containers killed and started again, everything removed at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.images import PODMAN

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "docker-compose.offline.yml"]
CONTAINERS_CONF = ROOT / "deploy" / "containers" / "containers.conf"
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
APP_SERVICES = ("customers", "orders", "complaints", "field", "reporting")
# What runs offline: all but Grafana, whose image only a registry gives (docs/operations.md), and the
# department feeds, which the tests do not drive.
SERVICES = ("postgres", *NATS_NODES, *APP_SERVICES, "prometheus")


def wait_for_each(
    names: Iterable[str],
    passes: Callable[[str], bool],
    timeout: float,
    state: str,
    logs: Callable[[str], str],
) -> None:
    """Until ``passes`` holds for every name (each checked again until it does), or AssertionError with the
    log of the first that does not."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting:
        waiting = [name for name in waiting if not passes(name)]
        if waiting and time.monotonic() > deadline:
            raise AssertionError(f"not {state} after {timeout:.0f} s: {waiting}\n{logs(waiting[0])}")
        if waiting:
            time.sleep(1)


@dataclass
class Topology:
    project: str
    environment: dict[str, str]  # what the compose files interpolate: images, passwords, identity keys
    extra_files: list[Path] = field(default_factory=list)

    def compose(self, *arguments: str, timeout: float = 600) -> str:
        files = [option for path in [*COMPOSE_FILES, *self.extra_files] for option in ("-f", str(path))]
        env = {**os.environ, **self.environment, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        done = subprocess.run(
            [str(PODMAN_COMPOSE), "-p", self.project, *files, *arguments],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"podman-compose {' '.join(arguments)}:\n{(done.stdout + done.stderr)[-4000:]}"
            )
        return done.stdout

    def up(self, services: tuple[str, ...] = SERVICES) -> None:
        self.compose("up", "--detach", "--no-build", *services)

    def down(self) -> None:
        """Containers, network and volumes of this project (nothing of any other)."""
        self.compose("down", "--volumes", "--timeout", "5")

    def container(self, service: str) -> str:
        listed = subprocess.run(
            [
                *PODMAN, "ps", "--all", "--format", "{{.Names}}",
                "--filter", f"label=io.podman.compose.project={self.project}",
                "--filter", f"label=com.docker.compose.service={service}",
            ],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if len(listed) != 1:
            raise LookupError(f"{service}: containers {listed} in project {self.project}")
        return listed[0]

    def inspect(self, service: str) -> dict[str, object]:
        shown = subprocess.run(
            [*PODMAN, "inspect", self.container(service)], capture_output=True, text=True, check=True
        )
        inspected: dict[str, object] = json.loads(shown.stdout)[0]
        return inspected

    def address(self, service: str) -> str:
        """Its address on the project's network, which this (rootful) host reaches directly."""
        shown = subprocess.run(
            [
                *PODMAN, "inspect", "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", self.container(service),
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return shown.stdout.strip()

    def check_health(self, service: str) -> bool:
        """Its image's / compose's health check, run once now (podman runs them on a timer only under
        systemd, which these machines lack)."""
        checked = subprocess.run(
            [*PODMAN, "healthcheck", "run", self.container(service)], capture_output=True, text=True
        )
        return checked.returncode == 0

    def wait_healthy(self, services: tuple[str, ...], timeout: float) -> None:
        wait_for_each(services, self.check_health, timeout, "healthy", self.logs)

    def kill(self, service: str) -> None:
        subprocess.run(
            [*PODMAN, "kill", "--signal", "KILL", self.container(service)], check=True, capture_output=True
        )

    def start(self, service: str) -> None:
        subprocess.run([*PODMAN, "start", self.container(service)], check=True, capture_output=True)

    def logs(self, service: str) -> str:
        shown = subprocess.run([*PODMAN, "logs", self.container(service)], capture_output=True, text=True)
        return (shown.stdout + shown.stderr)[-4000:]
