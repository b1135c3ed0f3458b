"""Grading kernels (course/grading/kernel.py): boxed away from the course and the grader,
with every process they start, and watched for memory.

Mostly on the fixture course (no TensorFlow: a kernel starts quickly). Every test grades
a fresh copy of a course in which ``nbgrader generate_assignment`` has run once
(grading_course.py, fixture_template in conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    SQUARE,
    autograded,
    break_out,
    course_grade,
    course_with,
    expected_points,
    notebook_text,
    points,
)

from course.corpus import (
    Submission,
    full_marks,
)
from course.isolation.kernels import box_available
from course.isolation.landlock import landlock_abi

pytestmark = pytest.mark.pipeline


@pytest.mark.skipif(
    landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
)
def test_sandbox_keeps_the_notebook_out_of_the_course_and_the_grader(
    fixture_template, tmp_path, capsys, monkeypatch
):
    """A notebook that knows the course's absolute path reads, writes and signals nothing
    outside its scratch folder; it is graded like the others (CI: Landlock is required)."""
    import socket

    course = tmp_path / "course"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    cases = [
        FIXTURE_CASES[0],
        Submission(
            "breaks-out", answers={"square": break_out(course, port)}, expected=full_marks()
        ),
        *FIXTURE_CASES[1:3],  # other kernels whose connection files it tries to read
    ]
    course_with(fixture_template, course, FIXTURE, cases)
    gradebook = (course / "gradebook.db").read_bytes()
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "a-secret-token")
    with server:
        code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)

    text = notebook_text(autograded(course, "breaks-out", FIXTURE))
    outcomes = dict(
        line.split(": ", 1) for line in text.splitlines() if line.endswith(("done", "Error"))
    )
    if box_available():
        assert "kernels run boxed" in out, out
        # Nothing of the course exists in the box; its /tmp and /dev/shm are its own, its
        # root read-only; it has no parent to find (pid 1 of its own PID namespace).
        assert outcomes == {
            "read solutions": "FileNotFoundError",
            "list solutions": "FileNotFoundError",
            "read gradebook": "FileNotFoundError",
            # The course's matplotlib cache is shown (read-only): the folders on the way
            # there exist in the box, read-only, and empty.
            "write gradebook": "OSError",
            "write course": "OSError",
            "read submissions": "FileNotFoundError",
            "write tmp": "done",  # its private /tmp (checked below: not the host's)
            "grader cwd": "FileNotFoundError",
            "signal grader": "done",  # os.getppid() is 0: it signalled its own group
            "scratch file": "done",
            "read python": "done",
            "write shm": "done",  # its private /dev/shm
            "write dev": "OSError",  # read-only file system
            "write dev null": "done",
            "connect": "PermissionError",
            "grader token": "done",  # not in the kernel's environment
            "connection files": "AssertionError",  # no other kernel's: none in the box
        }, text
    else:
        assert "Landlock rules" in out and str(course) in out, out
        assert outcomes == {
            "read solutions": "PermissionError",
            "list solutions": "done",  # names only; listing stays allowed
            "read gradebook": "PermissionError",
            "write gradebook": "PermissionError",
            "write course": "PermissionError",
            "read submissions": "PermissionError",
            "write tmp": "PermissionError",
            "grader cwd": "PermissionError",
            "signal grader": "PermissionError",
            "scratch file": "done",
            "read python": "done",
            "write shm": "PermissionError",
            "write dev": "PermissionError",
            "write dev null": "done",
            "connect": "PermissionError",
            "grader token": "done",  # not in the kernel's environment
            "connection files": "PermissionError",
        }, text
    assert (
        not (course / "escaped.txt").exists() and not Path("/tmp/course-grade-escaped.txt").exists()
    )
    assert not Path("/dev/shm/course-grade-escaped.txt").exists()
    assert (course / "gradebook.db").read_bytes() != gradebook  # grades were written, by the grader


def daemons(marker: str) -> str:
    """Learner code that leaves processes behind: a child in a new session and a
    double-forked daemon (orphaned at once), both running until killed. Each says
    "ready" through a pipe once it runs; the cell prints how many did."""
    loop = (
        "import os, sys, time\nos.write(int(sys.argv[1]), b'r')\nwhile True: time.sleep(1)  # "
        f"{marker}"
    )
    return SQUARE + (
        "import os, subprocess, sys\nread, write = os.pipe()\nos.set_inheritable(write, "
        f"True)\nsubprocess.Popen([sys.executable, '-c', {loop!r}, str(write)], "
        "start_new_session=True, pass_fds=[write])\nif os.fork() == 0:\n    os.setsid()\n    if "
        f"os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, '-c', {loop!r}, "
        "str(write)])\n    os._exit(0)\n_ = os.wait()\nos.close(write)\nready = b''\nwhile "
        "len(ready) < 2:\n    ready += os.read(read, 2 - len(ready))\nprint('daemons ready:', "
        "len(ready))\n"
    )


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_processes_a_notebook_starts_die_with_its_kernel(
    fixture_template, tmp_path, capsys, sandbox
):
    from course.isolation.contain import cgroup_parent

    marker = f"course-grade-daemon-{os.getpid()}-{tmp_path.name}"
    cases = [
        Submission("leaves-daemons", answers={"square": daemons(marker)}, expected=full_marks()),
        FIXTURE_CASES[0],
    ]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    try:
        code, out = course_grade(
            course, "--workers", "1", *([] if sandbox else ["--no-sandbox"]), capsys=capsys
        )
        assert code == 0, out
        assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
        assert "daemons ready: 2" in notebook_text(autograded(course, "leaves-daemons", FIXTURE))
        # The process table after grading: nothing the notebook started is left.
        assert marked_processes(marker) == []
        parent = cgroup_parent()
        if parent is not None:
            assert not [p for p in parent.iterdir() if p.is_dir() and f"-{os.getpid()}-" in p.name]
    finally:
        for process in marked_processes(marker):
            process.kill()


def test_the_watchdog_reads_unique_memory_only_above_the_limit(monkeypatch):
    """A forked kernel's unique memory (USS, ``/proc/PID/smaps_rollup``) is costly to read;
    its resident memory (RSS) is cheap and never smaller. The watchdog reads the USS only
    when the RSS passes the limit, and judges by the USS then."""
    from course.grading.kernel import _resident_above

    reads = []
    real = psutil.Process.memory_full_info

    def counted(process):
        reads.append(process.pid)
        return real(process)

    monkeypatch.setattr(psutil.Process, "memory_full_info", counted)
    me = psutil.Process()
    rss = me.memory_info().rss
    assert _resident_above([me], rss * 2) is None
    assert reads == []
    uss = _resident_above([me], 1)
    assert reads == [me.pid] and 0 < uss <= rss * 2
