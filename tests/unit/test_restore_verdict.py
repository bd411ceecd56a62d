"""The restore drill's verdict (deploy/ops/restore_drill.py) from its figures, without running one."""

from __future__ import annotations

from typing import Any

from deploy.ops.checks import Figures, command_outcomes
from deploy.ops.restore_drill import DrillResult
from tests.unit.test_soak_verdict import exact, summary


def drill(load: dict[str, Any], stored: set[str], row: Figures, **checks: Any) -> DrillResult:
    return DrillResult(
        summary=load,
        outcomes=command_outcomes(load, {"orders": stored}),
        rows=[row],
        reconciled=checks.get("reconciled", True),
        rebuild_equal=checks.get("rebuild_equal", True),
        republished=["orders"],
        events_at_backup=1,
        events_at_wipe=2,
        backup_seconds=1.0,
        postgres_seconds=2.0,
        rto_seconds=3.0,
    )


def test_a_restore_with_every_acknowledged_command_passes_with_rpo_0() -> None:
    clean = drill(summary(("a", "ok"), ("b", "ok"), ("c", "timeout")), {"a", "b"}, exact(2))
    assert clean.passed and clean.rpo_commands == 0
    assert "RPO 0 acknowledged commands missing, RTO 3.0 s" in clean.line()
    assert clean.line().endswith("lost 0, double-counted 0")


def test_an_acknowledged_command_missing_after_the_restore_is_the_rpo_and_fails_the_drill() -> None:
    lossy = drill(summary(("a", "ok"), ("b", "ok")), {"a"}, exact(1))
    assert not lossy.passed and lossy.rpo_commands == 1
    assert lossy.line().endswith("lost 1, double-counted 0")


def test_a_stream_short_of_its_stored_events_fails_the_drill() -> None:
    short = drill(summary(("a", "ok")), {"a"}, Figures("orders", 2, 1, 2, 2, duplicates=0, lost=0))
    assert not short.passed and not short.refilled
    assert "streams SHORT" in short.line()


def test_reporting_unequal_to_the_stores_or_to_a_rebuild_fails_the_drill() -> None:
    assert not drill(summary(("a", "ok")), {"a"}, exact(1), reconciled=False).passed
    assert not drill(summary(("a", "ok")), {"a"}, exact(1), rebuild_equal=False).passed
