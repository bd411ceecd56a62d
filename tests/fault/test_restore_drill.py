"""The backup and restore drill (``python -m deploy.ops.restore_drill``): under load, a base backup, then
every data directory (PostgreSQL's and JetStream's) deleted; after the restore every command acknowledged
before the wipe is stored, every stored event is on its stream again and in reporting exactly once, and
the projections equal a rebuild. Its figures (RPO, RTO) go to docs/reliability.md, section ``restore``."""

from __future__ import annotations

import pytest

from deploy.ops.checks import passed_drill

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_restore_after_every_data_directory_is_lost_keeps_every_acknowledged_command() -> None:
    last = passed_drill("restore_drill", "--seconds", "20", timeout=900)
    assert "RPO 0 acknowledged commands missing" in last
    assert "streams refilled, reconciliation equal, projections equal to a rebuild" in last
