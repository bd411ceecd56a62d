"""NATS with authentication: per-service users (``deploy/nats/auth.py``), anonymous connections refused.

The module starts its own nats-server with the generated users on a free port (the machine's NATS on
:4222 has no authentication). A service user can publish its own events and no other service's, cannot
subscribe to another service's commands, and the four services run as separate processes, each with
its own user and its password from the environment, through the whole demo flow without a single
permission violation.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS

from deploy.local.demo import Client, Demo, complain, has_rows, onboard, reporting_period, trade
from deploy.local.demo_field import field_work
from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.nats.auth import USERS, WRITERS, authorization_block, password_variable
from deploy.nats.servers import NATS_SERVER, NatsServers
from shared.bus import connect_nats
from shared.settings import Settings
from shared.store import drop_database, ensure_database
from shared.streams import delete_streams, ensure_event_stream
from shared.subjects import stream_name
from tests.conftest import unique_settings
from tests.fault.failover_support import write_doc_section

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


CONNECTING_USERS = [*SERVICES, "client"]  # the users the permission tests connect as
FIGURES = {
    "refused_connections": 0,
    "forged_publishes": 0,
    "forged_stored": 0,
    "own_publishes_stored": 0,
    "foreign_subscriptions_refused": 0,
    "demo_violations": -1,
}


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    f = FIGURES
    demo = "not run" if f["demo_violations"] < 0 else str(f["demo_violations"])
    users, refused = len(CONNECTING_USERS), f["foreign_subscriptions_refused"]
    write_doc_section(
        "nats-auth",
        "\n".join(
            [
                "## NATS authentication and per-service permissions (`tests/integration/test_nats_auth.py`)",
                "",
                "Its own nats-server with the users of `deploy/nats/auth.py` (anonymous refused).",
                "",
                "| figure | value |",
                "|---|---|",
                f"| refused: anonymous, wrong password, unknown user | {f['refused_connections']} of 3 |",
                f"| publishes of another service's events tried | {f['forged_publishes']} |",
                f"| of them stored on a stream | {f['forged_stored']} |",
                f"| own events published and stored (control) | {f['own_publishes_stored']} |",
                f"| refused subscriptions to others' commands | {refused} of {users} |",
                f"| permission violations while the {len(SERVICES)} services ran the demo flow | {demo} |",
            ]
        ),
    )


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    # Letters and digits, starting with a letter: nats-server parses a variable's value as a config value
    # (a leading digit or "-" reads as a number), see deploy/nats/auth.py.
    return {user: f"p{secrets.token_hex(16)}" for user in USERS}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]
) -> Iterator[tuple[NatsServers, Settings]]:
    settings = unique_settings()
    servers = NatsServers(
        tmp_path_factory.mktemp("nats-auth"), auth=authorization_block(settings.namespace, passwords)
    )
    with servers:
        yield servers, settings.model_copy(update={"nats_url": servers.urls})
    drop_database(settings)


@pytest.fixture(scope="module")
async def admin(secured: tuple[NatsServers, Settings], passwords: dict[str, str]) -> AsyncIterator[NATS]:
    servers, settings = secured
    connection = await nats.connect(servers.urls, user="admin", password=passwords["admin"])
    for service in WRITERS:
        await ensure_event_stream(connection.jetstream(), settings, service)
    yield connection
    await delete_streams(connection.jetstream(), settings, list(SERVICES))
    await connection.drain()


class Violations:
    """The asynchronous errors a connection received (a denied publish or subscription arrives so)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:
        self.errors.append(str(error).lower())

    def about(self, kind: str, subject: str) -> bool:
        return any(f"permissions violation for {kind}" in e and subject.lower() in e for e in self.errors)


async def connect_as(settings: Settings, user: str, password: str) -> tuple[NATS, Violations]:
    violations = Violations()
    connection = await nats.connect(
        settings.nats_url, user=user, password=password, error_cb=violations.record
    )
    return connection, violations


async def messages(admin: NATS, settings: Settings, service: str) -> int:
    info = await admin.jetstream().stream_info(stream_name(settings.namespace, service))
    return int(info.state.messages)


@pytest.mark.parametrize(
    "credentials",
    [{}, {"user": "customers", "password": "not-the-password"}, {"user": "nobody", "password": "x"}],
)
async def test_anonymous_and_unknown_credentials_are_refused(
    secured: tuple[NatsServers, Settings], credentials: dict[str, str]
) -> None:
    servers, _ = secured
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            servers.urls, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **credentials
        )
    FIGURES["refused_connections"] += 1


@pytest.mark.parametrize("user", CONNECTING_USERS)
@pytest.mark.parametrize("target", WRITERS)
async def test_a_user_publishes_only_its_own_services_events(
    secured: tuple[NatsServers, Settings], admin: NATS, passwords: dict[str, str], user: str, target: str
) -> None:
    _, settings = secured
    subject = f"{settings.namespace}.{target}.events.CustomerApproved"
    before = await messages(admin, settings, target)
    connection, violations = await connect_as(settings, user, passwords[user])
    try:
        await connection.publish(subject, b'{"forged": true}')
        await connection.flush()
        await asyncio.sleep(0.2)  # a violation comes back asynchronously after the flush
    finally:
        await connection.close()
    stored = await messages(admin, settings, target) - before
    if user == target:
        FIGURES["own_publishes_stored"] += stored
        assert stored == 1 and not violations.errors  # the positive control: its own events go through
    else:
        FIGURES["forged_publishes"] += 1
        FIGURES["forged_stored"] += stored
        assert stored == 0
        assert violations.about("publish", subject), violations.errors


@pytest.mark.parametrize("user", CONNECTING_USERS)
async def test_a_user_cannot_take_another_services_commands(
    secured: tuple[NatsServers, Settings], passwords: dict[str, str], user: str
) -> None:
    _, settings = secured
    other = "orders" if user == "customers" else "customers"
    subject = f"{settings.namespace}.{other}.cmd.>"
    connection, violations = await connect_as(settings, user, passwords[user])
    try:
        await connection.subscribe(subject, queue=f"{other}-approve_customer")
        await connection.flush()
        await asyncio.sleep(0.2)
    finally:
        await connection.close()
    assert violations.about("subscription", subject), violations.errors
    FIGURES["foreign_subscriptions_refused"] += 1


def test_the_static_configuration_is_generated_and_takes_passwords_only_from_the_environment(
    passwords: dict[str, str],
) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "deploy.nats.auth"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (ROOT / "deploy" / "nats" / "auth.conf").read_text() == generated, "run python -m deploy.nats.auth"
    check = [str(NATS_SERVER), "-t", "-c", str(ROOT / "deploy" / "nats" / "secure.conf")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SALESOPS_NATS_PASSWORD_")}
    without = subprocess.run(check, env=clean, capture_output=True, text=True)
    assert without.returncode != 0 and "SALESOPS_NATS_PASSWORD_" in without.stderr + without.stdout
    with_secrets = clean | {password_variable(user): password for user, password in passwords.items()}
    assert subprocess.run(check, env=with_secrets, capture_output=True, text=True).returncode == 0


async def test_the_services_run_the_demo_flow_each_with_its_own_user(
    secured: tuple[NatsServers, Settings], admin: NATS, passwords: dict[str, str], tmp_path: Path
) -> None:
    servers, settings = secured
    ensure_database(settings, list(SERVICES))
    env = {
        "SALESOPS_NATS_URL": servers.urls,
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_REPORTING_HTTP": "false",
        **{password_variable(user): passwords[user] for user in SERVICES},
    }
    processes = ServiceProcesses(env, tmp_path / "logs")
    server_log = servers.base_dir / "n1.log"
    seen = len(server_log.read_bytes())  # the other tests' violations are before this point
    client_settings = settings.model_copy(
        update={"nats_user": "client", "nats_password": passwords["client"]}
    )
    nc = await connect_nats(client_settings, "auth-test-client")
    try:
        for service in SERVICES:
            processes.start(service)
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service, timeout=90)
        demo = Demo()
        client = Client(nc, settings.namespace)
        await onboard(client, demo, datetime.now(UTC).year)
        await trade(client, demo)
        await complain(client, demo)
        await field_work(client, demo)

        def complete(answer: dict[str, Any]) -> bool:
            return has_rows(answer) and answer["result"]["rows"][0].get("fines") == "150.00"

        query = {"period": reporting_period(datetime.now(UTC)), "customer_id": demo.dealer_id}
        await client.until("reporting", "distributor_monthly", query, complete, timeout=60)
    finally:
        processes.stop_all()
        await nc.drain()
    new_lines = server_log.read_bytes()[seen:].decode(errors="replace").splitlines()
    violations = [line for line in new_lines if "Violation" in line]
    FIGURES["demo_violations"] = len(violations)
    assert violations == [], violations[:5]
    for service in SERVICES:
        assert "permissions violation" not in processes.log_tail(service, 100_000).lower(), service
