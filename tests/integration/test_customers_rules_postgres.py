"""The customer rule tests C1–C9 of ``tests/unit/test_customers_domain.py``, run again against real
PostgreSQL: each test gets its own schema, so counts and code sequences start from nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.customers.application import CustomersApplication
from shared.settings import Settings
from tests.integration.customers_kit import customers_in_a_schema_of_its_own
from tests.unit.test_customers_domain import *  # noqa: F403 - the same tests, collected here again
from tests.unit.test_customers_domain import NOW

pytestmark = pytest.mark.integration


@pytest.fixture  # type: ignore[no-redef]
def app(settings: Settings) -> Iterator[CustomersApplication]:
    yield from customers_in_a_schema_of_its_own(settings, NOW)
