"""The backup and restore drill (``python -m deploy.ops.restore_drill``): under load, a base backup, then
every data directory (PostgreSQL's and JetStream's) deleted; after the restore every command acknowledged
before the wipe is stored, every stored event is on its stream again and in reporting exactly once, and
the projections equal a rebuild. Its figures (RPO, RTO) go to docs/reliability.md, section ``restore``."""

from __future__ import annotations

import pytest

from deploy.ops.checks import run_drill

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_restore_after_every_data_directory_is_lost_keeps_every_acknowledged_command() -> None:
    result, lines = run_drill("restore_drill", "--seconds", "20", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert lines and lines[-1].endswith("lost 0, double-counted 0"), result.stdout
    assert "RPO 0 acknowledged commands missing" in lines[-1]
    assert "streams refilled, reconciliation equal, projections equal to a rebuild" in lines[-1]
