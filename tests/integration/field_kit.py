"""The field integration tests' kit (not a test module): field as its main.py runs it, beside customers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.field.api import register
from services.field.application import FieldApplication
from services.field.customer_view import PostgresCustomerDirectory
from services.field.main import background
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings
from tests.conftest import service_running
from tests.integration.orders_kit import customers_running


@contextlib.asynccontextmanager
async def field_running(settings: Settings, clock: FixedClock) -> AsyncIterator[None]:
    """Customers and field (its background jobs too) on the module's database, both on ``clock``."""
    ensure_database(settings, ["field"])
    directory = PostgresCustomerDirectory(settings)
    app = FieldApplication(settings, clock, directory)
    async with customers_running(settings, clock), service_running(app, register, settings, extra=background):
        yield
    directory.close()
