"""The bus routes on a real NATS server: requests answered concurrently, a stopping service answers the
requests it is already handling before it lets go of its connections, and a correlation id is taken from
the body or the NATS header."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client as NATS

from shared import observability
from shared.bus import CORRELATION_HEADER, ServiceBus, connect_nats
from shared.contracts import Command, Query
from shared.settings import Settings
from tests.conftest import auth, wait_for

pytestmark = pytest.mark.integration


class Gate:
    """A query handler that holds every request until released."""

    def __init__(self) -> None:
        self.arrived = 0
        self.release = asyncio.Event()

    def holding(self, count: int) -> Callable[[], Awaitable[bool]]:
        async def arrived() -> bool:
            return self.arrived == count

        return arrived

    async def handle(self, _: Query) -> dict[str, Any]:
        self.arrived += 1
        await self.release.wait()
        return {"held": True}


async def serving(settings: Settings, gate: Gate) -> tuple[ServiceBus, NATS, NATS]:
    bus = ServiceBus(settings, "gated")
    bus.query("held", Query, gate.handle)
    routes, unknown = await connect_nats(settings, "routes"), await connect_nats(settings, "unknown")
    await bus.serve(routes, unknown=unknown)
    return bus, routes, unknown


async def test_requests_to_one_route_are_handled_at_the_same_time(settings: Settings, nc: NATS) -> None:
    gate = Gate()
    bus, routes, unknown = await serving(settings, gate)
    try:
        subject = f"{settings.namespace}.gated.query.held"
        replies = [
            asyncio.ensure_future(nc.request(subject, b"{}", timeout=10, headers=auth())) for _ in range(10)
        ]
        await wait_for(gate.holding(10))  # all ten inside the handler before any is answered
        gate.release.set()
        assert [json.loads((await reply).data) for reply in replies] == [
            {"ok": True, "result": {"held": True}}
        ] * 10
    finally:
        await bus.close()
        await routes.close()
        await unknown.close()


async def test_a_stopping_service_answers_the_requests_it_is_handling(settings: Settings, nc: NATS) -> None:
    gate = Gate()
    bus, routes, unknown = await serving(settings, gate)
    subject = f"{settings.namespace}.gated.query.held"
    reply = asyncio.ensure_future(nc.request(subject, b"{}", timeout=10, headers=auth()))
    await wait_for(gate.holding(1))
    closing = asyncio.ensure_future(bus.close())
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the request being handled
    with pytest.raises(nats.errors.NoRespondersError):  # it took no new request meanwhile
        await nc.request(f"{settings.namespace}.gated.query.health", b"{}", timeout=2)
    gate.release.set()
    await asyncio.wait_for(closing, 5)
    assert json.loads((await reply).data) == {"ok": True, "result": {"held": True}}
    await routes.close()
    await unknown.close()


async def echo_correlation(body: Command) -> dict[str, Any]:
    return {"body": body.correlation_id, "logged": observability.correlation_id.get()}


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        ({}, "from-header", "from-header"),
        ({"correlation_id": "from-body"}, "from-header", "from-body"),  # the body's wins
        ({"correlation_id": "from-body"}, None, "from-body"),
    ],
)
async def test_a_commands_correlation_id_comes_from_its_body_or_its_nats_header(
    settings: Settings, nc: NATS, body: dict[str, Any], header: str | None, expected: str
) -> None:
    bus = ServiceBus(settings, "echo")
    bus.command("echo", Command, echo_correlation)
    routes, unknown = await connect_nats(settings, "routes"), await connect_nats(settings, "unknown")
    await bus.serve(routes, unknown=unknown)
    try:
        request = {"actor": {"id": "u-1", "role": "salesperson"}, **body}
        reply = await nc.request(
            f"{settings.namespace}.echo.cmd.echo",
            json.dumps(request).encode(),
            timeout=10,
            headers=auth(request) | ({CORRELATION_HEADER: header} if header else {}),
        )
        assert json.loads(reply.data) == {"ok": True, "result": {"body": expected, "logged": expected}}
        too_long = await nc.request(
            f"{settings.namespace}.echo.cmd.echo",
            json.dumps(request).encode(),
            timeout=10,
            headers=auth(request) | {CORRELATION_HEADER: "x" * 101},
        )
        refused = json.loads(too_long.data)["error"]
        assert refused["code"] == "invalid"
        assert refused["details"]["errors"][0]["field"] == f"header {CORRELATION_HEADER}"
    finally:
        await bus.close()
        await routes.close()
        await unknown.close()
