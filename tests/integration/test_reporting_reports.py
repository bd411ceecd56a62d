"""R4–R8 reports over the live projections, fed through the real JetStream streams (PostgreSQL + NATS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.reporting.main import ReportingService
from shared.settings import Settings
from tests.conftest import Requester, succeeded, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish_all, reporting_running

pytestmark = pytest.mark.integration

IDS: dict[str, Any] = {}


def seed(ev: Events) -> None:
    # R4, period 2030-05: twelve dealers; c0 buys a high-margin product and grew from 10.00.
    ev.product("P-A", at(2030, 4, 1), "100.00", "60.00")
    ev.product("P-C", at(2030, 4, 1), "100.00", "10.00")
    r4 = IDS["r4"] = [ev.customer(at(2030, 1, 1), kind="dealer", code=f"KEY-D{i:04d}") for i in range(12)]
    for i, cid in enumerate(r4):
        ev.order(cid, at(2030, 5, 10), [("P-C" if i == 0 else "P-A", i + 1, "100.00")])
    ev.order(r4[0], at(2030, 4, 10), [("P-A", 1, "10.00")])
    ev.order(r4[11], at(2030, 4, 10), [("P-A", 12, "100.00")])
    # R5, period 2030-07, two regions of their own.
    IDS["r5"] = {
        "d1": ev.customer(at(2030, 1, 1), kind="dealer", region="RFIVEA"),
        "d2": ev.customer(at(2030, 1, 1), kind="dealer", region="RFIVEA"),
        "a1": ev.customer(at(2030, 1, 1), kind="agent", region="RFIVEA"),
        "b1": ev.customer(at(2030, 1, 1), kind="branch", region="RFIVEB"),
        "late": ev.customer(at(2030, 8, 1), kind="dealer", region="RFIVEB"),  # approved after the period
    }
    r5 = IDS["r5"]
    ev.order(r5["d1"], at(2030, 7, 3), [("P-A", 3, "100.00"), ("P-C", 1, "100.00")], region="RFIVEA")
    ev.order(r5["a1"], at(2030, 7, 4), [("P-A", 2, "100.00")], kind="agent", region="RFIVEA")
    ev.order(r5["b1"], at(2030, 7, 5), [("P-A", 5, "90.00")], kind="branch", region="RFIVEB")
    # R6, year 2031: 30 Dec 2030 counts for 2031-01 and 29 Dec 2031 for 2032-01 (R1).
    r6 = IDS["r6"] = ev.customer(at(2030, 1, 1), kind="agent", code="ANN-A0001")
    for when, qty in (
        (at(2030, 12, 30), 1),
        (at(2031, 1, 10), 2),
        (at(2031, 3, 3), 3),
        (at(2031, 3, 4), 4),
        (at(2031, 12, 29), 5),
    ):
        ev.order(r6, when, [("P-A", qty, "100.00")], kind="agent")
    # R7, period 2030-09, salesperson sp-r7.
    IDS["r7"] = [
        ev.customer(at(2030, 9, 5), salesperson="sp-r7"),
        ev.customer(at(2030, 9, 6), salesperson="sp-r7", kind="agent"),
        ev.customer(at(2030, 8, 1), salesperson="sp-r7"),  # developed the period before
    ]
    for cid, amount in zip(IDS["r7"], ("100.00", "200.00", "300.00"), strict=True):
        ev.order(cid, at(2030, 9, 10), [("P-A", 1, amount)], salesperson="sp-r7")
    ev.complaint(IDS["r7"][0], at(2030, 9, 11), "service", staff="sp-r7", fine="150.00")
    ev.complaint(IDS["r7"][1], at(2030, 9, 12), "service", staff="sp-r7", fine="200.00", severity="serious")
    ev.make(
        "complaints",
        "StaffRecord",
        "staff-sp-r7",
        "DismissalRecommended",
        at(2030, 9, 12),
        {"staff_id": "sp-r7", "complaint_id": "k-1", "reason": "third valid complaint in 12 months"},
    )
    # R8, period 2030-12.
    r8 = IDS["r8"] = {
        name: ev.customer(at(2030, 1, 1), kind="dealer", code=f"REV-{name}")
        for name in ("star1", "star2", "shrinking", "steady")
    }
    for name, series in {
        "star1": {(2030, 11): 500, (2030, 12): 1000},
        "star2": {(2030, 12): 800},
        "shrinking": {(2030, 9): 1000, (2030, 10): 900, (2030, 11): 700, (2030, 12): 600},
        "steady": {(2030, 11): 100, (2030, 12): 100},
    }.items():
        for (year, month), value in series.items():
            ev.order(r8[name], at(year, month, 15), [("P-A", 1, f"{value}.00")])


@pytest.fixture(scope="module")
async def reporting(nc: NATS, settings: Settings) -> AsyncIterator[ReportingService]:
    ev = Events()
    seed(ev)
    async with reporting_running(settings) as service:
        await publish_all(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield service


async def query(request_: Requester, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return await succeeded(request_, "reporting", "query", name, body)


async def test_r4_key_customers_top_10_by_sales_growth_and_margin(
    reporting: Any, request_: Requester
) -> None:
    result = await query(request_, "key_customers", {"period": "2030-05"})
    r4 = IDS["r4"]
    assert [e["customer_id"] for e in result["by_sales"]] == list(reversed(r4))[:10]
    assert result["by_sales"][0]["sales"] == "1200.00"
    # Only customers with sales the period before have a growth rate: c0 +900 %, c11 flat.
    assert [(e["customer_id"], e["growth_rate"]) for e in result["by_growth"]] == [
        (r4[0], "9.0000"),
        (r4[11], "0.0000"),
    ]
    assert len(result["by_margin"]) == 10
    assert (result["by_margin"][0]["customer_id"], result["by_margin"][0]["margin"]) == (r4[0], "0.9000")
    assert {e["margin"] for e in result["by_margin"][1:]} == {"0.4000"}
    top3 = await query(request_, "key_customers", {"period": "2030-05", "limit": 3})
    assert len(top3["by_sales"]) == 3


async def test_r5_regions_customers_by_kind_sales_and_quantity_by_product(
    reporting: Any, request_: Requester
) -> None:
    result = await query(request_, "regions", {"period": "2030-07"})
    mine = {row["region"]: row for row in result["rows"] if row["region"].startswith("RFIVE")}
    assert mine == {
        "RFIVEA": {
            "region": "RFIVEA",
            "customers_by_kind": {"dealer": 2, "agent": 1},
            "sales_amount": "600.00",
            "orders": 2,
            "products": [
                {"product_code": "P-A", "quantity": "5", "amount": "500.00"},
                {"product_code": "P-C", "quantity": "1", "amount": "100.00"},
            ],
        },
        "RFIVEB": {
            "region": "RFIVEB",
            "customers_by_kind": {"branch": 1},
            "sales_amount": "450.00",
            "orders": 1,
            "products": [{"product_code": "P-A", "quantity": "5", "amount": "450.00"}],
        },
    }


async def test_r6_annual_order_statistics_per_customer_per_month(reporting: Any, request_: Requester) -> None:
    result = await query(request_, "annual_statistics", {"year": 2031, "customer_id": IDS["r6"]})
    assert result["periods"][0] == "2031-01" and len(result["periods"]) == 12
    [row] = result["rows"]
    assert row["orders"] == [2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert row["ordered_amounts"][:3] == ["300.00", "0.00", "700.00"]
    assert set(row["ordered_amounts"][3:]) == {"0.00"}
    assert (row["total_orders"], row["total_amount"]) == (4, "1000.00")
    everyone = await query(request_, "annual_statistics", {"year": 2031})
    assert IDS["r6"] in {r["customer_id"] for r in everyone["rows"]}


async def test_r7_staff_customers_developed_orders_amount_complaints_fines(
    reporting: Any, request_: Requester
) -> None:
    result = await query(request_, "staff", {"period": "2030-09"})
    [row] = [r for r in result["rows"] if r["staff_id"] == "sp-r7"]
    assert row == {
        "staff_id": "sp-r7",
        "customers_developed": 2,
        "orders": 3,
        "amount": "600.00",
        "complaints": 2,
        "penalties": 2,
        "fines": "350.00",
        "dismissal_recommendations": 1,
        "target": None,  # no target was set for this salesperson (R11)
        "attainment_pct": None,
    }


async def test_r8_monthly_review_flags_rewards_and_channel_optimisation(
    reporting: Any, request_: Requester
) -> None:
    result = await query(request_, "monthly_review", {"period": "2030-12"})
    r8 = IDS["r8"]
    flags = {(f["customer_id"], f["flag"]) for f in result["flags"] if f["customer_id"] in r8.values()}
    assert flags == {
        (r8["star1"], "reward"),
        (r8["star2"], "reward"),
        (r8["shrinking"], "channel_optimisation"),
    }
    shrinking = next(f for f in result["flags"] if f["customer_id"] == r8["shrinking"])
    assert "1000.00, 900.00, 700.00, 600.00" in shrinking["reason"]
    # Distributors with no sales at all in the last periods are flagged too (the other tests' dealers).
    idle = next(f for f in result["flags"] if f["customer_id"] == IDS["r4"][5])
    assert idle["flag"] == "channel_optimisation"
