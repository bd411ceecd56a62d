"""The five services as separate processes under a load from another process, while things break:

- each service (and with it its outbox relay, which runs inside it) is killed with SIGKILL mid-load and
  started again: every stored event reaches reporting exactly once and the live projections equal a
  rebuild;
- a command sent with an idempotency key gets its first reply again after the service was killed and
  restarted, and stores nothing new;
- PostgreSQL is stopped for a few seconds mid-load: commands during the outage get ``unavailable``,
  nothing is half-written, the services and consumers reconnect by themselves, nothing is parked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS

from deploy.local.load import body_of
from deploy.local.processes import SERVICES, ServiceProcesses, wait_ready
from deploy.ops.checks import (
    ACKNOWLEDGED_NOT_STORED,
    FIGURES_HEADER,
    REFUSED_BUT_STORED,
    LoadProcess,
    PostgresControl,
    command_outcomes,
    connect,
    figures,
    live_equals_rebuild,
    process_env,
    stored_keys,
    until_reconciled,
)
from deploy.ops.reconcile import WRITE_SERVICES
from deploy.ops.reliability_doc import table, write_section
from shared.database import drop_database, ensure_database
from shared.deadletter import DeadLetters
from shared.settings import Settings
from shared.streams import delete_streams
from tests.conftest import auth, unique_settings

pytestmark = [pytest.mark.integration, pytest.mark.fault]

PG_OUTAGE_SECONDS = 3.0


class System:
    def __init__(self, settings: Settings, processes: ServiceProcesses, nc: NATS, conn: asyncpg.Connection):
        self.settings = settings
        self.processes = processes
        self.nc = nc
        self.conn = conn
        self.workdir = processes.log_dir

    async def restart(self, service: str) -> float:
        """kill -9, start again, wait until it answers; returns the seconds it took."""
        began = time.monotonic()
        self.processes.kill(service)
        self.processes.start(service)
        await wait_ready(self.nc, self.settings.namespace, service)
        return time.monotonic() - began

    async def send(self, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send; an ``unavailable`` answer (nothing written) is retried as a client would, same body."""
        subject = f"{self.settings.namespace}.{service}.cmd.{command}"
        for _ in range(20):
            reply = await self.nc.request(subject, json.dumps(body).encode(), timeout=30, headers=auth(body))
            answer: dict[str, Any] = json.loads(reply.data)
            if answer["ok"] or answer["error"]["code"] != "unavailable":
                break
            await asyncio.sleep(0.5)
        return answer


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    settings = unique_settings()
    ensure_database(settings, list(SERVICES))
    processes = ServiceProcesses(process_env(settings), tmp_path_factory.mktemp("fault-system"))
    nc = await nats.connect(settings.nats_url)
    conn: asyncpg.Connection | None = None
    try:
        for service in SERVICES:
            processes.start(service)
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service)
        conn = await connect(settings)
        yield System(settings, processes, nc, conn)
    finally:
        processes.stop_all()
        if conn is not None:
            await conn.close()
        await delete_streams(nc.jetstream(), settings, list(SERVICES))
        await nc.close()
        drop_database(settings)


async def check_exactly_once(system: System) -> list[Any]:
    """Every stored event is in reporting once, nothing else is, and the projections equal a rebuild."""
    reports = await until_reconciled(system.settings)
    assert all(r.equal for r in reports), [r.to_json() for r in reports if not r.equal]
    await asyncio.sleep(1.0)  # redeliveries still in flight must change nothing
    rows = await figures(system.settings, system.nc, system.conn)
    for row in rows:
        assert row.stored == row.consumed == row.applied, row
        assert row.lost == 0 and row.duplicates == 0, row
    assert await live_equals_rebuild(system.conn, system.settings)
    assert await DeadLetters(system.nc.jetstream(), system.settings).parked() == []
    return rows


def took_effect_at_most_once(summary: dict[str, Any], stored: dict[str, set[str]]) -> dict[str, int]:
    """An acknowledged command is stored; a refused one is not; one without an answer may be either."""
    outcomes = command_outcomes(summary, stored)
    assert ACKNOWLEDGED_NOT_STORED not in outcomes and REFUSED_BUT_STORED not in outcomes, outcomes
    return outcomes


async def test_kill_9_each_service_mid_load_every_event_reaches_reporting_once(system: System) -> None:
    load = LoadProcess(system.settings, system.workdir, commands=20_000, seconds=90, concurrency=4)
    restarts: dict[str, float] = {}
    relay_sessions: dict[str, int] = {}
    try:
        await asyncio.sleep(2.0)
        for service in SERVICES:  # every service; a write service's relay dies with it
            restarts[service] = await system.restart(service)
            await asyncio.sleep(1.5)  # load runs on against the restarted process
        for service in WRITE_SERVICES:  # and each relay alone: its database session killed mid-publish
            relay_sessions[service] = await system.conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE $1",
                f"{service}-relay-%",
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        summary = await load.finish()
    finally:
        load.kill()
    outcomes = took_effect_at_most_once(summary, await stored_keys(system.conn, summary))
    assert summary["ok"] > 100, summary["outcomes"]
    assert all(relay_sessions.values()), relay_sessions  # each relay was publishing when its session died
    rows = await check_exactly_once(system)
    write_section(
        "kill",
        "kill -9 of each service (and its outbox relay) mid-load",
        "tests/fault/test_system.py::test_kill_9_each_service_mid_load_every_event_reaches_reporting_once",
        [
            f"Load from a separate process ({summary['sent']} commands in {summary['seconds']} s, 4 in "
            f"flight, each with an idempotency key). {', '.join(SERVICES)} were each "
            "killed with SIGKILL in turn and started again; the outbox relay of each write service runs in "
            "that process, so it died mid-publish with it. Then each relay's own PostgreSQL session was "
            "terminated (`pg_terminate_backend`) while the load ran: the relay alone fails and must "
            "reconnect by itself.",
            "",
            *table(
                [("commands sent", summary["sent"])]
                + [(k, v) for k, v in outcomes.items()]
                + [(f"{s}: kill → answering again", f"{t:.1f} s") for s, t in restarts.items()]
                + [(f"{s}: relay sessions terminated", n) for s, n in relay_sessions.items()]
            ),
            "",
            *FIGURES_HEADER,
            *(row.row() for row in rows),
            "",
            "Properties: every acknowledged command is stored and no refused one is; every stored event "
            "is in reporting's log exactly once (per-service counts and checksums per month equal, "
            "`deploy.ops.reconcile`); "
            "reporting applied each once (its applied count equals its log); the live projections equal a "
            "rebuild row for row; nothing was parked.",
            "",
        ],
    )


IDEMPOTENT_COMMANDS = {
    0: "customers",
    1: "orders",
    3: "complaints",
    4: "field",
}  # body_of(n): one per service


async def test_same_idempotency_key_returns_first_reply_across_a_kill_and_restart(system: System) -> None:
    rows = []
    for n, service in IDEMPOTENT_COMMANDS.items():
        _, command, body = body_of(n, f"idem{n}")
        body = {**body, "idempotency_key": f"idem-{system.settings.namespace}-{n}"}
        first = await system.send(service, command, body)
        assert first["ok"] is True, first
        table_name = f'"{service}"."{service}application_events"'
        before = await system.conn.fetchval(f"SELECT count(*) FROM {table_name}")
        again = await system.send(service, command, body)
        await system.restart(service)
        after_restart = await system.send(service, command, body)
        after = await system.conn.fetchval(f"SELECT count(*) FROM {table_name}")
        assert again == first
        assert after_restart == first
        assert after == before, "a repeated command stored something"
        rows.append(
            (f"{service}.{command}", "3 sends (1 before, 1 after a kill -9 and restart)", after - before)
        )
    write_section(
        "idempotency",
        "Idempotent commands across a restart",
        "tests/fault/test_system.py::test_same_idempotency_key_returns_first_reply_across_a_kill_and_restart",
        [
            "| command | sends with one key | events stored by the repeats |",
            "|---|---|---|",
            *(f"| {c} | {how} | {n} |" for c, how, n in rows),
            "",
            "Property: the same `idempotency_key` returns the first reply, byte for byte, before and after "
            "the service process was killed and started again, and stores nothing new (the receipt is stored "
            "with the command's events, in the same transaction).",
            "",
        ],
    )


async def test_postgres_restart_mid_load_unavailable_then_reconnect(system: System) -> None:
    control = await PostgresControl.detect(system.conn)
    if control is None:
        pytest.skip("the PostgreSQL server is not a local one this user can stop and start")
    # Open loop: commands keep arriving while those caught by the outage wait for the store.
    load = LoadProcess(
        system.settings, system.workdir, commands=20_000, seconds=60, concurrency=64, rate=150, timeout=20
    )
    try:
        await asyncio.sleep(2.0)
        down_at = time.monotonic()
        try:
            await asyncio.to_thread(control.stop)
            await asyncio.sleep(PG_OUTAGE_SECONDS)
        finally:
            await asyncio.to_thread(control.start)  # always: the server is shared with other tests
        outage = time.monotonic() - down_at
        await asyncio.sleep(4.0)  # the load runs on against the recovered database
        summary = await load.finish()
    finally:
        load.kill()
    for _ in range(30):  # our own connection died with the server
        try:
            system.conn = await connect(system.settings)
            break
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
    codes = Counter(c["outcome"] for c in summary["commands"])
    assert codes["unavailable"] > 0, codes
    # Only structured answers: success, "unavailable", or the load's own not-found (stock for a product
    # whose listing was refused during the outage); never "internal".
    assert set(codes) <= {"ok", "unavailable", "not_found", "timeout"}, codes
    last_unavailable = max(c["n"] for c in summary["commands"] if c["outcome"] == "unavailable")
    recovered = [c for c in summary["commands"] if c["n"] > last_unavailable and c["outcome"] == "ok"]
    assert recovered, "no command succeeded after the restart"
    assert {c["service"] for c in recovered} == {"customers", "orders", "complaints", "field"}
    outcomes = took_effect_at_most_once(summary, await stored_keys(system.conn, summary))
    rows = await check_exactly_once(system)
    write_section(
        "postgres",
        "PostgreSQL restarted mid-load",
        "tests/fault/test_system.py::test_postgres_restart_mid_load_unavailable_then_reconnect",
        [
            f"Load from a separate process ({summary['sent']} commands, 150 a second, open loop). "
            "PostgreSQL was stopped "
            f"(`{control.how} stop`, fast mode) for {PG_OUTAGE_SECONDS:.0f} s and started again "
            f"({outage:.1f} s in all, the start always runs); nothing was restarted by hand.",
            "",
            *table([(f"answers: {k}", v) for k, v in sorted(codes.items())] + list(outcomes.items())),
            "",
            *FIGURES_HEADER,
            *(row.row() for row in rows),
            "",
            'Properties: commands during the outage got `{code: unavailable, message: "the store is '
            'unavailable; nothing was written"}` and none of them was stored (its receipt, saved atomically '
            "with its events, is absent); each write service, outbox relay and consumer reconnected by "
            "itself (commands to all four write services succeeded after the restart and every stored event "
            "reached reporting exactly once); reporting's consumers waited out the outage instead of "
            "parking messages (dead letters: 0); the live projections equal a rebuild.",
            "",
        ],
    )
