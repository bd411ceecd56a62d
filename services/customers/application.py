"""Customers application: the commands of C1–C9 on stored state, and the queries."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.customers.commands import (
    ApproveCustomer,
    CustomerDetails,
    CustomerResult,
    ErasePersonalData,
    GetCustomer,
    GradeCustomer,
    InvestigateCredit,
    ListPersonalDataReads,
    PersonalDataReads,
    RecordPrepayment,
    RegisterProspect,
    ReinstateCustomer,
    RejectCustomer,
    SetCapitalLimit,
    SignContract,
    SuspendCustomer,
)
from services.customers.directory import CustomerDirectory
from services.customers.domain import CodeSequence, Customer, Kind
from services.customers.vault import PREFIX, InMemoryVault, PostgresVault
from shared.aggregate import Meta
from shared.clock import Clock
from shared.errors import DomainError, Forbidden, NotFound
from shared.identity.scope import acting, require_scope
from shared.settings import Settings
from shared.store import Outcome, ServiceApplication

# The form's personal data: stored only encrypted with the customer's own key (see vault.py).
PERSONAL_FIELDS = ("legal_representative", "phone", "address")
# Who may list the reads of personal data (the auditors: company-wide roles that answer for it)
AUDITORS = frozenset({"general_manager", "finance"})


def customer_result(customer: Customer) -> dict[str, Any]:
    return CustomerResult(
        customer_id=str(customer.id),
        code=customer.code,
        kind=customer.kind,
        region=customer.region,
        salesperson_id=customer.salesperson_id,
        company_name=customer.company_name,
        status=customer.status.value,
        rating=customer.rating,
        credit_limit=customer.credit_limit,
        grade=customer.grade,
        contract=customer.contract,
        capital_limit=customer.capital_limit,
        discount_pct=customer.discount_pct,
        rejection_reason=customer.rejection_reason,
        version=customer.version,
    ).model_dump(mode="json")


def in_scope(customer: Customer) -> Customer:
    """Every command on and read of a customer: by a user whose role covers its region (a salesperson:
    their own customers). Asked after the rule's role check, so a role not allowed at all hears its rule;
    a refused command's changes to its copy of the customer are never saved."""
    require_scope(customer.region, customer.salesperson_id, f"customer {customer.id}")
    return customer


class CustomersApplication(ServiceApplication):
    service = "customers"

    def __init__(self, settings: Settings, clock: Clock, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, clock, env)
        self.directory = CustomerDirectory(settings)  # the list queries' read model (connects on first use)
        self.vault: InMemoryVault | PostgresVault
        if self.env.get("PERSISTENCE_MODULE", "") == "eventsourcing.popo":
            self.vault = InMemoryVault()
        else:
            self.vault = PostgresVault(settings, self.env.get("POSTGRES_SCHEMA") or self.service)

    def register_prospect(self, cmd: RegisterProspect) -> dict[str, Any]:
        application = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})
        customer_id = uuid.uuid4()  # chosen here: the personal data is encrypted for it before the event

        def decide(meta: Meta) -> Outcome:
            # The key is committed on its own before the event: an orphan key is harmless, an event
            # whose key was never stored would be unreadable from the start.
            self.vault.create_key(str(customer_id))
            sealed = {
                name: self.vault.encrypt(str(customer_id), name, application[name])
                for name in PERSONAL_FIELDS
            }
            try:
                customer = Customer.register(meta, id=customer_id, **(application | sealed))
            except DomainError:
                self.vault.erase(str(customer_id))  # refused: leave no key behind
                raise
            return Outcome(customer_result(customer), [customer])

        return self.execute(cmd, decide)

    def erase_personal_data(self, cmd: ErasePersonalData) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            erased_now = customer.erase_personal_data(cmd.reason, meta)
            in_scope(customer)
            # The key goes only once the event is stored; a repeat (or a retry after a crash in between)
            # deletes it again.
            return Outcome(
                customer_result(customer),
                [customer] if erased_now else [],
                then=lambda: self.vault.erase(cmd.customer_id),
            )

        return self.execute(cmd, decide)

    def investigate_credit(self, cmd: InvestigateCredit) -> dict[str, Any]:
        return self._change(
            cmd,
            cmd.customer_id,
            lambda c, meta: c.investigate_credit(cmd.rating, cmd.credit_limit, cmd.notes, meta),
        )

    def approve_customer(self, cmd: ApproveCustomer) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            sequence = self._code_sequence(customer, meta)
            customer.approve(sequence, meta)
            in_scope(customer)
            return Outcome(customer_result(customer), [customer, sequence])

        return self.execute(cmd, decide)

    def reject_customer(self, cmd: RejectCustomer) -> dict[str, Any]:
        return self._change(cmd, cmd.customer_id, lambda c, meta: c.reject(cmd.reason, meta))

    def grade_customer(self, cmd: GradeCustomer) -> dict[str, Any]:
        return self._change(cmd, cmd.customer_id, lambda c, meta: c.regrade(cmd.grade, cmd.reason, meta))

    def sign_contract(self, cmd: SignContract) -> dict[str, Any]:
        return self._change(
            cmd,
            cmd.customer_id,
            lambda c, meta: c.sign_contract(cmd.contract_number, cmd.valid_from, cmd.valid_to, meta),
        )

    def set_capital_limit(self, cmd: SetCapitalLimit) -> dict[str, Any]:
        return self._change(
            cmd, cmd.customer_id, lambda c, meta: c.set_capital_limit(cmd.capital_limit, meta)
        )

    def record_prepayment(self, cmd: RecordPrepayment) -> dict[str, Any]:
        pct = self.settings.prepayment_discount_pct
        return self._change(
            cmd, cmd.customer_id, lambda c, meta: c.record_prepayment(cmd.year, cmd.amount, pct, meta)
        )

    def suspend_customer(self, cmd: SuspendCustomer) -> dict[str, Any]:
        return self._change(cmd, cmd.customer_id, lambda c, meta: c.suspend(cmd.reason, meta))

    def reinstate_customer(self, cmd: ReinstateCustomer) -> dict[str, Any]:
        return self._change(cmd, cmd.customer_id, lambda c, meta: c.reinstate(cmd.reason, meta))

    def get_customer(self, query: GetCustomer) -> dict[str, Any]:
        if query.customer_id:
            return self._details(in_scope(self._customer(query.customer_id)))
        if query.code:
            return self._details(in_scope(self._customer(self._id_for_code(query.code))))
        raise DomainError("give customer_id or code", details={"field": "customer_id"})

    def list_personal_data_reads(self, query: ListPersonalDataReads) -> dict[str, Any]:
        who = acting()
        if who is not None and not any(grant.role in AUDITORS for grant in who.grants):
            raise Forbidden(
                f"{who.user} may not list the reads of personal data",
                rule="C2",
                details={"allowed": sorted(AUDITORS)},
            )
        reads = self.vault.reads(query.customer_id, query.limit)
        listed = [
            {"customer_id": customer, "user": user, "roles": roles, "read_at": at}
            for customer, user, roles, at in reads
        ]
        return PersonalDataReads.model_validate({"reads": listed}).model_dump(mode="json")

    def close(self) -> None:
        self.vault.close()
        super().close()

    # -------------------------------------------------------------------------------------------
    def _details(self, customer: Customer) -> dict[str, Any]:
        details: dict[str, Any] = customer_result(customer)
        details |= {name: self._reveal(customer, name) for name in PERSONAL_FIELDS}
        if not customer.personal_data_erased:  # every read of personal data is recorded (C2)
            who = acting()
            user, roles = (who.user, [g.claim() for g in who.grants]) if who else ("(in-process)", [])
            self.vault.record_read((str(customer.id), user, roles, self.clock.now()))
        details["personal_data_erased"] = customer.personal_data_erased
        return CustomerDetails.model_validate(details).model_dump(mode="json")

    def _reveal(self, customer: Customer, name: str) -> str | None:
        value: str = getattr(customer, name)
        if customer.personal_data_erased:
            return None
        if not value.startswith(PREFIX):  # registered before encryption (plaintext in its event)
            return value
        return self.vault.decrypt(str(customer.id), name, value)

    # -------------------------------------------------------------------------------------------
    def _change(self, cmd: Any, customer_id: str, change: Any) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(customer_id)
            change(customer, meta)
            in_scope(customer)
            return Outcome(customer_result(customer), [customer])

        return self.execute(cmd, decide)

    def _customer(self, customer_id: str) -> Customer:
        try:
            customer: object = self.repository.get(UUID(customer_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no customer {customer_id}", details={"customer_id": customer_id}) from None
        if not isinstance(customer, Customer):
            raise NotFound(f"no customer {customer_id}", details={"customer_id": customer_id})
        return customer

    def _code_sequence(self, customer: Customer, meta: Meta) -> CodeSequence:
        try:
            return self.repository.get(CodeSequence.create_id(customer.region, customer.kind))
        except AggregateNotFoundError:
            return CodeSequence(region=customer.region, kind=customer.kind, meta=meta)

    def _id_for_code(self, code: str) -> str:
        region, _, rest = code.partition("-")
        kind = {kind.code_letter: kind for kind in Kind}.get(rest[:1])
        if kind is None:
            raise NotFound(f"no customer with code {code}")
        try:
            sequence: CodeSequence = self.repository.get(CodeSequence.create_id(region, kind))
        except AggregateNotFoundError:
            raise NotFound(f"no customer with code {code}") from None
        if code not in sequence.issued:
            raise NotFound(f"no customer with code {code}")
        return sequence.issued[code]
