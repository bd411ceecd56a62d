"""Reading roles on reporting's bus queries (issue #23, docs/decisions/0006-reporting-readers.md): the same
rule as the HTTP API. A report is answered only to one of ``REPORT_READERS`` held company-wide, the audit
trail only to ``AUDIT_READERS``; anyone else, a reader held in one region included, is refused with
``forbidden`` (rule ``scope``), and a refused read of the audit trail is not recorded as a read (#23)."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS

from services.reporting.sessions import AUDIT_READERS, REPORT_READERS
from shared.settings import Settings
from tests.conftest import printed_document
from tests.integration.reporting_kit import reporting_running
from tests.integration.scopes_kit import refused_for_scope, send_as

pytestmark = pytest.mark.integration

REPORT = ("distributor_monthly", {"period": "2026-11"})
OTHER_REPORTS = [("alerts", {}), ("field_visits", {"month": "2026-11"}), ("lag", {})]


async def test_reports_on_the_bus_answer_only_company_wide_readers(nc: NATS, settings: Settings) -> None:
    async with reporting_running(settings):
        for claim in ("finance", "sales_manager", "auditor"):
            answer = await send_as(nc, settings, "reporting", claim, *REPORT, kind="query")
            assert answer["ok"], (claim, answer)
        # a reader's role held in one region, and roles that read no reports, are refused
        for claim in ("regional_manager@EAST", "finance@WEST", "salesperson", "production", "technician"):
            for name, body in [REPORT, *OTHER_REPORTS]:
                refused_for_scope(await send_as(nc, settings, "reporting", claim, name, body, kind="query"))


async def test_the_audit_trail_on_the_bus_answers_only_its_readers_and_records_no_refused_read(
    nc: NATS, settings: Settings
) -> None:
    trail = {"aggregate_id": "cust-audited"}
    async with reporting_running(settings) as service:
        for claim in ("finance", "sales_vp", "auditor@EAST"):  # report readers, or an auditor in one region
            refused_for_scope(
                await send_as(nc, settings, "reporting", claim, "audit_trail", trail, kind="query")
            )
        async with service.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM reporting.personal_data_reads") == 0
        for claim in ("auditor", "general_manager"):
            answer = await send_as(nc, settings, "reporting", claim, "audit_trail", trail, kind="query")
            assert answer["ok"], (claim, answer)
        async with service.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM reporting.personal_data_reads") == 2


def test_the_reporting_contract_publishes_the_reading_roles_of_every_query() -> None:
    document = printed_document("reporting", "asyncapi")
    queries = {key.split(".")[-1]: op for key, op in document["operations"].items() if ".query." in key}
    assert queries["audit_trail"]["x-roles"] == sorted(AUDIT_READERS)
    for name, operation in queries.items():
        if name not in ("audit_trail", "health"):
            assert operation["x-roles"] == sorted(REPORT_READERS), name
    assert "x-roles" not in queries["health"]
