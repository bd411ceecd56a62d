"""Customers service against real PostgreSQL and NATS, through the bus contract only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shared.contracts import Role
from tests.builders import FINANCE, SALES, SUPERVISOR, prospect
from tests.conftest import Requester, wait_for

pytestmark = pytest.mark.integration


async def registered(request_: Requester, **overrides: Any) -> str:
    reply = await request_("customers", "cmd", "register_prospect", prospect(**overrides))
    assert reply["ok"], reply
    return reply["result"]["customer_id"]


async def investigated(
    request_: Requester, customer_id: str, rating: str, credit_limit: str, **more: str
) -> Any:
    """The reply to finance's credit investigation (C3) of the customer."""
    body = {"actor": FINANCE, "customer_id": customer_id, "rating": rating, "credit_limit": credit_limit}
    return await request_("customers", "cmd", "investigate_credit", body | more)


async def test_c4_concurrent_approvals_assign_exactly_one_code(customers: Any, request_: Requester) -> None:
    customer_id = await registered(request_)
    checked = await investigated(request_, customer_id, "good", "800000")
    assert checked["ok"], checked
    approve = {"customer_id": customer_id}
    replies = await asyncio.gather(
        request_("customers", "cmd", "approve_customer", {**approve, "actor": SUPERVISOR}),
        request_(
            "customers",
            "cmd",
            "approve_customer",
            {**approve, "actor": {"id": "sup-2", "role": "sales_supervisor"}},
        ),
    )
    assert sorted(r["ok"] for r in replies) == [False, True]
    refused = next(r for r in replies if not r["ok"])
    assert refused["error"]["rule"] == "C4"
    code = next(r for r in replies if r["ok"])["result"]["code"]
    assert code.startswith("EAST-D")
    found = await request_("customers", "query", "get_customer", {"code": code})
    assert found["result"]["customer_id"] == customer_id


async def test_c2_c3_poor_credit_rejects_over_the_bus(customers: Any, request_: Requester) -> None:
    customer_id = await registered(request_)
    reply = await investigated(request_, customer_id, "poor", "0", notes="lawsuits")
    assert reply["ok"] and reply["result"]["status"] == "rejected"


async def test_c4_wrong_role_is_refused_with_rule_and_stores_nothing(
    customers: Any, request_: Requester
) -> None:
    customer_id = await registered(request_)
    before = customers.app.recorder.max_notification_id()
    reply = await request_(
        "customers", "cmd", "approve_customer", {"actor": SALES, "customer_id": customer_id}
    )
    assert reply == {
        "ok": False,
        "error": {
            "code": "forbidden",
            "message": "salesperson may not approve a customer",
            "rule": "C4",
            "details": reply["error"]["details"],
        },
    }
    assert customers.app.recorder.max_notification_id() == before


async def test_unknown_command_and_non_json_get_structured_errors(
    customers: Any, request_: Requester
) -> None:
    unknown = await request_("customers", "cmd", "delete_everything", {"actor": SALES})
    assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_command"
    garbage = await request_("customers", "cmd", "register_prospect", b"\xff not json")
    assert garbage["ok"] is False and garbage["error"]["code"] == "invalid"


# Property: any body that breaks the contract gets a structured error and stores nothing. Bodies are a
# valid application with one field removed, retyped or added, so each breaks exactly one thing.
VALID = prospect()
REQUIRED = [name for name in VALID if name != "actor"] + ["actor"]
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def broken_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = dict(VALID)
    how = draw(st.sampled_from(["drop", "retype", "extra", "bad_money", "bad_role"]))
    if how == "drop":
        body.pop(draw(st.sampled_from(REQUIRED)))
    elif how == "retype":
        body[draw(st.sampled_from(REQUIRED))] = draw(WRONG_VALUES)
    elif how == "extra":
        body[
            draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in VALID and k not in OPTIONAL))
        ] = 1
    elif how == "bad_money":
        body["registered_capital"] = draw(st.sampled_from(["-1", "1.234", "abc", "1e400", "NaN"]))
    else:
        body["actor"] = {"id": "x", "role": draw(st.text(max_size=12).filter(lambda r: r not in ROLES))}
    return body


OPTIONAL = {"idempotency_key", "correlation_id"}
ROLES = {role.value for role in Role}


async def test_malformed_register_bodies_are_refused_and_store_nothing(
    customers: Any, request_: Requester
) -> None:
    loop = asyncio.get_running_loop()
    before = customers.app.recorder.max_notification_id()

    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(broken_bodies())
    def refused(body: dict[str, Any]) -> None:
        reply = asyncio.run_coroutine_threadsafe(
            request_("customers", "cmd", "register_prospect", body), loop
        ).result()
        assert reply["ok"] is False, body
        assert reply["error"]["code"] == "invalid"
        assert reply["error"]["details"]["errors"][0]["field"]

    await asyncio.to_thread(refused)  # Hypothesis drives a sync test; the bus stays on this loop
    assert customers.app.recorder.max_notification_id() == before


async def test_c1_list_customers_by_region_kind_grade_and_salesperson(
    customers: Any, request_: Requester
) -> None:
    west_dealer = await registered(request_, region="WEST", salesperson_id="sp-west")
    west_agent = await registered(request_, region="WEST", kind="agent", salesperson_id="sp-west")
    await registered(request_, region="SOUTH", salesperson_id="sp-south")
    checked = await investigated(request_, west_dealer, "good", "1000")
    assert checked["ok"]
    await request_("customers", "cmd", "approve_customer", {"actor": SUPERVISOR, "customer_id": west_dealer})
    graded = await request_(
        "customers",
        "cmd",
        "grade_customer",
        {"actor": {"id": "sm-1", "role": "sales_manager"}, "customer_id": west_dealer, "grade": "A"},
    )
    assert graded["ok"], graded

    async def listed(query: dict[str, Any]) -> list[str]:
        reply = await request_("customers", "query", "list_customers", query)
        assert reply["ok"], reply
        return [c["customer_id"] for c in reply["result"]["customers"]]

    async def directory_caught_up() -> bool:
        return await listed({"region": "WEST", "grade": "A"}) == [west_dealer]

    await wait_for(directory_caught_up)
    assert sorted(await listed({"region": "WEST"})) == sorted([west_dealer, west_agent])
    assert await listed({"region": "WEST", "kind": "agent"}) == [west_agent]
    assert sorted(await listed({"salesperson_id": "sp-west"})) == sorted([west_dealer, west_agent])
    assert await listed({"region": "WEST", "status": "approved"}) == [west_dealer]
    refused = await request_("customers", "query", "list_customers", {"kind": "wholesaler"})
    assert refused["ok"] is False and refused["error"]["details"]["errors"][0]["field"] == "kind"
