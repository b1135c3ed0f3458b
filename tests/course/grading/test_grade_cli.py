"""``course grade`` the command (course/grading/cli.py, console.py): what it says, what
it refuses, the options it reads.

Mostly on the fixture course (no TensorFlow: a kernel starts quickly). Every test grades
a fresh copy of a course in which ``nbgrader generate_assignment`` has run once
(grading_course.py, fixture_template in conftest.py).
"""

from __future__ import annotations

import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    SQUARE,
    course_grade,
    course_with,
    expected_points,
    points,
)

from course.cli import SUBCOMMANDS
from course.corpus import (
    Submission,
    no_marks,
)
from course.isolation.landlock import landlock_abi

pytestmark = pytest.mark.pipeline


def test_grade_is_a_course_subcommand():
    assert SUBCOMMANDS["grade"][0] == "course.grading.cli"


def test_learner_text_reaches_the_console_with_control_characters_escaped(
    fixture_template, tmp_path, capsys
):
    """A kernel's last words (what its process wrote to its log, which the notebook can
    write to: the kernel's own standard error, which ipykernel keeps a copy of) appear in
    the teacher's console as text: no screen clear, no clipboard write, no overwritten
    characters."""
    attack = "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x08fake: 4/4 all good"
    code = (
        "import os, sys\nlog = getattr(sys.stderr, '_original_stdstream_copy', None) or 2\n"
        f"os.write(log, '{attack}\\n'.encode())\nos._exit(1)"
    )
    cases = [Submission("clears-screen", answers={"square": code}, expected=no_marks())]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    code, out = course_grade(course, capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert attack in out, out  # the escapes as text
    assert not any(char in out for char in "\x1b\x07\x08"), repr(out)


def test_the_command_line_sets_the_time_budget(fixture_template, tmp_path, capsys):
    cases = [
        Submission(
            "spends-budget",
            answers={"square": SQUARE + "while True:\n    pass"},
            expected=no_marks(),
        )
    ]
    course = course_with(
        fixture_template, tmp_path / "course", FIXTURE, cases, "c.Execute.timeout = 60"
    )
    code, out = course_grade(course, "--notebook-timeout", "2", capsys=capsys)
    assert code == 0, out
    assert (
        "(2 s per notebook)" in out
        and "used up its time budget (2 s for all cells together)" in out
    )
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)


@pytest.mark.skipif(landlock_abi() < 1, reason="no Landlock here: the fallback is no isolation")
def test_no_box_is_said_out_loud(fixture_template, tmp_path, capsys, monkeypatch):
    """Where kernels get no box (here: asked for), the run's first lines say so plainly."""
    monkeypatch.setenv("KIT_ISOLATION", "landlock")
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, capsys=capsys)
    assert code == 0, out
    assert "NO BOX: KIT_ISOLATION=landlock asks for the fallback" in out, out
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:1], FIXTURE)


def test_no_sandbox_is_said_out_loud(fixture_template, tmp_path, capsys):
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, "--no-sandbox", capsys=capsys)
    assert code == 0, out
    assert "kernels NOT isolated (--no-sandbox)" in out
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:1], FIXTURE)


def test_second_run_on_the_same_course_is_refused(fixture_template, tmp_path, capsys):
    import fcntl

    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    (course / ".course-grade").mkdir()
    with open(course / ".course-grade" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        code, out = course_grade(course, capsys=capsys)
    assert code == 2 and "another `course grade` is grading" in out
    assert not (course / "autograded").exists()


def test_unknown_assignment_is_explained(fixture_template, tmp_path, capsys):
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, "99_nope", capsys=capsys)
    assert code == 2
    assert (
        "assignment '99_nope' is not in the gradebook" in out
        and "nbgrader generate_assignment 99_nope" in out
    )
