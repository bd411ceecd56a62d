"""Schemathesis, every check, against the reporting HTTP API served by uvicorn over a real PostgreSQL
database with some figures in it (so the 200 answers are checked against their typed schemas too): zero
failures (issue #22)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.conftest import CREDENTIALS, logging_to, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

READER = CREDENTIALS.token("gm-zhou", Grant("general_manager"))
SCHEMATHESIS = Path(sys.executable).with_name("st")
EXAMPLES = 30  # per operation and phase; with the coverage phase every limit's edges are tried as well


@contextlib.contextmanager
def statuses_answered() -> Iterator[dict[str, set[int]]]:
    """The statuses reporting answered per path (audit trails as one), from its access log."""
    answered: dict[str, set[int]] = {}

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            http = getattr(record, "http", None)
            if isinstance(http, dict):
                path = "/api/audit/" if http["path"].startswith("/api/audit/") else http["path"]
                answered.setdefault(path, set()).add(http["status"])

    with logging_to(Collect(), "services.reporting.http.access"):
        yield answered


@pytest.fixture(scope="module")
async def base(nc: NATS, settings: Settings) -> AsyncIterator[str]:
    ev = Events()
    dealer = ev.customer(at(2026, 10, 2), kind="dealer", code="EAST-D0101", grade="A")
    agent = ev.customer(at(2026, 9, 5), kind="agent", code="WEST-A0007", region="WEST", grade="B")
    branch = ev.customer(at(2026, 10, 2), kind="branch", code="EAST-B0003", capital_limit="5000.00")
    ev.order(dealer, at(2026, 11, 10), [("P-1", 3, "100.00")])
    ev.order(agent, at(2026, 10, 20), [("P-2", 5, "80.00")])
    ev.order(branch, at(2026, 11, 13), [("P-1", 10, "600.00")], kind="branch")
    ev.hold(dealer, at(2026, 11, 11), "1000.00", "100.00")
    ev.complaint(dealer, at(2026, 11, 12), "quality", fine="50.00")
    async with reporting_running(settings, http=True, http_port=0) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield f"http://127.0.0.1:{service.http_port}"


async def test_schemathesis_all_checks_find_no_failure(base: str, tmp_path: Path) -> None:
    # The service answers in this process's event loop while schemathesis runs as a process of its own.
    with statuses_answered() as answered:
        run = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {READER}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261207",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
            cwd=tmp_path,  # its cache of crashes stays out of the repository
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(run.communicate(), 540)
    text = output.decode(errors="replace")
    assert run.returncode == 0, text[-12_000:]
    # The seeded figures were reached: every report answered 200 at least once, not only refusals.
    reports = {path for path in answered if path.startswith(("/api/reports/", "/api/audit/", "/api/alerts"))}
    answered_200 = {path for path, status in answered.items() if 200 in status}
    assert len(reports) >= 11 and reports - answered_200 <= {"/api/reports/signed"}, answered
