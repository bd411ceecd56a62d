"""The image cache's key (deploy/images.content_hash): built images are reused only while nothing they are
built from has changed."""

from __future__ import annotations

from pathlib import Path

from deploy.images import content_hash


def sources(root: Path) -> None:
    (root / "services").mkdir()
    (root / "services" / "main.py").write_text("print('orders')\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")


def test_the_same_inputs_give_the_same_tag(tmp_path: Path) -> None:
    sources(tmp_path)
    inputs = ["pyproject.toml", "services"]
    assert content_hash(tmp_path, inputs, {"BASE": "b"}) == content_hash(tmp_path, inputs, {"BASE": "b"})


def test_a_changed_file_a_new_file_or_a_changed_build_argument_gives_a_new_tag(tmp_path: Path) -> None:
    sources(tmp_path)
    inputs = ["pyproject.toml", "services"]
    first = content_hash(tmp_path, inputs, {"BASE": "b"})
    assert content_hash(tmp_path, inputs, {"BASE": "python:3.11-slim"}) != first
    (tmp_path / "services" / "main.py").write_text("print('customers')\n")
    second = content_hash(tmp_path, inputs, {"BASE": "b"})
    assert second != first
    (tmp_path / "services" / "extra.py").write_text("")
    assert content_hash(tmp_path, inputs, {"BASE": "b"}) != second


def test_bytecode_caches_do_not_change_the_tag(tmp_path: Path) -> None:
    sources(tmp_path)
    inputs = ["pyproject.toml", "services"]
    first = content_hash(tmp_path, inputs, {})
    (tmp_path / "services" / "__pycache__").mkdir()
    (tmp_path / "services" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert content_hash(tmp_path, inputs, {}) == first
