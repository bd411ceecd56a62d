"""The committed AsyncAPI documents are the ones the code generates (regenerate: ./salesops contracts), and
replies are written as the contract's reply model writes them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from deploy.local.processes import PROCESSES
from shared.contracts import Reply
from tests.conftest import printed_document

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", PROCESSES)  # the services and the O10 department feeds
def test_committed_asyncapi_document_is_current(service: str) -> None:
    committed = (ROOT / "docs" / "asyncapi" / f"{service}.json").read_text()
    assert printed_document(service, "asyncapi") == json.loads(committed), (
        "stale contract: run ./salesops contracts"
    )


def test_every_command_documents_request_and_reply() -> None:
    document = json.loads((ROOT / "docs" / "asyncapi" / "customers.json").read_text())
    commands = [o for o in document["operations"].values() if ".cmd." in o["channel"]["$ref"]]
    assert len(commands) >= 10
    for operation in commands:
        assert operation["messages"] and operation["reply"]["messages"]
    events = [c for c in document["channels"].values() if ".events." in (c["address"] or "")]
    assert {c["address"].rsplit(".", 1)[-1] for c in events} >= {"CustomerRegistered", "CustomerApproved"}


class _Nested(BaseModel):
    count: int | None = None
    name: str = "x"


@pytest.mark.parametrize(
    "result",
    [
        {
            "id": "o-1",
            "reservation_id": None,
            "amount": Decimal("1.50"),
            "day": date(2026, 1, 2),
            "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "lines": [1, None, {"note": None}],
        },
        None,
        [],
        {"nested": _Nested()},
        _Nested(count=3),
        "text",
    ],
)
def test_a_success_reply_is_written_as_the_reply_model_writes_it(result: object) -> None:
    assert Reply.success_json(result) == Reply(ok=True, result=result).to_json()
