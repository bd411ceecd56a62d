"""Complaints routes: NATS subjects in, replies out (``<ns>.complaints.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.complaints import commands as c
from services.complaints.application import ComplaintsApplication
from services.complaints.domain import Complaint, StaffRecord
from shared.bus import ServiceBus, in_thread
from shared.events import event_classes

EVENTS = event_classes(Complaint, StaffRecord)


def register(bus: ServiceBus, app: ComplaintsApplication) -> None:
    result = c.ComplaintResult
    bus.command("log_complaint", c.LogComplaint, in_thread(app.log_complaint), result)
    bus.command("acknowledge_complaint", c.AcknowledgeComplaint, in_thread(app.acknowledge_complaint), result)
    bus.command("start_investigation", c.StartInvestigation, in_thread(app.start_investigation), result)
    bus.command("verify_complaint", c.VerifyComplaint, in_thread(app.verify_complaint), result)
    bus.command("record_site_visit", c.RecordSiteVisit, in_thread(app.record_site_visit), result)
    bus.command("resolve_complaint", c.ResolveComplaint, in_thread(app.resolve_complaint), result)
    bus.command("propose_handling", c.ProposeHandling, in_thread(app.propose_handling), result)
    bus.command("decide_handling", c.DecideHandling, in_thread(app.decide_handling), result)
    bus.command("inform_customer", c.InformCustomer, in_thread(app.inform_customer), result)
    bus.command("follow_up", c.FollowUp, in_thread(app.follow_up), result)
    bus.command("close_complaint", c.CloseComplaint, in_thread(app.close_complaint), result)
    bus.query("get_complaint", c.GetComplaint, in_thread(app.get_complaint), result)
    bus.query("get_handling_form", c.GetHandlingForm, in_thread(app.get_handling_form), c.HandlingFormResult)
    bus.query(
        "export_handling_form", c.ExportHandlingForm, in_thread(app.export_handling_form), c.ExportedForm
    )
    bus.query("get_staff_record", c.GetStaffRecord, in_thread(app.get_staff_record), c.StaffRecordResult)
    bus.document_events(EVENTS)
