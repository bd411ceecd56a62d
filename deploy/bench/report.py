"""The table and ``docs/benchmarks.md``: figures of the run, with the analysis kept in ``analysis.md``, and
the history of full runs per host, one row appended by each full run (so a regression shows)."""

from __future__ import annotations

import re
from pathlib import Path

from deploy.bench.common import Results, fmt
from deploy.bench.host import cpu_models, machine, versions


def table(results: Results) -> str:
    lines = [
        "| part | figure | value | baseline | ratio | target | |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for f in results.figures:
        lines.append(
            f"| {f.part} | {f.name} | {fmt(f.value, f.unit)} | "
            f"{fmt(f.baseline, f.unit) + ' (' + f.baseline_name + ')' if f.baseline else ''} | "
            f"{f'{f.ratio:.2f}×' if f.ratio is not None else ''} | {f.target} | "
            f"{'' if f.met is None else ('met' if f.met else '**missed**')} |"
        )
    return "\n".join(lines)


ANALYSIS = Path(__file__).with_name("analysis.md")
HISTORY_START = "<!-- bench-history: one row per full run, appended by deploy/bench/report.py -->"
HISTORY_END = "<!-- /bench-history -->"
# The history's columns: the figure each shows (the first whose name matches), its ratio where it has one.
KEY_FIGURES = (
    ("place_order, 64 in flight", r"place_order over NATS, 64 in flight$", False),
    ("two orders processes", r"place_order over NATS, 64 in flight, two orders processes$", False),
    ("p99 at 200/s", r"latency p99 at 200/s$", False),
    ("commit → projection p99 at 200/s", r"commit → projection p99 at 200/s$", False),
    ("commit → projection p99 at saturation", r"commit → projection p99 at saturation$", False),
    ("rebuild (× read + decode)", r"rebuild of all projections, ", True),
    ("rebuild peak RSS", r"rebuild peak RSS$", False),
    ("annual statistics uncached p99", r"annual_statistics \(uncached\)", False),
)
# The full runs before the history was kept (docs/benchmarks.md of 2026-11-26, issue #30 for 2026-12-07).
EARLIER_RUNS = (
    "| 2026-11-26 | 2 cores, Intel(R) Xeon(R) Processor | 1,812 commands/s | 1,204 commands/s | 8.6 ms | "
    "16.5 ms | 42.1 ms | 238,385 events/s (0.86×) | 114 MB | 36.3 ms |",
    "| 2026-12-07 | 2 cores, AMD EPYC | 1,699 commands/s | 962 commands/s | 34.8 ms | – | 68.8 ms | "
    "154,000 events/s (0.72×) | 114 MB | 42.7 ms |",
)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    models = cpu_models(cpuinfo)
    return f"{len(models) or '?'} cores, {models[0] if models else 'unknown CPU'}"


def history_row(results: Results, host: str) -> str:
    cells = [f"{results.started:%Y-%m-%d}", host]
    for _, pattern, with_ratio in KEY_FIGURES:
        figure = next((f for f in results.figures if re.match(pattern, f.name)), None)
        if figure is None:
            cells.append("–")
            continue
        ratio = f" ({figure.ratio:.2f}×)" if with_ratio and figure.ratio is not None else ""
        cells.append(fmt(figure.value, figure.unit) + ratio)
    return f"| {' | '.join(cells)} |"


def history(previous: str, results: Results, host: str) -> list[str]:
    """The history section: the rows ``previous`` (the document so far) has, or the earlier runs when it has
    none yet, and this run's row when it is a full run."""
    kept = re.search(rf"{re.escape(HISTORY_START)}\n(.*?){re.escape(HISTORY_END)}", previous, re.S)
    rows = [line for line in (kept[1] if kept else "").splitlines() if line.startswith("| 2")]
    rows = rows or list(EARLIER_RUNS)
    if results.mode == "full":
        rows.append(history_row(results, host))
    return [
        "## History of full runs, per host",
        "",
        "One row per `./salesops bench --full`, appended by it (the figures above are the last run's): a "
        "regression shows as a row worse than the rows of the same host before it.",
        "",
        HISTORY_START,
        f"| date | host | {' | '.join(column for column, _, _ in KEY_FIGURES)} |",
        f"|---|---|{'---:|' * len(KEY_FIGURES)}",
        *rows,
        HISTORY_END,
        "",
    ]


def write_doc(results: Results, load_before: str, path: Path) -> None:
    text = [
        "# Benchmarks",
        "",
        f"Written by `./salesops bench{' --full' if results.mode == 'full' else ''}` "
        f"({results.mode} mode) on {results.started:%Y-%m-%d %H:%M} UTC. Every baseline is measured in "
        "the same run on the same machine; ratio = figure / baseline.",
        "",
        f"- Machine: {machine()} (load average before the run: {load_before})",
        f"- Versions: {versions()}",
        *[f"- {note}" for note in results.notes],
        *[f"- **Not measured in this run**: {failure}" for failure in results.failed],
        "",
        table(results),
        "",
    ]
    text += [ANALYSIS.read_text().strip(), ""]
    text += history(path.read_text() if path.exists() else "", results, cpu_model())
    path.write_text("\n".join(text))
