"""Secrets per process: each service process that ``./salesops up`` starts (``deploy/local/processes.py``)
holds its own NATS password and no other service's, reporting alone holds its HTTP token, and no service
holds the token issuer's signing key. Read from each running process's environment (/proc/<pid>/environ)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from deploy.local.processes import PROCESSES, SERVICES, ServiceProcesses, wait_ready
from deploy.nats.auth import password_variable
from shared.database import ensure_database
from shared.settings import Settings

pytestmark = pytest.mark.integration


def environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if entry)
    return {name: value for name, _, value in pairs}


async def test_each_service_process_holds_its_own_secrets_and_no_other(
    settings: Settings, nc: NATS, tmp_path: Path
) -> None:
    ensure_database(settings, list(SERVICES))
    passwords = {service: f"p{secrets.token_hex(8)}" for service in PROCESSES}  # and the O10 feeds
    signing_key_file = str(tmp_path / "signing.pem")
    env = {
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_REPORTING_HTTP": "false",
        "SALESOPS_IDENTITY_SIGNING_KEY_FILE": signing_key_file,
        # the machine's NATS has no authentication: it takes any user, so the services run with these
        **{password_variable(service): passwords[service] for service in PROCESSES},
    }
    processes = ServiceProcesses(env, tmp_path / "logs")
    try:
        for service in PROCESSES:
            processes.start(service)
        for service in PROCESSES:
            await wait_ready(nc, settings.namespace, service)
        for service in PROCESSES:
            seen = environment(processes.running[service].pid)
            values = set(seen.values())
            assert seen["SALESOPS_NATS_USER"] == service
            assert seen["SALESOPS_NATS_PASSWORD"] == passwords[service]
            others = {other: password for other, password in passwords.items() if other != service}
            assert not values & set(others.values()), f"{service} holds another service's NATS password"
            assert signing_key_file not in values, f"{service} holds the signing key's location"
    finally:
        processes.stop_all()
