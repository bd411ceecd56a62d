"""Malformed command bodies get a structured ``invalid`` error naming the field, and store nothing (O14)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.settings import Settings
from tests.builders import GM, SALES, is_json_object
from tests.conftest import Requester
from tests.integration.orders_kit import Orders, customers_running, orders_running

pytestmark = pytest.mark.integration

VALID: dict[str, dict[str, Any]] = {
    "list_product": {
        "actor": GM,
        "product_code": "P-1",
        "name": "valve",
        "spec": "DN50",
        "list_price": "100.00",
        "standard_cost": "60.00",
    },
    "place_order": {
        "actor": SALES,
        "customer_id": "c-1",
        "channel": "phone",
        "lines": [{"product_code": "P-1", "quantity": 1}],
    },
    "reserve_goods": {
        "actor": SALES,
        "customer_id": "c-1",
        "product_code": "P-1",
        "quantity": 1,
        "deposit": "10.00",
    },
    "ship_order": {"actor": SALES, "order_id": "o-1", "lines": [{"product_code": "P-1", "quantity": 1}]},
    "record_payment": {"actor": SALES, "order_id": "o-1", "amount": "1.00"},
    "request_return": {
        "actor": SALES,
        "order_id": "o-1",
        "lines": [{"product_code": "P-1", "quantity": 1}],
        "reason": "damaged",
    },
    "report_shipment_problem": {
        "actor": SALES,
        "order_id": "o-1",
        "shipment_id": "s-1",
        "problem": "short",
        "lines": [{"product_code": "P-1", "quantity": 1}],
    },
    "accept_delivery": {
        "actor": SALES,
        "order_id": "o-1",
        "shipment_id": "s-1",
        "accepted_on": "2026-11-20",
        "accepted_by": "王伟",
    },
    "submit_request_list": {
        "actor": SALES,
        "customer_id": "c-1",
        "week": "2026-W48",
        "lines": [{"product_code": "P-1", "quantity": 1}],
    },
}

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# A value that is never valid for any field of these commands: every field is a scalar or a list of objects.
wrong_values = st.dictionaries(st.text(max_size=5), json_values, max_size=3) | st.lists(
    st.integers() | st.text(max_size=5), min_size=1, max_size=3
)


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(VALID)))
    body = dict(VALID[name])
    how = draw(st.sampled_from(["drop", "extra", "wrong", "garbage", "not_json"]))
    if how == "drop":
        body.pop(draw(st.sampled_from(sorted(body))))
    elif how == "extra":
        body["x_" + draw(st.text(alphabet="abcdefgh", min_size=1, max_size=8))] = draw(json_values)
    elif how == "wrong":
        body[draw(st.sampled_from(sorted(body)))] = draw(wrong_values)
    elif how == "garbage":
        body = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
    else:
        return name, draw(st.binary(min_size=1, max_size=40).filter(lambda b: not is_json_object(b)))
    return name, json.dumps(body).encode()


@pytest.fixture(scope="module")
async def running(settings: Settings, nc: NATS) -> AsyncIterator[Any]:
    clock = FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    async with customers_running(settings, clock), orders_running(settings, clock) as service:
        yield service


# The services' own threads (nats inbox ids, pools) use `random` while an example is drawn, not the strategy.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@hyp_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=malformed())
async def test_o14_malformed_bodies_get_structured_errors_and_store_nothing(
    running: Any, request_: Requester, case: tuple[str, bytes]
) -> None:
    name, body = case
    before = running.app.recorder.max_notification_id()
    reply = await request_("orders", "cmd", name, body)
    assert reply["ok"] is False, reply
    error = reply["error"]
    assert error["code"] == "invalid", reply
    assert error["details"]["errors"], reply
    assert all(problem["field"] for problem in error["details"]["errors"])
    assert running.app.recorder.max_notification_id() == before


async def test_o14_well_formed_bodies_pass_validation(running: Any, request_: Requester) -> None:
    """The property's bodies are malformed only by their mutation: the unmutated one passes validation."""
    orders = Orders(request_)
    listed = await orders.ok("list_product", VALID["list_product"])
    assert listed["product_code"] == "P-1"
