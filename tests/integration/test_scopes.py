"""Scopes over the bus (DOMAIN.md "Actors and roles", rev 2): a user holds a role in a region (or
company-wide) and acts with it only there; a salesperson only on their own customers. Every approval of
the customers and orders services is sent by a user of the right role holding it in the wrong region
(refused, rule ``scope``, nothing stored), then in the customer's region (accepted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.builders import SALES
from tests.integration.scopes_kit import send_as
from tests.integration.test_role_gates import (
    World,
    approved,
    c4_approve,
    c4_reject,
    c5_grade,
    c6_contract,
    c7_capital_limit,
    o2_approve,
    o2_vote,
    o6_release,
    o7_release,
    o8_release,
    o9_agree,
    o9_approve,
    world,
)

pytestmark = pytest.mark.integration

__all__ = ["world"]  # the fixture, shared with the role gates' module

Due = Callable[[World], Awaitable[dict[str, Any]]]

# The customers of the role gates' helpers are in EAST (``prospect``).
APPROVALS: list[tuple[str, str, str, str, Due]] = [
    ("customers", "approve_customer", "C4", "sales_supervisor", c4_approve),
    ("customers", "reject_customer", "C4", "sales_supervisor", c4_reject),
    ("customers", "grade_customer", "C5", "sales_manager", c5_grade),
    ("customers", "sign_contract", "C6", "regional_manager", c6_contract),
    ("customers", "set_capital_limit", "C7", "marketing_director", c7_capital_limit),
    ("orders", "approve_price_exception", "O2", "general_manager", o2_approve),
    ("orders", "vote_price_exception", "O2", "sales_manager", o2_vote),
    ("orders", "release_order", "O6", "sales_manager", o6_release),
    ("orders", "release_order", "O7", "marketing_director", o7_release),
    ("orders", "release_order", "O8", "general_manager", o8_release),
    ("orders", "agree_guarantee", "O9", "sales_manager", o9_agree),
    ("orders", "approve_guarantee", "O9", "general_manager", o9_approve),
]


async def as_user(
    nc: NATS,
    settings: Settings,
    kind: str,
    name: str,
    body: dict[str, Any],
    grant: Grant,
    service: str = "customers",
) -> dict[str, Any]:
    """Send ``body`` with a token for its actor holding ``grant`` only."""
    return await send_as(nc, settings, service, grant, name, body, kind)


@pytest.mark.parametrize(
    ("service", "command", "rule", "role", "due"), APPROVALS, ids=[f"{a[2]}-{a[1]}" for a in APPROVALS]
)
async def test_scope_an_approval_by_the_right_role_in_the_wrong_region_is_refused(
    world: World, nc: NATS, settings: Settings, service: str, command: str, rule: str, role: str, due: Due
) -> None:
    body = await due(world) | {"actor": {"id": f"{role}-user", "role": role}}
    before = world.stored(service)
    refused = await as_user(nc, settings, "cmd", command, body, Grant(role, "WEST"), service)
    assert refused["error"]["code"] == "forbidden", refused
    assert refused["error"]["rule"] == "scope"
    assert world.stored(service) == before
    accepted = await as_user(nc, settings, "cmd", command, body, Grant(role, "EAST"), service)
    assert accepted["ok"], (rule, accepted)


async def test_scope_a_salesperson_reads_and_acts_only_on_their_own_customers(
    world: World, nc: NATS, settings: Settings
) -> None:
    customer_id = await approved(world)  # worked by SALES (sp-1), region EAST
    other = {"actor": {"id": "sp-2", "role": "salesperson"}, "customer_id": customer_id}
    refused = await as_user(nc, settings, "query", "get_customer", other, Grant("salesperson", "EAST"))
    assert (refused["error"]["code"], refused["error"]["rule"]) == ("forbidden", "scope")
    own = {"actor": SALES, "customer_id": customer_id}
    answered = await as_user(nc, settings, "query", "get_customer", own, Grant("salesperson", "EAST"))
    assert answered["ok"] and answered["result"]["legal_representative"], answered


async def test_scope_a_company_wide_role_acts_in_every_region(
    world: World, nc: NATS, settings: Settings
) -> None:
    body = await c7_capital_limit(world) | {"actor": {"id": "md-1", "role": "marketing_director"}}
    accepted = await as_user(nc, settings, "cmd", "set_capital_limit", body, Grant("marketing_director"))
    assert accepted["ok"], accepted
