"""Proven identity over the bus (DOMAIN.md "Actors and roles", rev 2): a command or query is answered
only with a valid token, and a body's actor counts only when the token proves it. Nothing refused is
stored."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.identity.tokens import Grant, issue_token, load_signing_key, new_signing_key
from shared.identity.verify import AUTHORIZATION, BEARER
from shared.settings import Settings
from tests.builders import GM, SALES, prospect
from tests.conftest import CREDENTIALS, auth
from tests.integration.orders_kit import customers_running

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def customers(settings: Settings) -> AsyncIterator[Any]:
    async with customers_running(settings, FixedClock(datetime(2026, 12, 1, tzinfo=UTC))) as running:
        yield running


async def send(nc: NATS, settings: Settings, name: str, body: dict[str, Any], headers: Any) -> dict[str, Any]:
    subject = f"{settings.namespace}.customers.cmd.{name}"
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=10, headers=headers)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def bearer(token: str) -> dict[str, str]:
    return {AUTHORIZATION: BEARER + token}


def stored(customers: Any) -> int:
    return int(customers.app.recorder.max_notification_id() or 0)


def tampered(token: str) -> str:
    """The token with its roles rewritten to general_manager and the signature kept."""
    header, _, signature = token.split(".")
    payload = json.loads(_unb64(token.split(".")[1]))  # the claims, as anyone can read them
    payload["roles"] = ["general_manager"]
    return ".".join([header, _b64(json.dumps(payload).encode()), signature])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_a_body_claiming_general_manager_without_a_credential_is_refused_unauthenticated(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    before = stored(customers)
    reply = await send(nc, settings, "register_prospect", {**prospect("dealer"), "actor": GM}, headers=None)
    assert reply["error"]["code"] == "unauthenticated", reply
    assert stored(customers) == before


async def test_a_body_claiming_general_manager_with_a_salespersons_token_is_refused_forbidden(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    before = stored(customers)
    salesperson = bearer(CREDENTIALS.token(GM["id"], Grant("salesperson", "EAST")))
    reply = await send(nc, settings, "register_prospect", {**prospect("dealer"), "actor": GM}, salesperson)
    assert reply["error"]["code"] == "forbidden", reply
    assert reply["error"]["details"]["field"] == "actor"
    assert stored(customers) == before


async def test_a_body_naming_another_user_than_the_token_is_refused_forbidden(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    before = stored(customers)
    someone_else = bearer(CREDENTIALS.token("sp-2", Grant("salesperson")))
    reply = await send(nc, settings, "register_prospect", prospect("dealer"), someone_else)
    assert reply["error"]["code"] == "forbidden", reply
    assert stored(customers) == before


@pytest.mark.parametrize("kind", ["expired", "tampered", "wrongly signed", "not a token", "not bearer"])
async def test_an_invalid_credential_is_refused_unauthenticated_and_stores_nothing(
    customers: Any, nc: NATS, settings: Settings, kind: str
) -> None:
    valid = CREDENTIALS.token(SALES["id"], Grant("salesperson"))
    headers = {
        "expired": bearer(
            issue_token(
                CREDENTIALS.signing_key,
                SALES["id"],
                [Grant("salesperson")],
                datetime.now(UTC) - timedelta(hours=9),
            )
        ),
        "tampered": bearer(tampered(valid)),
        "wrongly signed": bearer(
            issue_token(
                load_signing_key(new_signing_key()), SALES["id"], [Grant("salesperson")], datetime.now(UTC)
            )
        ),
        "not a token": bearer("not.a.token"),
        "not bearer": {AUTHORIZATION: valid},
    }[kind]
    before = stored(customers)
    reply = await send(nc, settings, "register_prospect", prospect("dealer"), headers)
    assert reply["error"]["code"] == "unauthenticated", reply
    assert stored(customers) == before


async def test_a_command_with_a_token_proving_its_actor_is_accepted(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    body = prospect("dealer")
    reply = await send(nc, settings, "register_prospect", body, auth(body))
    assert reply["ok"], reply


async def test_a_query_needs_a_credential_but_the_health_query_does_not(
    customers: Any, nc: NATS, settings: Settings
) -> None:
    subject = f"{settings.namespace}.customers.query"
    refused = json.loads((await nc.request(f"{subject}.list_customers", b"{}", timeout=10)).data)
    assert refused["error"]["code"] == "unauthenticated"
    answered = json.loads(
        (await nc.request(f"{subject}.list_customers", b"{}", timeout=10, headers=auth())).data
    )
    assert answered["ok"], answered
    health = json.loads((await nc.request(f"{subject}.health", b"{}", timeout=10)).data)
    assert health["ok"], health
