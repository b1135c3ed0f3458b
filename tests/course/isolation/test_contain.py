"""course.isolation.contain: every process a contained command starts dies with it, also a daemon
that left the session with ``setsid`` (real processes, checked in the process table).

The cgroup test needs a writable cgroup v2 with ``cgroup.kill`` (root on Linux 5.14+); it
is skipped elsewhere, except in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from course.isolation.contain import MARKER, Containment, cgroup_parent

#: Starts a daemon (double fork + setsid, like a learner's background job), prints its pid
#: and waits for stdin to close.
DAEMON = """
import os, sys, time
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        os.close(write)
        while True:
            time.sleep(60)
    os._exit(0)
os.close(write)
print(os.read(read, 32).decode(), flush=True)
sys.stdin.read()
"""


def _start(containment: Containment, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "course.isolation.launch",
            *containment.arguments(),
            "--no-landlock",
            "--",
            sys.executable,
            "-c",
            DAEMON,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    daemon = int(process.stdout.readline())
    return process, daemon


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("use_cgroup", [True, False], ids=["cgroup", "process-family"])
def test_a_setsid_daemon_dies_with_the_command(use_cgroup):
    if use_cgroup and cgroup_parent() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must offer a writable cgroup v2")
        pytest.skip("needs a writable cgroup v2 (root on Linux 5.14+)")
    containment = Containment.create("test", use_cgroup=use_cgroup)
    assert (containment.cgroup is not None) == use_cgroup
    process, daemon = _start(containment, {**os.environ, **containment.environment()})
    try:
        assert _alive(daemon)
        assert psutil.Process(daemon).ppid() == process.pid  # orphaned, adopted by the subreaper
        assert os.getsid(daemon) != os.getsid(process.pid)  # and the session
        assert {process.pid, daemon} <= containment.pids(process.pid)
        containment.kill(process.pid)
        process.wait(timeout=30)
        assert not _alive(daemon), "the daemon survived its command"
        assert not containment.pids(process.pid)
        if containment.cgroup is not None:
            assert not containment.cgroup.exists()
    finally:
        process.kill()
        if _alive(daemon):
            os.kill(daemon, 9)


def test_the_fallback_finds_a_daemon_orphaned_before_the_kill():
    """The command ends first (its daemon is then re-parented away from it); the marker in
    the daemon's environment still finds it."""
    containment = Containment.create("test", use_cgroup=False)
    process, daemon = _start(containment, {**os.environ, **containment.environment()})
    try:
        process.stdin.close()
        process.wait(timeout=30)
        assert _alive(daemon)
        assert daemon in containment.pids(process.pid)
        containment.kill(process.pid)
        assert not _alive(daemon)
        assert MARKER == "COURSE_GRADE_KERNEL"
    finally:
        if _alive(daemon):
            os.kill(daemon, 9)
