"""P4 service workflow steps of a ``Complaint`` (proposal, decision) and its P5 penalty.

Each function is a method of ``Complaint`` (assigned in its class body, so the library sees its events);
kept here beside the rule it serves. The events' fields are declared in ``shared/complaints_contract.py``.
"""

from decimal import Decimal
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain.kinds import PROPOSERS, SERVICE_HANDLERS, Status
from shared.aggregate import Meta, require_role
from shared.complaints_contract import ComplaintType, Severity
from shared.errors import DomainError, InvalidState

if TYPE_CHECKING:
    from services.complaints.domain.complaint import Complaint


def issue_penalty(self: "Complaint", amount: Decimal, meta: Meta) -> None:
    """P5: public criticism and a fine for a valid service complaint; never for quality (P6)."""
    if self.complaint_type is ComplaintType.QUALITY:
        raise DomainError("no penalty may be issued to sales staff for a quality complaint", rule="P6")
    if self.valid is not True or self.severity is None:
        raise InvalidState("only a valid service complaint leads to a penalty", rule="P5")
    if self.penalty is not None:
        raise InvalidState("the penalty for this complaint was already issued", rule="P5")
    self.trigger_event(
        events.PenaltyIssued,
        complaint_id=str(self.id),
        customer_id=self.customer_id,
        order_id=self.order_id,
        staff_id=self.staff_id or "",
        severity=self.severity,
        amount=amount,
        public_criticism=True,
        meta=meta,
    )


@event(events.PenaltyIssued)
def _penalty_issued(
    self: "Complaint", staff_id: str, severity: Severity, amount: Decimal, public_criticism: bool, meta: Meta
) -> None:
    self.penalty = {
        "staff_id": staff_id,
        "severity": Severity(severity).value,
        "amount": amount,
        "public_criticism": public_criticism,
        "issued_at": meta.at,
        "issued_by": meta.actor_id,
    }
    self._record("penalty_issued", meta, f"通报批评 + {amount} yuan")


def propose(self: "Complaint", proposal: str, meta: Meta) -> None:
    self._require_type(ComplaintType.SERVICE, "P4", "propose handling for")
    require_role(meta, PROPOSERS, "P4", "propose the handling of a service complaint")
    self._require_status({Status.VERIFIED}, "P4", "propose handling")
    if self.valid is not True:
        raise InvalidState("an invalid complaint needs no handling proposal", rule="P4")
    self.record(events.ComplaintProposalMade, meta, proposal=proposal)


@event(events.ComplaintProposalMade)
def _proposed(self: "Complaint", proposal: str, meta: Meta) -> None:
    self.proposal = proposal
    self.status = Status.PROPOSED
    self._record("proposed", meta, proposal)


def decide(self: "Complaint", decision: str, meta: Meta) -> None:
    self._require_type(ComplaintType.SERVICE, "P4", "decide")
    require_role(meta, SERVICE_HANDLERS, "P4", "decide a service complaint")
    self._require_status({Status.PROPOSED}, "P4", "decide")
    self.record(events.ComplaintDecided, meta, decision=decision)


@event(events.ComplaintDecided)
def _decided(self: "Complaint", decision: str, meta: Meta) -> None:
    self.decision = decision
    self.status = Status.DECIDED
    self.resolved_at = meta.at
    self._record("decided", meta, decision)
