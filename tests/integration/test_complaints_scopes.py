"""Scopes in complaints (issue #23, DOMAIN.md "Actors and roles" rev 2) on PostgreSQL + NATS: a complaint,
a feedback and a service request are their customer's. The right role held in another region is refused
with ``forbidden`` (rule ``scope``) and stores nothing; a salesperson acts only on their own customers;
company-wide roles act everywhere. Complaints learns each customer's region and salesperson from its own
customer directory (a durable consumer of the customers stream), as main.py runs it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from services.complaints.main import background
from services.complaints.scopes import SCHEMA
from shared.clock import FixedClock
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import actor, prospect
from tests.conftest import Requester, service_running, wait_for
from tests.integration.complaints_kit import T0, stored
from tests.integration.orders_kit import customers_running
from tests.integration.scopes_kit import refused_for_scope, send_as
from tests.integration.test_complaints import quality_complaint
from tests.integration.test_complaints_after_sales import service_request
from tests.integration.test_complaints_feedback import feedback

pytestmark = pytest.mark.integration

EAST_SALES = actor("sp-east", "salesperson")
OTHER_SALES = actor("sp-other", "salesperson")
EAST_MANAGER = actor("sm-east", "sales_manager")
WEST_MANAGER = actor("sm-west", "sales_manager")


@pytest.fixture(scope="module")
async def complaints(settings: Settings) -> AsyncIterator[WriteService]:
    clock = FixedClock(T0)
    ensure_database(settings, ["complaints"])
    directory = PostgresCustomerDirectory(settings, SCHEMA)
    app = ComplaintsApplication(settings, clock, directory)
    async with (
        customers_running(settings, clock),
        service_running(app, register, settings, extra=background) as running,
    ):
        yield running
    directory.close()


@pytest.fixture(scope="module")
async def east_customer(complaints: WriteService, request_: Requester, settings: Settings) -> str:
    """A dealer of region EAST worked by sp-east, once complaints' directory knows it."""
    registered = await request_(
        "customers", "cmd", "register_prospect", prospect(actor=EAST_SALES, salesperson_id="sp-east")
    )
    assert registered["ok"], registered
    customer_id: str = registered["result"]["customer_id"]
    directory = PostgresCustomerDirectory(settings, SCHEMA)

    async def known() -> bool:
        return await asyncio.to_thread(directory.get, customer_id) is not None

    try:
        await wait_for(known, timeout=30)
    finally:
        directory.close()
    return customer_id


As = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


@pytest.fixture
def as_(nc: NATS, settings: Settings) -> As:
    """``await as_(claim, name, body)``: a command (a body with an actor) or a query to complaints, sent by
    a person holding ``claim``."""

    async def send(claim: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = "cmd" if "actor" in body else "query"
        return await send_as(nc, settings, "complaints", claim, name, body, kind)

    return send


async def test_scope_a_salesperson_logs_complaints_only_for_their_own_customers(
    complaints: WriteService, east_customer: str, as_: As
) -> None:
    before = stored(complaints)
    for name, body in [
        ("log_complaint", quality_complaint(actor=OTHER_SALES, customer_id=east_customer)),
        ("log_feedback", feedback(actor=OTHER_SALES, customer_id=east_customer)),
        ("log_service_request", service_request(actor=OTHER_SALES, customer_id=east_customer)),
    ]:
        refused_for_scope(await as_("salesperson@EAST", name, body))
    assert stored(complaints) == before  # nothing was written
    logged = await as_(
        "salesperson@EAST",
        "log_complaint",
        quality_complaint(actor=EAST_SALES, customer_id=east_customer),
    )
    assert logged["ok"], logged


async def test_scope_a_manager_of_another_region_may_not_handle_or_read_the_customer_complaint(
    complaints: WriteService, east_customer: str, as_: As
) -> None:
    body = quality_complaint(
        actor=actor("gm", "general_manager"), customer_id=east_customer, assigned_to="sm-east"
    )
    logged = await as_("general_manager", "log_complaint", body)
    assert logged["ok"], logged
    complaint = {"complaint_id": logged["result"]["complaint_id"]}
    before = stored(complaints)
    west = {"actor": WEST_MANAGER, **complaint}
    refused_for_scope(await as_("sales_manager@WEST", "acknowledge_complaint", west))
    refused_for_scope(await as_("sales_manager@WEST", "get_complaint", complaint))
    refused_for_scope(await as_("sales_manager@WEST", "get_handling_form", complaint))
    assert stored(complaints) == before
    read = await as_("sales_manager@WEST", "get_complaint", complaint)
    assert read["error"]["details"]["region"] == "EAST", read
    # the same role in the customer's region, and a company-wide reader, are answered
    done = await as_("sales_manager@EAST", "acknowledge_complaint", {"actor": EAST_MANAGER, **complaint})
    assert done["ok"], done
    assert (await as_("general_manager", "get_complaint", complaint))["ok"]


async def test_scope_feedback_and_service_requests_of_another_region_are_refused(
    complaints: WriteService, east_customer: str, as_: As
) -> None:
    gm = actor("gm", "general_manager")
    fed = await as_("general_manager", "log_feedback", feedback(actor=gm, customer_id=east_customer))
    assert fed["ok"], fed
    asked = await as_(
        "general_manager",
        "log_service_request",
        service_request(actor=gm, customer_id=east_customer),
    )
    assert asked["ok"], asked
    feedback_id, request_id = fed["result"]["feedback_id"], asked["result"]["request_id"]
    before = stored(complaints)
    west_supervisor = actor("sup-west", "sales_supervisor")
    assignment = {
        "actor": west_supervisor,
        "request_id": request_id,
        "technician": {"id": "tech-1", "region": "EAST"},
    }
    refused_for_scope(await as_("sales_supervisor@WEST", "assign_technician", assignment))
    refused_for_scope(await as_("sales_manager@WEST", "get_feedback", {"feedback_id": feedback_id}))
    refused_for_scope(await as_("sales_supervisor@WEST", "get_service_request", {"request_id": request_id}))
    assert stored(complaints) == before
    east = await as_(
        "sales_supervisor@EAST",
        "assign_technician",
        {**assignment, "actor": actor("sup-east", "sales_supervisor")},
    )
    assert east["ok"], east
