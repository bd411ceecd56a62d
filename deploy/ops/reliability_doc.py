"""The figures of the fault tests and the chaos soak in ``docs/reliability.md``, a section each.

Sections sit between ``<!-- fault:NAME -->`` and ``<!-- /fault:NAME -->``; everything else in the file
(other tests' sections, text written by hand) is kept. A lock file keeps concurrent writers apart.
"""

from __future__ import annotations

import fcntl
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HEADER = """# Reliability: failure behaviour, measured

Written by the fault suite (`pytest -m fault`, part of `./salesops test`): each section below is
replaced by the test named in it, with the figures of its last run. A test fails when the property it
states breaks; the figures are what that run saw.
"""


def table(rows: Sequence[tuple[str, Any]]) -> list[str]:
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines


def write_section(name: str, title: str, test: str, body: Sequence[str]) -> None:
    """Replace (or append) the section ``name`` of docs/reliability.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            f"<!-- fault:{name} -->",
            f"## {title}",
            "",
            f"Test: `{test}` — last run {stamp}.",
            "",
            *body,
            f"<!-- /fault:{name} -->",
        ]
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    with (Path(tempfile.gettempdir()) / "salesops-reliability.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = DOC.read_text() if DOC.exists() else HEADER
        pattern = re.compile(rf"<!-- fault:{re.escape(name)} -->.*?<!-- /fault:{re.escape(name)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: section, text)
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        DOC.write_text(text)
