"""C6 signing and C12 contract lifecycle (合同管理): terms, the change chain salesperson → sales supervisor
→ regional manager → general manager (seed 001 六(三)), termination, and the history of terms.

Methods and events of ``Customer`` (taken into the class in customer.py).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from services.customers.domain.values import CHANGE_CHAIN, SALES_STAFF
from shared import customer_contract as published
from shared.aggregate import Meta, at_least, require_role
from shared.contracts import Role
from shared.customer_contract import ChangeStep, ContractTerms, TerminationReason
from shared.errors import DomainError, Forbidden, InvalidState
from shared.events import aggregate_event

if TYPE_CHECKING:
    from services.customers.domain.customer import Customer


def sign_contract(self: Customer, contract: published.ContractSigned, meta: Meta) -> None:
    """C6: a distributor's framework contract, approved by the regional manager; a new one replaces the
    one in force, which stays in the history."""
    require_role(meta, at_least(Role.REGIONAL_MANAGER), "C6", "approve a distributor contract")
    if not self.kind.is_distributor:
        raise DomainError("only distributors (agents, dealers) sign a framework contract", rule="C6")
    self._require_approved("C6", "sign a contract")
    if contract.valid_to < contract.valid_from:
        raise DomainError("a contract ends after it starts", rule="C6", details={"field": "valid_to"})
    self._contract_signed(**dict(contract), meta=meta)


ContractSigned = aggregate_event(published.ContractSigned)


@event(ContractSigned)
def contract_signed(
    self: Customer,
    contract_number: str,
    valid_from: date,
    valid_to: date,
    terms: ContractTerms | None,
    meta: Meta,
) -> None:
    if self.contract is not None:
        _close_terms(self, meta, "replaced by a new contract")
    self.contract = {
        "contract_number": contract_number,
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat(),
    }
    self.terms = _copy(terms)
    self.pending_change = None
    self.termination_request = None
    self.terms_since = meta.at.isoformat()


def propose_contract_change(self: Customer, terms: ContractTerms, reason: str, meta: Meta) -> None:
    """The salesperson proposes new terms; they apply once the whole chain has approved them."""
    require_role(meta, SALES_STAFF, "C12", "propose a contract change")
    _require_contract(self, "propose a change to")
    if self.pending_change is not None:
        raise InvalidState(
            "a change of this contract is under review already",
            rule="C12",
            details={"awaits": self.pending_change["awaits"]},
        )
    self._contract_change_proposed(terms=terms, reason=reason, meta=meta)


ContractChangeProposed = aggregate_event(published.ContractChangeProposed)


@event(ContractChangeProposed)
def contract_change_proposed(self: Customer, terms: ContractTerms, reason: str, meta: Meta) -> None:
    self.pending_change = {
        "terms": _copy(terms),
        "reason": reason,
        "proposed_by": meta.actor_id,
        "proposed_at": meta.at.isoformat(),
        "awaits": ChangeStep.SUPERVISOR_REVIEW.value,
        "reviews": [],
    }


def review_contract_change(self: Customer, approve: bool, note: str, meta: Meta) -> None:
    """Each step by its own role, in the chain's order: a reviewer whose step is not the one due (a
    general manager before the regional manager, say) is refused. A refusal at any step ends the change."""
    if self.pending_change is None:
        raise InvalidState("no contract change awaits review", rule="C12")
    step = ChangeStep(self.pending_change["awaits"])
    reviewer, following = CHANGE_CHAIN[step]
    if meta.actor_role != reviewer:
        raise Forbidden(
            f"the contract change awaits the {reviewer.value}'s {step.value.replace('_', ' ')} "
            f"(salesperson → sales_supervisor → regional_manager → general_manager)",
            rule="C12",
            details={"role": meta.actor_role, "allowed": [reviewer.value], "awaits": step.value},
        )
    if not approve:
        self._contract_change_rejected(step=step, note=note, meta=meta)
    elif following is not None:
        self._contract_change_reviewed(step=step, note=note, meta=meta)
    else:
        self._contract_change_approved(
            terms=self.pending_change["terms"], previous_terms=self.terms, note=note, meta=meta
        )


ContractChangeReviewed = aggregate_event(published.ContractChangeReviewed)


@event(ContractChangeReviewed)
def contract_change_reviewed(self: Customer, step: ChangeStep, note: str, meta: Meta) -> None:
    assert self.pending_change is not None
    _, following = CHANGE_CHAIN[ChangeStep(step)]
    assert following is not None
    self.pending_change["reviews"].append(_review(ChangeStep(step), note, meta))
    self.pending_change["awaits"] = following.value


ContractChangeApproved = aggregate_event(published.ContractChangeApproved)


@event(ContractChangeApproved)
def contract_change_approved(
    self: Customer, terms: ContractTerms, previous_terms: ContractTerms | None, note: str, meta: Meta
) -> None:
    """The new terms apply from this moment; the old ones go into the history."""
    _close_terms(self, meta, "changed")
    self.terms = _copy(terms)
    self.terms_since = meta.at.isoformat()
    self.pending_change = None


ContractChangeRejected = aggregate_event(published.ContractChangeRejected)


@event(ContractChangeRejected)
def contract_change_rejected(self: Customer, step: ChangeStep, note: str, meta: Meta) -> None:
    self.pending_change = None


def request_termination(self: Customer, reason: TerminationReason, note: str, meta: Meta) -> None:
    """Termination needs the regional manager (who asks) and the general manager (who approves)."""
    require_role(meta, {Role.REGIONAL_MANAGER}, "C12", "ask for a contract's termination")
    _require_contract(self, "terminate")
    if self.termination_request is not None:
        raise InvalidState("the contract's termination is asked for already", rule="C12")
    self._termination_requested(reason=TerminationReason(reason), note=note, meta=meta)


ContractTerminationRequested = aggregate_event(published.ContractTerminationRequested)


@event(ContractTerminationRequested)
def termination_requested(self: Customer, reason: TerminationReason, note: str, meta: Meta) -> None:
    self.termination_request = {
        "reason": TerminationReason(reason).value,
        "note": note,
        "by": meta.actor_id,
        "at": meta.at.isoformat(),
    }


def approve_termination(self: Customer, note: str, meta: Meta) -> None:
    require_role(meta, {Role.GENERAL_MANAGER}, "C12", "approve a contract's termination")
    _require_contract(self, "terminate")
    if self.termination_request is None:
        raise InvalidState(
            "the regional manager asks for a termination before the general manager approves it", rule="C12"
        )
    assert self.contract is not None
    self._contract_terminated(
        contract_number=self.contract["contract_number"],
        reason=TerminationReason(self.termination_request["reason"]),
        note=note,
        meta=meta,
    )


ContractTerminated = aggregate_event(published.ContractTerminated)


@event(ContractTerminated)
def contract_terminated(
    self: Customer, contract_number: str, reason: TerminationReason, note: str, meta: Meta
) -> None:
    """No contract afterwards: a distributor's new orders wait for one (O4)."""
    _close_terms(self, meta, f"terminated: {TerminationReason(reason).value}")
    self.contract = None
    self.terms = None
    self.pending_change = None
    self.termination_request = None


def _require_contract(self: Customer, action: str) -> None:
    if self.contract is None:
        raise InvalidState(f"the customer has no contract to {action}", rule="C12")


def _close_terms(self: Customer, meta: Meta, how: str) -> None:
    """Put the terms in force into the history, with the time they applied from and until."""
    assert self.contract is not None
    self.contract_history.append(
        {
            **self.contract,
            "terms": _copy(self.terms),
            "applied_from": self.terms_since,
            "applied_until": meta.at.isoformat(),
            "ended": how,
        }
    )


def _review(step: ChangeStep, note: str, meta: Meta) -> dict[str, Any]:
    return {
        "step": step.value,
        "by": meta.actor_id,
        "role": meta.actor_role,
        "note": note,
        "at": meta.at.isoformat(),
    }


def _copy(terms: ContractTerms | None) -> ContractTerms | None:
    """The event keeps its own terms (a list shared with the aggregate would change with it)."""
    if terms is None:
        return None
    scope = terms["product_scope"]
    return ContractTerms(
        payment_terms_days=terms["payment_terms_days"],
        delivery_terms=terms["delivery_terms"],
        product_scope=None if scope is None else list(scope),
        annual_volume=terms["annual_volume"],
    )
