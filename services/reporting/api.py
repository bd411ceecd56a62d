"""Reporting routes: bus queries ``<ns>.reporting.query.<name>`` answering every report (R1–R13), and
reporting's own commands (``<ns>.reporting.cmd.<name>``): the period sign-off (R1), the history import (R14).

Every period report takes ``as_of`` (optional): the report as it stood at that moment, rebuilt from the
events that had occurred by then (R9).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import asyncpg
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from services.reporting import (
    audit,
    field_queries,
    follow_up_alerts,
    history,
    lifecycle,
    lookup,
    personal_reads,
    queries,
    receivables,
    service_figures,
    signoff,
)
from services.reporting import results as r
from services.reporting.field_api import register_field
from services.reporting.projections import projections_version
from services.reporting.rebuild import as_of_snapshot
from services.reporting.sessions import AUDIT_READERS, REPORT_READERS
from services.reporting.tables import SCHEMA
from shared.bus import ServiceBus
from shared.clock import BUSINESS_TZ, Clock, SystemClock
from shared.contracts import Command, Identifier, Query
from shared.identity.scope import acting
from shared.settings import Settings

# Periods, days and moments a report can be about: 1900 to 2199. Further out there is nothing to report,
# and the period arithmetic (the period before, a year before, in Asia/Shanghai) would leave the calendar.
FIRST_YEAR, LAST_YEAR = 1900, 2199
PERIOD_PATTERN = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$"
Period = Annotated[
    str, Field(pattern=PERIOD_PATTERN, description="reporting period YYYY-MM, 1900-01 to 2199-12 (R1)")
]

# Ids asked for over HTTP (also in the OpenAPI document): UUIDs or codes, well under 64 characters, of
# letters, digits and . _ : - only (no NUL, no spaces).
ID_MAX = 64
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

D = TypeVar("D", date, datetime)


def _reportable(value: D) -> D:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


AsOf = Annotated[
    AwareDatetime,
    AfterValidator(_reportable),
    Field(description="the report as it stood at this moment (R9), years 1900 to 2199"),
]
Day = Annotated[date, AfterValidator(_reportable)]


class PeriodQuery(Query):
    period: Period
    as_of: AsOf | None = None


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

    year: Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR)]
    customer_id: Identifier | None = None
    as_of: AsOf | None = None


class StaffReport(PeriodQuery):
    """R7: per salesperson: customers developed, orders, amount, complaints, fines."""


class ServiceFigures(PeriodQuery):
    """P8/P9: customer feedback and after-sales requests per region and staff member: logged (by kind),
    escalated, assigned, deadlines missed."""


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


class PersonalDataReads(Query):
    """#23: who read which customer's personal data (the audit trail), when; the latest first."""

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    subject: Identifier | None = Field(default=None, description="only the reads of this id")


class Receivables(Query):
    """R12: per customer, receivables by age (not yet due; 1–30, 31–60, 61–90, over 90 days overdue) on a
    day, and credit used (the O6/O7 exposure) vs limit."""

    on: Day | None = Field(default=None, description="the business day to age on; today when not given")
    customer_id: Identifier | None = None
    as_of: AsOf | None = None


class OverdueTotal(BaseModel):
    """R12's overdue receivables of every customer together on a day (the dashboard's overview; no bus
    query of its own: the receivables report has them per customer)."""

    on: Day | None = None
    as_of: AsOf | None = None


class Alerts(Query):
    """R12: the managers' alerts: periods not signed off (R1), overdue receivables (O11), customers over
    90 % of their credit limit, branches over their capital limit (O7), securities and contracts expiring
    within 30 days (C11, C12), customers whose orders are held (C11), holds expiring within 24 h (O9),
    complaints, feedback and after-sales requests past a deadline and not yet finished (P7, P8, P9)."""


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


class SalesTrend(PeriodQuery):
    """Net sales and orders of the 13 periods ending with ``period`` (and the same period last year), of
    every customer or of one; with the holds live and complaints open at ``as_of`` (the dashboard)."""

    customer_id: Identifier | None = None


class FindCustomers(Query):
    """Customers by id or code (exact, any case), else by a part of the name (the dashboard's drill-down)."""

    text: Identifier


class CustomerDimension(Query):
    """Every customer's kind, region, grade and salesperson (the dashboard's filters)."""

    as_of: AwareDatetime | None = None


class CustomerOrders(Query):
    """A customer's orders with their status, shipped and paid amounts."""

    customer_id: Identifier
    as_of: AwareDatetime | None = None


# The queries showing customers' personal data (#23): the audit trail's readers only.
AUDITED = ["audit_trail"]
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
        async def report(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
            found = await queries.key_customers(conn, q.period, self.mode, q.limit, schema)
            return await lifecycle.with_key_account_plans(conn, found, q.as_of)  # C13 rev 2

        return await self._run(q, report)

    async def regions(self, q: Regions) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.regions(c, q.period, self.mode, s))

    async def annual(self, q: AnnualStatistics) -> dict[str, Any]:
        return await self._run(q, lambda c, s: queries.annual(c, q.year, self.mode, q.customer_id, s))

    async def staff(self, q: StaffReport) -> dict[str, Any]:
        # R7 with each salesperson's target and attainment (R11)
        return await self._run(q, lambda c, s: field_queries.staff_with_attainment(c, q.period, self.mode, s))

    async def service_figures(self, q: ServiceFigures) -> dict[str, Any]:
        return await self._run(
            q, lambda c, s: service_figures.service_figures(c, q.period, self.mode, q.as_of, s)
        )

    async def monthly_review(self, q: MonthlyReview) -> dict[str, Any]:
        return await self._run(
            q,
            # R8 with the salespeople flagged by attainment (R11)
            lambda c, s: field_queries.review_with_attainment(
                c, q.period, self.mode, s, q.reward_top, q.decline_periods
            ),
        )

    async def audit_trail(self, q: AuditTrail) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            who = acting()
            if who is not None:  # a person's read of personal data is recorded before it is answered (#23)
                await personal_reads.record_read(conn, who, q.aggregate_id, "audit_trail", self.clock.now())
            return await audit.audit_trail(conn, q.aggregate_id, q.related)

    async def personal_data_reads(self, q: PersonalDataReads) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return {"reads": await personal_reads.reads(conn, q.limit, q.subject)}

    def _dated(self, q: Receivables | OverdueTotal) -> tuple[date, BaseModel]:
        # The day is fixed before the cache is asked: a cached answer is one day's ageing.
        on = q.on or self.clock.now().astimezone(BUSINESS_TZ).date()
        return on, q.model_copy(update={"on": on})

    async def receivables(self, q: Receivables) -> dict[str, Any]:
        on, dated = self._dated(q)
        return await self._run(dated, lambda c, s: receivables.receivables(c, on, q.customer_id, s))

    async def overdue(self, q: OverdueTotal) -> dict[str, Any]:
        on, dated = self._dated(q)
        return await self._run(dated, lambda c, s: receivables.overdue(c, on, s))

    async def alerts(self, q: Alerts) -> dict[str, Any]:
        now = self.clock.now()
        owed = await self.receivables(Receivables())
        async with self.pool.acquire() as conn:
            unsigned = await signoff.unsigned_periods(conn, now, self.mode)
            lifecycle_alerts = await lifecycle.lifecycle_alerts(conn, now.astimezone(BUSINESS_TZ).date())
            due_or_late = await follow_up_alerts.follow_up_alerts(conn, now)
        return {
            "at": now.isoformat(),
            "alerts": unsigned + receivables.customer_alerts(owed["rows"]) + lifecycle_alerts + due_or_late,
        }

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

    async def sales_trend(self, q: SalesTrend) -> dict[str, Any]:
        async def report(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
            trend = await lookup.sales_trend(conn, q.period, self.mode, q.customer_id, schema)
            return {**trend, **await lookup.live_counts(conn, q.as_of, schema)}

        return await self._run(q, report)

    async def find_customers(self, q: FindCustomers) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return {"customers": await lookup.find_customers(conn, q.text)}

    async def customer_dimension(self, q: CustomerDimension) -> dict[str, Any]:
        return await self._run(q, lambda c, s: lookup.customer_dimension(c, s))

    async def customer_orders(self, q: CustomerOrders) -> dict[str, Any]:
        return await self._run(q, lambda c, s: lookup.customer_orders(c, q.customer_id, s))


def register(bus: ServiceBus, reports: Reports) -> None:
    bus.query(
        "distributor_monthly", DistributorMonthly, reports.distributor_monthly, r.DistributorMonthlyResult
    )
    bus.query("branch_monthly", BranchMonthly, reports.branch_monthly, r.BranchMonthlyResult)
    bus.query("key_customers", KeyCustomers, reports.key_customers, r.KeyCustomersResult)
    bus.query("regions", Regions, reports.regions, r.RegionsResult)
    bus.query("annual_statistics", AnnualStatistics, reports.annual, r.AnnualStatisticsResult)
    bus.query("staff", StaffReport, reports.staff, r.StaffResult)
    bus.query("service_figures", ServiceFigures, reports.service_figures, r.ServiceFiguresResult)
    bus.query("monthly_review", MonthlyReview, reports.monthly_review, r.MonthlyReviewResult)
    bus.query("audit_trail", AuditTrail, reports.audit_trail, r.AuditTrailResult)
    bus.query("lag", Lag, reports.lag, r.LagResult)
    bus.query("receivables", Receivables, reports.receivables, r.ReceivablesResult)
    bus.query("alerts", Alerts, reports.alerts, r.AlertsResult)
    bus.query("signed_report", SignedReport, reports.signed_report, r.SignedReportResult)
    bus.command("sign_off_period", SignOffPeriod, reports.sign_off_period, r.SignedOff)
    bus.command("import_history", ImportHistory, reports.import_history, r.HistoryImported)
    register_field(bus, reports)  # R11, R13
    bus.document_roles({"sign_off_period": signoff.SIGNERS, "import_history": history.IMPORTERS})
    # The same readers over the bus as over HTTP (sessions.py; docs/decisions/0006-reporting-readers.md).
    reads = [route.name for route in bus.routes.values() if route.kind == "query" and not route.public]
    bus.read_only_by([name for name in reads if name not in AUDITED], REPORT_READERS, "the reports")
    bus.read_only_by(AUDITED, AUDIT_READERS, "the audit trail")
