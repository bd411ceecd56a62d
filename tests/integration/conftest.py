"""Fixtures shared by the integration modules of one service (a module may still define its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.runtime import WriteService
from shared.settings import Settings
from tests.conftest import Requester, service_running
from tests.integration.orders_kit import START, Orders, customers_running, orders_running
from tests.integration.test_complaints import T0


@pytest.fixture(scope="module")
async def complaints(settings: Settings) -> AsyncIterator[WriteService]:
    """The complaints service on the module's database and namespace, its clock at ``T0``."""
    ensure_database(settings, ["complaints"])
    app = ComplaintsApplication(settings, FixedClock(T0))
    async with service_running(app, register, settings) as running:
        yield running


# The orders modules: customers and orders in-process on the module's database, the clock at ``START``
# again before each test.
@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="module")
async def services(settings: Settings, clock: FixedClock, nc: NATS) -> AsyncIterator[Any]:
    async with customers_running(settings, clock), orders_running(settings, clock) as running:
        yield running


@pytest.fixture
async def orders(services: Any, request_: Requester, clock: FixedClock) -> Orders:
    clock.set(START)
    return Orders(request_)
