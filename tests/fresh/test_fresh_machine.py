"""The README's run command on a fresh machine (issue 31): a container of minimal Debian bookworm with
only python3 and git, from Debian's own packages (built once and cached), and a clone of the commit
under test. ``./salesops up`` there must install and start everything, print the demo's figures and where
to look; then one command and one query reach the running system.

Run once per test command (a module of its own, one test): a few minutes with the downloads cached,
longer the first time on a machine (image build, downloads)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy.fresh.machine import ensure_image, fresh_machine
from deploy.images import podman_unavailable

ROOT = Path(__file__).resolve().parents[2]
UP_DONE = "[salesops] Ctrl-C stops everything"
UP_MINUTES = 25  # first run on a machine: every download; later runs take a few minutes

pytestmark = pytest.mark.e2e

unavailable = podman_unavailable()


@pytest.mark.skipif(unavailable is not None, reason=f"no containers here: {unavailable}")
def test_fresh_machine_runs_the_readme_run_command_and_answers() -> None:
    ensure_image()
    with fresh_machine(ROOT, "./salesops", "up") as machine:
        shown = machine.wait_for(UP_DONE, timeout=UP_MINUTES * 60)

        assert "[salesops] demo flow loaded:" in shown
        assert re.search(r"distributor projection: \{.+\}", shown)
        assert re.search(r"branch projection: +\{.+\}", shown)
        assert "dashboard and reports:  http://" in shown
        where = re.search(r"NATS: +(\S+)\s+user client, password (\S+)", shown)
        assert where, shown[-3000:]
        # What a newcomer should not see (issue 31): pip's noise, su's directory warnings, internal errors.
        for noise in (
            "Editable installation",
            "BuildBackendWarning",
            "could not change directory",
            '"internal"',
        ):
            assert noise not in shown, noise

        probed = machine.exec(".venv/bin/python", "-m", "deploy.fresh", "probe", where[1], where[2])
        assert probed.returncode == 0, probed.stderr[-3000:]
        answers = json.loads(probed.stdout.strip().splitlines()[-1])
        assert answers["database_encoding"] == "UTF8"
        assert answers["command"]["status"] == "prospect"
        assert answers["query"]["ok"], answers["query"]
        customer = answers["query"]["result"]
        assert customer["customer_id"] == answers["command"]["customer_id"]
        assert customer["company_name"] == "温州新世纪阀门有限公司"
        assert customer["legal_representative"] == "王建国"
