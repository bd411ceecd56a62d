"""The demo flow, driven only through the bus contract (plain NATS and JSON, as any client would).

register a dealer → credit check → approve (code) → contract → place an order at list price →
hold goods with a deposit → a service complaint against a salesperson → verified → fine → the dealer's
file edited, the dealer reassigned, its contract terms changed; a branch with a capital limit that places
an order; the field's targets, a visit and an expense claim (``demo_field.py``). Used by ``./salesops up``
and the end-to-end test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.identity.client import Credentials
from shared.identity.tokens import Grant
from shared.retry import poll
from shared.settings import Settings

SALESPERSON = {"id": "sp-wang", "role": "salesperson"}
# who works the dealer once it is reassigned (C10): only they may act on it from then on (scopes)
SUCCESSOR = {"id": "sp-liu", "role": "salesperson"}
SUPERVISOR = {"id": "sup-li", "role": "sales_supervisor"}
FINANCE = {"id": "fin-zhao", "role": "finance"}
REGIONAL = {"id": "rm-chen", "role": "regional_manager"}
DIRECTOR = {"id": "md-sun", "role": "marketing_director"}
GM = {"id": "gm-zhou", "role": "general_manager"}
PRODUCTION = {"id": "prod-wu", "role": "production"}
VP = {"id": "vp-qian", "role": "sales_vp"}
BRANCH_MANAGER = {"id": "bm-he", "role": "branch_manager"}

# The demo's users, one or more for every role, with the scope each role is held in (the demo's
# customers are in EAST). ``./salesops up`` writes a token for each to .state/identity/demo-tokens.json.
DEMO_USERS: dict[str, tuple[Grant, ...]] = {
    "sp-wang": (Grant("salesperson", "EAST"),),
    "sp-liu": (Grant("salesperson", "EAST"),),
    "sp-branch": (Grant("salesperson", "EAST"),),
    "sup-li": (Grant("sales_supervisor", "EAST"),),
    "cs-lin": (Grant("sales_supervisor", "EAST"),),
    "sm-gao": (Grant("sales_manager", "EAST"),),
    "rm-chen": (Grant("regional_manager", "EAST"),),
    "bm-he": (Grant("branch_manager", "EAST"),),
    "tech-ma": (Grant("technician", "EAST"),),
    "fin-zhao": (Grant("finance"),),
    "md-sun": (Grant("marketing_director"),),
    "vp-qian": (Grant("sales_vp"),),
    "gm-zhou": (Grant("general_manager"),),
    "prod-wu": (Grant("production"),),
    "csm-lin": (Grant("customer_service_manager"),),
    "aud-xu": (Grant("auditor"),),  # reads reports and the audit trail only (services/reporting/sessions.py)
}

PRODUCT = "PV-100"
LIST_PRICE = "1200.00"


class CommandRefused(RuntimeError):
    pass


@dataclass
class Client:
    nc: NATS
    namespace: str
    timeout: float = 10.0
    # tokens for the body's actors, signed with the embedded issuer's key (SALESOPS_IDENTITY_SIGNING_KEY_FILE)
    credentials: Credentials = field(
        default_factory=lambda: Credentials.from_settings(Settings(), DEMO_USERS)
    )

    async def send(self, service: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # No responder yet (a service still starting, or its interest not yet across a cluster's routes):
        # nothing was delivered, so asking again is safe.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(NoRespondersError),
            stop=stop_after_delay(30),
            wait=wait_fixed(0.2),
            reraise=True,
        ):
            with attempt:
                reply = await self.nc.request(
                    f"{self.namespace}.{service}.{kind}.{name}",
                    json.dumps(body).encode(),
                    timeout=self.timeout,
                    headers=self.credentials.headers(body),
                )
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    async def cmd(self, service: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.send(service, "cmd", name, body)
        if not answer["ok"]:
            raise CommandRefused(f"{service}.{name}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def query(self, service: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.send(service, "query", name, body)

    async def until(
        self, service: str, name: str, body: dict[str, Any], check: Any, timeout: float = 30.0
    ) -> Any:
        """Ask a query until ``check(reply)`` holds: the read sides follow the events asynchronously."""
        answer = await poll(lambda: self.query(service, name, body), check, timeout=timeout, every=0.1)
        if not check(answer):
            raise TimeoutError(f"{service}.{name} {body}: last answer {answer}")
        return answer


@dataclass
class Demo:
    """What the flow created, and what the projections must then show."""

    dealer_id: str = ""
    dealer_code: str = ""
    # who works the dealer: only they may act on it (scopes); another after its reassignment (C10)
    dealer_salesperson: dict[str, str] = field(default_factory=lambda: dict(SALESPERSON))
    branch_id: str = ""
    order_amount: str = ""
    deposit: str = ""
    branch_order_amount: str = ""
    fine: str = ""
    period: str = ""
    notes: list[str] = field(default_factory=list)


def application(kind: str, name: str, region: str) -> dict[str, Any]:
    return {
        "actor": SALESPERSON,
        "kind": kind,
        "region": region,
        "salesperson_id": SALESPERSON["id"],
        "company_name": name,
        "founding_date": "2009-04-18",
        "legal_representative": "王建国",
        "registered_capital": "5000000.00",
        "address": "浙江省杭州市西湖区文三路 90 号",
        "phone": "0571-88886666",
        "business_scale": "medium",
        "staff_count": 85,
        "annual_sales": "36000000.00",
        "main_products": ["valves", "pumps"],
        "preferred_payment_terms": "30 days",
        "bank": "中国工商银行杭州分行",
    }


async def onboard(client: Client, demo: Demo, year: int) -> None:
    """Customers: a dealer with a contract and a branch with a capital limit; a product in stock."""
    await client.cmd(
        "orders",
        "list_product",
        {
            "actor": GM,
            "product_code": PRODUCT,
            "name": "Pressure valve",
            "spec": "DN100",
            "list_price": LIST_PRICE,
            "standard_cost": "780.00",
        },
    )
    await client.cmd(
        "orders", "receive_stock", {"actor": PRODUCTION, "product_code": PRODUCT, "quantity": 500}
    )

    demo.dealer_id, demo.dealer_code = await approved_customer(
        client,
        application("dealer", "杭州华顺贸易有限公司", "EAST"),
        "500000.00",
        notes="bank references good, no overdue history",
    )
    await client.cmd(
        "customers",
        "sign_contract",
        {
            "actor": REGIONAL,
            "customer_id": demo.dealer_id,
            "contract_number": f"HT-{year}-0001",
            "valid_from": f"{year}-01-01",
            "valid_to": f"{year + 1}-12-31",
        },
    )

    demo.branch_id, _ = await approved_customer(
        client, application("branch", "宁波分公司", "EAST"), "2000000.00"
    )
    await client.cmd(
        "customers",
        "set_capital_limit",
        {"actor": DIRECTOR, "customer_id": demo.branch_id, "capital_limit": "1000000.00"},
    )


async def approved_customer(
    client: Client, application: dict[str, Any], credit_limit: str, **investigation: str
) -> tuple[str, str]:
    """A prospect registered, its credit investigated (good, ``credit_limit``), approved: its id and code."""
    customer_id = (await client.cmd("customers", "register_prospect", application))["customer_id"]
    await client.cmd(
        "customers",
        "investigate_credit",
        {
            "actor": FINANCE,
            "customer_id": customer_id,
            "rating": "good",
            "credit_limit": credit_limit,
            **investigation,
        },
    )
    approved = await client.cmd(
        "customers", "approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id}
    )
    return customer_id, approved["code"]


def knows(customer_id: str, field_name: str) -> Any:
    def check(answer: dict[str, Any]) -> bool:
        return bool(answer["ok"] and answer["result"].get(field_name))

    return check


async def trade(client: Client, demo: Demo) -> None:
    """Orders and holds, once orders' own view of the customers has caught up with their events."""
    await client.until(
        "orders",
        "get_customer_view",
        {"customer_id": demo.dealer_id},
        knows(demo.dealer_id, "contract_valid_to"),
    )
    await client.until(
        "orders", "get_customer_view", {"customer_id": demo.branch_id}, knows(demo.branch_id, "capital_limit")
    )
    order = await client.cmd(
        "orders",
        "place_order",
        {
            "actor": SALESPERSON,
            "customer_id": demo.dealer_id,
            "channel": "phone",
            "lines": [{"product_code": PRODUCT, "quantity": 10, "unit_price": LIST_PRICE}],
            "idempotency_key": f"demo-order-{demo.dealer_id}",
        },
    )
    demo.order_amount = order["total_amount"]
    demo.notes.append(
        f"order {order.get('order_number', order['id'])}: {order['status']}, {order['total_amount']} CNY"
    )
    hold = await client.cmd(
        "orders",
        "reserve_goods",
        {
            "actor": SALESPERSON,
            "customer_id": demo.dealer_id,
            "product_code": PRODUCT,
            "quantity": 5,
            "deposit": "600.00",
        },
    )
    demo.deposit = "600.00"
    demo.notes.append(f"hold {hold['id']}: 5 × {PRODUCT}, deposit 600.00, expires {hold.get('expires_at')}")
    branch_order = await client.cmd(
        "orders",
        "place_order",
        {
            "actor": {"id": "sp-branch", "role": "salesperson"},
            "customer_id": demo.branch_id,
            "channel": "branch",
            "lines": [{"product_code": PRODUCT, "quantity": 20, "unit_price": LIST_PRICE}],
        },
    )
    demo.branch_order_amount = branch_order["total_amount"]
    demo.notes.append(f"branch order: {branch_order['status']}, {branch_order['total_amount']} CNY")


async def complain(client: Client, demo: Demo) -> None:
    """A service complaint against the salesperson, verified valid (moderate): a 150 yuan fine."""
    complaint = await client.cmd(
        "complaints",
        "log_complaint",
        {
            "actor": {"id": "cs-lin", "role": "sales_supervisor"},
            "complaint_type": "service",
            "customer_id": demo.dealer_id,
            "staff_id": SALESPERSON["id"],
            "assigned_to": VP["id"],
            "assigned_role": "sales_vp",
            "description": "销售人员态度恶劣 / rude to the customer on the phone",
        },
    )
    verified = await client.cmd(
        "complaints",
        "verify_complaint",
        {
            "actor": VP,
            "complaint_id": complaint["complaint_id"],
            "valid": True,
            "severity": "moderate",
            "cause": "confirmed by call recording",
        },
    )
    demo.fine = "150.00"
    demo.notes.append(
        f"complaint {complaint['complaint_id']}: valid (moderate), fine 150.00 ({verified.get('status')})"
    )


async def keep_file(client: Client, demo: Demo) -> None:
    """C10/C12: the dealer's file edited, the dealer reassigned, its contract's terms changed by the chain."""
    dealer = demo.dealer_id
    edit = {"actor": SALESPERSON, "customer_id": dealer, "reason": "moved to a new office"}
    await client.cmd("customers", "edit_customer_file", edit | {"address": "杭州市滨江区江南大道 88 号"})
    await client.cmd(
        "customers",
        "reassign_customer",
        {
            "actor": SUPERVISOR,
            "customer_id": dealer,
            "salesperson_id": SUCCESSOR["id"],
            "reason": "sp-wang left",
        },
    )
    demo.dealer_salesperson = dict(SUCCESSOR)
    terms = {"payment_terms_days": 45, "delivery_terms": "FOB Hangzhou", "product_scope": None}
    change = {
        "customer_id": dealer,
        "terms": terms | {"annual_volume": "2000000.00"},
        "reason": "bigger year",
    }
    await client.cmd("customers", "propose_contract_change", change | {"actor": SUCCESSOR})
    for reviewer in (SUPERVISOR, REGIONAL, GM):
        changed = await client.cmd(
            "customers", "review_contract_change", {"actor": reviewer, "customer_id": dealer, "approve": True}
        )
    demo.notes.append(
        f"dealer file edited (address), reassigned to sp-liu, contract terms changed: "
        f"{changed['terms']['payment_terms_days']} days to pay"
    )


async def traded(client: Client, year: int) -> Demo:
    """The demo's customers onboarded, the dealer's order and hold placed, the branch's order too."""
    demo = Demo()
    await onboard(client, demo, year)
    await trade(client, demo)
    return demo


async def run_flow(client: Client, year: int) -> Demo:
    demo = await traded(client, year)
    await complain(client, demo)
    await keep_file(client, demo)
    from deploy.local.demo_field import field_work  # imports this module's actors

    await field_work(client, demo)
    return demo


def reporting_period(at: datetime) -> str:
    """R1 as the contract states it: period M runs from the 29th of M-1 to the 28th of M, Shanghai time."""
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    if local.day >= 29:
        local = (local.replace(day=28) + timedelta(days=7)).replace(day=1)
    return f"{local.year:04d}-{local.month:02d}"


def has_rows(answer: dict[str, Any]) -> bool:
    return bool(answer["ok"] and answer["result"].get("rows"))


def shows_its_orders(answer: dict[str, Any]) -> bool:
    """The row is there and reporting has taken in its orders too (the orders stream may lag the others)."""
    return has_rows(answer) and answer["result"]["rows"][0]["orders"] >= 1


async def run_demo(nc: NATS, namespace: str) -> str:
    """Run the flow and return what to show: the monthly distributor and branch projections."""
    client = Client(nc, namespace)
    now = datetime.now(UTC)
    demo = await run_flow(client, now.year)
    lines = ["[salesops] demo flow loaded:", *(f"  {note}" for note in demo.notes)]
    period = reporting_period(now)
    dealer = await client.until(
        "reporting",
        "distributor_monthly",
        {"period": period, "customer_id": demo.dealer_id},
        shows_its_orders,
    )
    branch = await client.until(
        "reporting", "branch_monthly", {"period": period, "customer_id": demo.branch_id}, shows_its_orders
    )
    lines.append(f"  distributor projection: {json.dumps(dealer['result']['rows'][0], ensure_ascii=False)}")
    lines.append(f"  branch projection:      {json.dumps(branch['result']['rows'][0], ensure_ascii=False)}")
    from deploy.local.demo_field import reported  # imports this module's actors

    lines += [f"  {line}" for line in await reported(client, period)]  # R11 attainment, R13
    return "\n".join(lines)
