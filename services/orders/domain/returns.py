"""Returns and exchanges (O15), shipment corrections, delivery acceptance and completion (O16).

Methods of ``Order`` (assigned in its class body, so the library sees their events). The order keeps its
returns and corrections itself: two requests racing for its last returnable units collide on its
version, and the one decided again finds nothing left to return (O15).

A credit note (a booked return, or a short or wrong shipment corrected by one) takes its amount off the
order: first off what is still owed on the shipped goods, the rest back to the customer as credit
(``to_credit``; the application adds it to the account, as an expired hold's deposit is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import SALES_ROLES, SHIPPERS, local_date, money
from shared.aggregate import Meta, at_least, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState, NotFound

if TYPE_CHECKING:
    from services.orders.domain.orders import Order

RETURN_REASONS = frozenset({"quality", "wrong_item", "damaged", "excess", "other"})
RETURN_APPROVERS = at_least(Role.SALES_MANAGER)  # O15: the sales manager (or above) approves a return
CREDITORS = at_least(Role.SALES_MANAGER)  # O16: who corrects a shipment by a credit note


# O15: returns and exchanges ------------------------------------------------------------------------
def returnable(self: Order, product_code: str) -> int:
    """Units of a product shipped and neither returned, asked back, nor credited as short or wrong."""
    taken = sum(
        int(line["quantity"])
        for entry in (*self.returns.values(), *self.corrections.values())
        if entry["counts"]
        for line in entry["lines"]
        if line["product_code"] == product_code
    )
    return self.shipped.get(product_code, 0) - taken


def request_return(
    self: Order,
    return_id: str,
    quantities: Mapping[str, int],
    reason: str,
    complaint_id: str | None,
    exchange: bool,
    meta: Meta,
) -> None:
    require_role(meta, SALES_ROLES, "O15", "request a return")
    if reason not in RETURN_REASONS:
        raise refuse("O15", f"a return's reason is one of {sorted(RETURN_REASONS)}", field="reason")
    if reason == "quality" and not complaint_id:
        raise refuse("O15", "a quality return names its quality complaint (P3)", field="complaint_id")
    lines = _priced_lines(
        self,
        quantities,
        self.returnable,
        "O15",
        "returnable",
        "returned: {left} shipped and not yet returned",
    )
    self.record(
        events.ReturnRequested,
        meta,
        return_id=return_id,
        reason=reason,
        complaint_id=complaint_id,
        exchange=exchange,
        lines=lines,
        amount=money(sum((line["amount"] for line in lines), Decimal("0"))),
    )


@event(events.ReturnRequested)
def _return_requested(
    self: Order,
    return_id: str,
    reason: str,
    complaint_id: str | None,
    exchange: bool,
    lines: list[dict[str, Any]],
    amount: Decimal,
) -> None:
    self.returns[return_id] = {
        "status": "requested",
        "reason": reason,
        "complaint_id": complaint_id,
        "exchange": exchange,
        "lines": [dict(line) for line in lines],
        "amount": amount,
        "counts": True,
    }


def _priced_lines(
    order: Order, quantities: Mapping[str, int], left_of: Callable[[str], int], rule: str, left: str, why: str
) -> list[dict[str, Any]]:
    """The lines of ``quantities`` at the order's prices; refused (naming ``rule``) where a quantity is not
    positive or more than ``left_of`` its product, saying ``why`` (with ``{left}``) and the units ``left``."""
    lines = []
    for code, quantity in quantities.items():
        units = left_of(code)
        if quantity <= 0 or quantity > units:
            raise refuse(
                rule,
                f"{quantity} of {code} cannot be {why.format(left=units)}",
                product_code=code,
                **{left: units},
            )
        lines.append(order.priced(code, quantity))
    return lines


def the_return(self: Order, return_id: str, status: str) -> dict[str, Any]:
    """The return, refused unless it is at ``status``."""
    found = self.returns.get(return_id)
    if found is None:
        raise NotFound(f"no return {return_id} on this order", rule="O15", details={"id": return_id})
    if found["status"] != status:
        raise InvalidState(
            f"a return that is {found['status']} cannot be taken on from {status}",
            rule="O15",
            details={"status": found["status"]},
        )
    return found


def decide_return(self: Order, return_id: str, approve: bool, reason: str, meta: Meta) -> None:
    require_role(meta, RETURN_APPROVERS, "O15", "approve or reject a return")
    self.the_return(return_id, "requested")
    if approve:
        self.record(events.ReturnApproved, meta, return_id=return_id)
    else:
        self.record(events.ReturnRejected, meta, return_id=return_id, reason=reason)


@event(events.ReturnApproved)
def _return_approved(self: Order, return_id: str) -> None:
    self.returns[return_id] = {**self.returns[return_id], "status": "approved"}


@event(events.ReturnRejected)
def _return_rejected(self: Order, return_id: str) -> None:
    self.returns[return_id] = {**self.returns[return_id], "status": "rejected", "counts": False}


def book_return(self: Order, return_id: str, meta: Meta) -> dict[str, Any]:
    """Production has the goods back in stock; a plain return then gets its credit note, an exchange
    its replacement shipment (at the order's price: no new price check)."""
    require_role(meta, SHIPPERS, "O15", "book returned goods into stock")
    found = self.the_return(return_id, "approved")
    self.record(
        events.ReturnBooked,
        meta,
        return_id=return_id,
        reason=found["reason"],
        exchange=found["exchange"],
        lines=found["lines"],
        amount=found["amount"],
        returned_on=local_date(meta.at),
    )
    return found


@event(events.ReturnBooked)
def _return_booked(self: Order, return_id: str, exchange: bool) -> None:
    self.returns[return_id] = {
        **self.returns[return_id],
        "status": "awaiting_replacement" if exchange else "booked",
    }


def ship_replacement(self: Order, return_id: str, meta: Meta) -> dict[str, Any]:
    require_role(meta, SHIPPERS, "O15", "ship a replacement")
    found = self.the_return(return_id, "awaiting_replacement")
    self.record(events.ReplacementShipped, meta, return_id=return_id, lines=found["lines"])
    return found


@event(events.ReplacementShipped)
def _replacement_shipped(self: Order, return_id: str) -> None:
    # the customer holds the replaced units again: they may come back in a later return
    self.returns[return_id] = {**self.returns[return_id], "status": "replaced", "counts": False}


def issue_credit_note(
    self: Order, credit_note_id: str, source: str, source_id: str, lines: list[dict[str, Any]], meta: Meta
) -> Decimal:
    """The credit note of a return or a correction; answers what goes to the customer's credit."""
    amount = money(sum((Decimal(line["amount"]) for line in lines), Decimal("0")))
    to_receivable = min(amount, self.receivable)
    self.record(
        events.CreditNoteIssued,
        meta,
        credit_note_id=credit_note_id,
        source=source,
        source_id=source_id,
        lines=lines,
        amount=amount,
        to_receivable=to_receivable,
        to_credit=amount - to_receivable,
        issued_on=local_date(meta.at),
    )
    return amount - to_receivable


@event(events.CreditNoteIssued)
def _credit_note_issued(
    self: Order, source: str, source_id: str, amount: Decimal, to_credit: Decimal
) -> None:
    self.returned_amount += amount
    self.refunded += to_credit
    entries = self.returns if source == "return" else self.corrections
    entries[source_id] = {**entries[source_id], "status": "credited", "counts": True}
    self.settle()


# O16: shipment corrections, delivery acceptance, completion ------------------------------------------
def report_shipment_problem(
    self: Order,
    correction_id: str,
    shipment_id: str,
    problem: str,
    quantities: Mapping[str, int],
    within_days: int,
    meta: Meta,
) -> None:
    require_role(meta, SALES_ROLES, "O16", "report a short or wrong shipment")
    shipment = self.the_shipment(shipment_id)
    shipped_on = date.fromisoformat(shipment["on"])
    today = local_date(meta.at)
    if (today - shipped_on).days > within_days:
        raise refuse(
            "O16",
            f"a short or wrong shipment is reported within {within_days} days of shipping ({shipped_on})",
            shipped_on=shipped_on.isoformat(),
            within_days=within_days,
        )

    def reportable(code: str) -> int:
        reported = sum(
            int(line["quantity"])
            for entry in self.corrections.values()
            if entry["shipment_id"] == shipment_id
            for line in entry["lines"]
            if line["product_code"] == code
        )
        return min(shipment["lines"].get(code, 0) - reported, self.returnable(code))

    lines = _priced_lines(
        self,
        quantities,
        reportable,
        "O16",
        "reportable",
        "reported short or wrong: {left} of that shipment left",
    )
    self.record(
        events.ShipmentProblemReported,
        meta,
        correction_id=correction_id,
        shipment_id=shipment_id,
        problem=problem,
        lines=lines,
    )


@event(events.ShipmentProblemReported)
def _shipment_problem_reported(
    self: Order, correction_id: str, shipment_id: str, problem: str, lines: list[dict[str, Any]]
) -> None:
    self.corrections[correction_id] = {
        "status": "reported",
        "shipment_id": shipment_id,
        "problem": problem,
        "lines": [dict(line) for line in lines],
        "counts": False,  # the units still count as the customer's until a credit note takes them off
    }


def the_correction(self: Order, correction_id: str) -> dict[str, Any]:
    found = self.corrections.get(correction_id)
    if found is None:
        raise NotFound(f"no shipment correction {correction_id}", rule="O16", details={"id": correction_id})
    if found["status"] != "reported":
        raise InvalidState(f"the correction is {found['status']} already", rule="O16")
    return found


def credit_correction(self: Order, correction_id: str, credit_note_id: str, meta: Meta) -> Decimal:
    """O16 by a credit note: answers what goes to the customer's credit."""
    require_role(meta, CREDITORS, "O16", "correct a shipment by a credit note")
    found = self.the_correction(correction_id)
    to_credit = self.issue_credit_note(credit_note_id, "correction", correction_id, found["lines"], meta)
    self.complete_if_done(meta)
    return to_credit


def ship_correction(self: Order, correction_id: str, meta: Meta) -> dict[str, Any]:
    """O16 by a correction shipment: the missing or right goods, under the order's invoice."""
    require_role(meta, SHIPPERS, "O16", "ship a correction")
    found = self.the_correction(correction_id)
    self.record(events.CorrectionShipped, meta, correction_id=correction_id, lines=found["lines"])
    self.complete_if_done(meta)
    return found


@event(events.CorrectionShipped)
def _correction_shipped(self: Order, correction_id: str) -> None:
    self.corrections[correction_id] = {**self.corrections[correction_id], "status": "shipped"}


def the_shipment(self: Order, shipment_id: str) -> dict[str, Any]:
    found = self.shipments.get(shipment_id)
    if found is None:
        raise NotFound(f"no shipment {shipment_id} of this order", rule="O16", details={"id": shipment_id})
    return found


def accept_delivery(self: Order, shipment_id: str, accepted_on: date, accepted_by: str, meta: Meta) -> None:
    """O16: the customer's acceptance of a delivery (date, by whom), recorded by sales."""
    require_role(meta, SALES_ROLES, "O16", "record a delivery's acceptance")
    shipment = self.the_shipment(shipment_id)
    if shipment["accepted_on"] is not None:
        raise InvalidState("the delivery is accepted already", rule="O16")
    if not date.fromisoformat(shipment["on"]) <= accepted_on <= local_date(meta.at):
        raise refuse("O16", "a delivery is accepted between its shipping and today", field="accepted_on")
    self.record(
        events.DeliveryAccepted,
        meta,
        shipment_id=shipment_id,
        accepted_on=accepted_on,
        accepted_by=accepted_by,
    )
    self.complete_if_done(meta)


@event(events.DeliveryAccepted)
def _delivery_accepted(self: Order, shipment_id: str, accepted_on: date, accepted_by: str) -> None:
    self.shipments[shipment_id] = {
        **self.shipments[shipment_id],
        "accepted_on": accepted_on.isoformat(),
        "accepted_by": accepted_by,
    }


def complete_if_done(self: Order, meta: Meta) -> None:
    """O16: complete once every line is shipped in full and every shipment accepted or corrected, with
    no correction still open."""
    if self.completed_on is not None:
        return
    ordered = {line["product_code"]: int(line["quantity"]) for line in self.lines}
    corrected = {c["shipment_id"] for c in self.corrections.values() if c["status"] != "reported"}
    if (
        self.shipped == ordered
        and all(c["status"] != "reported" for c in self.corrections.values())
        and all(s["accepted_on"] is not None or sid in corrected for sid, s in self.shipments.items())
    ):
        self.record(events.OrderCompleted, meta, completed_on=local_date(meta.at))


@event(events.OrderCompleted)
def _completed(self: Order, completed_on: date) -> None:
    self.completed_on = completed_on
