"""Customers routes: NATS subjects in, replies out (``<ns>.customers.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.customers import commands as c
from services.customers.application import CustomersApplication
from services.customers.domain import CodeSequence, Customer
from shared.bus import ServiceBus, in_thread
from shared.events import event_classes

EVENTS = event_classes(Customer, CodeSequence)


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
    bus.document_events(EVENTS)
