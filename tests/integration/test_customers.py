"""Customers service against real PostgreSQL and NATS, through the bus contract only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.customers.api import register
from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.settings import Settings
from shared.store import ensure_database
from tests.conftest import Requester, service_running

pytestmark = pytest.mark.integration

SALES = {"id": "sp-1", "role": "salesperson"}
SUPERVISOR = {"id": "sup-1", "role": "sales_supervisor"}
FINANCE = {"id": "fin-1", "role": "finance"}


def application(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": SALES,
        "kind": "dealer",
        "region": "EAST",
        "salesperson_id": "sp-1",
        "company_name": "杭州华顺贸易有限公司",
        "founding_date": "2012-05-01",
        "legal_representative": "王伟",
        "registered_capital": "5000000.00",
        "address": "杭州市西湖区文三路 1 号",
        "phone": "0571-88000000",
        "business_scale": "medium",
        "staff_count": 120,
        "annual_sales": "30000000.00",
        "main_products": ["valves", "pumps"],
        "preferred_payment_terms": "30 days",
        "bank": "ICBC Hangzhou",
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
async def customers(settings: Settings) -> AsyncIterator[Any]:
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    async with service_running(app, register, settings) as running:
        yield running


async def registered(request_: Requester, **overrides: Any) -> str:
    reply = await request_("customers", "cmd", "register_prospect", application(**overrides))
    assert reply["ok"], reply
    return reply["result"]["customer_id"]


async def test_c4_concurrent_approvals_assign_exactly_one_code(customers: Any, request_: Requester) -> None:
    customer_id = await registered(request_)
    checked = await request_(
        "customers", "cmd", "investigate_credit",
        {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "800000"},
    )
    assert checked["ok"], checked
    approve = {"customer_id": customer_id}
    replies = await asyncio.gather(
        request_("customers", "cmd", "approve_customer", {**approve, "actor": SUPERVISOR}),
        request_("customers", "cmd", "approve_customer", {**approve, "actor": {"id": "sup-2", "role": "sales_supervisor"}}),
    )
    assert sorted(r["ok"] for r in replies) == [False, True]
    refused = next(r for r in replies if not r["ok"])
    assert refused["error"]["rule"] == "C4"
    code = next(r for r in replies if r["ok"])["result"]["code"]
    assert code.startswith("EAST-D")
    found = await request_("customers", "query", "get_customer", {"code": code})
    assert found["result"]["customer_id"] == customer_id
