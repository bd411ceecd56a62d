"""The field part of the demo flow (S1–S3), through the bus contract: the year's targets from company
to salesperson, a visit to the demo's dealer, and an expense claim through its whole chain; then what
reporting makes of them (R11 attainment, R13 expense ratio)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from deploy.local.demo import (
    DIRECTOR,
    FINANCE,
    GM,
    REGIONAL,
    SALESPERSON,
    SUPERVISOR,
    Client,
    Demo,
    reporting_period,
)

REGION = "EAST"  # the demo's dealer's region
MONTHLY = "100000.00"
CLAIM = "860.00"


async def set_targets(client: Client, year: int, month: int) -> None:
    """S1: the company target, one region carrying all of it, and the month's target of the salesperson."""
    months = [MONTHLY] * 12
    yearly = f"{int(float(MONTHLY)) * 12}.00"  # whole yuan: exact
    await client.cmd(
        "field",
        "propose_company_target",
        {"actor": DIRECTOR, "year": year, "amount": yearly, "months": months},
    )
    await client.cmd("field", "approve_company_target", {"actor": GM, "year": year})
    plan: dict[str, Any] = {"year": year, "region": REGION, "amount": yearly, "months": months}
    await client.cmd("field", "propose_region_plan", {"actor": REGIONAL, **plan, "channels": ["dealers"]})
    await client.cmd("field", "approve_region_plan", {"actor": GM, "year": year, "region": REGION})
    month_targets = {"year": year, "region": REGION, "month": month}
    targets = {SALESPERSON["id"]: MONTHLY}
    await client.cmd(
        "field", "propose_salesperson_targets", {"actor": REGIONAL, **month_targets, "targets": targets}
    )
    await client.cmd("field", "approve_salesperson_targets", {"actor": GM, **month_targets})


async def visit(client: Client, demo: Demo, today: str, timeout: float = 30.0) -> None:
    """S2: a visit to the dealer by who works it now (another salesperson once the demo's C10 step has
    reassigned it), once the field's customer view has it (it follows the customer events)."""
    body = {
        "actor": demo.dealer_salesperson,
        "customer_id": demo.dealer_id,
        "visited_on": today,
        "kind": "visit",
        "purpose": "介绍新型号 / present the new valve series",
        "outcome": "sample order promised",
        "next_step": "return visit with samples",
    }
    deadline = asyncio.get_running_loop().time() + timeout
    while (answer := await client.send("field", "cmd", "log_visit", body))["ok"] is False:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"field.log_visit: {answer}")
        await asyncio.sleep(0.2)


async def claim_expense(client: Client, year: int, today: str) -> str:
    """S3: a budget drafted, reviewed and approved (unless there is one), and a claim through its chain."""
    budget = {"region": REGION, "year": year}
    if not (await client.query("field", "get_expense_budget", budget))["ok"]:
        await client.cmd(
            "field", "draft_expense_budget", {"actor": REGIONAL, **budget, "amount": "120000.00"}
        )
        await client.cmd("field", "review_expense_budget", {"actor": FINANCE, **budget})
        await client.cmd("field", "approve_expense_budget", {"actor": GM, **budget})
    claim = await client.cmd(
        "field",
        "submit_expense_claim",
        {
            "actor": SALESPERSON,
            "region": REGION,
            "amount": CLAIM,
            "category": "travel",
            "spent_on": today,
            "vouchers": ["FP-2026-0001"],
            "description": "杭州 → 宁波 客户拜访差旅",
        },
    )
    for actor in (SUPERVISOR, REGIONAL):
        await client.cmd("field", "review_expense_claim", {"actor": actor, "claim_id": claim["claim_id"]})
    approved = await client.cmd(
        "field", "approve_expense_claim", {"actor": FINANCE, "claim_id": claim["claim_id"]}
    )
    return str(approved["status"])


def shows_targets(answer: dict[str, Any]) -> bool:
    """Reporting has taken in the targets (its caller waited for the month's orders already)."""
    return bool(answer["ok"] and answer["result"]["company"]["target"] is not None)


def shows_expenses(answer: dict[str, Any]) -> bool:
    return bool(answer["ok"] and any(row["claims"] for row in answer["result"]["rows"]))


async def reported(client: Client, period: str) -> list[str]:
    """R11: the period's targets vs net sales with attainment; R13: the expense ratio. Asked once
    reporting shows the period's orders (the orders stream may lag the field's)."""
    year, month = int(period[:4]), int(period[5:])
    span = {"year": year, "month": month}
    targets = (await client.until("reporting", "field_targets", span, shows_targets))["result"]
    expenses = (await client.until("reporting", "field_expenses", span, shows_expenses))["result"]
    lines = []
    for who, row in [("company", targets["company"])] + [
        (f"region {r['region']}", r) for r in targets["regions"]
    ]:
        lines.append(
            f"R11 {year}-{month:02d} {who}: target {row['target']}, net sales {row['net_sales']}, "
            f"attainment {row['attainment_pct']} %, gap {row['gap']}"
        )
    lines += [
        f"R13 {year}-{month:02d} region {row['region']}: approved expenses {row['approved_expenses']}, "
        f"expense ratio {row['expense_ratio']}"
        for row in expenses["rows"]
    ]
    return lines


async def field_work(client: Client, demo: Demo) -> None:
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    today = local.date().isoformat()
    # The targets of the reporting period today's sales count in (R1: after the 28th, next month's), so
    # that R11 compares them with these sales.
    period = reporting_period(local)
    year, month = int(period[:4]), int(period[5:])
    await set_targets(client, year, month)
    await visit(client, demo, today)
    status = await claim_expense(client, local.year, today)
    demo.notes.append(
        f"field: targets {year} approved ({REGION}, {SALESPERSON['id']} {MONTHLY}/month), "
        f"a visit to the dealer, an expense claim of {CLAIM} {status}"
    )
