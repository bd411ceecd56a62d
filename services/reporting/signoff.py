"""R1 rev 2: the sales manager signs a closed period's report off ("上报销售部经理").

The signed report is frozen as it stood (a ``PeriodSignedOff`` event in reporting's own log, carrying the
reports) and is fetched as submitted whatever happens later; what changed since shows as adjustments
against it. A period not signed off by the 29th 24:00 (the day after its close) is on the alerts list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from services.reporting import own, periods, queries
from services.reporting.periods import PeriodMode
from services.reporting.projections import OWN
from services.reporting.tables import SCHEMA
from shared.contracts import Actor, Role
from shared.errors import Forbidden, InvalidState, NotFound

SIGNERS = frozenset({Role.SALES_MANAGER})
# R1: a period is reported by the day after its close (the 29th, 24:00 business time).
REPORTING_DAYS = timedelta(days=1)
# The frozen reports and the field naming each row.
ROW_KEYS = {
    "distributor_monthly": "customer_id",
    "branch_monthly": "customer_id",
    "regions": "region",
    "staff": "staff_id",
}


async def current(conn: asyncpg.Connection, period: str, mode: PeriodMode) -> dict[str, Any]:
    """The period's reports as they stand now: R2, R3, R5, R7."""
    return {
        "distributor_monthly": await queries.distributor_monthly(conn, period, mode),
        "branch_monthly": await queries.branch_monthly(conn, period, mode),
        "regions": await queries.regions(conn, period, mode),
        "staff": await queries.staff(conn, period, mode),
    }


async def sign_off(
    conn: asyncpg.Connection, period: str, actor: Actor, now: datetime, mode: PeriodMode
) -> dict[str, Any]:
    if actor.role not in SIGNERS:
        raise Forbidden(
            f"{actor.role.value} may not sign a period off", rule="R1", details={"allowed": ["sales_manager"]}
        )
    _, end = periods.bounds(period, mode)
    if now < end:
        raise InvalidState(
            f"period {period} closes at {end.isoformat()}; it can be signed off after that",
            rule="R1",
            details={"closes_at": end.isoformat()},
        )
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", own.OWN_LOCK)
        signed = await conn.fetchrow(
            f"SELECT signed_at, signed_by FROM {SCHEMA}.signoffs WHERE period = $1", period
        )
        if signed is not None:
            raise InvalidState(
                f"period {period} was signed off already, by {signed['signed_by']}",
                rule="R1",
                details={"signed_at": signed["signed_at"].isoformat(), "signed_by": signed["signed_by"]},
            )
        report = await current(conn, period, mode)
        data = {"period": period, "signed_by": actor.id, "report": report}
        await own.append(
            conn,
            [own.OwnEvent("PeriodSignOff", f"signoff-{period}", "PeriodSignedOff", data)],
            actor,
            now,
            mode,
        )
    return {"period": period, "signed_at": now.isoformat(), "signed_by": actor.id}


async def signed_report(
    conn: asyncpg.Connection, period: str, mode: PeriodMode, schema: str = SCHEMA
) -> dict[str, Any]:
    """The report as submitted, and the adjustments since: every figure that differs now."""
    row = await conn.fetchrow(
        f"SELECT signed_at, signed_by, report FROM {schema}.signoffs WHERE period = $1", period
    )
    if row is None:
        raise NotFound(f"period {period} has not been signed off", rule="R1")
    submitted: dict[str, Any] = row["report"]
    now = await current(conn, period, mode)
    return {
        "period": period,
        "signed_at": row["signed_at"].isoformat(),
        "signed_by": row["signed_by"],
        "report": submitted,
        "adjustments": adjustments(submitted, now),
    }


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def adjustments(submitted: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """Each (report, row, field) whose figure differs between the signed report and now, with the difference
    where both are numbers (a row only in one of them compares with nothing)."""
    found = []
    for name, key in ROW_KEYS.items():
        signed_rows = {r[key]: r for r in submitted.get(name, {}).get("rows", [])}
        current_rows = {r[key]: r for r in now.get(name, {}).get("rows", [])}
        for row_key in sorted(signed_rows.keys() | current_rows.keys(), key=str):
            before, after = signed_rows.get(row_key, {}), current_rows.get(row_key, {})
            for field in sorted(before.keys() | after.keys()):
                old, new = before.get(field), after.get(field)
                if old == new or isinstance(old, list | dict) or isinstance(new, list | dict):
                    continue
                a, b = _number(old), _number(new)
                difference = (
                    f"{(b or 0) - (a or 0)}" if (a is not None or b is not None) and field != key else None
                )
                found.append(
                    {
                        "report": name,
                        key: row_key,
                        "field": field,
                        "signed": old,
                        "current": new,
                        "difference": difference,
                    }
                )
    return found


async def unsigned_periods(conn: asyncpg.Connection, now: datetime, mode: PeriodMode) -> list[dict[str, Any]]:
    """R1 alerts: every period since the first event whose reporting day has passed unsigned."""
    first = await conn.fetchval(f"SELECT min(occurred_at) FROM {SCHEMA}.event_log WHERE service <> $1", OWN)
    if first is None:
        return []
    signed = {r["period"] for r in await conn.fetch(f"SELECT period FROM {SCHEMA}.signoffs")}
    alerts = []
    period, last = periods.period_of(first, mode), periods.period_of(now, mode)
    while period <= last:
        deadline = periods.bounds(period, mode)[1] + REPORTING_DAYS
        if deadline <= now and period not in signed:
            alerts.append(
                {
                    "alert": "period_not_signed_off",
                    "rule": "R1",
                    "period": period,
                    "deadline": deadline.isoformat(),
                }
            )
        period = periods.following(period)
    return alerts
