"""Role gates, negatively, for every approval of every service (DOMAIN.md C4-C7, C10-C13, O2, O4,
O6-O9, O15, O16, P4, P6).

For each approval the target is first brought into the state where the approval is due; then every
role that DOMAIN.md does not allow sends it through the bus and must be refused with ``forbidden`` and
the rule id, with nothing stored; last, an allowed role sends the same command and it succeeds (so the
refusals were about the role, not the state).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.complaints.api import register as register_complaints
from services.complaints.application import ComplaintsApplication
from services.complaints.scopes import SCHEMA as COMPLAINTS_VIEW
from shared.aggregate import at_least
from shared.clock import FixedClock
from shared.contracts import Role
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.settings import Settings
from tests.builders import BRANCH_MANAGER, FINANCE, PRODUCTION, SALES, SALES_MANAGER, SUPERVISOR, VP, prospect
from tests.conftest import Requester, service_running
from tests.fault.failover_support import write_doc_section
from tests.integration.orders_kit import Orders, customers_running, orders_running

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@dataclass
class World:
    """The three write services in-process and a client of their bus contract."""

    request_: Requester
    orders: Orders
    apps: dict[str, Any]

    async def ok(self, service: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.request_(service, "cmd", name, body)
        assert reply["ok"], reply
        result: dict[str, Any] = reply["result"]
        return result

    def stored(self, service: str) -> int:
        return int(self.apps[service].recorder.max_notification_id() or 0)


@pytest.fixture(scope="module")
async def world(settings: Settings, request_: Requester) -> AsyncIterator[World]:
    clock = FixedClock(START)
    ensure_database(settings, ["complaints"])
    complaints_app = ComplaintsApplication(
        settings, clock, PostgresCustomerDirectory(settings, COMPLAINTS_VIEW)
    )
    async with (
        customers_running(settings, clock) as customers,
        orders_running(settings, clock) as orders,
        service_running(complaints_app, register_complaints, settings) as complaints,
    ):
        apps = {"customers": customers.app, "orders": orders.app, "complaints": complaints.app}
        yield World(request_, Orders(request_), apps)


# ------------------------------------------------------------------ the states where an approval is due


async def checked_prospect(w: World, kind: str = "dealer") -> str:
    customer_id = str((await w.ok("customers", "register_prospect", prospect(kind)))["customer_id"])
    credit = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "100000"}
    await w.ok("customers", "investigate_credit", credit)
    return customer_id


async def approved(w: World, kind: str = "dealer") -> str:
    customer_id = await checked_prospect(w, kind)
    await w.ok("customers", "approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})
    return customer_id


async def c2_erase(w: World) -> dict[str, Any]:
    customer_id = str((await w.ok("customers", "register_prospect", prospect("dealer")))["customer_id"])
    return {"customer_id": customer_id, "reason": "the customer asked to be forgotten"}


async def c4_approve(w: World) -> dict[str, Any]:
    return {"customer_id": await checked_prospect(w)}


async def c4_reject(w: World) -> dict[str, Any]:
    return {"customer_id": await checked_prospect(w), "reason": "not a fit for the channel"}


async def c5_grade(w: World) -> dict[str, Any]:
    return {"customer_id": await approved(w), "grade": "A", "reason": "key account"}


async def c6_contract(w: World) -> dict[str, Any]:
    customer_id = await approved(w)
    number = f"HT-{customer_id[:8]}"
    return {
        "customer_id": customer_id,
        "contract_number": number,
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
    }


async def c7_capital_limit(w: World) -> dict[str, Any]:
    return {"customer_id": await approved(w, "branch"), "capital_limit": "500000"}


async def c10_edit(w: World) -> dict[str, Any]:
    # the gates' salesperson is not the customer's own (sp-1): only sales_supervisor and above may then
    return {"customer_id": await approved(w), "reason": "new office", "address": "9 Gate Road"}


async def c10_reassign(w: World) -> dict[str, Any]:
    return {"customer_id": await approved(w), "salesperson_id": "sp-gates-2", "reason": "territory change"}


async def c10_reassign_all(w: World) -> dict[str, Any]:
    return {"from_salesperson_id": "sp-1", "to_salesperson_id": "sp-gates-3", "reason": "sp-1 left"}


async def c10_move(w: World) -> dict[str, Any]:
    return {"customer_id": await approved(w), "region": "WEST", "reason": "moved its warehouse"}


async def c11_revise(w: World) -> dict[str, Any]:
    return {"customer_id": await approved(w), "rating": "fair", "credit_limit": "50000"}


async def c11_raise(w: World) -> dict[str, Any]:
    customer_id = await approved(w)
    revision = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "200000"}
    await w.ok("customers", "revise_credit", revision)
    return {"customer_id": customer_id}


async def c11_lift(w: World) -> dict[str, Any]:
    customer_id = await approved(w)
    revision = {"actor": FINANCE, "customer_id": customer_id, "rating": "poor", "credit_limit": "0"}
    await w.ok("customers", "revise_credit", revision)
    return {"customer_id": customer_id, "reason": "reviewed: debts settled"}


async def c11_security(w: World) -> dict[str, Any]:
    return {
        "customer_id": await approved(w),
        "security_kind": "collateral",
        "value": "10000",
        "holder": "finance safe",
        "expires_on": "2027-06-30",
    }


async def c12_contract(w: World) -> str:
    body = await c6_contract(w)
    await w.ok("customers", "sign_contract", body | {"actor": {"id": "rm-1", "role": "regional_manager"}})
    return str(body["customer_id"])


TERMS = {"payment_terms_days": 60, "delivery_terms": "CIF", "product_scope": None, "annual_volume": None}


async def c12_propose(w: World) -> dict[str, Any]:
    return {"customer_id": await c12_contract(w), "terms": TERMS, "reason": "more volume"}


async def c12_review(w: World) -> dict[str, Any]:
    step = await c12_propose(w)
    await w.ok("customers", "propose_contract_change", step | {"actor": SALES})
    return {"customer_id": step["customer_id"], "approve": True}  # the first step: supervisor review


async def c12_terminate(w: World) -> dict[str, Any]:
    return {"customer_id": await c12_contract(w), "reason": "mutual"}


async def c12_approve_termination(w: World) -> dict[str, Any]:
    step = await c12_terminate(w)
    await w.ok(
        "customers",
        "request_contract_termination",
        step | {"actor": {"id": "rm-1", "role": "regional_manager"}},
    )
    return {"customer_id": step["customer_id"]}


async def key_account(w: World) -> str:
    customer_id = await approved(w)
    await w.ok(
        "customers", "grade_customer", {"actor": SALES_MANAGER, "customer_id": customer_id, "grade": "A"}
    )
    return customer_id


async def c13_plan(w: World) -> dict[str, Any]:
    return {
        "customer_id": await key_account(w),
        "year": 2027,
        "sales_target": "1000000",
        "why_key": "largest dealer",
        "actions": ["monthly visit"],
    }


async def c13_advise(w: World) -> dict[str, Any]:
    plan = await c13_plan(w)
    await w.ok("customers", "write_key_account_plan", plan | {"actor": SALES_MANAGER})
    return {"customer_id": plan["customer_id"], "advice": "a hotline of its own"}


async def price_exception(w: World, unit_price: str) -> str:
    dealer = await w.orders.customer()
    product = await w.orders.product(quantity=10)
    body = {"actor": SALES, "customer_id": dealer, "product_code": product, "unit_price": unit_price}
    return str((await w.orders.ok("request_price_exception", body | {"reason": "tender"}))["id"])


async def o2_approve(w: World) -> dict[str, Any]:
    return {"exception_id": await price_exception(w, "95.00")}


async def o2_vote(w: World) -> dict[str, Any]:
    return {"exception_id": await price_exception(w, "85.00"), "in_favour": True}  # major: put to a vote


async def o6_release(w: World) -> dict[str, Any]:
    dealer = await w.orders.customer(credit_limit="1500")
    product = await w.orders.product(quantity=100)
    first = await w.orders.order(dealer, product, quantity=10)
    lines = [{"product_code": product, "quantity": 10}]
    await w.orders.ok("ship_order", {"actor": PRODUCTION, "order_id": first["id"], "lines": lines})
    held = await w.orders.order(dealer, product, quantity=6)  # 1000 outstanding + 600 > 1500
    assert held["holds"][0]["rule"] == "O6", held
    return {"order_id": held["id"], "rule": "O6"}


async def o7_release(w: World) -> dict[str, Any]:
    branch = await w.orders.customer("branch", contract=False, capital_limit="1000")
    product = await w.orders.product(quantity=100)
    await w.orders.order(branch, product, quantity=10, actor=BRANCH_MANAGER)
    held = await w.orders.order(branch, product, quantity=1, actor=BRANCH_MANAGER)
    assert held["holds"][0]["rule"] == "O7", held
    return {"order_id": held["id"], "rule": "O7"}


async def o8_release(w: World) -> dict[str, Any]:
    dealer = await w.orders.customer()
    product = await w.orders.product(in_production=False)
    held = await w.orders.order(dealer, product, quantity=5)
    assert held["holds"][0]["rule"] == "O8", held
    return {"order_id": held["id"], "rule": "O8"}


async def shipped_order(w: World) -> tuple[str, str]:
    """An order of 4 units shipped in full: its id and product."""
    dealer = await w.orders.customer()
    product = await w.orders.product(quantity=10)
    order = await w.orders.order(dealer, product, quantity=4)
    lines = [{"product_code": product, "quantity": 4}]
    await w.orders.ok("ship_order", {"actor": PRODUCTION, "order_id": order["id"], "lines": lines})
    return str(order["id"]), product


async def o15_approve(w: World) -> dict[str, Any]:
    order_id, product = await shipped_order(w)
    lines = [{"product_code": product, "quantity": 1}]
    body = {"actor": SALES, "order_id": order_id, "lines": lines, "reason": "damaged"}
    return {"order_id": order_id, "return_id": (await w.orders.ok("request_return", body))["return_id"]}


async def o15_book(w: World) -> dict[str, Any]:
    step = await o15_approve(w)
    await w.orders.ok("approve_return", step | {"actor": SALES_MANAGER})
    return step


async def o16_correct(w: World) -> dict[str, Any]:
    order_id, product = await shipped_order(w)
    order = await w.orders.query("get_order", {"order_id": order_id})
    (shipment_id,) = order["shipments"]
    lines = [{"product_code": product, "quantity": 1}]
    body = {
        "actor": SALES,
        "order_id": order_id,
        "shipment_id": shipment_id,
        "problem": "short",
        "lines": lines,
    }
    reported = await w.orders.ok("report_shipment_problem", body)
    return {"order_id": order_id, "correction_id": reported["correction_id"]}


async def o4_release(w: World) -> dict[str, Any]:
    dealer = await w.orders.customer(contract=False)
    product = await w.orders.product(quantity=10)
    contract = {
        "actor": {"id": "rm-1", "role": "regional_manager"},
        "customer_id": dealer,
        "contract_number": f"HT-{dealer[:8]}",
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
        "terms": TERMS | {"product_scope": ["OTHER-1"]},
    }
    await w.orders.known(dealer, (await w.ok("customers", "sign_contract", contract))["version"])
    held = await w.orders.order(dealer, product)
    assert (held["holds"][0]["rule"], held["holds"][0]["term"]) == ("O4", "product_scope"), held
    return {"order_id": held["id"], "rule": "O4"}


async def c11_release(w: World) -> dict[str, Any]:
    direct = await w.orders.customer("direct", contract=False)
    revision = {"actor": FINANCE, "customer_id": direct, "rating": "poor", "credit_limit": "100000"}
    await w.orders.known(direct, (await w.ok("customers", "revise_credit", revision))["version"])
    held = await w.orders.order(direct, await w.orders.product(quantity=10))
    assert held["holds"][0]["rule"] == "C11", held
    return {"order_id": held["id"], "rule": "C11"}


async def guarantee(w: World) -> str:
    dealer = await w.orders.customer()
    product = await w.orders.product(quantity=10)
    body = {"actor": SALES, "customer_id": dealer, "product_code": product, "quantity": 3}
    return str((await w.orders.ok("file_guarantee", body))["id"])


async def o9_agree(w: World) -> dict[str, Any]:
    return {"reservation_id": await guarantee(w)}


async def o9_approve(w: World) -> dict[str, Any]:
    reservation_id = await guarantee(w)
    await w.orders.ok("agree_guarantee", {"actor": SALES_MANAGER, "reservation_id": reservation_id})
    return {"reservation_id": reservation_id}


def service_complaint() -> dict[str, Any]:
    return {
        "actor": SALES,
        "complaint_type": "service",
        "customer_id": "cust-gates",
        "staff_id": "sp-gates",
        "description": "the salesperson was rude on the phone",
        "assigned_to": "vp-1",
        "assigned_role": "sales_vp",
    }


async def p4_verify(w: World) -> dict[str, Any]:
    complaint_id = (await w.ok("complaints", "log_complaint", service_complaint()))["complaint_id"]
    return {"complaint_id": complaint_id, "valid": True, "severity": "moderate"}


async def p4_decide(w: World) -> dict[str, Any]:
    step = await p4_verify(w)
    await w.ok("complaints", "verify_complaint", step | {"actor": VP})
    proposal = {"complaint_id": step["complaint_id"], "actor": SUPERVISOR, "proposal": "criticism, fine 150"}
    await w.ok("complaints", "propose_handling", proposal)
    return {"complaint_id": step["complaint_id"], "decision": "agreed"}


async def p6_decide_quality(w: World) -> dict[str, Any]:
    logged = {
        "actor": SALES,
        "complaint_type": "quality",
        "customer_id": "cust-gates",
        "receipt_number": "FH-1",
        "product_name": "globe valve",
        "spec": "DN50",
        "quantity": 4,
        "purchase_date": "2026-10-30",
        "description": "valve bodies leak",
        "assigned_to": SALES_MANAGER["id"],
    }
    complaint_id = (await w.ok("complaints", "log_complaint", logged))["complaint_id"]
    start = {"complaint_id": complaint_id, "actor": SALES_MANAGER, "departments_notified": ["quality"]}
    await w.ok("complaints", "start_investigation", start)
    return {"complaint_id": complaint_id, "valid": True, "cause": "casting porosity"}


@dataclass(frozen=True)
class Gate:
    service: str
    command: str
    rule: str
    allowed: frozenset[Role]  # as DOMAIN.md states it
    due: Callable[[World], Awaitable[dict[str, Any]]]


GATES = [
    Gate("customers", "erase_personal_data", "C2", frozenset({Role.GENERAL_MANAGER}), c2_erase),
    Gate("customers", "approve_customer", "C4", at_least(Role.SALES_SUPERVISOR), c4_approve),
    Gate("customers", "reject_customer", "C4", at_least(Role.SALES_SUPERVISOR), c4_reject),
    Gate("customers", "grade_customer", "C5", at_least(Role.SALES_MANAGER), c5_grade),
    Gate("customers", "sign_contract", "C6", at_least(Role.REGIONAL_MANAGER), c6_contract),
    Gate("customers", "set_capital_limit", "C7", at_least(Role.MARKETING_DIRECTOR), c7_capital_limit),
    Gate("customers", "edit_customer_file", "C10", at_least(Role.SALES_SUPERVISOR), c10_edit),
    Gate("customers", "reassign_customer", "C10", at_least(Role.SALES_SUPERVISOR), c10_reassign),
    Gate(
        "customers",
        "reassign_salesperson_customers",
        "C10",
        at_least(Role.SALES_SUPERVISOR),
        c10_reassign_all,
    ),
    Gate("customers", "move_customer_region", "C10", at_least(Role.REGIONAL_MANAGER), c10_move),
    Gate("customers", "revise_credit", "C11", at_least(Role.SALESPERSON) | {Role.FINANCE}, c11_revise),
    Gate("customers", "approve_credit_raise", "C11", at_least(Role.SALES_MANAGER), c11_raise),
    Gate("customers", "lift_credit_hold", "C11", at_least(Role.SALES_MANAGER), c11_lift),
    Gate("customers", "record_security", "C11", at_least(Role.SALES_MANAGER), c11_security),
    Gate("customers", "propose_contract_change", "C12", at_least(Role.SALESPERSON), c12_propose),
    Gate("customers", "review_contract_change", "C12", frozenset({Role.SALES_SUPERVISOR}), c12_review),
    Gate(
        "customers", "request_contract_termination", "C12", frozenset({Role.REGIONAL_MANAGER}), c12_terminate
    ),
    Gate(
        "customers",
        "approve_contract_termination",
        "C12",
        frozenset({Role.GENERAL_MANAGER}),
        c12_approve_termination,
    ),
    Gate("customers", "write_key_account_plan", "C13", frozenset({Role.SALES_MANAGER}), c13_plan),
    Gate(
        "customers",
        "advise_key_account_plan",
        "C13",
        frozenset({Role.CUSTOMER_SERVICE_MANAGER, Role.GENERAL_MANAGER}),
        c13_advise,
    ),
    Gate("orders", "approve_price_exception", "O2", frozenset({Role.GENERAL_MANAGER}), o2_approve),
    Gate(
        "orders",
        "vote_price_exception",
        "O2",
        frozenset({Role.SALES_MANAGER, Role.FINANCE, Role.PRODUCTION, Role.MARKETING_DIRECTOR}),
        o2_vote,
    ),
    Gate("orders", "release_order", "O4", at_least(Role.REGIONAL_MANAGER), o4_release),
    Gate("orders", "release_order", "O6", at_least(Role.SALES_MANAGER), o6_release),
    Gate("orders", "release_order", "O7", frozenset({Role.MARKETING_DIRECTOR}), o7_release),
    Gate("orders", "release_order", "O8", frozenset({Role.GENERAL_MANAGER}), o8_release),
    Gate("orders", "release_order", "C11", at_least(Role.SALES_MANAGER), c11_release),
    Gate("orders", "agree_guarantee", "O9", frozenset({Role.SALES_MANAGER}), o9_agree),
    Gate("orders", "approve_guarantee", "O9", frozenset({Role.GENERAL_MANAGER}), o9_approve),
    Gate("orders", "approve_return", "O15", at_least(Role.SALES_MANAGER), o15_approve),
    Gate("orders", "book_return", "O15", frozenset({Role.PRODUCTION}), o15_book),
    Gate("orders", "credit_shipment", "O16", at_least(Role.SALES_MANAGER), o16_correct),
    Gate("orders", "ship_correction", "O16", frozenset({Role.PRODUCTION}), o16_correct),
    Gate("complaints", "verify_complaint", "P4", frozenset({Role.SALES_VP, Role.GENERAL_MANAGER}), p4_verify),
    Gate("complaints", "decide_handling", "P4", frozenset({Role.SALES_VP, Role.GENERAL_MANAGER}), p4_decide),
    Gate("complaints", "verify_complaint", "P6", frozenset({Role.GENERAL_MANAGER}), p6_decide_quality),
]


FIGURES = {"approvals": 0, "refused": 0, "stored_by_refusals": 0, "allowed_ok": 0}


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    if FIGURES["approvals"]:
        f = FIGURES
        table = [
            "| approvals | refusals (`forbidden` + rule) | events stored by them | allowed role ok |",
            "|---|---|---|---|",
            f"| {f['approvals']} | {f['refused']} | {f['stored_by_refusals']} | {f['allowed_ok']} |",
        ]
        text = [
            "## Role gates, negatively (`tests/integration/test_role_gates.py`)",
            "",
            "Every approval of DOMAIN.md (C2 erasure of personal data, C4 approve/reject, C5, C6, C7,",
            "C10 file edit/reassignment/region move, C11 credit revision/raise/hold/security, C12 contract",
            "change chain and termination, C13 key-account plan and advice,",
            "O2 approve/vote, O4/O6/O7/O8/C11 release, O9 agree/approve, O15 approve/book a return, O16",
            "credit/ship a correction, P4 verify/decide, P6) is brought into the state where it is due, then",
            "sent through the bus by every role that may not give it; then once by an allowed role.",
            "",
            *table,
        ]
        write_doc_section("role-gates", "\n".join(text))


@pytest.mark.parametrize("gate", GATES, ids=lambda g: f"{g.rule}-{g.command}")
async def test_every_role_not_allowed_is_refused_each_approval_with_its_rule_and_nothing_stored(
    world: World, gate: Gate
) -> None:
    body = await gate.due(world)
    before = world.stored(gate.service)
    refused: list[str] = []
    for role in Role:
        if role in gate.allowed:
            continue
        actor = {"id": f"{role.value}-gates", "role": role.value}
        reply = await world.request_(gate.service, "cmd", gate.command, body | {"actor": actor})
        assert not reply["ok"], (role, reply)
        assert (reply["error"]["code"], reply["error"]["rule"]) == ("forbidden", gate.rule), (role, reply)
        refused.append(role.value)
    FIGURES["approvals"] += 1
    FIGURES["refused"] += len(refused)
    FIGURES["stored_by_refusals"] += world.stored(gate.service) - before
    assert world.stored(gate.service) == before, "a refused approval stored something"
    assert len(refused) == len(Role) - len(gate.allowed)
    # The positive control: the same command from an allowed role goes through.
    allowed = sorted(gate.allowed)[0]
    actor = {"id": f"{allowed.value}-gates", "role": allowed.value}
    reply = await world.request_(gate.service, "cmd", gate.command, body | {"actor": actor})
    assert reply["ok"], (allowed, reply)
    assert world.stored(gate.service) > before
    FIGURES["allowed_ok"] += 1
