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
    bus.query("get_customer", c.GetCustomer, in_thread(app.get_customer), c.CustomerDetails)
    bus.query("list_customers", c.ListCustomers, app.directory.list, c.CustomerList)
    bus.query(
        "list_personal_data_reads",
        c.ListPersonalDataReads,
        in_thread(app.list_personal_data_reads),
        c.PersonalDataReads,
    )
    bus.document_events(EVENTS)
