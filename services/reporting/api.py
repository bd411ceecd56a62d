"""Reporting routes: bus queries ``<ns>.reporting.query.<name>`` answering every report (R1–R12), and
reporting's own commands (``<ns>.reporting.cmd.<name>``): the period sign-off (R1), the history import (R14).

Every period report takes ``as_of`` (optional): the report as it stood at that moment, rebuilt from the
events that had occurred by then (R9).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field

from services.reporting import history, queries, receivables, signoff
from services.reporting.projections import projections_version
from services.reporting.rebuild import as_of_snapshot
from services.reporting.tables import SCHEMA
from shared.bus import ServiceBus
from shared.clock import BUSINESS_TZ, Clock, SystemClock
from shared.contracts import Command, Identifier, Query
from shared.settings import Settings

Period = Annotated[
    str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="reporting period YYYY-MM (R1)")
]


class PeriodQuery(Query):
    period: Period
    as_of: AwareDatetime | None = Field(
        default=None, description="the report as it stood at this moment (R9)"
    )


class DistributorMonthly(PeriodQuery):
    """R2: monthly distributor projection (agents + dealers): activity, growth, grade, rank."""

    customer_id: Identifier | None = None


class BranchMonthly(PeriodQuery):
    """R3: monthly branch projection: orders, amounts, capital occupied vs limit, approvals, KPIs."""

    customer_id: Identifier | None = None


class KeyCustomers(PeriodQuery):
    """R4: key customers (重点客户管理表): top N by sales, growth rate and profit margin."""

    limit: Annotated[int, Field(ge=1, le=100)] = 10


class Regions(PeriodQuery):
    """R5: regions (客户区域分析表): customers by kind, sales amount, quantity by product."""


class AnnualStatistics(Query):
    """R6: annual order statistics (年度订货统计表), per customer per month of a year."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    customer_id: Identifier | None = None
    as_of: AwareDatetime | None = None


class StaffReport(PeriodQuery):
    """R7: per salesperson: customers developed, orders, amount, complaints, fines."""


class MonthlyReview(PeriodQuery):
    """R8: monthly review flags: distributors to reward, under-performers for channel optimisation."""

    reward_top: Annotated[int, Field(ge=1, le=100)] = queries.REWARD_TOP
    decline_periods: Annotated[int, Field(ge=1, le=24)] = queries.DECLINE_PERIODS


class AuditTrail(Query):
    """R10: the full ordered history of a customer, order, hold or complaint: who, when, why."""

    aggregate_id: Identifier
    related: bool = Field(
        default=True, description="also events of other aggregates naming it (customer_id ...)"
    )


class Receivables(Query):
    """R12: per customer, receivables by age (not yet due; 1–30, 31–60, 61–90, over 90 days overdue) on a
    day, and credit used (the O6/O7 exposure) vs limit."""

    on: date | None = Field(default=None, description="the business day to age on; today when not given")
    customer_id: Identifier | None = None
    as_of: AwareDatetime | None = Field(default=None, description="from the events up to this moment (R9)")


class Alerts(Query):
    """R12: the managers' alerts: periods not signed off (R1), overdue receivables (O11), customers over
    90 % of their credit limit, branches over their capital limit (O7)."""


class SignedReport(Query):
    """R1: a signed-off period's report as submitted, and the adjustments since (signed vs current)."""

    period: Period


class SignOffPeriod(Command):
    """R1: the sales manager signs a closed period's report off; it is frozen as it stands."""

    period: Period


class ImportHistory(Command):
    """R14: finance imports past sales (CSV: customer_code, period, ordered_amount, shipped_amount,
    paid_amount, quantity); checked whole first, the same file twice imports nothing."""

    file_name: Annotated[str, Field(min_length=1, max_length=200)]
    content: Annotated[str, Field(min_length=1, max_length=900_000, description="the CSV file's text")]


class Lag(Query):
    """Highest consumed position per source service."""


class ReportResult(BaseModel):
    """A report: its period (or year) and rows; money as decimal strings."""

    model_config = {"extra": "allow"}


CACHE_SIZE = 256
Report = Callable[[asyncpg.Connection, str], Awaitable[dict[str, Any]]]


class Reports:
    """The reports over a pool; each answers from the live tables or from an as-of snapshot."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, cache_size: int = CACHE_SIZE, clock: Clock | None = None
    ) -> None:
        self.pool = pool
        self.clock = clock or SystemClock()
        self.settings = settings
        self.mode = settings.period_mode
        self.cache: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self.cache_size = cache_size

    async def _run(self, q: BaseModel, report: Report) -> dict[str, Any]:
        """Answer from the cache while the projections are unchanged (see ``projections_version``)."""
        key = (type(q).__name__, q.model_dump_json(exclude={"actor"}))
        as_of: datetime | None = getattr(q, "as_of", None)
        async with self.pool.acquire() as conn:
            version = await projections_version(conn)
            cached = self.cache.get(key)
            if cached is not None and cached[0] == version:
                self.cache.move_to_end(key)
                return cached[1]
            if as_of is None:
                result = await report(conn, SCHEMA)
            else:
                async with as_of_snapshot(conn, as_of, self.mode) as schema:
                    result = {**await report(conn, schema), "as_of": as_of.isoformat()}
        self.cache[key] = (version, result)
        self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return result

    async def distributor_monthly(self, q: DistributorMonthly) -> dict[str, Any]:
        return await self._run(
            q, lambda c, s: queries.distributor_monthly(c, q.period, self.mode, q.customer_id, s)
        )

    async def branch_monthly(self, q: BranchMonthly) -> dict[str, Any]:
        return await self._run(
            q, lambda c, s: queries.branch_monthly(c, q.period, self.mode, q.customer_id, s)
        )

    async def key_customers(self, q: KeyCustomers) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.key_customers(c, q.period, self.mode, q.limit, s))

    async def regions(self, q: Regions) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.regions(c, q.period, self.mode, s))

    async def annual(self, q: AnnualStatistics) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.annual(c, q.year, self.mode, q.customer_id, s))

    async def staff(self, q: StaffReport) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.staff(c, q.period, self.mode, s))

    async def monthly_review(self, q: MonthlyReview) -> dict[str, Any]:
        return await self._run(
            q,
            lambda c, s: queries.monthly_review(c, q.period, self.mode, s, q.reward_top, q.decline_periods),
        )

    async def audit_trail(self, q: AuditTrail) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await queries.audit_trail(conn, q.aggregate_id, q.related)

    async def receivables(self, q: Receivables) -> dict[str, Any]:
        # The day is fixed before the cache is asked: a cached answer is one day's ageing.
        on = q.on or self.clock.now().astimezone(BUSINESS_TZ).date()
        dated = q.model_copy(update={"on": on})
        return await self._run(dated, lambda c, s: receivables.receivables(c, on, q.customer_id, s))

    async def alerts(self, q: Alerts) -> dict[str, Any]:
        now = self.clock.now()
        owed = await self.receivables(Receivables())
        async with self.pool.acquire() as conn:
            unsigned = await signoff.unsigned_periods(conn, now, self.mode)
        return {"at": now.isoformat(), "alerts": unsigned + receivables.customer_alerts(owed["rows"])}

    async def signed_report(self, q: SignedReport) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await signoff.signed_report(conn, q.period, self.mode)

    async def sign_off_period(self, c: SignOffPeriod) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await signoff.sign_off(conn, c.period, c.actor, self.clock.now(), self.mode)

    async def import_history(self, c: ImportHistory) -> dict[str, Any]:
        history.require_importer(c.actor)
        async with self.pool.acquire() as conn:
            done = await history.import_history(
                conn, c.content, c.file_name, c.actor, self.clock.now(), self.mode
            )
        return done.as_result()

    async def lag(self, q: Lag) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return {"sources": await queries.lag(conn)}


def register(bus: ServiceBus, reports: Reports) -> None:
    bus.query("distributor_monthly", DistributorMonthly, reports.distributor_monthly, ReportResult)
    bus.query("branch_monthly", BranchMonthly, reports.branch_monthly, ReportResult)
    bus.query("key_customers", KeyCustomers, reports.key_customers, ReportResult)
    bus.query("regions", Regions, reports.regions, ReportResult)
    bus.query("annual_statistics", AnnualStatistics, reports.annual, ReportResult)
    bus.query("staff", StaffReport, reports.staff, ReportResult)
    bus.query("monthly_review", MonthlyReview, reports.monthly_review, ReportResult)
    bus.query("audit_trail", AuditTrail, reports.audit_trail, ReportResult)
    bus.query("lag", Lag, reports.lag, ReportResult)
    bus.query("receivables", Receivables, reports.receivables, ReportResult)
    bus.query("alerts", Alerts, reports.alerts, ReportResult)
    bus.query("signed_report", SignedReport, reports.signed_report, ReportResult)
    bus.command("sign_off_period", SignOffPeriod, reports.sign_off_period, ReportResult)
    bus.command("import_history", ImportHistory, reports.import_history, ReportResult)
    bus.document_roles({"sign_off_period": signoff.SIGNERS, "import_history": history.IMPORTERS})
