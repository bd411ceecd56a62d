"""The roles published per command (x-roles, from each service's ROLES table beside its routes) cover every
command, appear in the contract, and agree with what the domain actually allows, for a sample of commands:
every role outside the table is refused as forbidden, every role in it is not."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.complaints import api as complaints_api
from services.complaints import commands as complaints
from services.complaints.application import ComplaintsApplication
from services.complaints.domain import ComplaintType
from services.customers import api as customers_api
from services.customers.application import CustomersApplication
from services.field import api as field_api
from services.field.application import FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory as FieldCustomers
from services.orders import api as orders_api
from services.orders.application import OrdersApplication
from services.orders.customer_view import InMemoryCustomerDirectory
from shared.bus import ServiceBus
from shared.clock import FixedClock
from shared.contracts import Actor, Role
from shared.customer_directory import InMemoryCustomerDirectory as DirectoryCustomers
from shared.errors import DomainError, Forbidden
from shared.settings import Settings
from tests.builders import registration
from tests.unit.orders_kit import Fixture as OrdersFixture

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
APIS = {
    "customers": customers_api,
    "orders": orders_api,
    "complaints": complaints_api,
    "field": field_api,
}


def routed_commands(service: str) -> set[str]:
    bus = ServiceBus(Settings(), service)
    app = {
        "customers": lambda: CustomersApplication(Settings(), FixedClock(NOW), env=IN_MEMORY),
        "orders": lambda: OrdersApplication(
            Settings(), FixedClock(NOW), InMemoryCustomerDirectory(), env=IN_MEMORY
        ),
        "complaints": lambda: ComplaintsApplication(
            Settings(), FixedClock(NOW), DirectoryCustomers(), env=IN_MEMORY
        ),
        "field": lambda: FieldApplication(Settings(), FixedClock(NOW), FieldCustomers(), env=IN_MEMORY),
    }[service]()
    APIS[service].register(bus, app)  # type: ignore[attr-defined]
    return {route.name for route in bus.routes.values() if route.kind == "cmd"}


@pytest.mark.parametrize("service", list(APIS))
def test_every_command_has_its_roles_published(service: str) -> None:
    table: dict[str, frozenset[Role]] = APIS[service].ROLES  # type: ignore[attr-defined]
    assert set(table) == routed_commands(service)
    document = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text())
    published = {
        operation["channel"]["$ref"].rsplit(".", 1)[-1]: operation["x-roles"]
        for operation in document["operations"].values()
        if ".cmd." in operation["channel"]["$ref"]
    }
    assert published == {name: sorted(role.value for role in roles) for name, roles in table.items()}


def refused_as_forbidden(send: Callable[[Actor], Any], role: Role) -> bool:
    try:
        send(Actor(id="u-1", role=role))
    except Forbidden:
        return True
    except DomainError:  # refused for another reason: the role itself was allowed
        return False
    return False


def list_product(actor: Actor) -> Any:
    return OrdersFixture().list_product("PV-100", actor)


def register_prospect(actor: Actor) -> Any:
    app = CustomersApplication(Settings(), FixedClock(NOW), env=IN_MEMORY)
    return app.register_prospect(registration(actor=actor.model_dump(mode="json")))


def log_complaint(actor: Actor) -> Any:
    app = ComplaintsApplication(Settings(), FixedClock(NOW), DirectoryCustomers(), env=IN_MEMORY)
    return app.log_complaint(
        complaints.LogComplaint(
            actor=actor,
            complaint_type=ComplaintType.SERVICE,
            customer_id="cust-1",
            staff_id="sp-1",
            description="rude",
            assigned_to="vp-1",
        )
    )


@pytest.mark.parametrize(
    ("service", "command", "send"),
    [
        ("orders", "list_product", list_product),
        ("customers", "register_prospect", register_prospect),
        ("complaints", "log_complaint", log_complaint),
    ],
)
@pytest.mark.parametrize("role", list(Role))
def test_the_published_roles_are_the_ones_the_domain_allows(
    service: str, command: str, send: Callable[[Actor], Any], role: Role
) -> None:
    allowed = APIS[service].ROLES[command]  # type: ignore[attr-defined]
    assert refused_as_forbidden(send, role) == (role not in allowed)
