"""A write service's routes from its tables: each route named as its subject, served by the application's
method of that name, its request the model of that name in CamelCase in the service's ``commands.py``."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from shared.bus import ServiceBus, in_thread
from shared.store import ServiceApplication

# Routes by their reply: space-separated route names (``"log_feedback assign_feedback"``).
Table = Mapping[type[BaseModel], str]


def register_routes(
    bus: ServiceBus, app: ServiceApplication, contract: ModuleType, commands: Table, queries: Table
) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    for result, names in commands.items():
        for name in names.split():
            bus.command(name, _model(contract, name), decided(getattr(app, name)), result)
    for result, names in queries.items():
        for name in names.split():
            bus.query(name, _model(contract, name), in_thread(getattr(app, name)), result)


def _model(contract: ModuleType, name: str) -> Any:
    return getattr(contract, "".join(word.capitalize() for word in name.split("_")))
