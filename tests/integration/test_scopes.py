"""Scopes over the bus (DOMAIN.md "Actors and roles", rev 2): a user holds a role in a region (or
company-wide) and acts with it only there; a salesperson only on their own customers. Every approval of
the customers and orders services is sent by a user of the right role holding it in the wrong region
(refused, rule ``scope``, nothing stored), then in the customer's region (accepted)."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.contracts import Role
from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.builders import SALES
from tests.integration.scopes_kit import send_as
from tests.integration.test_role_gates import GATES, Gate, World, approved, c7_capital_limit, world

pytestmark = pytest.mark.integration

__all__ = ["world"]  # the fixture, shared with the role gates' module

# The approvals of these rules, each sent by the lowest role its gate allows; the customers of the role
# gates' helpers are in EAST (``prospect``).
SCOPED_RULES = ("C4", "C5", "C6", "C7", "O2", "O6", "O7", "O8", "O9")
APPROVALS = [gate for gate in GATES if gate.rule in SCOPED_RULES]


def lowest_role(gate: Gate) -> str:
    return min(gate.allowed, key=list(Role).index).value


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


@pytest.mark.parametrize("gate", APPROVALS, ids=[f"{g.rule}-{g.command}" for g in APPROVALS])
async def test_scope_an_approval_by_the_right_role_in_the_wrong_region_is_refused(
    world: World, nc: NATS, settings: Settings, gate: Gate
) -> None:
    role = lowest_role(gate)
    body = await gate.due(world) | {"actor": {"id": f"{role}-user", "role": role}}
    before = world.stored(gate.service)
    refused = await as_user(nc, settings, "cmd", gate.command, body, Grant(role, "WEST"), gate.service)
    assert refused["error"]["code"] == "forbidden", refused
    assert refused["error"]["rule"] == "scope"
    assert world.stored(gate.service) == before
    accepted = await as_user(nc, settings, "cmd", gate.command, body, Grant(role, "EAST"), gate.service)
    assert accepted["ok"], (gate.rule, accepted)


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
