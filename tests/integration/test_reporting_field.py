"""Reporting of the field service (R11, R13) on PostgreSQL + NATS: the customers, orders and field services
run beside reporting and are driven through the bus; every figure is compared with a recomputation from
what the test itself sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.field.api import register as register_field
from services.field.application import FieldApplication
from services.field.customer_view import PostgresCustomerDirectory
from services.field.main import background
from services.reporting.field_tables import FIELD_TABLES
from services.reporting.main import ReportingService
from services.reporting.periods import period_of, year_periods
from services.reporting.rebuild import verify
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.identity.client import Credentials
from shared.identity.tokens import Grant
from shared.outbox import RECEIPT_TOPIC
from shared.settings import Settings
from tests.builders import FINANCE, GM, MARKETING, REGIONAL, SALES_MANAGER, SUPERVISOR, prospect
from tests.conftest import CREDENTIALS, Requester, service_running, wait_for
from tests.integration.orders_kit import Orders, customers_running, orders_running
from tests.integration.reporting_kit import reporting_running

pytestmark = pytest.mark.integration

T0 = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)  # period 2027-01 (either mode), month 1 of the plan
FEBRUARY = datetime(2027, 2, 12, 4, 0, tzinfo=UTC)  # period 2027-02
YEAR = 2027
EAST_SALES = {"id": "sp-1", "role": "salesperson"}
WEST_SALES = {"id": "sp-2", "role": "salesperson"}
# S1 (yuan a month): the company, its regions (adding up to it) and January's salesperson targets
COMPANY_MONTH, EAST_MONTH, WEST_MONTH = Decimal(1000), Decimal(600), Decimal(400)
PERCENT = Decimal("0.1")
# A company-wide reader, signed at the tests' fixed time (reporting verifies with its own clock).
HTTP_TOKEN = Credentials(CREDENTIALS.signing_key, FixedClock(T0)).token("gm-zhou", Grant("general_manager"))


@dataclass
class Field:
    clock: FixedClock
    reporting: ReportingService
    orders: Orders
    request_: Requester
    # what the tests sold, net, as (period, region, salesperson, amount): the recomputation's source
    sold: list[tuple[str, str, str, Decimal]] = field(default_factory=list)
    orders_sold: dict[str, tuple[str, str, str, Decimal]] = field(default_factory=dict)

    async def ok(self, service: str, name: str, body: dict[str, Any], kind: str = "cmd") -> dict[str, Any]:
        reply = await self.request_(service, kind, name, body)
        assert reply["ok"], reply
        return reply["result"]

    async def report(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.ok("reporting", name, body, kind="query")

    async def customer(self, region: str, salesperson: dict[str, str]) -> str:
        """A dealer of ``region`` worked by ``salesperson``: registered, approved, contracted."""
        body = prospect("dealer") | {
            "actor": salesperson,
            "region": region,
            "salesperson_id": salesperson["id"],
        }
        customer_id = (await self.ok("customers", "register_prospect", body))["customer_id"]
        credit = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "1000000"}
        await self.ok("customers", "investigate_credit", credit)
        await self.ok("customers", "approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})
        result = await self.orders.sign_contract(customer_id)
        await self.orders.known(customer_id, result["version"])
        return customer_id

    async def sell(self, customer_id: str, region: str, salesperson: dict[str, str], quantity: int) -> str:
        product = await self.orders.product(quantity=quantity)
        order = await self.orders.order(customer_id, product, quantity, actor=salesperson)
        entry = (period_of(self.clock.now()), region, salesperson["id"], Decimal(order["total_amount"]))
        self.sold.append(entry)
        self.orders_sold[order["id"]] = entry
        return str(order["id"])

    async def cancel(self, order_id: str) -> None:
        """R2 rev 2: a cancelled order leaves the net sales (of the period it is cancelled in)."""
        body = {"actor": SALES_MANAGER, "order_id": order_id, "reason": "changed mind"}
        await self.orders.ok("cancel_order", body)
        _, region, salesperson, total = self.orders_sold[order_id]
        self.sold.append((period_of(self.clock.now()), region, salesperson, -total))

    def net(self, months: list[str], region: str | None = None, salesperson: str | None = None) -> Decimal:
        return sum(
            (
                amount
                for period, where, who, amount in self.sold
                if period in months and region in (None, where) and salesperson in (None, who)
            ),
            Decimal(0),
        )


@pytest.fixture(scope="module")
async def house(settings: Settings, request_: Requester) -> AsyncIterator[Field]:
    clock = FixedClock(T0)
    ensure_database(settings, ["field"])
    directory = PostgresCustomerDirectory(settings)
    field_app = FieldApplication(settings, clock, directory)
    async with (
        customers_running(settings, clock),
        orders_running(settings, clock),
        service_running(field_app, register_field, settings, extra=background),
        reporting_running(settings, clock=clock, http=True, http_port=0) as reporting,
    ):
        yield Field(clock, reporting, Orders(request_), request_)
    directory.close()


def twelve(month: Decimal) -> list[str]:
    return [f"{month:.2f}"] * 12


async def set_targets(house: Field) -> None:
    """S1: the company's year, both regions' plans (adding up to it), January per salesperson."""
    year = {"year": YEAR}
    company = {"actor": MARKETING, **year, "amount": f"{COMPANY_MONTH * 12}", "months": twelve(COMPANY_MONTH)}
    await house.ok("field", "propose_company_target", company)
    await house.ok("field", "approve_company_target", {"actor": GM, **year})
    for region, month in (("EAST", EAST_MONTH), ("WEST", WEST_MONTH)):
        plan = {
            "actor": REGIONAL,
            **year,
            "region": region,
            "amount": f"{month * 12}",
            "months": twelve(month),
        }
        await house.ok("field", "propose_region_plan", plan)
    for region in ("EAST", "WEST"):
        await house.ok("field", "approve_region_plan", {"actor": GM, **year, "region": region})
    for region, who, month in (("EAST", "sp-1", EAST_MONTH), ("WEST", "sp-2", WEST_MONTH)):
        targets = {"actor": REGIONAL, **year, "region": region, "month": 1, "targets": {who: f"{month:.2f}"}}
        await house.ok("field", "propose_salesperson_targets", targets)
        await house.ok(
            "field", "approve_salesperson_targets", {"actor": GM, **year, "region": region, "month": 1}
        )


def attainment(net: Decimal, target: Decimal) -> str:
    return f"{(net / target * 100).quantize(PERCENT)}"


def expected(target: Decimal, net: Decimal) -> dict[str, Any]:
    return {
        "target": f"{target:.2f}",
        "net_sales": f"{net:.2f}",
        "attainment_pct": attainment(net, target),
        "gap": f"{target - net:.2f}",
    }


async def caught_up(house: Field, services: tuple[str, ...] = ("orders", "field")) -> None:
    """Wait until reporting has applied every event the orders and field services have stored (their
    notification logs, command receipts aside: those are never published)."""
    async with house.reporting.pool.acquire() as conn:
        stored = {}
        for service in services:
            table = await conn.fetchval(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = $1 "
                "AND column_name = 'notification_id'",
                service,
            )
            stored[service] = await conn.fetchval(
                f'SELECT coalesce(max(notification_id), 0) FROM "{service}"."{table}" WHERE topic <> $1',
                RECEIPT_TOPIC,
            )

    async def applied() -> bool:
        async with house.reporting.pool.acquire() as conn:
            rows = await conn.fetch("SELECT service, position FROM reporting.source_position")
        positions = {row["service"]: row["position"] for row in rows}
        return all(positions.get(service, 0) >= top for service, top in stored.items())

    await wait_for(applied, timeout=30)


async def test_r11_attainment_per_company_region_salesperson_equals_a_recomputation(house: Field) -> None:
    house.clock.set(T0)
    await set_targets(house)
    east, west = await house.customer("EAST", EAST_SALES), await house.customer("WEST", WEST_SALES)
    await house.sell(east, "EAST", EAST_SALES, 3)
    await house.cancel(await house.sell(east, "EAST", EAST_SALES, 2))
    await house.sell(west, "WEST", WEST_SALES, 5)
    await caught_up(house)

    january, quarter_1, year = ["2027-01"], ["2027-01", "2027-02", "2027-03"], year_periods(YEAR)
    month = await house.report("field_targets", {"year": YEAR, "month": 1})
    assert month["months"] == january and month["span"] == "month"
    assert month["company"] == expected(COMPANY_MONTH, house.net(january))
    assert month["regions"] == [
        {"region": "EAST", **expected(EAST_MONTH, house.net(january, "EAST"))},
        {"region": "WEST", **expected(WEST_MONTH, house.net(january, "WEST"))},
    ]
    assert month["salespeople"] == [
        {
            "salesperson_id": "sp-1",
            "region": "EAST",
            **expected(EAST_MONTH, house.net(january, None, "sp-1")),
        },
        {
            "salesperson_id": "sp-2",
            "region": "WEST",
            **expected(WEST_MONTH, house.net(january, None, "sp-2")),
        },
    ]
    # the quarter and the year: the months' targets add up; only January has salesperson targets
    quarter = await house.report("field_targets", {"year": YEAR, "quarter": 1})
    assert quarter["months"] == quarter_1
    assert quarter["company"] == expected(COMPANY_MONTH * 3, house.net(quarter_1))
    assert quarter["regions"][1] == {
        "region": "WEST",
        **expected(WEST_MONTH * 3, house.net(quarter_1, "WEST")),
    }
    assert quarter["salespeople"][0] == {
        "salesperson_id": "sp-1",
        "region": "EAST",
        **expected(EAST_MONTH, house.net(quarter_1, None, "sp-1")),
    }
    # the HTTP API answers the same report
    async with httpx.AsyncClient() as client:
        over_http = await client.get(
            f"http://127.0.0.1:{house.reporting.http_port}/api/reports/field-targets",
            params={"span": f"{YEAR}-Q1"},
            headers={"Authorization": f"Bearer {HTTP_TOKEN}"},
        )
    assert over_http.status_code == 200 and over_http.json()["result"] == quarter
    whole = await house.report("field_targets", {"year": YEAR})
    assert whole["company"] == expected(COMPANY_MONTH * 12, house.net(year))
    assert whole["regions"][0] == {"region": "EAST", **expected(EAST_MONTH * 12, house.net(year, "EAST"))}

    # R7 and R8 use attainment
    staff = {row["staff_id"]: row for row in (await house.report("staff", {"period": "2027-01"}))["rows"]}
    for who, target in (("sp-1", EAST_MONTH), ("sp-2", WEST_MONTH)):
        net = house.net(january, None, who)
        assert (staff[who]["target"], staff[who]["attainment_pct"]) == (
            f"{target:.2f}",
            attainment(net, target),
        )
    review = await house.report("monthly_review", {"period": "2027-01"})
    rewarded = {f["staff_id"] for f in review["staff_flags"] if f["flag"] == "reward"}
    targets = {"sp-1": EAST_MONTH, "sp-2": WEST_MONTH}
    assert rewarded == {who for who, target in targets.items() if house.net(january, None, who) >= target}
    assert rewarded == {"sp-2"}  # 500 of 400; sp-1 sold 300 of 600 (its cancelled order not counted)

    # a quarter and a month at once is refused, naming the field
    reply = await house.request_(
        "reporting", "query", "field_targets", {"year": YEAR, "quarter": 1, "month": 1}
    )
    assert not reply["ok"] and reply["error"]["code"] == "invalid"


async def test_r13_visit_plan_vs_actual_and_expense_ratio_per_region(house: Field) -> None:
    house.clock.set(FEBRUARY)  # the other tests sell in January
    customer = await house.customer("EAST", EAST_SALES)
    await house.sell(customer, "EAST", EAST_SALES, 4)
    plan = {"actor": EAST_SALES, "salesperson_id": "sp-1", "month": "2027-02", "visits": {customer: 2}}
    await house.ok("field", "plan_month_visits", plan)
    planned_at = house.clock.now()
    house.clock.advance(timedelta(hours=1))
    visit = {"actor": EAST_SALES, "customer_id": customer, "purpose": "new valves", "outcome": "quote asked"}
    await house.ok("field", "log_visit", visit | {"visited_on": "2027-02-11", "kind": "visit"})
    await house.ok("field", "log_visit", visit | {"visited_on": "2027-02-12", "kind": "phone"})

    budget = {"region": "EAST", "year": YEAR}
    await house.ok("field", "draft_expense_budget", {"actor": REGIONAL, **budget, "amount": "10000"})
    await house.ok("field", "review_expense_budget", {"actor": FINANCE, **budget})
    await house.ok("field", "approve_expense_budget", {"actor": GM, **budget})
    claim_body = {
        "actor": EAST_SALES,
        "region": "EAST",
        "amount": "150.00",
        "category": "travel",
        "spent_on": "2027-02-10",
        "vouchers": ["FP-001"],
    }
    claim = (await house.ok("field", "submit_expense_claim", claim_body))["claim_id"]
    for actor in (SUPERVISOR, REGIONAL):
        await house.ok("field", "review_expense_claim", {"actor": actor, "claim_id": claim})
    await house.ok("field", "approve_expense_claim", {"actor": FINANCE, "claim_id": claim})
    await caught_up(house)

    # S2: this customer's plan 2, one visit made, one call logged (a call is no visit)
    visits = await house.report("field_visits", {"month": "2027-02"})
    [mine] = [row for row in visits["salespeople"] if row["salesperson_id"] == "sp-1"]
    assert (mine["planned"], mine["planned_made"], mine["visits"], mine["logged"]) == (2, 1, 1, 2)
    assert mine["completion_pct"] == "50.0"
    assert visits["regions"] == [
        {"region": "EAST", **{k: v for k, v in mine.items() if k != "salesperson_id"}}
    ]
    progress = await house.ok(
        "field", "get_visit_progress", {"salesperson_id": "sp-1", "month": "2027-02"}, "query"
    )
    assert (progress["planned"], progress["planned_made"], progress["actual"]) == (2, 1, 1)
    # as of before the visits: the plan only (R9)
    earlier = await house.report("field_visits", {"month": "2027-02", "as_of": planned_at.isoformat()})
    assert [(r["planned"], r["visits"], r["logged"]) for r in earlier["salespeople"]] == [(2, 0, 0)]

    # S3: the expense ratio = approved expenses / the region's net sales of the period
    east_net = house.net(["2027-02"], "EAST")
    expenses = await house.report("field_expenses", {"year": YEAR, "month": 2})
    # (another test of this module may have given NORTH a budget: its row has no expenses)
    assert [row for row in expenses["rows"] if row["claims"] or row["region"] == "EAST"] == [
        {
            "region": "EAST",
            "approved_expenses": "150.00",
            "claims": 1,
            "over_budget_claims": 0,
            "net_sales": f"{east_net:.2f}",
            "expense_ratio": f"{(Decimal(150) / east_net).quantize(Decimal('0.0001'))}",
            "annual_budget": "10000.00",
        }
    ]
    # R10: the claim's history, who did what
    trail = (await house.report("audit_trail", {"aggregate_id": claim}))["entries"]
    assert [(e["event_type"], e["actor"]["role"]) for e in trail][:4] == [
        ("ExpenseClaimSubmitted", "salesperson"),
        ("ExpenseClaimReviewed", "sales_supervisor"),
        ("ExpenseClaimReviewed", "regional_manager"),
        ("ExpenseClaimApproved", "finance"),
    ]


async def test_r9_field_tables_rebuilt_from_the_log_equal_the_live_ones(house: Field) -> None:
    await set_targets_if_missing(house)
    await caught_up(house)
    async with house.reporting.pool.acquire() as conn:
        live = {name: await conn.fetchval(f"SELECT count(*) FROM reporting.{name}") for name in FIELD_TABLES}
        stats = await verify(conn, house.reporting.settings.period_mode, only=list(FIELD_TABLES))
    assert all(live[name] > 0 for name in ("field_targets", "field_budgets")), live
    assert stats.equal, stats.differences
    assert {name: d["rebuilt_rows"] for name, d in stats.differences.items()} == live


async def set_targets_if_missing(house: Field) -> None:
    """This test passes alone too: the targets and a budget exist whatever ran before."""
    targets = await house.request_("field", "query", "get_targets", {"year": YEAR})
    if not targets["ok"]:
        await set_targets(house)
    budget = {"region": "NORTH", "year": YEAR}
    await house.ok("field", "draft_expense_budget", {"actor": REGIONAL, **budget, "amount": "500"})
    await house.ok("field", "review_expense_budget", {"actor": FINANCE, **budget})
    await house.ok("field", "approve_expense_budget", {"actor": GM, **budget})
