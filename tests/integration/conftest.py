"""Fixtures shared by the integration modules of one service (a module may still define its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.runtime import WriteService
from shared.settings import Settings
from tests.conftest import service_running
from tests.integration.test_complaints import T0


@pytest.fixture(scope="module")
async def complaints(settings: Settings) -> AsyncIterator[WriteService]:
    """The complaints service on the module's database and namespace, its clock at ``T0``."""
    ensure_database(settings, ["complaints"])
    app = ComplaintsApplication(settings, FixedClock(T0))
    async with service_running(app, register, settings) as running:
        yield running
