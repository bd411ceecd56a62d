"""C2 (rev 2): a customer's personal data (legal representative, phone, address) is read only by a user
whose role covers that customer, and every such read is recorded (who, when, which customer) and listed
for an auditor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.builders import SALES, prospect
from tests.conftest import Requester
from tests.integration.orders_kit import customers_running
from tests.integration.scopes_kit import send_as

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
AUDITOR = {"id": "fin-audit", "role": "finance"}


@pytest.fixture(scope="module")
async def customers(settings: Settings) -> AsyncIterator[Any]:
    async with customers_running(settings, FixedClock(AT)) as running:
        yield running


async def query(
    nc: NATS, settings: Settings, name: str, body: dict[str, Any], grant: Grant
) -> dict[str, Any]:
    return await send_as(nc, settings, "customers", grant, name, body, "query")


async def test_c2_every_read_of_personal_data_is_recorded_and_listed_for_an_auditor(
    customers: Any, nc: NATS, settings: Settings, request_: Requester
) -> None:
    customer_id = (await request_("customers", "cmd", "register_prospect", prospect("dealer")))["result"][
        "customer_id"
    ]
    read = await query(
        nc,
        settings,
        "get_customer",
        {"actor": SALES, "customer_id": customer_id},
        Grant("salesperson", "EAST"),
    )
    assert read["result"]["phone"] == "0571-88000000"
    refused = await query(
        nc,
        settings,
        "get_customer",
        {"actor": {"id": "sp-9", "role": "salesperson"}, "customer_id": customer_id},
        Grant("salesperson", "EAST"),
    )
    assert refused["error"]["code"] == "forbidden"  # not their customer: nothing read, nothing recorded

    listed = await query(
        nc,
        settings,
        "list_personal_data_reads",
        {"actor": AUDITOR, "customer_id": customer_id},
        Grant("finance"),
    )
    assert listed["result"]["reads"] == [
        {
            "customer_id": customer_id,
            "user": SALES["id"],
            "roles": ["salesperson@EAST"],
            "read_at": AT.isoformat().replace("+00:00", "Z"),
        }
    ]


async def test_c2_only_an_auditor_lists_the_reads_of_personal_data(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    refused = await query(
        nc, settings, "list_personal_data_reads", {"actor": SALES}, Grant("salesperson", "EAST")
    )
    assert (refused["error"]["code"], refused["error"]["rule"]) == ("forbidden", "C2")
