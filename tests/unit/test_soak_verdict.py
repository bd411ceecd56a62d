"""The soak's verdict (deploy/ops/soak.py, deploy/ops/checks.py) from its figures, without running one."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from deploy.ops import reliability_doc
from deploy.ops.checks import ACKNOWLEDGED_NOT_STORED, REFUSED_BUT_STORED, Figures, command_outcomes
from deploy.ops.soak import Result, write_figures


def summary(*commands: tuple[str, str]) -> dict[str, Any]:
    sent = [{"service": "orders", "key": key, "outcome": outcome} for key, outcome in commands]
    return {"sent": len(sent), "ok": sum(c["outcome"] == "ok" for c in sent), "commands": sent}


def result(load: dict[str, Any], stored: set[str], row: Figures, **checks: Any) -> Result:
    return Result(
        minutes=1,
        summary=load,
        outcomes=command_outcomes(load, {"orders": stored}),
        rows=[row],
        reconciled=checks.get("reconciled", True),
        rebuild_equal=checks.get("rebuild_equal", True),
        parked=checks.get("parked", 0),
        injected=Counter({"kill -9 service": 2}),
    )


def exact(stored: int) -> Figures:
    return Figures("orders", stored, stored, stored, stored, duplicates=0, lost=0)


def test_command_outcomes_name_acknowledged_commands_not_stored_and_refused_ones_stored() -> None:
    load = summary(("a", "ok"), ("b", "ok"), ("c", "rule_violation"), ("d", "timeout"), ("e", "unavailable"))
    outcomes = command_outcomes(load, {"orders": {"a", "c", "d"}})
    assert outcomes == {
        "acknowledged and stored": 1,
        ACKNOWLEDGED_NOT_STORED: 1,
        REFUSED_BUT_STORED: 1,
        "unanswered, stored": 1,
        "refused (unavailable), not stored": 1,
    }


def test_a_clean_soak_passes_and_its_line_ends_with_lost_0_double_counted_0() -> None:
    clean = result(summary(("a", "ok"), ("b", "timeout")), {"a"}, exact(1))
    assert clean.passed
    assert clean.line().endswith("lost 0, double-counted 0")


def test_an_acknowledged_command_not_stored_is_lost() -> None:
    lossy = result(summary(("a", "ok"), ("b", "ok")), {"a"}, exact(1))
    assert not lossy.passed
    assert lossy.line().endswith("lost 1, double-counted 0")


def test_an_event_on_the_stream_twice_is_double_counted() -> None:
    twice = Figures("orders", 1, 2, 1, 1, duplicates=1, lost=0)
    doubled = result(summary(("a", "ok")), {"a"}, twice)
    assert not doubled.passed
    assert doubled.line().endswith("lost 0, double-counted 1")


def test_unequal_reconciliation_a_rebuild_that_differs_or_a_dead_letter_fails_the_soak() -> None:
    load = summary(("a", "ok"))
    assert not result(load, {"a"}, exact(1), reconciled=False).passed
    assert not result(load, {"a"}, exact(1), rebuild_equal=False).passed
    assert not result(load, {"a"}, exact(1), parked=1).passed


def test_a_30_minute_soak_keeps_its_section_beside_the_3_minute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reliability_doc, "DOC", tmp_path / "reliability.md")
    clean = result(summary(("a", "ok")), {"a"}, exact(1))
    write_figures(dataclasses.replace(clean, minutes=30), seed=1, rate=20)
    write_figures(dataclasses.replace(clean, minutes=3), seed=2, rate=20)
    text = (tmp_path / "reliability.md").read_text()
    assert "soak --minutes 30 --seed 1" in text and "soak --minutes 3 --seed 2" in text
    assert text.index("<!-- fault:soak-long -->") < text.index("<!-- fault:soak -->")
