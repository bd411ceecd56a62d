"""Issue #22: the dashboard shows every value of the services' enums in the reader's words. Every page of a
demo-like dataset (every kind of customer, order status, feedback and service request, alerts of every
kind, events by many roles) is rendered in zh-CN and in English and read for raw identifiers."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from nats.aio.client import Client as NATS

from services.complaints.domain.aftersales import ServiceKind
from services.complaints.domain.feedback import FeedbackKind
from services.orders.domain.orders import OrderStatus
from services.reporting.dashboard.router import NAV
from services.reporting.projector import OPENING
from shared.clock import BUSINESS_TZ
from shared.contracts import Actor, Role
from shared.customer_contract import Kind, Status
from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.conftest import CREDENTIALS
from tests.integration.reporting_kit import SYSTEM, Events, consumed, reporting_running

pytestmark = pytest.mark.integration

# The service's own clock (a sign-in token is checked against it): the pages show the current period.
NOW = datetime.now(BUSINESS_TZ)
SIGNED_IN = {"Authorization": f"Bearer {CREDENTIALS.token('gm-words', Grant('general_manager'))}"}
# What the reports carry as identifiers, which a page must show in words.
ENUMS = {
    *(e.value for kind in (Role, Kind, Status, OrderStatus, FeedbackKind, ServiceKind) for e in kind),
    OPENING,
}
# The cells the business names itself (a company's name, a reason typed by a person) are not read.
CELL = re.compile(r'<td class="([^"]*)"[^>]*>(.*?)</td>|<option [^>]*>(.*?)</option>|<p>(.*?)</p>', re.S)
TAG = re.compile(r"<[^>]+>")
WORD = re.compile(r"[A-Za-z][A-Za-z_]*")


def demo(ev: Events) -> list[str]:
    """Customers of every kind with orders in every status, an opening receivable, holds, complaints, every
    kind of feedback and service request, a security and a contract expiring, events by many roles."""
    when = NOW - timedelta(days=5)
    customers = [
        ev.customer(
            NOW - timedelta(days=60),
            kind=kind.value,
            region="WORDS",
            code=f"WORDS-{kind.value[0].upper()}0001",
        )
        for kind in Kind
    ]
    dealer = customers[1]
    statuses = [s for s in OrderStatus if s is not OrderStatus.ACCEPTED]
    for status in statuses:
        oid = ev.order(dealer, when, [("P-1", 2, "100.00")])
        ev.order_event(oid, dealer, when, "OrderHeld", status=status.value, rule="O6")
    ev.order(dealer, when, [("P-1", 1, "100.00")])  # accepted
    opening = {"receivable_id": str(uuid.uuid4()), "customer_id": dealer, "amount": "700.00",
               "due_on": (NOW - timedelta(days=40)).date().isoformat()}  # fmt: skip
    finance = Actor(id="fin-1", role=Role.FINANCE)
    ev.make(
        "orders", "CustomerAccount", f"acct-{dealer}", "OpeningReceivableRecorded", when, opening, finance
    )
    ev.hold(dealer, NOW - timedelta(hours=1), "500.00", "50.00")
    manager = Actor(id="mgr-1", role=Role.SALES_MANAGER)
    security = {"security_id": "sec-1", "security_kind": "collateral", "value": "9000.00", "holder": "王伟",
                "expires_on": (NOW + timedelta(days=10)).date().isoformat()}  # fmt: skip
    ev.make("customers", "Customer", dealer, "SecurityRecorded", when, security, manager)
    contract = {"contract_number": "HT-1", "valid_from": (NOW - timedelta(days=60)).date().isoformat(),
                "valid_to": (NOW + timedelta(days=20)).date().isoformat()}  # fmt: skip
    rm = Actor(id="rm-1", role=Role.REGIONAL_MANAGER)
    ev.make("customers", "Customer", dealer, "ContractSigned", when, contract, rm)
    for complaint_type in ("quality", "service"):
        complaint = ev.complaint(dealer, when, complaint_type)
        late = {"stage": "resolve", "deadline": (NOW - timedelta(days=1)).isoformat(), "customer_id": dealer}
        ev.make(
            "complaints", "Complaint", complaint, "ComplaintOverdue", NOW - timedelta(days=1), late, SYSTEM
        )
    for feedback_kind in FeedbackKind:
        feedback = {"customer_id": dealer, "kind": feedback_kind.value, "assigned_to": "sp-1", "major": False}
        ev.make("complaints", "Feedback", str(uuid.uuid4()), "FeedbackLogged", when, feedback)
    for service_kind in ServiceKind:
        request = {"customer_id": dealer, "kind": service_kind.value, "region": "WORDS"}
        ev.make("complaints", "ServiceRequest", str(uuid.uuid4()), "ServiceRequestLogged", when, request)
    return customers


@pytest.fixture(scope="module")
async def pages(nc: NATS, settings: Settings) -> AsyncIterator[dict[str, list[str]]]:
    """Every page's HTML per language: the navigation's pages and each customer's page."""
    ev = Events()
    customers = demo(ev)
    async with reporting_running(settings, http=True, http_port=0) as service:
        await consumed(nc, settings, service, ev)
        base = f"http://127.0.0.1:{service.http_port}"
        paths = ["/dashboard" if name == "overview" else f"/dashboard/{name}" for name in NAV] + [
            f"/dashboard/customer/{cid}" for cid in customers
        ]
        shown: dict[str, list[str]] = {}
        async with httpx.AsyncClient(base_url=base, headers=SIGNED_IN) as client:
            for lang in ("zh-CN", "en"):
                answers = [await client.get(path, params={"lang": lang}) for path in paths]
                assert [a.status_code for a in answers] == [200] * len(paths)
                shown[lang] = [a.text for a in answers]
        yield shown


def raw_identifiers(page: str) -> set[str]:
    """The enum identifiers in a page's cells, filter choices and lines of facts (names not read)."""
    found = set()
    for css, cell, option, line in CELL.findall(page):
        if "name" in css.split():
            continue
        text = html.unescape(TAG.sub(" ", cell or option or line))
        found |= {word for word in WORD.findall(text) if word in ENUMS}
    return found


def test_every_enum_value_on_the_pages_shows_in_chinese(pages: dict[str, list[str]]) -> None:
    assert [raw_identifiers(page) for page in pages["zh-CN"] if raw_identifiers(page)] == []
    assert all("预警" in page for page in pages["zh-CN"])


def test_no_enum_identifier_shows_as_code_in_english_either(pages: dict[str, list[str]]) -> None:
    coded = [{word for word in raw_identifiers(page) if "_" in word} for page in pages["en"]]
    assert [found for found in coded if found] == []
    assert any("pending contract" in page for page in pages["en"])
    assert any("technical support" in page for page in pages["en"])


def test_r12_contract_and_security_alerts_show_the_day_they_expire(pages: dict[str, list[str]]) -> None:
    alerts = pages["zh-CN"][NAV.index("alerts")]
    rows = {
        html.unescape(TAG.sub("", row)).strip()
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", alerts, re.S)
        if "到期" in row
    }
    expiring = {
        "担保即将到期": (NOW + timedelta(days=10)).date().isoformat(),
        "合同即将到期": (NOW + timedelta(days=20)).date().isoformat(),
    }
    for alert, day in expiring.items():
        assert any(alert in row and row.endswith(day) for row in rows), (alert, day, rows)
