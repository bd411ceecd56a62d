"""The rolling-upgrade drill (``python -m deploy.ops.upgrade_drill``): the previous release of customers
(``CustomerRegistered`` version 1) and the current one (version 2, ``lead_source``) in one queue group
under load, then the previous one stopped; no command refused, unanswered or lost, both versions in
reporting and the customer views, reporting equal to its rebuild and to the stores. Its figures go to
docs/reliability.md, section ``upgrade``."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from deploy.ops.checks import ROOT, passed_drill, run_drill

pytestmark = [pytest.mark.integration, pytest.mark.fault]

FORWARD_COMPATIBLE = 'stored_version = stored.pop("class_version", 1)'  # shared/envelope.py's relay fix


def test_rolling_upgrade_of_customers_refuses_and_loses_nothing_while_both_versions_flow() -> None:
    last = passed_drill("upgrade_drill", "--seconds", "30", timeout=600)
    assert " 0 refused or unanswered;" in last
    assert "customer views complete, reconciliation equal, projections equal to a rebuild" in last
    assert ", 0 under an older version;" in last


def test_a_previous_release_without_forward_compatible_envelopes_fails_the_drill() -> None:
    """Before its relay published a newer release's event under the stored version, the previous
    release announced version-2 registrations as version 1: the drill must catch that."""
    introduced = subprocess.run(
        ["git", "log", "--format=%H", "-S", FORWARD_COMPATIBLE, "--", "shared/envelope.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    previous = f"{introduced[-1]}^"
    result, lines = run_drill(
        "upgrade_drill", "--seconds", "30", "--no-doc", "--previous", previous, timeout=600
    )
    logs = re.search(r"logs in (\S+)", result.stderr)
    if logs:  # a failed drill keeps its logs for a person to read; this failure is the expected one
        shutil.rmtree(logs.group(1), ignore_errors=True)
    last = lines[-1]
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert " 0 refused or unanswered;" in last  # clients see nothing wrong: only the version is
    assert ", 0 under an older version;" not in last, last
