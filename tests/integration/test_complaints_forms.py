"""P3/P4 handling forms exported as printable HTML, opened in a real browser (headless Chromium) and read
back from the DOM it built; plus a structural check with the standard library's HTML parser."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from shared.runtime import WriteService
from tests.builders import GM, SALES_MANAGER, VP
from tests.conftest import Requester
from tests.integration.complaints_kit import ok
from tests.integration.test_complaints import quality_complaint, service_complaint

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)


class FormReader(HTMLParser):
    """Reads a rendered form: each ``tr[data-field]`` → (label text, value text); titles; external refs."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.titles: dict[str, str] = {}
        self.external: list[str] = []
        self.scripts = 0
        self._field: str | None = None
        self._cell: list[str] | None = None
        self._title: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.external.append(values[name] or "")
        if tag == "script":
            self.scripts += 1
        if tag == "br" and self._cell is not None:
            self._cell.append(" ")  # a line break between the Chinese and the English label
        if tag == "tr" and values.get("data-field"):
            self._field = values["data-field"]
            self.rows[self._field or ""] = []
        if tag in ("th", "td") and self._field:
            self._cell = []
        if tag in ("h1", "h2") and values.get("id"):
            self._title = values["id"]
            self.titles[self._title or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._field and self._cell is not None:
            self.rows[self._field].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr":
            self._field = None
        if tag in ("h1", "h2"):
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._title:
            self.titles[self._title] += data


def read(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def chromium(path: Path, *options: str) -> bytes:
    """What headless Chromium writes when it opens the file with these options."""
    assert CHROMIUM
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *options, path.as_uri()]
    return subprocess.run(command, capture_output=True, timeout=60, check=True).stdout


def open_in_browser(path: Path) -> str:
    """The DOM Chromium built from the file (what a user sees), serialised."""
    return chromium(path, "--dump-dom").decode("utf-8")


async def closed_quality_complaint(request_: Requester) -> str:
    cid = (await ok(request_, "log_complaint", quality_complaint()))["complaint_id"]
    step = {"complaint_id": cid, "actor": SALES_MANAGER}
    await ok(
        request_, "start_investigation", step | {"departments_notified": ["生产部 production", "质检 QA"]}
    )
    await ok(request_, "verify_complaint", step | {"actor": GM, "valid": True, "cause": "铸件砂眼 porosity"})
    await ok(request_, "record_site_visit", step | {"visited_on": "2026-11-21", "findings": "12 of 40 leak"})
    await ok(request_, "resolve_complaint", step | {"resolution": "replace", "notes": "<b>12</b> replaced"})
    await ok(request_, "inform_customer", step | {"satisfaction": "satisfied"})
    await ok(request_, "follow_up", step | {"notes": "no further leaks"})
    await ok(request_, "close_complaint", step)
    return cid


async def decided_service_complaint(request_: Requester) -> str:
    cid = (await ok(request_, "log_complaint", service_complaint("sp-form")))["complaint_id"]
    step = {"complaint_id": cid, "actor": VP}
    await ok(
        request_, "verify_complaint", step | {"valid": True, "severity": "moderate", "cause": "录音证实"}
    )
    await ok(request_, "propose_handling", step | {"proposal": "通报批评并罚款 150 元"})
    await ok(request_, "decide_handling", step | {"decision": "同意 agreed"})
    return cid


async def export(request_: Requester, cid: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    exported = await ok(request_, "export_handling_form", {"complaint_id": cid}, kind="query")
    assert exported["content_type"] == "text/html; charset=utf-8"
    path = tmp_path / exported["filename"]
    path.write_text(exported["content"], encoding="utf-8")
    return path, exported


async def opened(request_: Requester, cid: str, tmp_path: Path) -> tuple[FormReader, Path]:
    """The complaint's exported form as a browser shows it, and its file."""
    path, _ = await export(request_, cid, tmp_path)
    return read(open_in_browser(path)), path


def check_quality_form(form: FormReader, cid: str) -> None:
    assert form.titles == {
        "title-zh": "客户投诉质量处理表",
        "title-en": "Customer Complaint – Quality Handling Form",
    }
    expected = {
        "complaint_id": ("投诉编号 Complaint no.", cid),
        "order_id": ("相关订单 Related order", "ord-2"),
        "product_name": ("产品名称 Product name", "截止阀 globe valve"),
        "spec": ("规格 Specification", "DN50 PN16"),
        "quantity": ("数量 Quantity", "40"),
        "purchase_date": ("购买日期 Purchase date", "2026-10-30"),
        "assigned_to": ("负责人 Assigned to", "sm-1"),
        "logged_at": ("登记时间 Logged at", "2026-11-20 10:00"),  # business time, Asia/Shanghai
        "departments_notified": ("通知部门 Departments notified", "生产部 production, 质检 QA"),
        "cause": ("原因分析 Cause found", "铸件砂眼 porosity"),
        "valid": ("投诉是否成立 Complaint valid", "是 / Yes"),
        "site_visit_findings": ("现场处理情况 On-site findings", "12 of 40 leak"),
        "resolution": ("处理方式 Resolution", "replace"),
        "resolution_notes": ("处理说明 Resolution notes", "<b>12</b> replaced"),  # shown as text, not markup
        "satisfaction": ("客户满意度 Customer satisfaction", "satisfied"),
        "follow_up_notes": ("跟踪回访 Follow-up", "no further leaks"),
        "status": ("处理状态 Status", "closed"),
    }
    for field, (label, value) in expected.items():
        assert form.rows[field] == [label, value], field


@needs_chromium
async def test_p3_quality_form_opens_in_a_browser(
    complaints: WriteService, request_: Requester, tmp_path: Path
) -> None:
    cid = await closed_quality_complaint(request_)
    form, path = await opened(request_, cid, tmp_path)
    check_quality_form(form, cid)

    pdf = tmp_path / "form.pdf"  # and it prints
    chromium(path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert pdf.read_bytes().startswith(b"%PDF")


@needs_chromium
async def test_p4_service_form_opens_in_a_browser(
    complaints: WriteService, request_: Requester, tmp_path: Path
) -> None:
    form, _ = await opened(request_, await decided_service_complaint(request_), tmp_path)
    assert form.titles == {
        "title-zh": "客户投诉服务处理表",
        "title-en": "Customer Complaint – Service Handling Form",
    }
    assert form.rows["staff_id"] == ["被投诉人员 Staff member concerned", "sp-form"]
    assert form.rows["severity"] == ["严重程度 Severity", "moderate"]
    assert form.rows["public_criticism"] == ["通报批评 Public criticism", "是 / Yes"]
    assert form.rows["fine"] == ["罚款（元） Fine (CNY)", "150.00"]
    assert form.rows["proposal"] == ["处理建议 Handling proposal", "通报批评并罚款 150 元"]
    assert form.rows["decision"] == ["处理决定 Decision", "同意 agreed"]
    assert form.rows["closed_at"] == ["结案时间 Closed at", "—"]
    assert "product_name" not in form.rows  # the service form has no quality registration fields


async def test_p3_exported_form_is_self_contained(
    complaints: WriteService, request_: Requester, tmp_path: Path
) -> None:
    cid = await closed_quality_complaint(request_)
    _, exported = await export(request_, cid, tmp_path)
    form = read(exported["content"])
    check_quality_form(form, cid)
    assert form.external == [] and form.scripts == 0  # prints offline: nothing loaded from elsewhere
    assert '<meta charset="utf-8">' in exported["content"] and "@page" in exported["content"]
