"""The customers integration tests' kit (not a test module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings


def customers_in_a_schema_of_its_own(settings: Settings, now: datetime) -> Iterator[CustomersApplication]:
    """The customers application on real PostgreSQL in a new schema, so counts and code sequences start
    from nothing; closed afterwards."""
    schema = f"customers_{uuid.uuid4().hex[:8]}"
    ensure_database(settings, [schema])
    application = CustomersApplication(settings, FixedClock(now), env={"POSTGRES_SCHEMA": schema})
    yield application
    application.close()
