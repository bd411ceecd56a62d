"""Customers application: the commands of C1–C13 on stored state, and the queries."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.customers import commands as c
from services.customers.directory import CustomerDirectory
from services.customers.domain import FILE_FIELDS, CodeSequence, ContractTerms, Customer, Status
from services.customers.domain.values import CODE_LETTERS
from services.customers.vault import PREFIX, InMemoryVault, PostgresVault
from shared import customer_contract as published
from shared.aggregate import Meta, SalesAggregate
from shared.clock import Clock
from shared.errors import DomainError, Forbidden, NotFound
from shared.identity.scope import acting, require_scope
from shared.repository import Changes, OwnAggregates
from shared.settings import Settings
from shared.store import Outcome

# The form's personal data: stored only encrypted with the customer's own key (see vault.py); the
# contact persons, added to the file later (C10), too, as one JSON list.
FORM_PERSONAL_FIELDS = ("legal_representative", "phone", "address")
PERSONAL_FIELDS = (*FORM_PERSONAL_FIELDS, "contact_persons")
SCAN_PAGE = 1000
# What the reassignment of a leaving salesperson's customers reads from the log (C10).
SALESPERSON_TOPICS = [published.CustomerRegistered.TOPIC, published.SalespersonReassigned.TOPIC]
# Who may list the reads of personal data (the auditors: company-wide roles that answer for it)
AUDITORS = frozenset({"general_manager", "finance"})


def customer_result(customer: Customer) -> dict[str, Any]:
    return c.CustomerResult.model_validate(
        {
            "customer_id": str(customer.id),
            "code": customer.code,
            "kind": customer.kind,
            "region": customer.region,
            "salesperson_id": customer.salesperson_id,
            "company_name": customer.company_name,
            "status": customer.status.value,
            "rating": customer.rating,
            "credit_limit": customer.credit_limit,
            "grade": customer.grade,
            "contract": customer.contract,
            "capital_limit": customer.capital_limit,
            "discount_pct": customer.discount_pct,
            "discount_tiers": {str(year): pct for year, pct in sorted(customer.discount_tiers.items())},
            "rejection_reason": customer.rejection_reason,
            "terms": customer.terms,
            "pending_credit_limit": customer.pending_credit_limit,
            "orders_held": customer.orders_held,
            "securities": sorted(
                customer.securities.values(), key=lambda s: (s["expires_on"], s["security_id"])
            ),
            "key_account_plan": customer.key_account_plan,
            "version": customer.version,
        }
    ).model_dump(mode="json")


def _terms_of(model: c.ContractTermsModel) -> ContractTerms:
    return ContractTerms(
        payment_terms_days=model.payment_terms_days,
        delivery_terms=model.delivery_terms,
        product_scope=None if model.product_scope is None else list(model.product_scope),
        annual_volume=model.annual_volume,
    )


def _signed(cmd: c.SignContract) -> published.ContractSigned:
    terms = None if cmd.terms is None else _terms_of(cmd.terms)
    return published.ContractSigned(
        contract_number=cmd.contract_number, valid_from=cmd.valid_from, valid_to=cmd.valid_to, terms=terms
    )


def _security(cmd: c.RecordSecurity) -> published.SecurityRecorded:
    held = cmd.model_dump(include=set(published.SecurityRecorded.model_fields))  # what the event records
    return published.SecurityRecorded(security_id=str(uuid.uuid4()), **held)


def in_scope(customer: Customer) -> Customer:
    """Every command on and read of a customer: by a user whose role covers its region (a salesperson:
    their own customers). Asked after the rule's role check, so a role not allowed at all hears its rule;
    a refused command's changes to its copy of the customer are never saved."""
    require_scope(customer.region, customer.salesperson_id, f"customer {customer.id}")
    return customer


class CustomersApplication(OwnAggregates):
    service = "customers"
    names: ClassVar[dict[type, tuple[str, str]]] = {Customer: ("customer", "customer_id")}

    def __init__(self, settings: Settings, clock: Clock, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, clock, env)
        # the list queries' read model (connects on first use)
        self.directory = CustomerDirectory(settings, clock)
        self.vault: InMemoryVault | PostgresVault
        if self.env.get("PERSISTENCE_MODULE", "") == "eventsourcing.popo":
            self.vault = InMemoryVault()
        else:
            self.vault = PostgresVault(settings, self.env.get("POSTGRES_SCHEMA") or self.service)
        # C10: each customer's salesperson as of the log's position ``_scanned_to`` (candidates only:
        # the reassignment checks each customer itself)
        self._salespeople: dict[UUID, str] = {}
        self._scanned_to = 0
        self._scan_lock = threading.Lock()

    def _change(self, cmd: Any, change: Callable[[Customer, Meta], None]) -> dict[str, Any]:
        return self.change(cmd, Customer, cmd.customer_id, change, customer_result)

    # The commands that change one customer (C3–C13): what the customer decides with each command's fields;
    # the customer ``customer_id`` names, in the acting user's scope, answers its ``CustomerResult``.
    customer_change = Changes(_change)
    investigate_credit = customer_change(
        c.InvestigateCredit,
        lambda x, cmd, meta: x.investigate_credit(cmd.rating, cmd.credit_limit, cmd.notes, meta),
    )
    reject_customer = customer_change(c.RejectCustomer, lambda x, cmd, meta: x.reject(cmd.reason, meta))
    grade_customer = customer_change(
        c.GradeCustomer, lambda x, cmd, meta: x.regrade(cmd.grade, cmd.reason, meta)
    )
    sign_contract = customer_change(c.SignContract, lambda x, cmd, meta: x.sign_contract(_signed(cmd), meta))
    set_capital_limit = customer_change(
        c.SetCapitalLimit, lambda x, cmd, meta: x.set_capital_limit(cmd.capital_limit, meta)
    )
    suspend_customer = customer_change(c.SuspendCustomer, lambda x, cmd, meta: x.suspend(cmd.reason, meta))
    reinstate_customer = customer_change(
        c.ReinstateCustomer, lambda x, cmd, meta: x.reinstate(cmd.reason, meta)
    )
    reassign_customer = customer_change(
        c.ReassignCustomer, lambda x, cmd, meta: x.reassign(cmd.salesperson_id, cmd.reason, meta)
    )
    move_customer_region = customer_change(
        c.MoveCustomerRegion, lambda x, cmd, meta: x.move_region(cmd.region, cmd.reason, meta)
    )
    revise_credit = customer_change(
        c.ReviseCredit, lambda x, cmd, meta: x.revise_credit(cmd.rating, cmd.credit_limit, cmd.notes, meta)
    )
    approve_credit_raise = customer_change(
        c.ApproveCreditRaise, lambda x, cmd, meta: x.approve_credit_raise(meta)
    )
    lift_credit_hold = customer_change(
        c.LiftCreditHold, lambda x, cmd, meta: x.lift_credit_hold(cmd.reason, meta)
    )
    record_security = customer_change(
        c.RecordSecurity, lambda x, cmd, meta: x.record_security(_security(cmd), meta)
    )
    release_security = customer_change(
        c.ReleaseSecurity, lambda x, cmd, meta: x.release_security(cmd.security_id, cmd.reason, meta)
    )
    propose_contract_change = customer_change(
        c.ProposeContractChange,
        lambda x, cmd, meta: x.propose_contract_change(_terms_of(cmd.terms), cmd.reason, meta),
    )
    review_contract_change = customer_change(
        c.ReviewContractChange, lambda x, cmd, meta: x.review_contract_change(cmd.approve, cmd.note, meta)
    )
    request_contract_termination = customer_change(
        c.RequestContractTermination, lambda x, cmd, meta: x.request_termination(cmd.reason, cmd.note, meta)
    )
    approve_contract_termination = customer_change(
        c.ApproveContractTermination, lambda x, cmd, meta: x.approve_termination(cmd.note, meta)
    )
    write_key_account_plan = customer_change(
        c.WriteKeyAccountPlan,
        lambda x, cmd, meta: x.write_key_account_plan(
            cmd.year, cmd.sales_target, cmd.why_key, list(cmd.actions), meta
        ),
    )
    advise_key_account_plan = customer_change(
        c.AdviseKeyAccountPlan, lambda x, cmd, meta: x.advise_key_account_plan(cmd.advice, meta)
    )

    def register_prospect(self, cmd: c.RegisterProspect) -> dict[str, Any]:
        application = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})
        customer_id = uuid.uuid4()  # chosen here: the personal data is encrypted for it before the event

        def decide(meta: Meta) -> Outcome:
            # The key is committed on its own before the event: an orphan key is harmless, an event
            # whose key was never stored would be unreadable from the start.
            self.vault.create_key(str(customer_id))
            sealed = {
                name: self.vault.encrypt(str(customer_id), name, application[name])
                for name in FORM_PERSONAL_FIELDS
            }
            try:
                customer = Customer.register(meta, id=customer_id, **(application | sealed))
            except DomainError:
                self.vault.erase(str(customer_id))  # refused: leave no key behind
                raise
            return Outcome(customer_result(customer), [customer])

        return self.execute(cmd, decide)

    def erase_personal_data(self, cmd: c.ErasePersonalData) -> dict[str, Any]:
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

    def approve_customer(self, cmd: c.ApproveCustomer) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            sequence = self._code_sequence(customer, meta)
            customer.approve(sequence, meta)
            in_scope(customer)
            return Outcome(customer_result(customer), [customer, sequence])

        return self.execute(cmd, decide)

    def record_prepayment(self, cmd: c.RecordPrepayment) -> dict[str, Any]:
        pct = self.settings.prepayment_discount_pct
        return self._change(
            cmd, lambda customer, meta: customer.record_prepayment(cmd.year, cmd.amount, pct, meta)
        )

    # C10 ----------------------------------------------------------------------------------------
    def edit_customer_file(self, cmd: c.EditCustomerFile) -> dict[str, Any]:
        given = cmd.model_dump(include=set(FILE_FIELDS), exclude_none=True)
        if not given:
            raise DomainError(
                "give at least one field of the file to change", rule="C10", details={"field": "address"}
            )

        def decide(meta: Meta) -> Outcome:
            customer = self._customer(cmd.customer_id)
            changes = {name: value for name, value in given.items() if name not in PERSONAL_FIELDS}
            personal = {name: value for name, value in given.items() if name in PERSONAL_FIELDS}
            if personal and customer.personal_data_erased:
                raise DomainError(
                    "the customer's personal data is erased (C2); its address, phone and contacts stay so",
                    rule="C2",
                    details={"field": sorted(personal)[0]},
                )
            for name, value in personal.items():
                if self._reveal(customer, name) != value:  # sealed afresh, so compared in the clear
                    plain = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    changes[name] = self.vault.encrypt(str(customer.id), name, plain)
            customer.edit_file(changes, cmd.reason, meta)
            in_scope(customer)
            return Outcome(customer_result(customer), [customer])

        return self.execute(cmd, decide)

    def reassign_salesperson_customers(self, cmd: c.ReassignSalespersonCustomers) -> dict[str, Any]:
        """Every customer the leaving salesperson has now, each with its own event, saved together."""

        def decide(meta: Meta) -> Outcome:
            if cmd.to_salesperson_id == cmd.from_salesperson_id:
                raise DomainError(
                    "the customers go to another salesperson",
                    rule="C10",
                    details={"field": "to_salesperson_id"},
                )
            moved = []
            for customer_id in self._customers_of(cmd.from_salesperson_id):
                customer = self._customer(str(customer_id))
                if (
                    customer.salesperson_id == cmd.from_salesperson_id
                    and customer.status is not Status.REJECTED
                ):
                    customer.reassign(cmd.to_salesperson_id, cmd.reason, meta)
                    moved.append(in_scope(customer))
            result = c.ReassignmentResult(
                from_salesperson_id=cmd.from_salesperson_id,
                to_salesperson_id=cmd.to_salesperson_id,
                customer_ids=[str(customer.id) for customer in moved],
                count=len(moved),
            )
            return Outcome(result.model_dump(mode="json"), moved)

        return self.execute(cmd, decide)

    def customer_file_history(self, query: c.CustomerFileHistory) -> dict[str, Any]:
        customer = in_scope(self._customer(query.customer_id))

        def shown(values: dict[str, Any]) -> dict[str, Any]:
            return {
                name: self._reveal_value(customer, name, value) if name in PERSONAL_FIELDS else value
                for name, value in values.items()
            }

        changes = [
            entry | {"changes": shown(entry["changes"]), "previous": shown(entry["previous"])}
            for entry in customer.file_history
        ]
        return c.FileHistoryResult.model_validate(
            {"customer_id": query.customer_id, "changes": changes}
        ).model_dump(mode="json")

    def get_contract(self, query: c.GetContract) -> dict[str, Any]:
        customer = self._customer(query.customer_id)
        signed = customer.contract or {}
        return c.ContractResult.model_validate(
            {
                "customer_id": query.customer_id,
                "contract_number": signed.get("contract_number"),
                "valid_from": signed.get("valid_from"),
                "valid_to": signed.get("valid_to"),
                "terms": customer.terms,
                "pending_change": customer.pending_change,
                "termination_request": customer.termination_request,
                "history": customer.contract_history,
            }
        ).model_dump(mode="json")

    def get_customer(self, query: c.GetCustomer) -> dict[str, Any]:
        if query.customer_id:
            return self._details(in_scope(self._customer(query.customer_id)))
        if query.code:
            return self._details(in_scope(self._customer(self._id_for_code(query.code))))
        raise DomainError("give customer_id or code", details={"field": "customer_id"})

    def list_personal_data_reads(self, query: c.ListPersonalDataReads) -> dict[str, Any]:
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
        return c.PersonalDataReads.model_validate({"reads": listed}).model_dump(mode="json")

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
        details |= {
            "bank": customer.bank,
            "business_scale": customer.business_scale,
            "needs": customer.needs,
            "purchase_plans": customer.purchase_plans,
            "personal_data_erased": customer.personal_data_erased,
        }
        return c.CustomerDetails.model_validate(details).model_dump(mode="json")

    def _reveal(self, customer: Customer, name: str) -> Any:
        return self._reveal_value(customer, name, getattr(customer, name))

    def _reveal_value(self, customer: Customer, name: str, value: str | None) -> Any:
        """A personal field in the clear (the contact persons as their list); None once erased."""
        if value is None or customer.personal_data_erased:
            return None
        if value.startswith(PREFIX):
            value = self.vault.decrypt(str(customer.id), name, value)
        # else: registered before encryption (plaintext in its event)
        if name == "contact_persons" and value is not None:
            return json.loads(value)
        return value

    # -------------------------------------------------------------------------------------------
    def in_scope(self, aggregate: SalesAggregate) -> None:
        assert isinstance(aggregate, Customer)
        in_scope(aggregate)

    def _customers_of(self, salesperson_id: str) -> list[UUID]:
        """The customers whose latest registration or reassignment in the log names this salesperson."""
        with self._scan_lock:
            while True:
                page = self.recorder.select_notifications(
                    start=self._scanned_to + 1, limit=SCAN_PAGE, topics=SALESPERSON_TOPICS
                )
                for notification in page:
                    event = self.mapper.to_domain_event(notification)
                    self._salespeople[event.originator_id] = event.salesperson_id  # type: ignore[attr-defined]
                    self._scanned_to = notification.id
                if len(page) < SCAN_PAGE:
                    break
            return sorted(cid for cid, owner in self._salespeople.items() if owner == salesperson_id)

    def _customer(self, customer_id: str) -> Customer:
        return self.get(Customer, customer_id)

    def _code_sequence(self, customer: Customer, meta: Meta) -> CodeSequence:
        try:
            return self.repository.get(CodeSequence.create_id(customer.region, customer.kind))
        except AggregateNotFoundError:
            return CodeSequence(region=customer.region, kind=customer.kind, meta=meta)

    def _id_for_code(self, code: str) -> str:
        region, _, rest = code.partition("-")
        kind = {letter: kind for kind, letter in CODE_LETTERS.items()}.get(rest[:1])
        if kind is None:
            raise NotFound(f"no customer with code {code}")
        try:
            sequence: CodeSequence = self.repository.get(CodeSequence.create_id(region, kind))
        except AggregateNotFoundError:
            raise NotFound(f"no customer with code {code}") from None
        if code not in sequence.issued:
            raise NotFound(f"no customer with code {code}")
        return sequence.issued[code]
