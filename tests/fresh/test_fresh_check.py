"""The pieces of ``./salesops fresh-check`` that need no container: reading pytest's closing counts,
recording the result in the operations document, finding this machine's Debian mirror."""

from __future__ import annotations

from pathlib import Path

from deploy.fresh.__main__ import BEGIN, END, counts, record
from deploy.images import DEFAULT_MIRROR, debian_mirror


def test_counts_are_read_from_pytests_closing_line() -> None:
    output = "\n".join(
        [
            "[salesops] installing chromium for the browser tests",
            "FAILED tests/unit/test_x.py::test_y - assert '2 passed' == '3 passed'",
            "3 failed, 512 passed, 4 skipped, 1 error in 401.22s (0:06:41)",
        ]
    )
    assert counts(output) == {"failed": 3, "passed": 512, "skipped": 4, "error": 1}
    assert counts("no pytest here") == {}


def test_record_replaces_only_the_last_result(tmp_path: Path) -> None:
    document = tmp_path / "operations.md"
    document.write_text("# Operating\n\nbefore\n")
    record("- first", document)
    record("- second", document)
    text = document.read_text()
    assert text.startswith("# Operating\n\nbefore\n")
    assert text.count(BEGIN) == 1 and text.count("## Last fresh-machine check") == 1
    assert f"{BEGIN}\n- second\n{END}" in text and "- first" not in text
    document.write_text(text + "\n## After\n\nkept\n")
    record("- third", document)
    assert document.read_text().endswith(f"{BEGIN}\n- third\n{END}\n\n## After\n\nkept\n")


def test_debian_mirror_is_read_from_either_apt_sources_format(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    assert debian_mirror(tmp_path) == DEFAULT_MIRROR
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian_mirror(tmp_path) == "http://other.example/debian"
