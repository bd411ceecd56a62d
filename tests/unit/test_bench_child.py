"""The benchmark's rebuild child counts its readers' memory: the peak RSS reported is its own plus its
children's, each read while it runs."""

from __future__ import annotations

import subprocess
import sys

from deploy.bench.child import ChildrenPeaks

HOLDS_MB = 200


def test_the_peak_rss_of_a_child_that_has_exited_is_counted() -> None:
    holding = f"block = bytearray({HOLDS_MB} * 1024 * 1024); import time; time.sleep(0.5)"
    with ChildrenPeaks() as children:
        subprocess.run([sys.executable, "-c", holding], check=True)
    assert max(children.peaks.values()) >= HOLDS_MB  # others may run beside it (a resource tracker)
    assert children.total_mb >= HOLDS_MB
