"""P3/P4/P9: the handling forms (客户投诉质量处理表 / 客户投诉服务处理表 / 售后服务处理表) as a record and as
printable HTML.

The record is the complete state of one complaint (or service request) plus its history; the HTML is
self-contained (no external assets, inline CSS with a print layout) and labels every field in Chinese and
English.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from pydantic_core import to_jsonable_python

from services.complaints.domain import Complaint, ComplaintType, ServiceRequest, StaffRecord
from shared.clock import BUSINESS_TZ

TITLES = {
    ComplaintType.QUALITY: (
        "quality_handling_form",
        "客户投诉质量处理表",
        "Customer Complaint – Quality Handling Form",
    ),
    ComplaintType.SERVICE: (
        "service_handling_form",
        "客户投诉服务处理表",
        "Customer Complaint – Service Handling Form",
    ),
}

# (key, Chinese label, English label), in the order the paper form lists them.
COMMON_HEAD: list[tuple[str, str, str]] = [
    ("complaint_id", "投诉编号", "Complaint no."),
    ("complaint_type", "投诉类型", "Complaint type"),
    ("status", "处理状态", "Status"),
    ("customer_id", "客户", "Customer"),
    ("description", "投诉内容", "Complaint description"),
    ("logged_at", "登记时间", "Logged at"),
    ("logged_by", "登记人", "Logged by"),
    ("assigned_to", "负责人", "Assigned to"),
    ("assigned_role", "负责人职务", "Assignee role"),
    ("acknowledge_by", "受理期限", "Acknowledge by"),
    ("acknowledged_at", "受理时间", "Acknowledged at"),
    ("resolve_by", "处理期限", "Resolve by"),
    ("overdue", "逾期", "Overdue deadlines"),
]
QUALITY_FIELDS: list[tuple[str, str, str]] = [
    ("order_id", "相关订单", "Related order"),
    ("receipt_number", "相关单据号", "Receipt no."),
    ("product_name", "产品名称", "Product name"),
    ("spec", "规格", "Specification"),
    ("quantity", "数量", "Quantity"),
    ("purchase_date", "购买日期", "Purchase date"),
    ("departments_notified", "通知部门", "Departments notified"),
    ("cause", "原因分析", "Cause found"),
    ("valid", "投诉是否成立", "Complaint valid"),
    ("verification_notes", "判定意见", "Decision notes"),
    ("site_visit_date", "现场处理日期", "On-site visit date"),
    ("site_visit_findings", "现场处理情况", "On-site findings"),
    ("resolution", "处理方式", "Resolution"),
    ("resolution_amount", "金额（元）", "Amount (CNY)"),
    ("resolution_notes", "处理说明", "Resolution notes"),
    ("resolved_at", "处理完成时间", "Resolved at"),
    ("satisfaction", "客户满意度", "Customer satisfaction"),
    ("customer_notes", "客户意见", "Customer feedback"),
    ("follow_up_notes", "跟踪回访", "Follow-up"),
    ("closed_at", "结案时间", "Closed at"),
]
SERVICE_FIELDS: list[tuple[str, str, str]] = [
    ("order_id", "相关订单", "Related order"),
    ("staff_id", "被投诉人员", "Staff member concerned"),
    ("valid", "投诉是否成立", "Complaint valid"),
    ("severity", "严重程度", "Severity"),
    ("cause", "核实情况", "Verification findings"),
    ("verification_notes", "核实意见", "Verification notes"),
    ("public_criticism", "通报批评", "Public criticism"),
    ("fine", "罚款（元）", "Fine (CNY)"),
    ("dismissal_recommended", "建议辞退", "Dismissal recommended"),
    ("proposal", "处理建议", "Handling proposal"),
    ("decision", "处理决定", "Decision"),
    ("resolved_at", "决定时间", "Decided at"),
    ("satisfaction", "客户满意度", "Customer satisfaction"),
    ("customer_notes", "客户意见", "Customer feedback"),
    ("closed_at", "结案时间", "Closed at"),
]
AFTER_SALES_TITLE = ("after_sales_service_form", "售后服务处理表", "After-sales Service Handling Form")
AFTER_SALES_FIELDS: list[tuple[str, str, str]] = [
    ("request_id", "服务单号", "Request no."),
    ("kind", "服务类型", "Service kind"),
    ("status", "处理状态", "Status"),
    ("customer_id", "客户", "Customer"),
    ("region", "区域", "Region"),
    ("description", "服务内容", "Request description"),
    ("quality_defect", "质量缺陷", "Quality defect"),
    ("complaint_id", "相关质量投诉", "Related quality complaint"),
    ("logged_at", "登记时间", "Logged at"),
    ("logged_by", "登记人", "Logged by"),
    ("technician_id", "技术服务人员", "Technician"),
    ("assigned_at", "派工时间", "Assigned at"),
    ("schedule_by", "安排期限", "Schedule by"),
    ("scheduled_for", "上门时间", "Visit scheduled for"),
    ("schedule_notes", "安排说明", "Scheduling notes"),
    ("complete_by", "完成期限", "Complete by"),
    ("completed_at", "完成时间", "Completed at"),
    ("report", "服务报告", "Service report"),
    ("signed_by", "客户签收人", "Signed off by (customer)"),
    ("satisfaction", "客户满意度", "Customer satisfaction"),
    ("customer_notes", "客户意见", "Customer feedback"),
    ("signed_off_at", "签收时间", "Signed off at"),
    ("overdue", "逾期", "Overdue deadlines"),
]
HISTORY_LABELS = (
    ("at", "时间", "Time"),
    ("step", "步骤", "Step"),
    ("actor", "经办人", "By"),
    ("notes", "说明", "Notes"),
)


def fields_of(complaint_type: ComplaintType) -> list[tuple[str, str, str]]:
    return COMMON_HEAD + (QUALITY_FIELDS if complaint_type is ComplaintType.QUALITY else SERVICE_FIELDS)


def handling_form(complaint: Complaint, staff: StaffRecord | None) -> dict[str, Any]:
    """The complete record of one complaint, keyed as the form's fields (JSON-ready)."""
    name, title_zh, title_en = TITLES[complaint.complaint_type]
    penalty = complaint.penalty or {}
    values: dict[str, Any] = {
        "complaint_id": str(complaint.id),
        "complaint_type": complaint.complaint_type.value,
        "status": complaint.status.value,
        "customer_id": complaint.customer_id,
        "description": complaint.description,
        "logged_at": complaint.logged_at,
        "logged_by": complaint.logged_by,
        "assigned_to": complaint.assigned_to,
        "assigned_role": complaint.assigned_role.value,
        "acknowledge_by": complaint.acknowledge_by,
        "acknowledged_at": complaint.acknowledged_at,
        "resolve_by": complaint.resolve_by,
        "overdue": sorted(complaint.overdue),
        "order_id": complaint.order_id,
        "receipt_number": complaint.receipt_number,
        "product_name": complaint.product_name,
        "spec": complaint.spec,
        "quantity": complaint.quantity,
        "purchase_date": complaint.purchase_date,
        "staff_id": complaint.staff_id,
        "departments_notified": list(complaint.departments_notified),
        "cause": complaint.cause,
        "valid": complaint.valid,
        "severity": complaint.severity.value if complaint.severity else None,
        "verification_notes": complaint.verification_notes,
        "site_visit_date": (complaint.site_visit or {}).get("visited_on"),
        "site_visit_findings": (complaint.site_visit or {}).get("findings"),
        "resolution": complaint.resolution.value if complaint.resolution else None,
        "resolution_amount": complaint.resolution_amount,
        "resolution_notes": complaint.resolution_notes,
        "resolved_at": complaint.resolved_at,
        "public_criticism": bool(penalty.get("public_criticism")),
        "fine": penalty.get("amount"),
        "dismissal_recommended": staff is not None
        and any(d["complaint_id"] == str(complaint.id) for d in staff.dismissals),
        "proposal": complaint.proposal,
        "decision": complaint.decision,
        "satisfaction": complaint.satisfaction.value if complaint.satisfaction else None,
        "customer_notes": complaint.customer_notes,
        "follow_up_notes": complaint.follow_up_notes,
        "closed_at": complaint.closed_at,
    }
    record = {key: values[key] for key, _, _ in fields_of(complaint.complaint_type)}
    record["history"] = [dict(step) for step in complaint.history]
    record["version"] = complaint.version
    return to_jsonable_python({"form": name, "title_zh": title_zh, "title_en": title_en, "record": record})


def after_sales_form(request: ServiceRequest, history: list[dict[str, Any]]) -> dict[str, Any]:
    """P9: the complete record of one after-sales request, keyed as the form's fields (JSON-ready)."""
    name, title_zh, title_en = AFTER_SALES_TITLE
    values = vars(request) | {
        "request_id": str(request.id),
        "overdue": sorted(request.overdue),
    }
    record = {key: values[key] for key, _, _ in AFTER_SALES_FIELDS}
    record["history"] = history
    record["version"] = request.version
    return to_jsonable_python({"form": name, "title_zh": title_zh, "title_en": title_en, "record": record})


# The field of each after-sales event that says what happened in that step, where it has one.
HISTORY_NOTES = ("description", "technician_id", "scheduled_for", "report", "signed_by", "stage")


def history_of(events: Iterable[Any]) -> list[dict[str, Any]]:
    """A request's handling history, read from its stored events (who did what, when)."""
    steps = []
    for stored in events:
        note = next((getattr(stored, n) for n in HISTORY_NOTES if getattr(stored, n, None) is not None), "")
        steps.append(
            {
                "at": stored.meta.at,
                "step": type(stored).__name__,
                "actor_id": stored.meta.actor_id,
                "actor_role": stored.meta.actor_role,
                "notes": note.isoformat() if isinstance(note, datetime) else str(note),
            }
        )
    return steps


def labels_of(form: dict[str, Any]) -> list[tuple[str, str, str]]:
    if form["form"] == AFTER_SALES_TITLE[0]:
        return AFTER_SALES_FIELDS
    return fields_of(ComplaintType(form["record"]["complaint_type"]))


def _show(value: Any) -> str:
    """A value as printed on the form: business-time dates, yes/no in both languages, blanks for none."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "是 / Yes" if value else "否 / No"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M") if moment.tzinfo else value
    return str(value)


def render_html(form: dict[str, Any]) -> str:
    """The handling form as one printable HTML document (no scripts, fonts or images from elsewhere)."""
    record = form["record"]
    labels = labels_of(form)
    rows = "\n".join(
        f'<tr data-field="{key}"><th><span lang="zh">{escape(zh)}</span><br>'
        f'<span lang="en">{escape(en)}</span></th>'
        f"<td>{escape(_show(record.get(key)))}</td></tr>"
        for key, zh, en in labels
    )
    head = "".join(
        f'<th><span lang="zh">{zh}</span> / <span lang="en">{en}</span></th>' for _, zh, en in HISTORY_LABELS
    )
    history = "\n".join(
        "<tr>"
        f"<td>{escape(_show(step['at']))}</td><td>{escape(step['step'])}</td>"
        f"<td>{escape(step['actor_id'])} ({escape(step['actor_role'])})</td>"
        f"<td>{escape(step['notes'] or '')}</td>"
        "</tr>"
        for step in record["history"]
    )
    title_zh, title_en = escape(form["title_zh"]), escape(form["title_en"])
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{title_zh} / {title_en}</title>
<style>
  @page {{ size: A4; margin: 15mm; }}
  body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", "SimSun", sans-serif;
         font-size: 11pt; color: #000; }}
  h1 {{ font-size: 16pt; text-align: center; margin: 0 0 2mm; }}
  h2 {{ font-size: 12pt; text-align: center; margin: 0 0 6mm; font-weight: normal; }}
  h3 {{ font-size: 11pt; margin: 6mm 0 2mm; }}
  table {{ width: 100%; border-collapse: collapse; page-break-inside: auto; }}
  th, td {{ border: 1px solid #000; padding: 2mm; text-align: left; vertical-align: top; }}
  th {{ width: 32%; background: #f2f2f2; font-weight: normal; }}
  tr {{ page-break-inside: avoid; }}
  .signatures {{ margin-top: 10mm; display: flex; justify-content: space-between; }}
</style>
</head>
<body>
<h1 id="title-zh">{title_zh}</h1>
<h2 id="title-en">{title_en}</h2>
<table id="form">
{rows}
</table>
<h3>处理记录 / Handling history</h3>
<table id="history">
<tr>{head}</tr>
{history}
</table>
<div class="signatures"><span>负责人签字 / Signature: ________</span><span>日期 / Date: ________</span></div>
</body>
</html>
"""
