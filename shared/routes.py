"""A write service's routes from its table: each route named as its subject, served by the application's
method of that name, its request the model of that name in CamelCase in the service's ``commands.py`` (a
``Query`` is asked, anything else is a command)."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from pydantic import BaseModel

from shared.bus import ServiceBus, in_thread
from shared.contracts import Query
from shared.store import ServiceApplication

# Routes by their reply: space-separated route names (``"log_feedback assign_feedback"``).
Table = Mapping[type[BaseModel], str]


def register_routes(bus: ServiceBus, app: ServiceApplication, contract: ModuleType, routes: Table) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    for result, names in routes.items():
        for name in names.split():
            model = getattr(contract, "".join(word.capitalize() for word in name.split("_")))
            if issubclass(model, Query):
                bus.query(name, model, in_thread(getattr(app, name)), result)
            else:
                bus.command(name, model, decided(getattr(app, name)), result)
