"""Complaints service process: ``python -m services.complaints.main``."""

from __future__ import annotations

import asyncio

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from shared.clock import SystemClock
from shared.runtime import WriteService, run_write_service
from shared.scheduler import every
from shared.settings import Settings


def make_app(settings: Settings) -> ComplaintsApplication:
    return ComplaintsApplication(settings, SystemClock())


async def deadlines(service: WriteService, stop: asyncio.Event) -> None:
    """P7–P9: raise passed deadlines by itself; each run decides from stored state, so restarts are safe."""
    app = service.app
    assert isinstance(app, ComplaintsApplication)

    async def scan() -> int:
        return await asyncio.to_thread(app.scan_overdue)

    await every(service.settings.complaint_deadline_check_seconds, scan, stop)


if __name__ == "__main__":
    run_write_service(ComplaintsApplication.service, make_app, register, extra=deadlines)
