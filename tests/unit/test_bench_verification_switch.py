"""The benchmark's switch that turns token verification off (its row of what verification costs): a
request is then taken as its body's actor claims, and no deployment can run with it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.bus import Route, ServiceBus
from shared.contracts import Command
from shared.identity.scope import acting
from shared.settings import Settings

BODY = b'{"actor": {"id": "sp-wang", "role": "salesperson"}}'


async def who_acts(_: Any) -> dict[str, Any]:
    who = acting()
    assert who is not None
    return {"user": who.user, "grants": [grant.claim() for grant in who.grants]}


def command() -> Route:
    return Route("cmd", "measured", "m.cmd.measured", "q", Command, None, who_acts)


def test_the_switch_is_refused_where_nats_authentication_is_configured() -> None:
    with pytest.raises(ValidationError, match="benchmark only"):
        Settings(identity_unverified_for_benchmark=True, nats_user="orders", nats_password="secret")


async def test_with_the_switch_a_command_without_a_token_acts_as_its_body_claims_company_wide() -> None:
    bus = ServiceBus(Settings(identity_unverified_for_benchmark=True), "measured")
    reply = await bus._reply(command(), BODY, None)
    assert reply == {"ok": True, "result": {"user": "sp-wang", "grants": ["salesperson"]}}


async def test_without_the_switch_a_command_without_a_token_is_unauthenticated() -> None:
    bus = ServiceBus(Settings(), "measured")
    reply = await bus._reply(command(), BODY, None)
    assert reply["error"]["code"] == "unauthenticated"
