"""A notebook run in a grading kernel (course/grading/run_notebook.py, pipeline.py): a
broken, slow or tampered notebook is graded with a message; a kernel killed from outside
runs the notebook again.

Mostly on the fixture course (no TensorFlow: a kernel starts quickly). Every test grades
a fresh copy of a course in which ``nbgrader generate_assignment`` has run once
(grading_course.py, fixture_template in conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import nbformat
import psutil
import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    GRADABLE,
    SQUARE,
    TRY,
    autograded,
    course_grade,
    course_with,
    expected_points,
    nbgrader,
    notebook_text,
    points,
)

from course.cells import grade_id_of
from course.corpus import (
    Submission,
    full_marks,
    no_marks,
)
from course.isolation.cgroups import controller_folder
from course.isolation.kernels import box_available

pytestmark = pytest.mark.pipeline


def _metadata_from_the_future(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["schema_version"] = 99


# Relative paths from where nbgrader runs the notebook (autograded/<student>/<assignment>/).
ESCAPES = (
    SQUARE
    + TRY
    + (
        "import os\nattempt('stray file', lambda: open('stray.txt', 'w').write('left in the "
        "working folder'))\nattempt('two folders up', lambda: open(os.path.join('..', '..', "
        "'escaped.txt'), 'w').write('up'))\nattempt('solutions', lambda: "
        "open('../../../solutions/00_fixture/00_fixture.ipynb').read())\nprint('HOME is "
        "scratch:', os.environ['HOME'].startswith(os.path.dirname(os.getcwd())))\n"
    )
)


# ... and ones only `course grade` grades (nbgrader stops on them or the kernel dies).
TAMPERED = [
    Submission(
        "ignores-interrupt",
        answers={
            "square": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    pass"
        },
        expected=no_marks(),
    ),
    # RLIMIT_DATA: the allocation fails with MemoryError in the cell, the kernel lives on.
    Submission(
        "memory-bomb",
        answers={"square": SQUARE + "hog = [bytearray(2**20) for _ in range(10**5)]"},
        expected=full_marks(),
    ),
    # Shared memory escapes RLIMIT_DATA: the watchdog kills the kernel.
    Submission(
        "shared-memory-bomb",
        answers={
            "square": "import mmap\nm = mmap.mmap(-1, 2**31)\n"
            "for i in range(0, 2**31, 4096):\n    m[i] = 1"
        },
        expected=no_marks(),
    ),
    Submission("exits", answers={"square": "import os\nos._exit(3)"}, expected=no_marks()),
    Submission(
        "floods-output",
        answers={"square": SQUARE + "for _ in range(3000):\n    print('x' * 1000)"},
        expected=full_marks(),
    ),
    Submission("escapes", answers={"square": ESCAPES}, expected=full_marks()),
    Submission("not-a-notebook", transform=lambda nb: '{"cells": 5}', expected=no_marks()),
    # `nbgrader autograde` stops the whole run here: the learners after this one stay ungraded.
    Submission("newer-metadata", transform=_metadata_from_the_future, expected=no_marks()),
]


ROBUSTNESS_CONFIG = "\n".join(
    [
        "c.Execute.timeout = 2",
        "c.Execute.iopub_timeout = 2",
        "c.GradingExecute.output_limit = 2**20",
    ]
)


def test_broken_slow_and_tampered_notebooks_are_graded_with_a_message(
    fixture_template, tmp_path, capsys
):
    by_name = {case.name: case for case in FIXTURE_CASES}
    cases = [
        by_name["correct"],
        by_name["invalid_json"],
        by_name["edits_locked_test"],
        *GRADABLE,
        *TAMPERED,
    ]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, ROBUSTNESS_CONFIG)
    code, out = course_grade(course, "--workers", "2", "--memory-limit", "300M", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE), out

    notes = {
        "invalid_json": "`00_fixture.ipynb` is not a notebook: its content is not valid JSON",
        "not-a-notebook": "`00_fixture.ipynb` is not a valid notebook (TypeError",
        "newer-metadata": "could not be graded: nbgrader rejected it (SchemaTooNewError",
        "edits_locked_test": (
            "You edited read-only cell(s) `test_square`; the original was put back"
        ),
        "infinite-loop": (
            "Cell 5 (`test_square`) ran longer than the time limit for one cell (2 s) and was "
            "interrupted"
        ),
        "deletes-test": (
            "Graded cell(s) `test_mean` were missing from your notebook, so they score 0"
        ),
        "ignores-interrupt": (
            "stopped your notebook in cell 4 (`square`): it ran longer than 2 s and could not be "
            "interrupted"
        ),
        "memory-bomb": "Cell 4 (`square`) ran out of memory (the grading limit is 300 MiB)",
        "shared-memory-bomb": (
            "stopped your notebook in cell 4 (`square`): it used more than 300 MiB of memory"
        ),
        "exits": "stopped your notebook in cell 4 (`square`): the Python kernel stopped",
        "floods-output": "printed too much output",
    }
    for student, note in notes.items():
        first_cell = autograded(course, student, FIXTURE).cells[0]
        assert note in first_cell.source, f"{student}: {first_cell.source}"
        assert note in out, f"{student}: the teacher's summary lacks the note"
    assert "Notes from the grader" not in autograded(course, "correct", FIXTURE).cells[0].source

    # The cells after a stopped kernel say why they did not run; the feedback shows it.
    exits = autograded(course, "exits", FIXTURE)
    test_mean = next(c for c in exits.cells if grade_id_of(c) == "test_mean")
    assert "Not run: the grader stopped the kernel in cell 4" in notebook_text(test_mean)
    assert "No module named 'no_such_module_xyz'" in notebook_text(
        autograded(course, "missing-module", FIXTURE)
    )
    assert "a bug in my cell" in notebook_text(autograded(course, "raises", FIXTURE))

    # Containment: the notebook ran in a scratch folder, not in the course.
    escapes = notebook_text(autograded(course, "escapes", FIXTURE))
    assert "solutions: FileNotFoundError" in escapes and "HOME is scratch: True" in escapes
    assert "stray file: done" in escapes
    assert [p.name for p in (course / "autograded" / "escapes" / FIXTURE.name).iterdir()] == [
        f"{FIXTURE.name}.ipynb"
    ]
    assert not list(course.rglob("escaped.txt")) and not list(course.rglob("stray.txt"))

    feedback = nbgrader("generate_feedback", FIXTURE.name, cwd=course)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    html = (
        course / "feedback" / "shared-memory-bomb" / FIXTURE.name / f"{FIXTURE.name}.html"
    ).read_text()
    assert "it used more than 300 MiB of memory" in html


#: A learner whose kernel is killed from outside while it runs: the cell names its process
#: (visible from outside the box) and sleeps, so the test knows when to strike. The name
#: carries this test process's pid: a test on the other pytest-xdist worker has its own
#: victim, which this one must never strike.
ASLEEP = f"victim{os.getpid()}"[:15]


VICTIM = SQUARE + f"open('/proc/self/comm', 'w').write({ASLEEP!r})\nimport time\ntime.sleep(15)\n"


def _own_victim(process: psutil.Process) -> list[psutil.Process] | None:
    """The ancestors of ``process`` if it is a living victim of this test's grader (this
    test process among them), else None. A victim of an earlier test keeps its name while
    it ends: killed with its keeper, it is handed to the machine's first process and may
    wait there as a zombie for a while; striking it would miss this test's kernel."""
    with contextlib.suppress(psutil.Error):
        if process.status() != psutil.STATUS_ZOMBIE:
            parents = process.parents()
            if any(parent.pid == os.getpid() for parent in parents):
                return parents
    return None


def kill_once(target: str) -> tuple[threading.Thread, list[str]]:
    """A thread that waits for the victim's kernel (a living one this test's grader
    started) and kills, once, either the kernel itself (SIGKILL: what the system's
    out-of-memory killer does) or its warm parent (SIGTERM: it ends, and its kernels with
    it)."""
    done: list[str] = []

    def strike() -> None:
        while not done:
            for process in psutil.process_iter(["name"]):
                if process.info["name"] != ASLEEP:
                    continue
                parents = _own_victim(process)
                if parents is None:
                    continue
                with contextlib.suppress(psutil.Error):
                    if target == "kernel":
                        process.kill()
                        done.append(target)
                    else:
                        servers = [
                            p for p in parents if "course.forking.server" in " ".join(p.cmdline())
                        ]
                        for server in servers:
                            server.terminate()
                        done.append(target if servers else "a kernel not forked")
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=strike, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize(
    ("grader", "target"),
    [("course grade", "kernel"), ("nbgrader", "kernel"), ("nbgrader", "parent")],
)
def test_a_kernel_killed_from_outside_runs_the_notebook_again(
    fixture_template, tmp_path, capsys, grader, target
):
    """The victim is never blamed: its notebook runs again in a new kernel and gets the
    grade its code earns, with no note about a stopped kernel (issue 23, point 4)."""
    cases = [Submission("victim", answers={"square": VICTIM}, expected=full_marks())]
    kit_execute = (
        "from course.grading.steps.restarting_execute import autograde_preprocessors\n"
        "c.Autograde.autograde_preprocessors = autograde_preprocessors()"
    )
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, kit_execute)
    thread, done = kill_once(target)
    if grader == "course grade":
        code, log = course_grade(course, "--workers", "1", "--warm", "0", capsys=capsys)
    else:
        result = nbgrader("autograde", FIXTURE.name, cwd=course)
        code, log = result.returncode, result.stdout + result.stderr
    done.append("test over")  # stops the thread if it never struck
    thread.join()
    # Both graders wait for their warm parent to be ready, however busy the machine: the
    # victim's kernel is always forked, and there is always a parent to kill.
    assert done[0] == target, f"the test never saw the victim's kernel ({done[0]}): {log}"
    assert code == 0, log
    assert "There was an error processing" not in log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    text = notebook_text(autograded(course, "victim", FIXTURE))
    assert "The grader stopped this cell" not in text and "Not run" not in text, text


#: A right ``mean``, then 3 GiB held in in-memory files (memfd) of 256 MiB each, under the
#: file size limit and never mapped: only a memory cgroup counts them (and ends the kernel).
HOARDS_MEMFD = (
    "def mean(values):\n    if not values:\n        raise ValueError()\n"
    "    return sum(values) / len(values)\n"
    "import os\nblock = bytes(64 * 2**20)\nhoard = []\nfor n in range(12):\n"
    "    fd = os.memfd_create(f'hoard{n}')\n    for _ in range(4):\n"
    "        os.write(fd, block)\n    hoard.append(fd)\n"
)


@pytest.mark.skipif(not box_available(), reason="no box here (no user namespaces)")
@pytest.mark.skipif(
    controller_folder("memory") is None,
    reason="no memory cgroup can be made here (needs root or a delegated cgroup)",
)
@pytest.mark.parametrize("grader", ["course grade", "nbgrader"])
def test_a_memfd_beyond_the_memory_limit_cuts_the_notebook(
    fixture_template, tmp_path, capsys, grader
):
    """Both graders: the memory cap ends the kernel in the hoarding cell; the learner keeps
    the points of the cells before it, the cells after it score 0, and the grader's note
    says why (the same note from both), never a failed submission or a re-run."""
    cases = [
        Submission("hoarder", answers={"mean": HOARDS_MEMFD}, expected=no_marks({"test_square": 1}))
    ]
    kit_execute = (
        "from course.grading.steps import autograde_preprocessors\n"
        "c.Autograde.autograde_preprocessors = autograde_preprocessors()"
    )
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, kit_execute)
    if grader == "course grade":
        code, log = course_grade(course, "--workers", "1", "--warm", "0", capsys=capsys)
    else:
        result = nbgrader("autograde", FIXTURE.name, cwd=course)
        code, log = result.returncode, result.stdout + result.stderr
    assert code == 0, log
    assert "There was an error processing" not in log and "running it again" not in log, log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    nb = autograded(course, "hoarder", FIXTURE)
    notes = nb.cells[0].source
    assert (
        "The grader stopped your notebook in cell 7 (`mean`): it used more than 2 GiB of memory "
        "(shared memory and in-memory files included). The cells after it were not run, so "
        "their tests score 0."
    ) in notes, notes
