"""Customers service process: ``python -m services.customers.main``."""

from __future__ import annotations

from services.customers.api import register
from services.customers.application import CustomersApplication
from shared.clock import SystemClock
from shared.runtime import run_write_service
from shared.settings import Settings


def make_app(settings: Settings) -> CustomersApplication:
    return CustomersApplication(settings, SystemClock())


if __name__ == "__main__":
    run_write_service(CustomersApplication.service, make_app, register)
