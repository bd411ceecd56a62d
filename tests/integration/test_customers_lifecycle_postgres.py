"""The customer rule tests C5/C8/C10–C13 of ``tests/unit/test_customers_lifecycle.py``, run again against
real PostgreSQL: each test gets its own schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings
from tests.unit.test_customers_lifecycle import *  # noqa: F403 - the same tests, collected here again
from tests.unit.test_customers_lifecycle import NOW

pytestmark = pytest.mark.integration


@pytest.fixture  # type: ignore[no-redef]
def app(settings: Settings) -> Iterator[CustomersApplication]:
    schema = f"customers_{uuid.uuid4().hex[:8]}"
    ensure_database(settings, [schema])
    application = CustomersApplication(settings, FixedClock(NOW), env={"POSTGRES_SCHEMA": schema})
    yield application
    application.close()
