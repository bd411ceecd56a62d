"""Data for the benchmark: customers published as the customers service's relay would, and a generated
year of reporting's event log (moved here from the reporting tests' ``seed_month``, which made one month;
rows are made directly, without pydantic envelopes, so that 2 million of them take seconds)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.reporting.history import COLUMNS, import_history
from services.reporting.projections import ensure_schema, init_connection
from services.reporting.projector import Projector
from services.reporting.rebuild import SELECT_LOG
from services.reporting.tables import SCHEMA
from shared.contracts import Actor, Envelope, Role
from shared.envelope import event_id
from shared.settings import Settings
from shared.streams import ensure_event_stream
from shared.subjects import event_subject

SALES = Actor(id="sp-1", role=Role.SALESPERSON)
SUPERVISOR = Actor(id="sup-1", role=Role.SALES_SUPERVISOR)
MANAGER = Actor(id="mgr-1", role=Role.SALES_MANAGER)
FINANCE = Actor(id="fin-1", role=Role.FINANCE)
DIRECTOR = Actor(id="md-1", role=Role.MARKETING_DIRECTOR)
VP = Actor(id="vp-1", role=Role.SALES_VP)
SYSTEM = Actor(id="scheduler", role=Role.SYSTEM)
REGIONS = ("EAST", "WEST", "NORTH", "SOUTH")
PRODUCTS = (("P-1", "100.00", "60.00"), ("P-2", "250.00", "200.00"), ("P-3", "80.00", "30.00"))
BRANCH_CAPITAL = {"branch": "50000.00"}  # a generated branch's capital limit (C7); distributors have none
Fact = tuple[str, dict[str, Any], Actor]  # an event's type, data and actor


def at(year: int, month: int, day: int, hour: int = 4) -> datetime:
    """A UTC moment (04:00 UTC = 12:00 Asia/Shanghai, the same business day)."""
    return datetime(year, month, day, hour, tzinfo=UTC)


# The rest of every generated customer's application (C2).
APPLICATION = {
    "founding_date": "2012-05-01",
    "legal_representative": "王伟",
    "registered_capital": "5000000.00",
    "address": "杭州",
    "phone": "0571-88000000",
    "business_scale": "medium",
    "staff_count": 10,
    "annual_sales": "30000000.00",
    "main_products": ["valves"],
    "preferred_payment_terms": "30 days",
    "bank": "ICBC",
}


def registration(kind: str, region: str, salesperson: str, company_name: str) -> dict[str, Any]:
    """The data of a ``CustomerRegistered`` event (the new-customer application, C2)."""
    who = {"kind": kind, "region": region, "salesperson_id": salesperson, "company_name": company_name}
    return who | APPLICATION


def customer_events(
    cid: str,
    kind: str,
    region: str,
    salesperson: str,
    code: str,
    grade: str | None,
    capital_limit: str | None = None,
) -> list[Fact]:
    """A customer's events up to approval, then its grade and (a branch's) capital limit where given."""
    events: list[Fact] = [
        (
            "CustomerRegistered",
            registration(kind, region, salesperson, f"{kind} {cid[:6]}"),
            SALES,
        ),
        ("CreditInvestigated", {"rating": "good", "credit_limit": "800000.00", "notes": "ok"}, FINANCE),
        ("CustomerApproved", {"code": code}, SUPERVISOR),
    ]
    if grade:
        events.append(
            ("CustomerGraded", {"grade": grade, "previous": None, "reason": "annual review"}, MANAGER)
        )
    if capital_limit:
        events.append(("CapitalLimitSet", {"capital_limit": capital_limit}, DIRECTOR))
    return events


def listed(code: str, list_price: str, standard_cost: str) -> dict[str, Any]:
    """The data of a ``ProductListed`` event, in production."""
    return {
        "product_code": code,
        "name": code,
        "spec": "std",
        "list_price": list_price,
        "standard_cost": standard_cost,
        "in_production": True,
    }


def order_placed(
    oid: str,
    cid: str,
    kind: str,
    region: str,
    salesperson: str,
    lines: list[dict[str, Any]],
    total_amount: str,
    status: str = "accepted",
    **more: Any,
) -> dict[str, Any]:
    """The data of an ``OrderPlaced`` event taken by phone, held by no rule; ``more``: the fields after."""
    return {
        "order_number": f"SO-{oid[:8]}",
        "customer_id": cid,
        "customer_kind": kind,
        "region": region,
        "salesperson_id": salesperson,
        "channel": "phone",
        "lines": lines,
        "total_amount": total_amount,
        "status": status,
        "holds": [],
        **more,
    }


def hold_events(
    cid: str, when: datetime, amount: str, deposit: str | None, end: str | None = None, order_id: str = ""
) -> list[Fact]:
    """A hold (O9) of 10 × P-1 expiring at ``when``: reserved, its deposit received (if any), then as
    ``end`` says converted (into ``order_id``), expired (its deposit credited) or still live."""
    events: list[Fact] = [
        (
            "OrderReserved",
            {
                "customer_id": cid,
                "product_code": "P-1",
                "quantity": 10,
                "amount": amount,
                "expires_at": when.isoformat(),
                "deposit_required": deposit or "0.00",
            },
            SALES,
        )
    ]
    if deposit:
        events.append(("DepositReceived", {"customer_id": cid, "amount": deposit}, SALES))
    if end == "converted":
        converted = {"customer_id": cid, "order_id": order_id, "deposit_applied": deposit or "0.00"}
        events.append(("ReservationConverted", converted, SALES))
    elif end == "expired":
        events.append(
            ("ReservationExpired", {"customer_id": cid, "deposit_credited": deposit or "0.00"}, SYSTEM)
        )
    return events


def complaint_events(
    kid: str, cid: str, complaint_type: str, staff: str, fine: str | None, severity: str = "moderate"
) -> list[Fact]:
    """A complaint against ``staff``, assigned to the VP; with a ``fine``, verified valid and fined."""
    logged = {
        "complaint_type": complaint_type,
        "customer_id": cid,
        "order_id": None,
        "staff_id": staff,
        "assigned_to": VP.id,
    }
    events: list[Fact] = [("ComplaintLogged", logged, SALES)]
    if fine:
        verified = {"valid": True, "severity": severity, "reason": "rude on the phone"}
        penalty = {
            "complaint_id": kid,
            "customer_id": cid,
            "staff_id": staff,
            "severity": severity,
            "amount": fine,
            "public_criticism": True,
        }
        events += [("ComplaintVerified", verified, VP), ("PenaltyIssued", penalty, VP)]
    return events


@dataclass
class Customers:
    """Approved customers as envelopes of the customers service (for orders' customer view)."""

    ids: list[str] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    @classmethod
    def make(cls, count: int, kind: str = "agent", seed: int = 11) -> Customers:
        rng = random.Random(seed)
        made = cls()
        when = datetime.now(UTC).replace(microsecond=0)
        for i in range(count):
            cid = str(uuid.UUID(int=rng.getrandbits(128)))
            region = REGIONS[i % 4]
            events = customer_events(
                cid, kind, region, f"sp-{i % 7}", f"{region}-B{i:04d}", "B", BRANCH_CAPITAL.get(kind)
            )
            for version, (event_type, data, actor) in enumerate(events, start=1):
                made.envelopes.append(
                    Envelope(
                        event_id=event_id(cid, version),
                        event_type=event_type,
                        schema_version=1,
                        service="customers",
                        aggregate_type="Customer",
                        aggregate_id=cid,
                        aggregate_version=version,
                        position=len(made.envelopes) + 1,
                        occurred_at=when,
                        actor=actor,
                        correlation_id=None,
                        causation_id=None,
                        data=data,
                    )
                )
            made.ids.append(cid)
        return made


async def publish(js: Any, settings: Settings, envelopes: Sequence[Envelope], chunk: int = 1000) -> None:
    """Publish as the outbox relay does (subject, ``Nats-Msg-Id``, JSON body)."""
    for service in {e.service for e in envelopes}:
        await ensure_event_stream(js, settings, service)
    for start in range(0, len(envelopes), chunk):
        acks = [
            await js.publish_async(
                event_subject(settings.namespace, e.service, e.event_type),
                orjson.dumps(e.model_dump(mode="json")),
                headers={"Nats-Msg-Id": f"{e.service}-{e.position}"},
            )
            for e in envelopes[start : start + chunk]
        ]
        await asyncio.gather(*acks)


# ------------------------------------------------------------------------- a generated year (event log rows)

LOG_COLUMNS = (
    "service",
    "position",
    "event_id",
    "event_type",
    "schema_version",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "occurred_at",
    "actor_id",
    "actor_role",
    "correlation_id",
    "causation_id",
    "data",
)
Row = tuple[Any, ...]
SECONDARY_INDEXES = (
    "event_log_aggregate",
    "event_log_customer",
    "event_log_occurred",
    "event_log_complaint_ends",
)


@dataclass
class Year:
    """What the generated year holds, for the report queries."""

    year: int
    events: int = 0
    ids: dict[str, list[str]] = field(default_factory=lambda: {"agent": [], "dealer": [], "branch": []})


class RowMaker:
    """Rows of ``reporting.event_log`` the way the consumers log envelopes: positions per service,
    versions per aggregate."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.positions: dict[str, int] = {}
        self.versions: dict[str, int] = {}

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def row(
        self,
        service: str,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        when: datetime,
        data: dict[str, Any],
        actor: Actor = SALES,
    ) -> Row:
        position = self.positions[service] = self.positions.get(service, 0) + 1
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        return (
            service,
            position,
            f"{aggregate_id}:{version}",  # unique like the real uuid5, without its cost
            event_type,
            1,
            aggregate_type,
            aggregate_id,
            version,
            when,
            actor.id,
            actor.role.value,
            None,
            None,
            orjson.dumps(data).decode(),
        )


def year_rows(
    year: Year, distributors: int, branches: int, target_events: int, seed: int = 7
) -> Iterator[Row]:
    """A year of activity, month by month: customers of every kind, orders with shipments and payments,
    holds, complaints with fines, branch request lists; about ``target_events`` events in all."""
    rng = random.Random(seed)
    rows = RowMaker(rng)
    customers = distributors + branches
    # An order makes ~2.2 events (placed, 70% shipped, 50% paid); the rest is small.
    orders_per_month = max(1, round(target_events / (customers * 12 * 2.2)))
    y = year.year
    for code, price, cost in PRODUCTS:
        yield rows.row(
            "orders", "Product", f"product-{code}", "ProductListed", at(y, 1, 1, 0), listed(code, price, cost)
        )
    people: list[tuple[str, str, str, str]] = []
    for i in range(customers):
        kind = "branch" if i >= distributors else rng.choice(["agent", "dealer"])
        region = rng.choice(REGIONS)
        cid = rows.new_id()
        salesperson = f"sp-{i % 7}"
        code = f"{region}-{kind[0].upper()}{i:04d}"
        for event_type, data, actor in customer_events(
            cid, kind, region, salesperson, code, rng.choice("ABCD"), BRANCH_CAPITAL.get(kind)
        ):
            yield rows.row("customers", "Customer", cid, event_type, at(y - 1, 12, 1), data, actor)
        year.ids[kind].append(cid)
        people.append((cid, kind, region, salesperson))
    for month in range(1, 13):
        day = lambda: at(y, month, rng.randint(1, 28), rng.randint(0, 23))  # noqa: E731, B023
        for cid, kind, region, salesperson in people:
            for _ in range(orders_per_month):
                oid = rows.new_id()
                lines = []
                total = 0
                for _ in range(rng.randint(1, 3)):
                    quantity = rng.randint(1, 20)
                    total += quantity * 100
                    lines.append(
                        {
                            "product_code": rng.choice(("P-1", "P-2", "P-3")),
                            "spec": "std",
                            "quantity": quantity,
                            "unit_price": "100.00",
                            "amount": f"{quantity * 100}.00",
                        }
                    )
                placed = order_placed(oid, cid, kind, region, salesperson, lines, f"{total}.00")
                yield rows.row("orders", "Order", oid, "OrderPlaced", day(), placed)
                if rng.random() < 0.7:
                    yield rows.row(
                        "orders",
                        "Order",
                        oid,
                        "OrderShipped",
                        day(),
                        {
                            "customer_id": cid,
                            "shipment_id": rows.new_id(),
                            "lines": [],
                            "amount": f"{rng.randint(1, 10) * 100}.00",
                        },
                    )
                if rng.random() < 0.5:
                    yield rows.row(
                        "orders",
                        "Order",
                        oid,
                        "PaymentReceived",
                        day(),
                        {"customer_id": cid, "amount": f"{rng.randint(1, 5) * 100}.00"},
                        FINANCE,
                    )
            if rng.random() < 0.3:
                hid, when = rows.new_id(), day()
                end = rng.choice(["converted", "expired", None])
                order_id = rows.new_id() if end == "converted" else ""
                for event_type, data, actor in hold_events(cid, when, "1000.00", "100.00", end, order_id):
                    yield rows.row("orders", "Reservation", hid, event_type, when, data, actor)
            if rng.random() < 0.2:
                kid, when = rows.new_id(), day()
                facts = complaint_events(kid, cid, rng.choice(["quality", "service"]), salesperson, "150.00")
                for event_type, data, actor in facts:
                    yield rows.row("complaints", "Complaint", kid, event_type, when, data, actor)
            if kind == "branch":
                yield rows.row(
                    "orders",
                    "Branch",
                    f"rl-{cid}-{month}",
                    "RequestListMatched",
                    day(),
                    {
                        "customer_id": cid,
                        "week": f"{y}-W{month * 4:02d}",
                        "match_rate": f"0.{rng.randint(10, 99)}",
                    },
                )


async def load_year(
    settings: Settings, year: Year, distributors: int, branches: int, target_events: int, chunk: int = 50_000
) -> float:
    """Write the generated year into reporting's event log with COPY (secondary indexes built after, as a
    bulk load does); returns the seconds it took. The projections are then built by a rebuild."""
    # A timeout turns a server restarted under the load (a shared machine) into an error, not a hang.
    conn = await asyncpg.connect(settings.postgres_dsn, command_timeout=300)
    try:
        await ensure_schema(conn)
        for index in SECONDARY_INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {SCHEMA}.{index}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        batch: list[Row] = []
        for row in year_rows(year, distributors, branches, target_events):
            batch.append(row)
            if len(batch) >= chunk:
                await conn.copy_records_to_table(
                    "event_log", schema_name=SCHEMA, columns=LOG_COLUMNS, records=batch
                )
                year.events += len(batch)
                batch = []
        if batch:
            await conn.copy_records_to_table(
                "event_log", schema_name=SCHEMA, columns=LOG_COLUMNS, records=batch
            )
            year.events += len(batch)
        await ensure_schema(conn)  # recreates the secondary indexes
        await conn.execute(f"ANALYZE {SCHEMA}.event_log")
        return loop.time() - started
    finally:
        await conn.close()


def history_csv(codes: Sequence[str], first_year: int, lines: int, seed: int = 5) -> str:
    """An R14 file of ``lines`` lines: each customer's months from ``first_year`` on, customer by customer
    (``lines`` / len(``codes``) months each), as a company's old system would export them."""
    rng = random.Random(seed)
    months = -(-lines // max(len(codes), 1))
    out = [",".join(COLUMNS)]
    for code in codes:
        for m in range(months):
            if len(out) > lines:
                break
            ordered = rng.randint(10, 500) * 100
            out.append(
                f"{code},{first_year + m // 12}-{m % 12 + 1:02d},{ordered}.00,{ordered // 2}.00,"
                f"{ordered // 4}.00,{rng.randint(1, 200)}"
            )
    return "\n".join(out) + "\n"


async def load_history(settings: Settings, year: Year, lines: int) -> float:
    """Import ``lines`` lines of the ten years before ``year`` through R14's import
    (``services/reporting/history.py``), as finance would at adoption; returns its seconds. The import
    finds customers by code in the customers projection, so that one is made first from the log's
    customer events (the rebuild that follows makes every projection again)."""
    conn = await asyncpg.connect(settings.postgres_dsn, command_timeout=3600)
    try:
        await init_connection(conn)
        projector = Projector(settings.period_mode, only=frozenset({"customers"}))
        projector.apply_rows(await conn.fetch(f"{SELECT_LOG} WHERE service = 'customers' ORDER BY seq"))
        await projector.flush(conn, SCHEMA)
        codes = [
            r["code"]
            for r in await conn.fetch(
                f"SELECT code FROM {SCHEMA}.customers WHERE code IS NOT NULL ORDER BY code"
            )
        ]
        content = history_csv(codes, year.year - 10, lines)
        started = time.perf_counter()
        await import_history(conn, content, "history.csv", FINANCE, datetime.now(UTC), settings.period_mode)
        return time.perf_counter() - started
    finally:
        await conn.close()
