"""Helpers for the reporting tests (no tests here): envelopes shaped exactly as ``shared/outbox.py``
publishes them, built per source service with gap-free positions, and a running reporting service."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from deploy.bench.seed import (
    FINANCE,
    MANAGER,
    SALES,
    SYSTEM,
    at,
    complaint_events,
    customer_events,
    hold_events,
    listed,
    order_placed,
)
from services.reporting.main import ReportingService, start_reporting, stopped
from shared.clock import BUSINESS_TZ, FixedClock
from shared.contracts import Actor, Envelope
from shared.envelope import event_id
from shared.settings import Settings
from shared.streams import ensure_event_stream
from shared.subjects import event_subject
from tests.builders import bus_event
from tests.conftest import wait_for

# Positions are per source service and never reused, across every Events of a test run (like the relay's).
POSITIONS: dict[str, int] = {}


@dataclass
class Events:
    """Makes envelopes the way the relay does: positions per service, versions per aggregate."""

    positions: dict[str, int] = field(default_factory=lambda: POSITIONS)
    versions: dict[str, int] = field(default_factory=dict)
    made: list[Envelope] = field(default_factory=list)

    def make(
        self,
        service: str,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        when: datetime,
        data: dict[str, Any],
        actor: Actor | None = SALES,
    ) -> Envelope:
        position = self.positions[service] = self.positions.get(service, 0) + 1
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        envelope = bus_event(
            service,
            aggregate_type,
            aggregate_id,
            version,
            position,
            event_type,
            data,
            when,
            event_id=event_id(aggregate_id, version),  # as the relay names it
            actor=actor,
            correlation_id=str(uuid.uuid4()),
        )
        self.made.append(envelope)
        return envelope

    # customers
    def customer_event(
        self, cid: str, event_type: str, when: datetime, data: dict[str, Any], actor: Actor | None = MANAGER
    ) -> Envelope:
        return self.make("customers", "Customer", cid, event_type, when, data, actor)

    def customer(
        self,
        when: datetime,
        kind: str = "dealer",
        region: str = "EAST",
        salesperson: str = "sp-1",
        code: str | None = None,
        grade: str | None = "B",
        capital_limit: str | None = None,
        customer_id: str | None = None,
    ) -> str:
        cid = customer_id or str(uuid.uuid4())
        code = code or f"{region}-{kind[0].upper()}{len({*self.versions, cid}):04d}"
        for event_type, data, actor in customer_events(
            cid, kind, region, salesperson, code, grade, capital_limit
        ):
            self.customer_event(cid, event_type, when, data, actor)
        return cid

    def grade(self, cid: str, when: datetime, grade: str, reason: str = "annual review") -> Envelope:
        return self.customer_event(
            cid, "CustomerGraded", when, {"grade": grade, "previous": None, "reason": reason}, MANAGER
        )

    # orders
    def product(self, code: str, when: datetime, list_price: str, standard_cost: str) -> Envelope:
        return self.make(
            "orders",
            "Product",
            f"product-{code}",
            "ProductListed",
            when,
            listed(code, list_price, standard_cost),
        )

    def order(
        self,
        cid: str,
        when: datetime,
        lines: Sequence[tuple[str, int, str]],
        kind: str = "dealer",
        region: str = "EAST",
        salesperson: str = "sp-1",
        status: str = "accepted",
        deposit_applied: str = "0.00",
    ) -> str:
        oid = str(uuid.uuid4())
        priced, total = _priced(lines)
        placed = order_placed(
            oid,
            cid,
            kind,
            region,
            salesperson,
            priced,
            f"{total:.2f}",
            status,
            reservation_id=None,
            deposit_applied=deposit_applied,
        )
        self.make("orders", "Order", oid, "OrderPlaced", when, placed)
        return oid

    def shipped(
        self,
        oid: str,
        cid: str,
        when: datetime,
        amount: str,
        due_on: date | None = None,
        status: str = "accepted",
    ) -> Envelope:
        """A shipment raising a receivable due ``due_on`` (O11's default terms: 30 days after shipping)."""
        due = due_on or when.astimezone(BUSINESS_TZ).date() + timedelta(days=30)
        return self.make(
            "orders",
            "Order",
            oid,
            "OrderShipped",
            when,
            {
                "customer_id": cid,
                "shipment_id": str(uuid.uuid4()),
                "lines": [],
                "amount": amount,
                "due_on": due.isoformat(),
                "status": status,
            },
        )

    def paid(self, oid: str, cid: str, when: datetime, amount: str, status: str | None = None) -> Envelope:
        return self.make(
            "orders",
            "Order",
            oid,
            "PaymentReceived",
            when,
            {"customer_id": cid, "amount": amount, **({"status": status} if status else {})},
            FINANCE,
        )

    def credit_note(
        self,
        oid: str,
        cid: str,
        when: datetime,
        lines: Sequence[tuple[str, int, str]],
        source: str = "return",
    ) -> Envelope:
        """O15/O16: a credit note for ``lines`` of an order, all of it taken off the receivable."""
        priced, total = _priced(lines)
        return self.order_event(
            oid,
            cid,
            when,
            "CreditNoteIssued",
            credit_note_id=str(uuid.uuid4()),
            source=source,
            source_id=str(uuid.uuid4()),
            lines=priced,
            amount=f"{total:.2f}",
            to_receivable=f"{total:.2f}",
            to_credit="0.00",
            issued_on=when.astimezone(BUSINESS_TZ).date().isoformat(),
        )

    def order_event(self, oid: str, cid: str, when: datetime, event_type: str, **data: Any) -> Envelope:
        """Any other event of an order (OrderReleased, OrderCancelled, CreditApplied ...)."""
        return self.make("orders", "Order", oid, event_type, when, {"customer_id": cid, **data}, MANAGER)

    def hold(self, cid: str, when: datetime, amount: str, deposit: str | None, end: str | None = None) -> str:
        hid = str(uuid.uuid4())
        for event_type, data, actor in hold_events(cid, when, amount, deposit, end, str(uuid.uuid4())):
            self.make("orders", "Reservation", hid, event_type, when, data, actor)
        return hid

    # complaints
    def overdue(
        self,
        aggregate_type: str,
        aggregate_id: str,
        when: datetime,
        stage: str,
        deadline: datetime,
        **data: Any,
    ) -> Envelope:
        """A deadline of complaints passed, raised by its scheduler (P7 ``ComplaintOverdue``, P8
        ``FeedbackOverdue``, P9 ``ServiceRequestOverdue``: the aggregate's type names the event)."""
        return self.make(
            "complaints",
            aggregate_type,
            aggregate_id,
            f"{aggregate_type}Overdue",
            when,
            {"stage": stage, "deadline": deadline.isoformat(), **data},
            SYSTEM,
        )

    def complaint_overdue(
        self, kid: str, cid: str, when: datetime, deadline: datetime, staff: str = "sp-1"
    ) -> Envelope:
        """P7: a service complaint (of ``complaint``'s defaults) not resolved by its deadline."""
        return self.overdue(
            "Complaint",
            kid,
            when,
            "resolve",
            deadline,
            assigned_to="vp-1",
            complaint_type="service",
            customer_id=cid,
            order_id=None,
            staff_id=staff,
        )

    def complaint(
        self,
        cid: str,
        when: datetime,
        complaint_type: str = "service",
        staff: str = "sp-1",
        fine: str | None = None,
        severity: str = "moderate",
    ) -> str:
        kid = str(uuid.uuid4())
        for event_type, data, actor in complaint_events(kid, cid, complaint_type, staff, fine, severity):
            self.make("complaints", "Complaint", kid, event_type, when, data, actor)
        return kid


async def publish(
    js: Any, settings: Settings, envelopes: Sequence[Envelope], msg_id_suffix: str = ""
) -> None:
    """Publish as the outbox relay does (subject, ``Nats-Msg-Id``, JSON body); a suffix makes a copy that
    escapes JetStream's duplicate window, as a re-publish after a long outage would."""
    for service in {e.service for e in envelopes}:
        await ensure_event_stream(js, settings, service)
    acks = [
        await js.publish_async(
            event_subject(settings.namespace, e.service, e.event_type),
            orjson.dumps(e.model_dump(mode="json")),
            headers={"Nats-Msg-Id": f"{e.service}-{e.position}{msg_id_suffix}"},
        )
        for e in envelopes
    ]
    await asyncio.gather(*acks)


@contextlib.asynccontextmanager
async def reporting_running(settings: Settings, **options: Any) -> AsyncIterator[ReportingService]:
    stop = asyncio.Event()
    service = await start_reporting(settings, stop, **options)
    try:
        yield service
    finally:
        stop.set()
        await stopped(service)


def reporting_at(now: datetime) -> Any:
    """A module's ``service`` fixture: one reporting service for the module, its clock fixed at ``now``."""

    @pytest.fixture(scope="module", name="service")
    async def service(settings: Settings) -> AsyncIterator[ReportingService]:
        async with reporting_running(settings, clock=FixedClock(now)) as running:
            yield running

    return service


async def consumed(nc: NATS, settings: Settings, service: ReportingService, ev: Events) -> None:
    """Until reporting has logged every envelope ``ev`` made; ``ev`` then starts afresh."""
    await publish(nc.jetstream(), settings, ev.made)
    await wait_for(lambda: logged_all(service, ev.made))
    ev.made.clear()


def rows(reply: dict[str, Any], key: str = "customer_id") -> dict[str, dict[str, Any]]:
    """A report's rows by ``key`` (the reply must be a success)."""
    assert reply["ok"], reply
    return {r[key]: r for r in reply["result"]["rows"]}


async def logged_all(service: ReportingService, envelopes: Sequence[Envelope]) -> bool:
    """True once every one of these envelopes is in reporting's event log."""
    async with service.pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM reporting.event_log WHERE event_id = ANY($1::text[])",
            [e.event_id for e in envelopes],
        )
    return bool(found == len(envelopes))


def _priced(lines: Sequence[tuple[str, int, str]]) -> tuple[list[dict[str, Any]], Decimal]:
    """Order lines (product, quantity, unit price) as events carry them, and their total."""
    priced: list[dict[str, Any]] = [
        {
            "product_code": code,
            "spec": "std",
            "quantity": qty,
            "unit_price": price,
            "amount": f"{Decimal(price) * qty:.2f}",
        }
        for code, qty, price in lines
    ]
    return priced, sum((Decimal(line["amount"]) for line in priced), Decimal(0))


def seed_month(
    ev: Events, year: int, month: int, distributors: int, branches: int = 5, seed: int = 7
) -> dict[str, list[str]]:
    """A month of activity (period ``year-month``): customers of every kind, orders with shipments and
    payments, holds, complaints with fines, branch KPIs. Returns the customer ids by kind."""
    rng = random.Random(seed)
    returns = random.Random(seed + 1)  # its own stream: the rest of the month is as it was before returns
    day = lambda: at(year, month, rng.randint(1, 28), rng.randint(0, 23))  # noqa: E731 - local shorthand
    regions = ["EAST", "WEST", "NORTH", "SOUTH"]
    for code, price, cost in (
        ("P-1", "100.00", "60.00"),
        ("P-2", "250.00", "200.00"),
        ("P-3", "80.00", "30.00"),
    ):
        ev.product(code, at(year, month, 1, 0), price, cost)
    ids: dict[str, list[str]] = {"agent": [], "dealer": [], "branch": []}
    for i in range(distributors + branches):
        kind = "branch" if i >= distributors else rng.choice(["agent", "dealer"])
        region = rng.choice(regions)
        limit = "50000.00" if kind == "branch" else None
        cid = ev.customer(
            at(year - 1, 12, 1),
            kind=kind,
            region=region,
            salesperson=f"sp-{i % 7}",
            code=f"{region}-{kind[0].upper()}{i:04d}",
            grade=rng.choice("ABCD"),
            capital_limit=limit,
        )
        ids[kind].append(cid)
        for _ in range(rng.randint(1, 4)):
            lines = [
                (rng.choice(["P-1", "P-2", "P-3"]), rng.randint(1, 20), "100.00")
                for _ in range(rng.randint(1, 3))
            ]
            oid = ev.order(cid, day(), lines, kind=kind, region=region, salesperson=f"sp-{i % 7}")
            if rng.random() < 0.15:  # R2 rev 2: cancelled, maybe in the next period
                cancelled = at(year, month + 1, 2) if month < 12 and rng.random() < 0.5 else day()
                ev.order_event(oid, cid, cancelled, "OrderCancelled", reason="withdrawn", status="cancelled")
                continue
            if rng.random() < 0.1:
                ev.order_event(oid, cid, day(), "CreditApplied", amount="50.00")
            if rng.random() < 0.7:
                ev.shipped(oid, cid, day(), f"{rng.randint(1, 10) * 100}.00")
                if returns.random() < 0.2:  # R2 rev 2: returned, maybe in the next period
                    code, _, price = lines[0]
                    when = at(year, month + 1, 3) if month < 12 and returns.random() < 0.5 else day()
                    ev.credit_note(oid, cid, when, [(code, 1, price)])
            if rng.random() < 0.5:
                ev.paid(oid, cid, day(), f"{rng.randint(1, 5) * 100}.00")
        if rng.random() < 0.3:
            ev.hold(cid, day(), "1000.00", "100.00", end=rng.choice(["converted", "expired", None]))
        if rng.random() < 0.2:
            ev.complaint(cid, day(), rng.choice(["quality", "service"]), staff=f"sp-{i % 7}", fine="150.00")
        if kind == "branch":
            ev.make(
                "orders",
                "Branch",
                f"rl-{cid}",
                "RequestListMatched",
                day(),
                {"customer_id": cid, "week": f"{year}-W10", "match_rate": f"0.{rng.randint(10, 99)}"},
            )
    return ids


async def publish_all(js: Any, settings: Settings, envelopes: Sequence[Envelope], chunk: int = 1000) -> None:
    for start in range(0, len(envelopes), chunk):
        await publish(js, settings, envelopes[start : start + chunk])
