"""A 3-minute chaos soak (``python -m deploy.ops.soak --minutes 3``): overlapping faults under steady load
(kill -9 of services and relays, the relay's connection cut, PostgreSQL killed and restarted, a node of the
3-node JetStream cluster killed, a slow consumer) end with nothing lost and nothing counted twice. Its
figures go to docs/reliability.md, section ``soak``."""

from __future__ import annotations

import pytest

from deploy.ops.checks import passed_drill

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_three_minute_soak_with_overlapping_faults_loses_nothing_and_counts_nothing_twice() -> None:
    last = passed_drill("soak", "--minutes", "3", timeout=1500)
    assert "reconciliation equal, projections equal to a rebuild, 0 parked" in last
