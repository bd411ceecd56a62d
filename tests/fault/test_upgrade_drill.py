"""The rolling-upgrade drill (``python -m deploy.ops.upgrade_drill``): the previous release of customers
(``CustomerRegistered`` version 1) and the current one (version 2, ``lead_source``) in one queue group
under load, then the previous one stopped; no command refused, unanswered or lost, both versions in
reporting and the customer views, reporting equal to its rebuild and to the stores. Its figures go to
docs/reliability.md, section ``upgrade``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy.ops.checks import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_rolling_upgrade_of_customers_refuses_and_loses_nothing_while_both_versions_flow() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.ops.upgrade_drill", "--seconds", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert lines and lines[-1].endswith("lost 0, duplicates 0"), result.stdout
    assert " 0 refused or unanswered;" in lines[-1]
    assert "customer views complete, reconciliation equal, projections equal to a rebuild" in lines[-1]
