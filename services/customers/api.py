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
from shared.bus import ServiceBus
from shared.contracts import Role
from shared.events import event_classes
from shared.routes import Table, register_routes

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


# The routes by their reply (shared/routes.py: each served by the application's method of its name).
ROUTES: Table = {
    c.CustomerResult: "register_prospect investigate_credit approve_customer reject_customer grade_customer"
    " sign_contract set_capital_limit record_prepayment suspend_customer reinstate_customer"
    " erase_personal_data edit_customer_file reassign_customer move_customer_region"
    # C11, C12, C13
    " revise_credit approve_credit_raise lift_credit_hold record_security release_security"
    " propose_contract_change review_contract_change request_contract_termination"
    " approve_contract_termination write_key_account_plan advise_key_account_plan",
    c.ReassignmentResult: "reassign_salesperson_customers",
    c.CustomerDetails: "get_customer",
    c.FileHistoryResult: "customer_file_history",
    c.ContractResult: "get_contract",
    c.PersonalDataReads: "list_personal_data_reads",
}


def register(bus: ServiceBus, app: CustomersApplication) -> None:
    register_routes(bus, app, c, ROUTES)
    # the list queries are answered by the directory (a read model of its own), not the application
    bus.query("list_customers", c.ListCustomers, app.directory.list, c.CustomerList)
    bus.query("list_expiring", c.ListExpiring, app.directory.expiring, c.ExpiringList)
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
