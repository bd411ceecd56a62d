"""The table and ``docs/benchmarks.md``: figures of the run, with the analysis kept in ``analysis.md``."""

from __future__ import annotations

from pathlib import Path

from deploy.bench.common import Results, fmt
from deploy.bench.host import machine, versions


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
    path.write_text("\n".join(text))
