"""Issue 25, orders side, on PostgreSQL + NATS with the real customers service: orders follows the customer's
later life (C8, C10–C12 and O4 rev 2), learnt from the bus only."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from services.orders.customer_view import MIGRATIONS, MIGRATIONS_TABLE, SCHEMA, ensure_tables
from shared.clock import FixedClock
from shared.database import drop_database, ensure_database
from shared.migrations import migrate
from shared.settings import Settings
from tests.builders import FINANCE, GM, REGIONAL, SALES, SALES_MANAGER, SUPERVISOR, kept_event
from tests.conftest import unique_settings, wait_for
from tests.integration.orders_kit import Orders
from tests.integration.test_orders import wait_event

pytestmark = pytest.mark.integration


async def customers(orders: Orders, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A customers command; orders' view has caught up with its result before this returns."""
    reply = await orders.request_("customers", "cmd", name, body)
    assert reply["ok"], reply
    await orders.known(body["customer_id"], reply["result"]["version"])
    return dict(reply["result"])


async def contracted(orders: Orders, **terms: Any) -> str:
    dealer = await orders.customer("dealer", contract=False)
    await customers(
        orders,
        "sign_contract",
        {
            "actor": REGIONAL,
            "customer_id": dealer,
            "contract_number": f"HT-{dealer[:8]}",
            "valid_from": "2026-01-01",
            "valid_to": "2027-12-31",
            "terms": {"payment_terms_days": 45, "delivery_terms": "FOB"} | terms,
        },
    )
    return dealer


def holds(order: dict[str, Any]) -> tuple[str, list[tuple[str, str | None]]]:
    return order["status"], [(h["rule"], h.get("term")) for h in order["holds"]]


async def test_o4_an_order_outside_the_contracts_scope_is_held_until_the_contract_is_changed(
    orders: Orders,
) -> None:
    inside, outside = await orders.product(quantity=10), await orders.product(quantity=10)
    dealer = await contracted(orders, product_scope=[inside])
    assert (await orders.order(dealer, inside))["status"] == "accepted"
    waiting = await orders.order(dealer, outside)
    assert holds(waiting) == ("pending_contract", [("O4", "product_scope")])
    change = {"customer_id": dealer, "approve": True}
    await customers(
        orders,
        "propose_contract_change",
        {
            "actor": SALES,
            "customer_id": dealer,
            "terms": {"payment_terms_days": 45, "product_scope": [inside, outside]},
            "reason": "the customer takes the second valve too",
        },
    )
    for reviewer in (SUPERVISOR, REGIONAL, GM):
        await customers(orders, "review_contract_change", change | {"actor": reviewer})

    async def released() -> bool:
        return (await orders.query("get_order", {"order_id": waiting["id"]}))["status"] == "accepted"

    await wait_for(released)


async def test_o4_an_order_over_the_remaining_annual_volume_is_held_until_the_regional_manager_approves(
    orders: Orders,
) -> None:
    product = await orders.product(quantity=100)
    dealer = await contracted(orders, annual_volume="1000.00")
    assert (await orders.order(dealer, product, quantity=7))["status"] == "accepted"
    over = await orders.order(dealer, product, quantity=4)  # 700 + 400 > 1,000
    assert holds(over) == ("pending_contract", [("O4", "annual_volume")])
    release = {"order_id": over["id"], "rule": "O4"}
    await orders.refused("release_order", release | {"actor": SALES_MANAGER}, "O4")
    assert (await orders.ok("release_order", release | {"actor": REGIONAL}))["status"] == "accepted"


async def test_o4_after_termination_a_distributors_new_orders_wait_for_a_contract(orders: Orders) -> None:
    product = await orders.product(quantity=10)
    dealer = await contracted(orders)
    termination = {"customer_id": dealer, "reason": "customer_breach"}
    await customers(orders, "request_contract_termination", termination | {"actor": REGIONAL})
    await customers(orders, "approve_contract_termination", {"actor": GM, "customer_id": dealer})
    assert holds(await orders.order(dealer, product)) == ("pending_contract", [("O4", "contract")])


async def test_o11_the_contracts_payment_terms_set_the_due_date(orders: Orders) -> None:
    product = await orders.product(quantity=10)
    dealer = await contracted(orders)  # 45 days
    order = await orders.order(dealer, product)
    shipped = await orders.ship(order["id"], product, 1)
    assert shipped["due_on"] == "2027-01-04"  # 20 Nov 2026 + 45 days


async def test_c8_the_prepayment_price_is_accepted_the_following_year_and_refused_the_year_after(
    orders: Orders, clock: FixedClock, nc: NATS, settings: Settings
) -> None:
    product = await orders.product(quantity=10)
    direct = await orders.customer("direct", contract=False)
    prepaid = {"actor": FINANCE, "customer_id": direct, "year": 2026, "amount": "50000.00"}
    await customers(orders, "record_prepayment", prepaid)
    tier = "97.00"  # 100.00 less the default 3 % tier
    clock.set(datetime(2027, 2, 1, 2, 0, tzinfo=UTC))
    accepted = await orders.order(direct, product, quantity=2, unit_price=tier)
    assert (accepted["status"], accepted["lines"][0]["discount_pct"]) == ("accepted", "0.03")
    placed = await wait_event(nc, settings, "OrderPlaced", accepted["id"])
    assert placed["data"]["lines"][0]["discount_pct"] == "0.03"
    clock.set(datetime(2028, 2, 1, 2, 0, tzinfo=UTC))
    body = {
        "actor": SALES,
        "customer_id": direct,
        "channel": "phone",
        "lines": [{"product_code": product, "quantity": 1, "unit_price": tier}],
    }
    await orders.refused("place_order", body, "O2")


async def test_c10_a_reassigned_customers_orders_carry_the_new_salesperson(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    product = await orders.product(quantity=10)
    direct = await orders.customer("direct", contract=False)
    await customers(
        orders,
        "reassign_customer",
        {"actor": SUPERVISOR, "customer_id": direct, "salesperson_id": "sp-9", "reason": "sp-1 left"},
    )
    order = await orders.order(direct, product)
    placed = await wait_event(nc, settings, "OrderPlaced", order["id"])
    assert placed["data"]["salesperson_id"] == "sp-9"
    view = await orders.query("get_customer_view", {"customer_id": direct})
    assert view["salesperson_id"] == "sp-9"


async def test_c11_a_poor_rated_customers_new_order_is_held_until_the_sales_manager_releases_it(
    orders: Orders,
) -> None:
    product = await orders.product(quantity=10)
    direct = await orders.customer("direct", contract=False)
    revision = {"actor": FINANCE, "customer_id": direct, "rating": "poor", "credit_limit": "1000.00"}
    await customers(orders, "revise_credit", revision)
    waiting = await orders.order(direct, product)
    assert holds(waiting) == ("on_hold", [("C11", None)])
    release = {"order_id": waiting["id"], "rule": "C11"}
    await orders.refused("release_order", release | {"actor": SALES}, "C11")
    assert (await orders.ok("release_order", release | {"actor": SALES_MANAGER}))["status"] == "accepted"


async def test_c11_an_o6_release_shows_the_securities_the_customer_holds(orders: Orders) -> None:
    product = await orders.product(quantity=100)
    dealer = await orders.customer("dealer", credit_limit="1000")
    security = {"actor": SALES_MANAGER, "customer_id": dealer, "holder": "Shop 12", "value": "5000.00"}
    await customers(
        orders, "record_security", security | {"security_kind": "shop_guarantee", "expires_on": "2027-06-30"}
    )
    recorded = await customers(
        orders, "record_security", security | {"security_kind": "mortgage", "expires_on": "2027-01-31"}
    )
    gone = next(s["security_id"] for s in recorded["securities"] if s["security_kind"] == "mortgage")
    released = {"actor": SALES_MANAGER, "customer_id": dealer, "security_id": gone, "reason": "repaid"}
    await customers(orders, "release_security", released)
    held = await orders.order(dealer, product, quantity=11)  # 1100, over the 1000 limit (O6)
    assert holds(held) == ("on_hold", [("O6", None)])

    reply = await orders.ok("release_order", {"actor": SALES_MANAGER, "order_id": held["id"], "rule": "O6"})
    view = await orders.request_("orders", "query", "get_customer_view", {"customer_id": dealer})

    shown = [(s["security_kind"], s["value"], s["holder"], s["expires_on"]) for s in reply["securities"]]
    assert shown == [("shop_guarantee", "5000.00", "Shop 12", "2027-06-30")]
    assert view["result"]["securities"] == reply["securities"]


async def test_c10_a_view_kept_before_issue_25_gets_its_columns_and_is_folded_again() -> None:
    settings = unique_settings()
    ensure_database(settings, ["orders"])
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        await conn.execute(  # the view's table as it stood before: none of the later life's columns
            f'CREATE TABLE "{SCHEMA}".customer_view (customer_id text PRIMARY KEY, kind text NOT NULL, '
            "region text NOT NULL, salesperson_id text NOT NULL, status text NOT NULL, "
            "credit_limit numeric(16, 2) NOT NULL, contract_valid_from date, contract_valid_to date, "
            "capital_limit numeric(16, 2), payment_terms_days integer, version integer NOT NULL)"
        )
        await conn.execute(
            f'CREATE TABLE "{SCHEMA}".customer_events (customer_id text NOT NULL, version integer NOT NULL, '
            "event_type text NOT NULL, data jsonb NOT NULL, PRIMARY KEY (customer_id, version))"
        )
        kept = [
            kept_event(
                1, "CustomerRegistered", {"kind": "dealer", "region": "EAST", "salesperson_id": "sp-1"}
            ),
            kept_event(
                2, "SalespersonReassigned", {"salesperson_id": "sp-2", "previous": "sp-1", "reason": "left"}
            ),
            kept_event(3, "CustomerOrdersHeld", {"reason": "poor", "rule": "C11"}),
        ]
        await conn.executemany(
            f'INSERT INTO "{SCHEMA}".customer_events VALUES ($1, $2, $3, $4)',
            [("c-1", v, t, json.dumps(d)) for v, t, d in kept],
        )
        await conn.execute(
            f'INSERT INTO "{SCHEMA}".customer_view VALUES '
            "('c-1', 'dealer', 'EAST', 'sp-1', 'prospect', 0, NULL, NULL, NULL, NULL, 1)"
        )
        await ensure_tables(conn)
        row = await conn.fetchrow(f'SELECT * FROM "{SCHEMA}".customer_view WHERE customer_id = $1', "c-1")
        assert (row["salesperson_id"], row["orders_held"], row["version"]) == ("sp-2", True, 3)
    finally:
        await conn.close()
        drop_database(settings)


async def test_the_customer_view_migrations_run_once_each_and_two_starts_at_once_take_turns() -> None:
    settings = unique_settings()
    ensure_database(settings, ["orders"])
    first, second = [await asyncpg.connect(settings.postgres_dsn) for _ in range(2)]
    try:
        applied = await asyncio.gather(
            migrate(first, SCHEMA, MIGRATIONS_TABLE, MIGRATIONS),
            migrate(second, SCHEMA, MIGRATIONS_TABLE, MIGRATIONS),
        )
        assert sorted(applied) == [0, len(MIGRATIONS)]
        steps = await first.fetch(f'SELECT step FROM "{SCHEMA}".{MIGRATIONS_TABLE} ORDER BY step')
        assert [r["step"] for r in steps] == list(range(1, len(MIGRATIONS) + 1))
        assert await migrate(first, SCHEMA, MIGRATIONS_TABLE, MIGRATIONS) == 0
        columns = await first.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
            SCHEMA,
            "customer_view",
        )
        assert {"payment_terms_days", "orders_held", "discount_tiers"} <= {r["column_name"] for r in columns}
    finally:
        await first.close()
        await second.close()
        drop_database(settings)
