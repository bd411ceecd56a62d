"""Fixtures shared by the integration modules of one service (a module may still define its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from services.complaints.scopes import SCHEMA as COMPLAINTS_VIEW
from services.customers.api import register as register_customers
from services.customers.application import CustomersApplication
from services.customers.main import background as customers_jobs
from shared.clock import FixedClock
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.runtime import WriteService
from shared.settings import Settings
from tests.conftest import Requester, service_running
from tests.integration.complaints_kit import T0
from tests.integration.orders_kit import START, Orders, customers_running, orders_running


@pytest.fixture(scope="module")
async def complaints(settings: Settings) -> AsyncIterator[WriteService]:
    """The complaints service on the module's database and namespace, its clock at ``T0``."""
    ensure_database(settings, ["complaints"])
    app = ComplaintsApplication(
        settings, FixedClock(T0), PostgresCustomerDirectory(settings, COMPLAINTS_VIEW)
    )
    async with service_running(app, register, settings) as running:
        yield running


@pytest.fixture(scope="module")
async def customers(settings: Settings) -> AsyncIterator[WriteService]:
    """The customers service as its main.py runs it (background jobs too), its clock at ``T0``."""
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(T0))
    async with service_running(app, register_customers, settings, extra=customers_jobs) as running:
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
