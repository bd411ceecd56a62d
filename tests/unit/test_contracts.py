"""The committed AsyncAPI documents are the ones the code generates (regenerate: ./salesops contracts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["customers", "orders", "complaints", "reporting"]


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_document_is_current(service: str) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", f"services.{service}.main", "asyncapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (ROOT / "docs" / "asyncapi" / f"{service}.json").read_text()
    assert json.loads(generated) == json.loads(committed), "stale contract: run ./salesops contracts"


def test_every_command_documents_request_and_reply() -> None:
    document = json.loads((ROOT / "docs" / "asyncapi" / "customers.json").read_text())
    commands = [o for o in document["operations"].values() if ".cmd." in o["channel"]["$ref"]]
    assert len(commands) >= 10
    for operation in commands:
        assert operation["messages"] and operation["reply"]["messages"]
    events = [c for c in document["channels"].values() if ".events." in c["address"]]
    assert {c["address"].rsplit(".", 1)[-1] for c in events} >= {"CustomerRegistered", "CustomerApproved"}
