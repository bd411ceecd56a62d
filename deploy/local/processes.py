"""Running the services as separate processes: used by ``./salesops up`` and the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from nats.aio.client import Client as NATS

from shared.retry import poll

SERVICES = ("customers", "orders", "complaints", "field", "reporting")
DEPARTMENTS = ("marketing", "finance", "production")  # O10: one feed process each (services/departments)
PROCESSES = (*SERVICES, *DEPARTMENTS)
ROOT = Path(__file__).resolve().parents[2]


def service_command(service: str) -> list[str]:
    """The command that runs one service or department feed (the same one the container image runs)."""
    if service in DEPARTMENTS:
        return [sys.executable, "-m", "services.departments.main", service]
    return [sys.executable, "-m", f"services.{service}.main"]


PASSWORD_PREFIX = "SALESOPS_NATS_PASSWORD_"
# Secrets no service process may hold: the token issuer's signing key is for the clients (the services
# verify with its public key). Every service's own NATS password is its alone too.
OWNED_SECRETS: dict[str, str | None] = {"SALESOPS_IDENTITY_SIGNING_KEY_FILE": None}


def service_env(env: dict[str, str], service: str) -> dict[str, str]:
    """The environment of one service: its own NATS user when its password is given as
    ``SALESOPS_NATS_PASSWORD_<SERVICE>`` (the users of ``deploy/nats/auth.conf``), otherwise the shared
    ``SALESOPS_NATS_USER``/``_PASSWORD``; no other service's password and no secret it does not own."""
    password = env.get(f"{PASSWORD_PREFIX}{service.upper()}")
    own = {
        name: value
        for name, value in env.items()
        if not name.startswith(PASSWORD_PREFIX) and OWNED_SECRETS.get(name, service) == service
    }
    if password is None:
        return own
    return {**own, "SALESOPS_NATS_USER": service, "SALESOPS_NATS_PASSWORD": password}


def killed(process: subprocess.Popen[Any]) -> None:
    """kill -9: no clean shutdown, as in a crash."""
    process.kill()
    process.wait()


def stopped(*processes: subprocess.Popen[Any], timeout: float) -> list[int | None]:
    """A clean shutdown (SIGTERM to all, then each waited for): each one's exit code, or None where it was
    still running ``timeout`` seconds later and was killed."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    codes: list[int | None] = []
    for process in processes:
        try:
            codes.append(process.wait(timeout))
        except subprocess.TimeoutExpired:
            killed(process)
            codes.append(None)
    return codes


class ServiceProcesses:
    def __init__(self, env: dict[str, str], log_dir: Path, root: Path = ROOT) -> None:
        """``root``: the source tree the processes run from (another release's, in the upgrade drill)."""
        self.env = {**os.environ, **env}
        self.root = root
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    def start(self, service: str) -> None:
        log = self._logs.get(service) or open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115
        self._logs[service] = log
        self.running[service] = subprocess.Popen(
            service_command(service),
            cwd=self.root,
            env=service_env(self.env, service),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self, service: str) -> None:
        """kill -9: no clean shutdown, as in a crash."""
        killed(self.running.pop(service))

    def stop(self, service: str, timeout: float = 15.0) -> None:
        """A clean shutdown (SIGTERM), as a rolling upgrade takes an instance out."""
        stopped(self.running.pop(service), timeout=timeout)

    def stop_all(self, timeout: float = 15.0) -> None:
        stopped(*self.running.values(), timeout=timeout)
        self.running.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def log_tail(self, service: str, lines: int = 30) -> str:
        path = self.log_dir / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def wait_ready(nc: NATS, namespace: str, service: str, timeout: float = 60.0) -> None:
    """Until the service answers its health query."""

    async def healthy() -> bool:
        try:
            reply = await nc.request(f"{namespace}.{service}.query.health", b"{}", timeout=1.0)
            return bool(json.loads(reply.data).get("ok"))
        except Exception:  # not up yet (no responders, a timeout): asked again
            return False

    if not await poll(healthy, bool, timeout=timeout, every=0.2):
        raise TimeoutError(f"{service} did not become ready in {timeout:.0f}s")
