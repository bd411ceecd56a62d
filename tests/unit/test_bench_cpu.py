"""The benchmark's account of CPU per command (``deploy/bench/cpu.py``): which processes it reads and how
it adds up their time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from deploy.bench import cpu


def test_a_process_cpu_time_is_read_and_none_once_it_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu.cpu_seconds(child.pid) is None
    assert (cpu.cpu_seconds(os.getpid()) or 0.0) > 0.0


def test_a_process_child_is_found_by_its_parent() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert child.pid in cpu.children(os.getpid())
    finally:
        child.communicate(b"")


def test_the_process_listening_on_a_port_is_found() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert cpu.listening_pid(listener.getsockname()[1]) == os.getpid()


def test_cpu_per_command_adds_each_part_new_processes_from_zero_and_leaves_out_what_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seconds = {1: 1.0, 2: 5.0, 3: 0.0}
    monkeypatch.setattr(cpu, "cpu_seconds", lambda pid: seconds.get(pid))
    use = cpu.CpuUse({"orders": [1], "backends": [2], cpu.CLIENT: [3]})
    use.start()
    seconds.update({1: 1.5, 2: 5.2, 3: 0.4, 4: 0.1})  # 4: a backend connected meanwhile
    use.stop({"orders": [1], "backends": [2, 4], cpu.CLIENT: [3]})
    assert use.per_command_ms(100) == pytest.approx({"orders": 5.0, "backends": 3.0, cpu.CLIENT: 4.0})
    assert use.total_ms(100, leave_out=(cpu.CLIENT,)) == pytest.approx(8.0)
