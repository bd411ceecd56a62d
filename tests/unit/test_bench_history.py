"""Issue 30: docs/benchmarks.md keeps the history of full runs per host (deploy/bench/report.py), one row
appended per full run, so that a regression shows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deploy.bench import report
from deploy.bench.common import Figure, Results


def full_run(day: int, rate: float) -> Results:
    results = Results("full", started=datetime(2026, 12, day, 21, 0, tzinfo=UTC))
    results.add(Figure("1 commands", "place_order over NATS, 64 in flight", rate, "commands/s"))
    results.add(
        Figure("1 commands", "place_order over NATS, 64 in flight, two orders processes", 900, "commands/s")
    )
    results.add(
        Figure("3 rebuild", "rebuild of all projections, 2,000,000 events", 200_000, "events/s", 250_000)
    )
    return results


def history_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| 2026-")]


def test_a_full_run_appends_its_row_after_the_earlier_runs_and_keeps_them(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    report.write_doc(full_run(8, 1500), "0.5", doc)
    report.write_doc(full_run(9, 1400), "0.5", doc)
    rows = history_rows(doc.read_text())
    earlier = len(report.EARLIER_RUNS)
    assert rows[:earlier] == list(report.EARLIER_RUNS)
    assert [row.split(" | ")[0] for row in rows[earlier:]] == ["| 2026-12-08", "| 2026-12-09"]
    newest = rows[-1].split(" | ")
    assert newest[1] == report.cpu_model()
    assert newest[2:5] == ["1,400 commands/s", "900 commands/s", "–"]  # a figure the run lacks shows "–"
    assert "200,000 events/s (0.80×)" in newest


def test_a_quick_run_keeps_the_history_and_adds_no_row(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    report.write_doc(full_run(8, 1500), "0.5", doc)
    quick = Results("quick", figures=full_run(9, 1400).figures)
    report.write_doc(quick, "0.5", doc)
    assert len(history_rows(doc.read_text())) == len(report.EARLIER_RUNS) + 1


def test_the_host_is_its_core_count_and_cpu_model(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
    )
    assert report.cpu_model(cpuinfo) == "2 cores, AMD EPYC 7B13"
