"""Requests sent by a user holding exactly one grant (``role`` or ``role@REGION``): the scope tests (no tests
here)."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client as NATS

from shared.identity.tokens import Grant
from shared.identity.verify import AUTHORIZATION, BEARER
from shared.settings import Settings
from tests.conftest import CREDENTIALS


async def send_as(
    nc: NATS,
    settings: Settings,
    service: str,
    claim: str | Grant,
    name: str,
    body: dict[str, Any],
    kind: str = "cmd",
) -> dict[str, Any]:
    """``body`` sent by the user its actor names (a query without one: ``reader``), holding only ``claim``
    (a grant, or its text)."""
    user = body["actor"]["id"] if body.get("actor") else "reader"
    token = CREDENTIALS.token(user, Grant.parse(claim) if isinstance(claim, str) else claim)
    reply = await nc.request(
        f"{settings.namespace}.{service}.{kind}.{name}",
        json.dumps(body).encode(),
        timeout=10,
        headers={AUTHORIZATION: BEARER + token},
    )
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def refused_for_scope(reply: dict[str, Any]) -> None:
    assert not reply["ok"], reply
    assert (reply["error"]["code"], reply["error"]["rule"]) == ("forbidden", "scope"), reply
