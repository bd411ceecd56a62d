"""R1 rev 2 on /metrics: reporting exports how many closed periods are past their sign-off day unsigned
(``salesops_report_periods_unsigned``, the input of the SalesopsReportPeriodNotSignedOff alert), real
PostgreSQL and NATS, its clock fixed at 2031-06-30 12:00 Asia/Shanghai."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from nats.aio.client import Client as NATS

from services.reporting.main import ReportingService
from shared.clock import BUSINESS_TZ, FixedClock
from shared.settings import Settings
from tests.conftest import Requester, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running
from tests.integration.test_observability import samples
from tests.integration.test_reporting_rev2 import MANAGER, command
from tests.unit.test_observability import http_get

pytestmark = pytest.mark.integration

NOW = datetime(2031, 6, 30, 12, tzinfo=BUSINESS_TZ)
UNSIGNED = "salesops_report_periods_unsigned"


@pytest.fixture
async def reporting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ReportingService]:
    monkeypatch.setenv("SALESOPS_METRICS_PORT", "0")  # any free port
    monkeypatch.setenv("SALESOPS_METRICS_HOST", "127.0.0.1")
    async with reporting_running(settings, clock=FixedClock(NOW)) as running:
        yield running


async def unsigned_on_metrics(service: ReportingService) -> float:
    assert service.metrics_port
    status, body = await http_get(service.metrics_port, "/metrics")
    assert status == 200
    ((labels, value),) = samples(body, UNSIGNED)
    assert labels == {"service": "reporting"}
    return value


async def test_r1_periods_past_their_sign_off_day_unsigned_are_counted_on_metrics_until_signed(
    reporting: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2031, 4, 2), code="R1M-D0001")  # period 2031-04: the first one with events
    ev.order(dealer, at(2031, 5, 10), [("P-1", 2, "50.00")])
    await publish(nc.jetstream(), settings, ev.made)
    await wait_for(lambda: logged_all(reporting, ev.made))

    # 2031-04, -05 and -06 are past their 29th; 2031-07 (from 29 June) is still open.
    before = await unsigned_on_metrics(reporting)
    signed = await request_("reporting", "cmd", "sign_off_period", command(MANAGER, period="2031-05"))
    after = await unsigned_on_metrics(reporting)

    assert signed["ok"], signed
    assert (before, after) == (3, 2)
