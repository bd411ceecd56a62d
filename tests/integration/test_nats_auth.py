"""NATS with authentication: per-service users (``deploy/nats/auth.py``), anonymous connections refused.

The module starts its own nats-server with the generated users on a free port (the machine's NATS on
:4222 has no authentication). A service user can publish its own events and no other service's, cannot
subscribe to another service's commands, and the services and the O10 department feeds run as separate
processes, each with its own user and its password from the environment, through the whole demo flow
without a single permission violation; nor does the integration guide's worked example, run as written
with the credential its own command issues, nor the JavaScript contract client (tests/e2e/js_client)
sending every command and query and reading the events as the integration user. The read-only
integration user reads every event stream through consumers of its
own (ordered, ephemeral, durable) and can do nothing else: no events, no commands, no stream changes,
nobody else's consumers (a second integrator, ``partner``, is configured for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import shutil
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
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from deploy.local.demo import Client, Demo, complain, has_rows, onboard, reporting_period, trade
from deploy.local.demo_field import field_work, reported
from deploy.local.processes import PROCESSES, SERVICES, ServiceProcesses, wait_ready
from deploy.nats.auth import INTEGRATORS, USERS, WRITERS, authorization_block, password_variable
from deploy.nats.servers import NATS_SERVER, NatsServers
from shared.bus import connect_nats
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from shared.streams import delete_streams, ensure_event_stream
from shared.subjects import stream_name
from tests.conftest import js_client_tokens, unique_settings
from tests.fault.failover_support import write_doc_section

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "partner"  # a second integrator: the integration user must not reach its consumers


CONNECTING_USERS = [*SERVICES, "client", "integration"]  # the users the permission tests connect as
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
                f"| publishes of another service's events tried (the integration user: of every service) "
                f"| {f['forged_publishes']} |",
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
    return {user: f"p{secrets.token_hex(16)}" for user in (*USERS, PARTNER)}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]
) -> Iterator[tuple[NatsServers, Settings]]:
    # The server is this module's own, so its subjects and streams may carry the default namespace, which
    # the integration guide's example (run below as written) uses.
    settings = unique_settings().model_copy(update={"namespace": "salesops"})
    servers = NatsServers(
        tmp_path_factory.mktemp("nats-auth"),
        auth=authorization_block(settings.namespace, passwords, integrators=(*INTEGRATORS, PARTNER)),
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


def guide_example(guide: Path = ROOT / "docs" / "integration.md") -> str:
    """The Python code of the integration guide's worked example, as written."""
    worked = guide.read_text().split("## Worked example", 1)[1]
    return worked.split("```python\n", 1)[1].split("```", 1)[0]


def guide_credential_command(guide: Path = ROOT / "docs" / "integration.md") -> list[str]:
    """The command the guide gives an outside team for its credential ("Obtaining a credential")."""
    section = guide.read_text().split("## Obtaining a credential", 1)[1].split("\n## ", 1)[0]
    line = next(x.strip() for x in section.splitlines() if x.strip().startswith("./salesops token issue"))
    return shlex.split(line)


async def issued_as_the_guide_says() -> str:
    """A credential from the guide's command, run as written (the operator's signing key: the tests')."""
    ran = await asyncio.to_thread(
        subprocess.run, guide_credential_command(), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


async def run_the_guides_example(
    servers: NatsServers, admin: NATS, passwords: dict[str, str], customer_id: str, tmp_path: Path
) -> list[str]:
    """Run the guide's example with the users it names (client, integration); the lines it printed. The
    durable consumer it made is removed afterwards."""
    example = tmp_path / "example.py"
    example.write_text(guide_example())
    env = os.environ | {
        "SALESOPS_NATS_URL": servers.urls,
        "SALESOPS_CLIENT_PASSWORD": passwords["client"],
        "SALESOPS_INTEGRATION_PASSWORD": passwords["integration"],
        "SALESOPS_TOKEN": await issued_as_the_guide_says(),  # obtained as the guide tells
    }
    try:
        ran = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(example), customer_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        with contextlib.suppress(NotFoundError):
            await admin.jetstream().delete_consumer("SALESOPS_ORDERS", "integration")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout.splitlines()


JS_CLIENT = ROOT / "tests" / "e2e" / "js_client"
JS_READY = shutil.which("node") is not None and (JS_CLIENT / "node_modules" / "ajv").exists()


async def run_the_js_client(servers: NatsServers, passwords: dict[str, str]) -> dict[str, Any]:
    """tests/e2e/js_client as an outside team runs it: commands as client, events as integration."""
    env = os.environ | {
        "SALESOPS_NATS_URL": servers.urls,
        "SALESOPS_CLIENT_USER": "client",
        "SALESOPS_CLIENT_PASSWORD": passwords["client"],
        "SALESOPS_INTEGRATION_USER": "integration",
        "SALESOPS_INTEGRATION_PASSWORD": passwords["integration"],
        "SALESOPS_TOKENS": json.dumps(js_client_tokens()),
    }
    ran = await asyncio.to_thread(
        subprocess.run,
        ["node", "client.mjs"],
        cwd=JS_CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    seen: dict[str, Any] = json.loads(ran.stdout)
    return seen


async def test_the_services_run_the_demo_flow_and_the_guides_example_each_with_its_own_user(
    secured: tuple[NatsServers, Settings], admin: NATS, passwords: dict[str, str], tmp_path: Path
) -> None:
    servers, settings = secured
    for service in WRITERS:  # the other tests' probes and forgeries are no events of the contract
        await admin.jetstream().purge_stream(stream_name(settings.namespace, service))
    ensure_database(settings, list(SERVICES))
    env = {
        "SALESOPS_NATS_URL": servers.urls,
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_REPORTING_HTTP": "false",
        **{password_variable(user): passwords[user] for user in PROCESSES},
    }
    processes = ServiceProcesses(env, tmp_path / "logs")
    server_log = servers.base_dir / "n1.log"
    seen = len(server_log.read_bytes())  # the other tests' violations are before this point
    client_settings = settings.model_copy(
        update={"nats_user": "client", "nats_password": passwords["client"]}
    )
    nc = await connect_nats(client_settings, "auth-test-client")
    try:
        for service in PROCESSES:  # the services and the O10 department feeds, each as its own user
            processes.start(service)
        for service in PROCESSES:
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
        # reporting reads the field's stream as its own user too: R11 and R13 from the demo's field work
        field_lines = await reported(client, query["period"])
        assert any(line.startswith(f"R11 {query['period']} company: target") for line in field_lines), (
            field_lines
        )
        printed = await run_the_guides_example(servers, admin, passwords, demo.dealer_id, tmp_path)
        assert printed[0] == "accepted 12000.00", printed
        prepared = [line.split()[1:4] for line in printed[1:] if line.startswith("prepare ")]
        assert len(prepared) == 3, printed  # the demo's two orders (one a converted hold) and its own
        assert prepared[-1][1:] == ["accepted", "wh-req-77"]  # its correlation id, carried into its event
        if JS_READY:  # the JavaScript contract client, reading the events as the integration user
            js = await run_the_js_client(servers, passwords)
            assert js["mismatches"] == [] and js["counted"]["orders"] > 0, js["mismatches"]
            assert js["uncovered"] == [] and js["counted"]["field"] > 0  # every operation; every stream
    finally:
        processes.stop_all()
        await nc.drain()
    new_lines = server_log.read_bytes()[seen:].decode(errors="replace").splitlines()
    violations = [line for line in new_lines if "Violation" in line]
    FIGURES["demo_violations"] = len(violations)
    assert violations == [], violations[:5]
    for service in PROCESSES:
        assert "permissions violation" not in processes.log_tail(service, 100_000).lower(), service


async def with_events(admin: NATS, settings: Settings, service: str, count: int = 3) -> str:
    """Events on the service's stream (published by the operator) with a subject of this test's own."""
    subject = f"{settings.namespace}.{service}.events.Probe{secrets.token_hex(4)}"
    for n in range(count):
        await admin.jetstream().publish(subject, f'{{"n": {n}}}'.encode())
    return subject


@pytest.mark.parametrize("service", WRITERS)
async def test_the_integration_user_reads_every_event_stream_with_consumers_of_its_own(
    secured: tuple[NatsServers, Settings], admin: NATS, passwords: dict[str, str], service: str
) -> None:
    _, settings = secured
    subject = await with_events(admin, settings, service)
    stream = stream_name(settings.namespace, service)
    connection, violations = await connect_as(settings, "integration", passwords["integration"])
    js = connection.jetstream()
    try:
        assert (await js.stream_info(stream)).state.messages >= 3
        assert (await js.get_msg(stream, subject=subject)).data == b'{"n": 2}'  # the last on the subject
        ordered = await js.subscribe(subject, ordered_consumer=True)  # push, flow control
        assert [json.loads((await ordered.next_msg(timeout=5)).data)["n"] for _ in range(3)] == [0, 1, 2]
        await ordered.unsubscribe()
        # Its durable (named after itself), filtered, explicit ack: fetch and ack.
        durable = await js.pull_subscribe(subject, durable="integration", stream=stream)
        fetched = await durable.fetch(3, timeout=5)
        for msg in fetched:
            await msg.ack_sync()
        assert [json.loads(m.data)["n"] for m in fetched] == [0, 1, 2]
        info = await js.consumer_info(stream, "integration")
        assert info.num_ack_pending == 0 and info.delivered.consumer_seq == 3
        await js.delete_consumer(stream, "integration")
        # A named ephemeral pull consumer (the shape nats.js's ordered consumers take).
        name = f"ephemeral-{secrets.token_hex(4)}"
        await js.add_consumer(
            stream,
            ConsumerConfig(
                name=name, filter_subject=subject, ack_policy=AckPolicy.NONE, inactive_threshold=30.0
            ),
        )
        pulled = await js.pull_subscribe_bind(name, stream=stream)
        assert len(await pulled.fetch(3, timeout=5)) == 3
        await connection.flush()
        await asyncio.sleep(0.2)
    finally:
        await connection.close()
    assert violations.errors == []


async def refused_request(connection: NATS, violations: Violations, subject: str) -> None:
    """The request is denied by the server: no answer comes, and the connection is told why."""
    with pytest.raises(nats.errors.Error):  # a timeout or no responders: it never reached the API
        await connection.request(subject, b"{}", timeout=1)
    await asyncio.sleep(0.2)
    assert violations.about("publish", subject), violations.errors


async def test_the_integration_user_cannot_change_streams_send_commands_or_reach_others_consumers(
    secured: tuple[NatsServers, Settings], admin: NATS, passwords: dict[str, str]
) -> None:
    _, settings = secured
    stream = stream_name(settings.namespace, "orders")
    subject = await with_events(admin, settings, "orders")
    partner, _ = await connect_as(settings, PARTNER, passwords[PARTNER])
    await partner.jetstream().pull_subscribe(subject, durable=PARTNER, stream=stream)  # the partner's own
    await partner.close()
    before = await messages(admin, settings, "orders")
    connection, violations = await connect_as(settings, "integration", passwords["integration"])
    try:
        forbidden = [
            f"$JS.API.STREAM.DELETE.{stream}",
            f"$JS.API.STREAM.UPDATE.{stream}",
            f"$JS.API.STREAM.PURGE.{stream}",
            f"$JS.API.STREAM.CREATE.{settings.namespace.upper()}_INTRUDER",
            f"$JS.API.STREAM.INFO.{settings.namespace.upper()}_DEADLETTER",
            f"$JS.API.CONSUMER.LIST.{stream}",
            f"$JS.API.CONSUMER.NAMES.{stream}",
            f"$JS.API.CONSUMER.INFO.{stream}.{PARTNER}",  # another integrator's
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{PARTNER}",
            f"$JS.API.CONSUMER.DELETE.{stream}.{PARTNER}",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.reporting-orders",  # a service's
            f"$JS.API.CONSUMER.CREATE.{stream}.reporting-orders.{subject}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.reporting-orders",
            f"{settings.namespace}.orders.cmd.place_order",
            f"{settings.namespace}.orders.query.health",
        ]
        for api in forbidden:
            await refused_request(connection, violations, api)
    finally:
        await connection.close()
    assert await messages(admin, settings, "orders") == before
    assert (await admin.jetstream().consumer_info(stream, PARTNER)).name == PARTNER  # untouched
