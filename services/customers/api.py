"""Customers routes: NATS subjects in, replies out (``<ns>.customers.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.customers import commands as c
from services.customers.application import CustomersApplication
from services.customers.domain import CodeSequence, Customer
from services.customers.domain.credit import CREDIT_APPROVERS
from services.customers.domain.values import (
    CHANGE_CHAIN,
    CREDIT_INVESTIGATORS,
    KEY_ACCOUNT_ADVISERS,
    SALES_STAFF,
)
from shared.aggregate import at_least
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import event_classes

EVENTS = event_classes(Customer, CodeSequence)

# Who may send each command, published in the contract (x-roles); the domain's checks decide, and
# tests/unit/test_contract_roles.py checks a sample against them.
ROLES: dict[str, frozenset[Role]] = {
    "register_prospect": SALES_STAFF,
    "investigate_credit": CREDIT_INVESTIGATORS,
    "approve_customer": at_least(Role.SALES_SUPERVISOR),
    "reject_customer": at_least(Role.SALES_SUPERVISOR),
    "grade_customer": at_least(Role.SALES_MANAGER),
    "sign_contract": at_least(Role.REGIONAL_MANAGER),
    "set_capital_limit": at_least(Role.MARKETING_DIRECTOR),
    "record_prepayment": at_least(Role.SALES_MANAGER) | {Role.FINANCE},
    "suspend_customer": at_least(Role.SALES_MANAGER),
    "reinstate_customer": at_least(Role.SALES_MANAGER),
    "erase_personal_data": frozenset({Role.GENERAL_MANAGER}),
    "edit_customer_file": SALES_STAFF,
    "reassign_customer": at_least(Role.SALES_SUPERVISOR),
    "reassign_salesperson_customers": at_least(Role.SALES_SUPERVISOR),
    "move_customer_region": at_least(Role.REGIONAL_MANAGER),
    "revise_credit": CREDIT_INVESTIGATORS,
    "approve_credit_raise": CREDIT_APPROVERS,
    "lift_credit_hold": CREDIT_APPROVERS,
    "record_security": CREDIT_APPROVERS,
    "release_security": CREDIT_APPROVERS,
    "propose_contract_change": SALES_STAFF,
    # each step of the chain by its own role, in order (C12): the change's state narrows it
    "review_contract_change": frozenset(reviewer for reviewer, _ in CHANGE_CHAIN.values()),
    "request_contract_termination": frozenset({Role.REGIONAL_MANAGER}),
    "approve_contract_termination": frozenset({Role.GENERAL_MANAGER}),
    "write_key_account_plan": frozenset({Role.SALES_MANAGER}),
    "advise_key_account_plan": KEY_ACCOUNT_ADVISERS,
}


def register(bus: ServiceBus, app: CustomersApplication) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    bus.command("register_prospect", c.RegisterProspect, decided(app.register_prospect), c.CustomerResult)
    bus.command("investigate_credit", c.InvestigateCredit, decided(app.investigate_credit), c.CustomerResult)
    bus.command("approve_customer", c.ApproveCustomer, decided(app.approve_customer), c.CustomerResult)
    bus.command("reject_customer", c.RejectCustomer, decided(app.reject_customer), c.CustomerResult)
    bus.command("grade_customer", c.GradeCustomer, decided(app.grade_customer), c.CustomerResult)
    bus.command("sign_contract", c.SignContract, decided(app.sign_contract), c.CustomerResult)
    bus.command("set_capital_limit", c.SetCapitalLimit, decided(app.set_capital_limit), c.CustomerResult)
    bus.command("record_prepayment", c.RecordPrepayment, decided(app.record_prepayment), c.CustomerResult)
    bus.command("suspend_customer", c.SuspendCustomer, decided(app.suspend_customer), c.CustomerResult)
    bus.command("reinstate_customer", c.ReinstateCustomer, decided(app.reinstate_customer), c.CustomerResult)
    bus.command(
        "erase_personal_data", c.ErasePersonalData, decided(app.erase_personal_data), c.CustomerResult
    )
    bus.command("edit_customer_file", c.EditCustomerFile, decided(app.edit_customer_file), c.CustomerResult)
    bus.command("reassign_customer", c.ReassignCustomer, decided(app.reassign_customer), c.CustomerResult)
    bus.command(
        "reassign_salesperson_customers",
        c.ReassignSalespersonCustomers,
        decided(app.reassign_salesperson_customers),
        c.ReassignmentResult,
    )
    bus.command(
        "move_customer_region", c.MoveCustomerRegion, decided(app.move_customer_region), c.CustomerResult
    )
    bus.command("revise_credit", c.ReviseCredit, decided(app.revise_credit), c.CustomerResult)
    bus.command(
        "approve_credit_raise", c.ApproveCreditRaise, decided(app.approve_credit_raise), c.CustomerResult
    )
    bus.command("lift_credit_hold", c.LiftCreditHold, decided(app.lift_credit_hold), c.CustomerResult)
    bus.command("record_security", c.RecordSecurity, decided(app.record_security), c.CustomerResult)
    bus.command("release_security", c.ReleaseSecurity, decided(app.release_security), c.CustomerResult)
    bus.command(
        "propose_contract_change",
        c.ProposeContractChange,
        decided(app.propose_contract_change),
        c.CustomerResult,
    )
    bus.command(
        "review_contract_change",
        c.ReviewContractChange,
        decided(app.review_contract_change),
        c.CustomerResult,
    )
    bus.command(
        "request_contract_termination",
        c.RequestContractTermination,
        decided(app.request_contract_termination),
        c.CustomerResult,
    )
    bus.command(
        "approve_contract_termination",
        c.ApproveContractTermination,
        decided(app.approve_contract_termination),
        c.CustomerResult,
    )
    bus.command(
        "write_key_account_plan", c.WriteKeyAccountPlan, decided(app.write_key_account_plan), c.CustomerResult
    )
    bus.command(
        "advise_key_account_plan",
        c.AdviseKeyAccountPlan,
        decided(app.advise_key_account_plan),
        c.CustomerResult,
    )
    bus.query("get_customer", c.GetCustomer, in_thread(app.get_customer), c.CustomerDetails)
    bus.query(
        "customer_file_history",
        c.CustomerFileHistory,
        in_thread(app.customer_file_history),
        c.FileHistoryResult,
    )
    bus.query("get_contract", c.GetContract, in_thread(app.get_contract), c.ContractResult)
    bus.query("list_customers", c.ListCustomers, app.directory.list, c.CustomerList)
    bus.query("list_expiring", c.ListExpiring, app.directory.expiring, c.ExpiringList)
    bus.query(
        "list_personal_data_reads",
        c.ListPersonalDataReads,
        in_thread(app.list_personal_data_reads),
        c.PersonalDataReads,
    )
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
