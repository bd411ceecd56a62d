"""Reconciliation: ``python -m deploy.ops.reconcile`` finds what the bus lost (counts and a checksum
per service and month, and the missing positions), and ``--repair`` sends it again from the services'
stores until reporting holds exactly what they stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from deploy.local.load import body_of
from deploy.ops.checks import ROOT, connect, figures, live_equals_rebuild, process_env
from deploy.ops.reconcile import WRITE_SERVICES
from deploy.ops.reliability_doc import table, write_section
from services.complaints import api as complaints_api
from services.complaints.main import make_app as complaints_app
from services.customers import api as customers_api
from services.customers.main import make_app as customers_app
from services.field import api as field_api
from services.field.main import make_app as field_app
from services.orders import api as orders_api
from services.orders.main import make_app as orders_app
from services.reporting.main import start_reporting, stopped
from shared.database import ensure_database
from shared.settings import Settings
from shared.subjects import stream_name
from tests.conftest import Requester, service_running, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.fault]

COMMANDS = 200  # 40 rounds of the load's mix: customers, orders (2), complaints, field
LOST_PER_SERVICE = {"customers": 3, "orders": 4, "complaints": 2, "field": 2}


@pytest.fixture
async def writers(settings: Settings) -> AsyncIterator[None]:
    ensure_database(settings, list(WRITE_SERVICES))
    async with contextlib.AsyncExitStack() as stack:
        for make_app, register in (
            (customers_app, customers_api.register),
            (orders_app, orders_api.register),
            (complaints_app, complaints_api.register),
            (field_app, field_api.register),
        ):
            await stack.enter_async_context(service_running(make_app(settings), register, settings))
        yield


def reconcile_cli(settings: Settings, *args: str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.ops.reconcile", "--json", *args],
        cwd=ROOT,
        env={**os.environ, **process_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1) and done.stdout.startswith("["), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


async def test_reconcile_finds_what_the_bus_lost_and_resends_it_from_the_stores(
    settings: Settings, nc: NATS, request_: Requester, writers: None
) -> None:
    js = nc.jetstream()
    for n in range(COMMANDS):
        service, command, body = body_of(n, "recon")
        reply = await request_(service, "cmd", command, body)
        assert reply["ok"], reply
    conn = await connect(settings)
    try:

        async def all_published() -> bool:
            rows = await figures(settings, nc, conn)
            return all(r.on_stream == r.stored > 0 for r in rows)

        await wait_for(all_published, timeout=30)
        # The bus loses some events before reporting saw them (a JetStream node lost its unsynced writes).
        lost: dict[str, list[int]] = {}
        for service, count in LOST_PER_SERVICE.items():
            stream = stream_name(settings.namespace, service)
            for seq in range(5, 5 + 3 * count, 3):
                envelope = json.loads((await js.get_msg(stream, seq)).data or b"{}")
                lost.setdefault(service, []).append(envelope["position"])
                await js.delete_msg(stream, seq)
        stop = asyncio.Event()
        reporting = await start_reporting(settings, stop, queries=False)
        try:

            async def rest_consumed() -> bool:
                rows = await figures(settings, nc, conn)
                return all(r.consumed == r.stored - len(lost[r.service]) for r in rows)

            await wait_for(rest_consumed, timeout=30)
            code, before = await asyncio.to_thread(reconcile_cli, settings)
            assert code == 1
            for report in before:
                assert report["missing_positions"] == sorted(lost[report["service"]])
                assert report["unknown"] == 0
                assert not report["equal"]
                assert any(not p["equal"] for p in report["periods"].values())
            code, after = await asyncio.to_thread(reconcile_cli, settings, "--repair", "--wait", "30")
            assert code == 0, after
            for report in after:
                assert report["resent"] == len(lost[report["service"]])
                assert report["missing"] == 0 and report["equal"]
            code, again = await asyncio.to_thread(reconcile_cli, settings)
            assert code == 0 and all(r["resent"] == 0 for r in again)
            await asyncio.sleep(0.5)
            rows = await figures(settings, nc, conn)
            for row in rows:
                assert row.stored == row.consumed == row.applied, row
            assert await live_equals_rebuild(conn, settings)
        finally:
            stop.set()
            await stopped(reporting)
    finally:
        await conn.close()
    period_rows = [
        (
            f"{r['service']} {name}",
            f"{p['stored']} stored / {p['consumed']} consumed, checksums "
            f"{'differ' if not p['equal'] else 'equal'}",
        )
        for r in before
        for name, p in r["periods"].items()
    ]
    write_section(
        "reconcile",
        "Reconciliation of the stores with reporting",
        "tests/fault/test_reconcile.py",
        [
            f"{COMMANDS} commands to the four write services; then {sum(LOST_PER_SERVICE.values())} of the "
            "published events were deleted from their JetStream streams before reporting consumed them "
            "(the bus lost them).",
            "",
            *table(
                [(f"{s}: lost on the bus", len(lost[s])) for s in WRITE_SERVICES]
                + [("before repair", "")]
                + period_rows
                + [(f"{r['service']}: re-sent by `--repair`", r["resent"]) for r in after]
                + [(f"{r['service']}: missing after repair", r["missing"]) for r in after]
            ),
            "",
            "| service | events stored | consumed by reporting | applied | lost |",
            "|---|---|---|---|---|",
            *(f"| {r.service} | {r.stored} | {r.consumed} | {r.applied} | {r.lost} |" for r in rows),
            "",
            "Properties: `python -m deploy.ops.reconcile` exits 1 and names exactly the lost positions, with "
            "the counts and checksums of the affected months differing; `--repair` re-sends those events "
            "from the stores (new msg ids) and exits 0 once counts and checksums agree; a second run finds "
            "nothing to send; reporting applied each event once and equals a rebuild.",
            "",
        ],
    )
