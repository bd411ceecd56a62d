"""The field service's own view of customers (``shared.customer_directory``) in its schema "field", fed by
its durable consumer "field" on the customers stream: S2 plans visits by grade, and scopes
(``services/field/scopes.py``) know each customer's region and salesperson."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS

from shared import customer_directory as directory
from shared.customer_directory import CustomerDirectory, InMemoryCustomerDirectory, fold
from shared.settings import Settings

SCHEMA = "field"

__all__ = [
    "CustomerDirectory",
    "CustomerViewProjector",
    "InMemoryCustomerDirectory",
    "PostgresCustomerDirectory",
    "fold",
    "run_customer_view",
]


class PostgresCustomerDirectory(directory.PostgresCustomerDirectory):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, SCHEMA)


class CustomerViewProjector(directory.CustomerViewProjector):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, SCHEMA)


async def run_customer_view(nc: NATS, settings: Settings, stop: asyncio.Event) -> None:
    await directory.run_customer_view(nc, settings, SCHEMA, stop)
