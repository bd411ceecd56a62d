"""O10 in the deployment: marketing, finance and production each run a feed process under a NATS user of
their own (deploy/nats/auth.py), a durable consumer of the orders stream, and answer
``<ns>.<department>.query.get_feed`` with the orders they have to act on.

The module runs its own nats-server with the generated users (so a department process that needed more
than its user allows would fail here), publishes order events on ``SALESOPS_ORDERS`` as the orders user
does, and runs the department processes as ``./salesops up`` runs them (``deploy/local/processes.py``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from deploy.bench.seed import order_placed
from deploy.local.processes import DEPARTMENTS, ServiceProcesses, wait_ready
from deploy.nats.auth import USERS, authorization_block, password_variable
from deploy.nats.servers import NatsServers
from services.departments import commands as c
from services.departments.application import FeedStore
from services.departments.feeds import Department
from shared.contracts import Envelope
from shared.database import drop_database, ensure_database
from shared.identity.tokens import Grant
from shared.settings import Settings
from shared.streams import delete_streams, ensure_event_stream
from tests.builders import SALES, order_event
from tests.conftest import CREDENTIALS, unique_settings, wait_for

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {user: f"p{secrets.token_hex(16)}" for user in USERS}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]) -> Iterator[Settings]:
    settings = unique_settings()
    servers = NatsServers(
        tmp_path_factory.mktemp("nats-departments"), auth=authorization_block(settings.namespace, passwords)
    )
    ensure_database(settings)
    with servers:
        yield settings.model_copy(update={"nats_url": servers.urls})
    drop_database(settings)


@pytest.fixture(scope="module")
async def admin(secured: Settings, passwords: dict[str, str]) -> AsyncIterator[NATS]:
    """Operators' user: makes the orders stream and reads the consumers' state."""
    connection = await nats.connect(secured.nats_url, user="admin", password=passwords["admin"])
    await ensure_event_stream(connection.jetstream(), secured, "orders")
    yield connection
    await delete_streams(connection.jetstream(), secured, ["orders"])
    await connection.drain()


@pytest.fixture(scope="module")
async def orders(secured: Settings, passwords: dict[str, str], admin: NATS) -> AsyncIterator[NATS]:
    """The orders service's user, which publishes the order events."""
    connection = await nats.connect(secured.nats_url, user="orders", password=passwords["orders"])
    yield connection
    await connection.drain()


@pytest.fixture(scope="module")
async def client(secured: Settings, passwords: dict[str, str]) -> AsyncIterator[NATS]:
    connection = await nats.connect(secured.nats_url, user="client", password=passwords["client"])
    yield connection
    await connection.drain()


@pytest.fixture(scope="module")
def departments(
    secured: Settings, passwords: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcesses]:
    env = {
        "SALESOPS_NATS_URL": secured.nats_url,
        "SALESOPS_NAMESPACE": secured.namespace,
        "SALESOPS_POSTGRES_DB": secured.postgres_db,
        "SALESOPS_CONSUMER_BATCH_SIZE": "20",
        "SALESOPS_CONSUMER_ACK_WAIT_SECONDS": "3",  # what a killed process held comes again soon
    } | {password_variable(user): passwords[user] for user in USERS}
    processes = ServiceProcesses(env, tmp_path_factory.mktemp("department-logs"))
    for department in DEPARTMENTS:
        processes.start(department)
    yield processes
    processes.stop_all()


class OrderEvents:
    """Order events as the orders relay publishes them: numbered positions, ``Nats-Msg-Id`` per position."""

    def __init__(self, nc: NATS, settings: Settings, position: int) -> None:
        self.nc = nc
        self.settings = settings
        self.position = position  # the stream's last: positions go on from there
        self.versions: dict[str, int] = {}

    @classmethod
    async def after_the_last(cls, nc: NATS, settings: Settings) -> OrderEvents:
        info = await nc.jetstream().stream_info(f"{settings.namespace.upper()}_ORDERS")
        return cls(nc, settings, int(info.state.last_seq))

    async def publish(self, event_type: str, aggregate_id: str, **data: Any) -> None:
        self.position += 1
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        occurred_at = START + timedelta(minutes=self.position)
        envelope = order_event(
            aggregate_id, event_type, data, occurred_at, version, self.position, actor=SALES
        )
        subject = f"{self.settings.namespace}.orders.events.{event_type}"
        headers = {"Nats-Msg-Id": f"orders-{self.position}"}
        await self.nc.jetstream().publish(subject, envelope.model_dump_json().encode(), headers=headers)

    async def placed(self, order_id: str, status: str, total: str, *lines: tuple[str, int]) -> None:
        priced = [{"product_code": code, "quantity": qty, "unit_price": "10.00"} for code, qty in lines]
        placed = order_placed(order_id, f"c-{order_id}", "dealer", "EAST", "sp-1", priced, total, status)
        await self.publish("OrderPlaced", order_id, **placed, reservation_id=None, deposit_applied="0.00")

    async def shipped(self, order_id: str, amount: str, status: str, *lines: tuple[str, int]) -> None:
        await self.publish(
            "OrderShipped",
            order_id,
            customer_id=f"c-{order_id}",
            shipment_id=f"{order_id}-s{self.position}",
            lines=[{"product_code": code, "quantity": qty} for code, qty in lines],
            amount=amount,
            due_on="2026-12-31",
            status=status,
        )


async def feed(client: NATS, settings: Settings, department: str, role: str, **query: Any) -> dict[str, Any]:
    token = CREDENTIALS.token(f"{department}-reader", Grant(role))
    reply = await client.request(
        f"{settings.namespace}.{department}.query.get_feed",
        json.dumps(query).encode(),
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def caught_up(admin: NATS, settings: Settings, position: int) -> None:
    """Until every department's durable consumer has had the stream up to ``position`` delivered and
    acknowledged (a message redelivered after a crash counts only once acknowledged)."""
    stream = f"{settings.namespace.upper()}_ORDERS"

    async def all_acknowledged() -> bool:
        for department in DEPARTMENTS:
            try:
                info = await admin.jetstream().consumer_info(stream, f"{department}-orders")
            except nats.js.errors.NotFoundError:
                return False
            if info.ack_floor.stream_seq < position or info.num_ack_pending or info.num_pending:
                return False
        return True

    await wait_for(all_acknowledged, timeout=60, every=0.3)


def to_do(answer: dict[str, Any], prefix: str) -> dict[str, str | None]:
    """The to-dos of this test's orders (their ids start with ``prefix``)."""
    entries = answer["result"]["orders"]
    return {e["order_id"]: e["to_do"] for e in entries if e["order_id"].startswith(prefix)}


async def test_o10_each_department_feed_lists_the_orders_it_has_to_act_on(
    secured: Settings, admin: NATS, orders: NATS, client: NATS, departments: ServiceProcesses
) -> None:
    for department in DEPARTMENTS:
        await wait_ready(client, secured.namespace, department)
    events = await OrderEvents.after_the_last(orders, secured)
    await events.placed("o1", "accepted", "100.00", ("PV-1", 10))  # to ship
    await events.placed("o2", "on_hold", "50.00", ("PV-1", 5))  # held: production waits
    await events.placed("o3", "accepted", "200.00", ("PV-1", 20))
    await events.publish(
        "ProductionRequested", "o3", order_id="o3", customer_id="c-o3", product_code="PV-1", quantity=20
    )
    await events.placed("o4", "accepted", "80.00", ("PV-2", 8))
    await events.shipped("o4", "80.00", "shipped", ("PV-2", 8))  # all out: finance collects
    await events.publish("PaymentReceived", "o4", customer_id="c-o4", amount="30.00", status="shipped")
    await events.placed("o5", "accepted", "40.00", ("PV-2", 4))
    await events.shipped("o5", "40.00", "shipped", ("PV-2", 4))
    await events.publish("PaymentReceived", "o5", customer_id="c-o5", amount="40.00", status="paid")
    await events.placed("o6", "accepted", "60.00", ("PV-2", 6))
    await events.publish("OrderCancelled", "o6", customer_id="c-o6", reason="customer withdrew")
    await events.publish("OrderReleased", "o2", customer_id="c-o2", rule="O5", by="fin-1", status="accepted")
    await caught_up(admin, secured, events.position)

    production = await feed(client, secured, "production", "production")
    assert to_do(production, "o") == {"o1": "ship", "o2": "ship", "o3": "make"}
    finance = await feed(client, secured, "finance", "finance")
    assert to_do(finance, "o") == {"o4": "collect"}
    o4 = next(e for e in finance["result"]["orders"] if e["order_id"] == "o4")
    assert o4["amount"] == "50.00"  # 80 shipped, 30 paid
    marketing = await feed(client, secured, "marketing", "marketing_director")
    assert to_do(marketing, "o") == {
        "o1": "follow_up",
        "o2": "follow_up",
        "o3": "follow_up",
        "o4": "follow_up",
    }
    everything = await feed(client, secured, "marketing", "marketing_director", pending_only=False)
    assert list(to_do(everything, "o")) == ["o1", "o2", "o3", "o4", "o5", "o6"]  # oldest first
    assert {e["status"] for e in everything["result"]["orders"] if e["order_id"] in ("o5", "o6")} == {
        "paid",
        "cancelled",
    }
    one = await feed(client, secured, "production", "production", customer_id="c-o3")
    assert to_do(one, "o") == {"o3": "make"}


async def test_o10_a_feed_is_read_only_by_its_department_and_the_general_manager(
    secured: Settings, client: NATS, departments: ServiceProcesses
) -> None:
    await wait_ready(client, secured.namespace, "finance")
    refused = await feed(client, secured, "finance", "salesperson")
    assert refused["ok"] is False
    assert refused["error"]["code"] == "forbidden" and refused["error"]["rule"] == "O10"
    assert refused["error"]["details"]["allowed"] == ["finance", "general_manager"]
    malformed = await feed(client, secured, "finance", "finance", limit=0)
    assert malformed["error"]["code"] == "invalid"
    assert malformed["error"]["details"]["errors"][0]["field"] == "limit"


async def test_o10_a_killed_department_misses_nothing_and_applies_nothing_twice(
    secured: Settings, admin: NATS, orders: NATS, client: NATS, departments: ServiceProcesses
) -> None:
    await wait_ready(client, secured.namespace, "finance")
    events = await OrderEvents.after_the_last(orders, secured)
    shipments = 60
    for n in range(shipments):
        await events.placed(f"k{n}", "accepted", "10.00", ("PV-3", 1))
        await events.shipped(f"k{n}", "10.00", "shipped", ("PV-3", 1))
    await asyncio.sleep(0.3)  # finance is part-way through (batches of 20)
    departments.kill("finance")  # kill -9: what it applied and had not yet acknowledged comes again
    for n in range(shipments):
        await events.publish(
            "PaymentReceived", f"k{n}", customer_id=f"c-k{n}", amount="4.00", status="shipped"
        )
    departments.start("finance")
    await wait_ready(client, secured.namespace, "finance")
    await caught_up(admin, secured, events.position)
    answer = await feed(client, secured, "finance", "finance", limit=500)
    ours = [e for e in answer["result"]["orders"] if e["order_id"].startswith("k")]
    assert len(ours) == shipments  # nothing missed
    assert {e["amount"] for e in ours} == {"6.00"}  # 10 shipped − 4 paid, each once


async def test_o10_a_redelivered_batch_changes_nothing_and_events_out_of_order_lose_nothing() -> None:
    """The feed's ledger of applied positions, on its own: the same batch twice counts once; a shipment and
    a payment taken in before their order's placement (a batch redelivered after newer ones) still count."""
    settings = unique_settings()
    ensure_database(settings)
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    assert pool is not None
    store = FeedStore(pool, Department.FINANCE)
    await store.ensure_schema()
    base = 41
    order = f"r{base}"

    def event(offset: int, event_type: str, **data: Any) -> Envelope:
        return order_event(order, event_type, data, START, version=offset + 1, position=base + offset)

    placed = event(
        0,
        "OrderPlaced",
        order_number="SO-r",
        customer_id="c-r",
        region="EAST",
        channel="phone",
        lines=[{"product_code": "PV-1", "quantity": 1}],
        total_amount="90.00",
        status="accepted",
    )
    shipped = event(
        1,
        "OrderShipped",
        customer_id="c-r",
        lines=[{"product_code": "PV-1", "quantity": 1}],
        amount="90.00",
        status="shipped",
    )
    paid = event(2, "PaymentReceived", customer_id="c-r", amount="30.00", status="shipped")
    try:
        await store.take_in([shipped, paid])  # the placement comes later, redelivered
        await store.take_in([placed, shipped])
        await store.take_in([placed, shipped, paid])
        result = await store.get_feed(c.GetFeed(customer_id="c-r"))
        assert [(e["order_id"], e["amount"]) for e in result["orders"]] == [(order, "60.00")]
        assert result["position"] == base + 2
    finally:
        await pool.close()
        drop_database(settings)
