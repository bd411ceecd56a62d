"""Customers routes: NATS subjects in, replies out (``<ns>.customers.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.customers import commands as c
from services.customers.application import CustomersApplication
from services.customers.domain import CodeSequence, Customer
from shared.bus import ServiceBus, in_thread
from shared.events import event_classes

EVENTS = event_classes(Customer, CodeSequence)


def register(bus: ServiceBus, app: CustomersApplication) -> None:
    bus.command("register_prospect", c.RegisterProspect, in_thread(app.register_prospect), c.CustomerResult)
    bus.command(
        "investigate_credit", c.InvestigateCredit, in_thread(app.investigate_credit), c.CustomerResult
    )
    bus.command("approve_customer", c.ApproveCustomer, in_thread(app.approve_customer), c.CustomerResult)
    bus.command("reject_customer", c.RejectCustomer, in_thread(app.reject_customer), c.CustomerResult)
    bus.command("grade_customer", c.GradeCustomer, in_thread(app.grade_customer), c.CustomerResult)
    bus.command("sign_contract", c.SignContract, in_thread(app.sign_contract), c.CustomerResult)
    bus.command("set_capital_limit", c.SetCapitalLimit, in_thread(app.set_capital_limit), c.CustomerResult)
    bus.command("record_prepayment", c.RecordPrepayment, in_thread(app.record_prepayment), c.CustomerResult)
    bus.command("suspend_customer", c.SuspendCustomer, in_thread(app.suspend_customer), c.CustomerResult)
    bus.command(
        "reinstate_customer", c.ReinstateCustomer, in_thread(app.reinstate_customer), c.CustomerResult
    )
    bus.command(
        "erase_personal_data", c.ErasePersonalData, in_thread(app.erase_personal_data), c.CustomerResult
    )
    bus.query("get_customer", c.GetCustomer, in_thread(app.get_customer), c.CustomerDetails)
    bus.query("list_customers", c.ListCustomers, app.directory.list, c.CustomerList)
    bus.document_events(EVENTS)
