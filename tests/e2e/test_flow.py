"""End to end: the services as separate processes, driven only through the bus contract.

The reporting process is killed (kill -9) twice in the middle of the flow and restarted; the monthly
projections must still end exact: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from deploy.local.demo import Client, Demo, complain, has_rows, onboard, reporting_period, trade
from deploy.local.processes import PROCESSES, SERVICES, ServiceProcesses, wait_ready
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from shared.streams import delete_streams
from tests.conftest import js_client_tokens, unique_settings

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[tuple[ServiceProcesses, Client, Settings]]:
    settings = unique_settings(http_port=free_port())
    ensure_database(settings, list(SERVICES))
    env = {
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
        "SALESOPS_HTTP_PORT": str(settings.http_port),
        "SALESOPS_HOLD_EXPIRY_CHECK_SECONDS": "1",
    }
    processes = ServiceProcesses(env, tmp_path / "logs")
    nc = await nats.connect(settings.nats_url)
    try:
        for service in PROCESSES:  # the services and the O10 department feeds
            processes.start(service)
        for service in PROCESSES:
            await wait_ready(nc, settings.namespace, service)
        yield processes, Client(nc, settings.namespace), settings
    finally:
        processes.stop_all()
        await delete_streams(nc.jetstream(), settings, list(SERVICES))
        await nc.drain()
        drop_database(settings)


async def restart(processes: ServiceProcesses, client: Client, service: str) -> None:
    processes.kill(service)
    processes.start(service)
    await wait_ready(client.nc, client.namespace, service)


def converged(expected: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A report answer whose single row shows every expected figure."""

    def check(answer: dict[str, Any]) -> bool:
        rows = answer["result"]["rows"] if has_rows(answer) else [{}]
        return all(rows[0].get(name) == value for name, value in expected.items())

    return check


def row_of(answer: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = answer["result"]["rows"]
    assert len(rows) == 1, rows
    return rows[0]


async def test_skeleton_flow_through_four_processes_survives_reporting_kills(
    system: tuple[ServiceProcesses, Client, Settings],
) -> None:
    processes, client, _ = system
    demo = Demo()
    period = reporting_period(datetime.now(UTC))

    await onboard(client, demo, datetime.now(UTC).year)
    processes.kill("reporting")  # down while orders are placed: events wait in JetStream
    await trade(client, demo)
    processes.start("reporting")
    await wait_ready(client.nc, client.namespace, "reporting")
    await complain(client, demo)
    await restart(processes, client, "reporting")  # again, while it is consuming

    # Events of different services (and, after a redelivery, of one service) may be applied in any order:
    # wait until the projection has converged on every expected figure, then compare the whole row.
    expected = {
        "orders": 1,
        "ordered_amount": "12000.00",
        "deposits": "600.00",
        "holds_made": 1,
        "service_complaints": 1,
        "fines": "150.00",
        "code": demo.dealer_code,
    }

    query = {"period": period, "customer_id": demo.dealer_id}
    dealer = row_of(
        await client.until("reporting", "distributor_monthly", query, converged(expected), timeout=60)
    )
    assert {name: dealer[name] for name in expected} == expected

    branch_query = {"period": period, "customer_id": demo.branch_id}
    branch_expected = {"orders": 1, "ordered_amount": "24000.00", "capital_limit": "1000000.00"}

    branch = row_of(
        await client.until("reporting", "branch_monthly", branch_query, converged(branch_expected))
    )
    assert {name: branch[name] for name in branch_expected} == branch_expected

    # Once more after everything was consumed: a restart replays nothing into the figures.
    await restart(processes, client, "reporting")
    await asyncio.sleep(1.5)
    assert row_of(await client.query("reporting", "distributor_monthly", query)) == dealer
    assert row_of(await client.query("reporting", "branch_monthly", branch_query)) == branch


JS_CLIENT = Path(__file__).parent / "js_client"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_a_client_in_another_language_knowing_only_the_contract_drives_the_flow(
    system: tuple[ServiceProcesses, Client, Settings],
) -> None:
    if not (JS_CLIENT / "node_modules" / "nats").exists():
        pytest.skip("the JS client's packages are not installed (npm ci in tests/e2e/js_client)")
    _, _, settings = system
    tokens = js_client_tokens()
    run = await asyncio.create_subprocess_exec(
        "node",
        "client.mjs",
        cwd=JS_CLIENT,
        env={
            **os.environ,
            "SALESOPS_NAMESPACE": settings.namespace,
            "SALESOPS_NATS_URL": settings.nats_url,
            "SALESOPS_TOKENS": json.dumps(tokens),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), 120)
    seen = json.loads(out) if out else {}
    assert run.returncode == 0, (seen.get("mismatches"), seen.get("swept"), err.decode()[-2000:])
    assert seen["mismatches"] == [] and seen["checked"]["replies"] >= 19 and seen["checked"]["events"] >= 10
    # Every command and query of every published document was sent at least once, its reply validated;
    # a request its schema accepts is never refused as malformed, nor left unanswered, nor an internal error.
    assert seen["uncovered"] == [] and len(seen["operations"]) >= 140
    assert {op: code for op, code in seen["swept"].items() if code == "invalid" or code == "internal"} == {}
    assert [op for op, code in seen["swept"].items() if code.startswith("no reply")] == []
    # queries are asked as js-reader, a company-wide general manager: every reading role lets it read (#23)
    assert [op for op, code in seen["swept"].items() if ".query." in op and code == "forbidden"] == []
    assert seen["swept"]["production.query.get_feed"] == "ok"  # O10's feeds answer as the contract says
    # most answer with a result (its schema checked), the others with an error the contract describes
    assert sum(code == "ok" for code in seen["swept"].values()) >= 50
    assert {"OrderPlaced", "OrderReserved", "ComplaintLogged", "CustomerApproved"} <= set(seen["event_types"])
    assert seen["order_status"] == "accepted" and seen["order_correlation"].startswith("js-order-")
    assert seen["reused"]["error"]["code"] == "conflict"  # the same idempotency key with another body
    assert seen["code"].startswith("SOUTH-D") and seen["repeated_code"] == seen["code"]
    assert seen["malformed"]["ok"] is False
    assert seen["malformed"]["error"]["details"]["errors"][0]["field"] == "customer_id"
    # a body claiming general_manager is refused unless a credential proves it
    assert seen["unproven"]["error"]["code"] == "forbidden"
    assert seen["anonymous"]["error"]["code"] == "unauthenticated"
    assert [e["event_type"] for e in seen["events"]] == [
        "CustomerRegistered",
        "CreditInvestigated",
        "CustomerApproved",
    ]
    approved = seen["events"][-1]
    assert approved["subject"] == f"{settings.namespace}.customers.events.CustomerApproved"
    assert approved["msg_id"] == f"customers-{approved['position']}"
    assert approved["data"] == {"code": seen["code"]}
    assert approved["actor"] == {"id": "js-supervisor", "role": "sales_supervisor"}
