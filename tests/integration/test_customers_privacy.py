"""C2 personal data, crypto-shredded: the legal representative, phone and address are stored and sent only
encrypted with the customer's own key; erasing the key leaves every copy unreadable, the rest intact.

Against real PostgreSQL and NATS, through the bus contract only (plus reads of the stored rows).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import nats.errors
import psycopg
import pytest
from nats.aio.client import Client as NATS

from shared.settings import Settings
from shared.subjects import events_wildcard
from tests.builders import GM, VP, prospect
from tests.conftest import Requester, wait_for

pytestmark = pytest.mark.integration


def personal() -> dict[str, str]:
    """ASCII and unique per test, so a hit in raw bytes can only be this test's plaintext."""
    marker = uuid.uuid4().hex[:10]
    return {
        "legal_representative": f"Rep {marker}",
        "phone": f"0571-{int(marker, 16) % 10**8:08d}",
        "address": f"{marker} Secret Lane",
    }


async def registered(request_: Requester, data: dict[str, str]) -> str:
    body = prospect() | data | {"idempotency_key": f"privacy-{uuid.uuid4()}"}  # its receipt is stored too
    reply = await request_("customers", "cmd", "register_prospect", body)
    assert reply["ok"], reply
    assert not set(data) & set(reply["result"]), "a command reply carries personal data"
    return str(reply["result"]["customer_id"])


def stored_rows(settings: Settings) -> list[bytes]:
    """Every row of the customers event table (events and idempotency receipts), as stored."""
    with psycopg.connect(settings.postgres_dsn) as conn:
        rows = conn.execute('SELECT state FROM customers."customersapplication_events"').fetchall()
    return [bytes(row[0]) for row in rows]


def keys_of(settings: Settings, customer_id: str) -> int:
    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM customers.customer_keys WHERE customer_id = %s", (customer_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def stream_messages(nc: NATS, settings: Settings) -> list[bytes]:
    """Every message now on the customers stream, raw, read with an ephemeral ordered consumer."""
    sub = await nc.jetstream().subscribe(
        events_wildcard(settings.namespace, "customers"), ordered_consumer=True
    )
    found: list[bytes] = []
    try:
        while True:
            found.append((await sub.next_msg(timeout=0.5)).data)
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def registration_on_stream(
    nc: NATS, settings: Settings, customer_id: str
) -> tuple[bytes, dict[str, Any]]:
    """The CustomerRegistered message of the customer, once the relay has published it."""
    found: list[tuple[bytes, dict[str, Any]]] = []

    async def published() -> bool:
        for raw in await stream_messages(nc, settings):
            envelope = json.loads(raw)
            if envelope["aggregate_id"] == customer_id and envelope["event_type"] == "CustomerRegistered":
                found.append((raw, envelope))
                return True
        return False

    await wait_for(published)
    return found[0]


def mentions(raw: bytes, data: dict[str, str]) -> list[str]:
    text = raw.decode("utf-8", errors="replace")
    return [value for value in data.values() if value in text]


async def test_c2_personal_data_is_stored_and_published_only_encrypted(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    data = personal()
    customer_id = await registered(request_, data)

    rows = stored_rows(settings)
    assert rows, "nothing stored"
    assert [hit for row in rows for hit in mentions(row, data)] == []
    raw, envelope = await registration_on_stream(nc, settings, customer_id)
    assert mentions(raw, data) == []
    assert all(envelope["data"][field].startswith("enc:v1:") for field in data)

    shown = await request_("customers", "query", "get_customer", {"customer_id": customer_id})
    assert shown["ok"], shown
    assert {field: shown["result"][field] for field in data} == data
    assert shown["result"]["personal_data_erased"] is False


async def test_c2_erasing_the_key_shreds_the_personal_data_and_keeps_the_customer(
    customers: Any, request_: Requester, settings: Settings
) -> None:
    data = personal()
    customer_id = await registered(request_, data)
    assert keys_of(settings, customer_id) == 1
    erase = {"customer_id": customer_id, "reason": "customer asked to be forgotten"}

    before = customers.app.recorder.max_notification_id()
    refused = await request_("customers", "cmd", "erase_personal_data", erase | {"actor": VP})
    assert not refused["ok"]
    assert (refused["error"]["code"], refused["error"]["rule"]) == ("forbidden", "C2")
    assert customers.app.recorder.max_notification_id() == before
    assert keys_of(settings, customer_id) == 1

    erased = await request_("customers", "cmd", "erase_personal_data", erase | {"actor": GM})
    assert erased["ok"], erased
    assert keys_of(settings, customer_id) == 0

    shown = await request_("customers", "query", "get_customer", {"customer_id": customer_id})
    assert shown["ok"], shown  # the stored events still load
    result = shown["result"]
    assert {field: result[field] for field in data} == dict.fromkeys(data)
    assert result["personal_data_erased"] is True
    assert (result["company_name"], result["status"]) == ("杭州华顺贸易有限公司", "prospect")


async def test_c2_the_registration_envelope_keeps_what_reporting_reads(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    data = personal()
    customer_id = await registered(request_, data)
    _, envelope = await registration_on_stream(nc, settings, customer_id)
    sent = prospect()
    kept = {key: envelope["data"][key] for key in ("kind", "region", "company_name", "salesperson_id")}
    assert kept == {key: sent[key] for key in kept}
