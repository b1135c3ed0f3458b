"""``course grade`` gives nbgrader's own grades (course/grading/autograder.py): the same
points as ``nbgrader autograde``, each learner once, a killed run resumed.

Mostly on the fixture course (no TensorFlow: a kernel starts quickly). Every test grades
a fresh copy of a course in which ``nbgrader generate_assignment`` has run once
(grading_course.py, fixture_template in conftest.py).
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace

import nbformat
import psutil
import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    GRADABLE,
    LESSON_00,
    autograded,
    course_grade,
    course_with,
    expected_points,
    generated_course,
    grades,
    nbgrader,
    notebook_text,
    points,
)

from course.corpus import (
    Submission,
    delete_cell,
    edit_cell,
    full_marks,
    lesson_corpus,
)

pytestmark = pytest.mark.pipeline


def progress_students(out: str) -> list[str]:
    """The students of the progress lines (``[ 3/35] alice/00_fixture  4/4  (1.2 s)``)."""
    return [m.group(1) for m in re.finditer(r"^\[\s*\d+/\d+[^\]]*\] ([^/\s]+)/", out, re.MULTILINE)]


def _edit_square_test_and_delete_mean_test(nb: nbformat.NotebookNode) -> None:
    edit_cell("test_square", "pass")(nb)
    delete_cell("test_mean")(nb)


def test_same_grades_as_nbgrader_autograde(fixture_template, tmp_path, capsys):
    cases = FIXTURE_CASES + GRADABLE
    serial = course_with(
        fixture_template, tmp_path / "serial", FIXTURE, cases, "c.Execute.timeout = 2"
    )
    parallel = course_with(
        fixture_template, tmp_path / "parallel", FIXTURE, cases, "c.Execute.timeout = 2"
    )

    nbgrader("autograde", FIXTURE.name, cwd=serial)
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out

    by_nbgrader, by_course_grade = grades(serial, FIXTURE), grades(parallel, FIXTURE)
    assert set(by_course_grade) == {c.name for c in cases}
    ungradable = {c.name for c in cases if c.grading_fails}
    for student in by_course_grade:
        if (
            student in ungradable
        ):  # nbgrader leaves its grades unset (score 0); course grade records 0
            assert {cell: g[0] for cell, g in by_nbgrader[student].items()} == {
                cell: g[0] for cell, g in by_course_grade[student].items()
            }
            assert all(g[1] == 0 and not g[2] for g in by_course_grade[student].values())
        else:
            assert by_course_grade[student] == by_nbgrader[student], student
    assert points(parallel, FIXTURE) == expected_points(cases, FIXTURE)

    # nbgrader's own next steps work on course grade's results.
    feedback = nbgrader("generate_feedback", FIXTURE.name, cwd=parallel)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    for case in cases:
        assert (
            parallel / "feedback" / case.name / FIXTURE.name / f"{FIXTURE.name}.html"
        ).is_file(), case.name
    export = nbgrader("export", cwd=parallel)
    assert export.returncode == 0, export.stdout + export.stderr
    assert len((parallel / "grades.csv").read_text().splitlines()) == 1 + len(cases)
    assert not (parallel / ".course-grade").exists(), "the work folder is removed after a run"


def test_same_grades_as_nbgrader_autograde_on_lesson_00(tmp_path_factory, capsys):
    """The real thing: TensorFlow kernels warmed up ahead of time give nbgrader's grades."""
    cases = lesson_corpus(LESSON_00)[:3]  # correct, untouched, a wrong answer
    template = generated_course(tmp_path_factory.mktemp("lesson00") / "template", LESSON_00)
    serial = course_with(template, template.parent / "serial", LESSON_00, cases)
    parallel = course_with(template, template.parent / "parallel", LESSON_00, cases)

    result = nbgrader("autograde", LESSON_00.name, cwd=serial)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "could not preload" not in out, out
    assert grades(parallel, LESSON_00) == grades(serial, LESSON_00)
    assert points(parallel, LESSON_00) == expected_points(cases, LESSON_00)
    for case in cases:
        text = notebook_text(autograded(parallel, case.name, LESSON_00))
        missing = [message for message in case.feedback_contains if message not in text]
        assert not missing, f"{case.name}: {missing}"


def test_many_learners_two_workers_no_lost_or_duplicated_grades(fixture_template, tmp_path, capsys):
    cases = [replace(case, name=f"{case.name}-{i}") for i in range(5) for case in FIXTURE_CASES]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    code, out = course_grade(course, "--workers", "2", "--warm", "2", capsys=capsys)
    assert code == 0, out

    assert sorted(progress_students(out)) == sorted(c.name for c in cases)
    executed = sum(not c.grading_fails for c in cases)  # the invalid notebooks need no kernel
    assert f"2 workers, {executed} kernels" in out, "every kernel started was used"
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert all(
        g[1] is not None for cells in grades(course, FIXTURE).values() for g in cells.values()
    )
    with sqlite3.connect(course / "gradebook.db") as db:
        (students,) = db.execute("select count(*) from student").fetchone()
        (submissions,) = db.execute("select count(*) from submitted_assignment").fetchone()
        (rows,) = db.execute("select count(*) from grade").fetchone()
        duplicates = db.execute(
            "select notebook_id, cell_id, count(*) from grade group by notebook_id, cell_id "
            "having count(*) > 1"
        ).fetchall()
    assert (students, submissions, rows, duplicates) == (len(cases), len(cases), 3 * len(cases), [])
    assert sorted(p.name for p in (course / "autograded").iterdir()) == sorted(
        c.name for c in cases
    )


def test_killed_run_resumes_and_grades_each_learner_once(fixture_template, tmp_path, capsys):
    cases = [replace(case, name=f"{case.name}-{i}") for i in range(2) for case in FIXTURE_CASES]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    scratch = tmp_path / "scratch"
    command = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        "--course-dir",
        str(course),
        "--scratch-dir",
        str(scratch),
        "--workers",
        "2",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    graded_first = []
    for line in first.stdout:
        graded_first += progress_students(line)
        if len(graded_first) == 3:
            first.send_signal(signal.SIGKILL)  # mid-run: other notebooks are executing
            break
    first.wait()
    first.stdout.close()
    assert first.returncode == -signal.SIGKILL
    killed_scratch = list(scratch.glob(f"course-grade-{first.pid}-*"))
    assert killed_scratch, "the killed run had kernels in scratch folders"

    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    graded_again = progress_students(out)
    assert not set(graded_first) & set(graded_again), (
        "a learner graded by the killed run was graded again"
    )
    skipped = int(out.split(" already graded (skipped)")[0].rsplit(" ", 1)[-1])
    assert skipped + len(graded_again) == len(cases) and skipped >= len(graded_first)
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("select count(*) from submitted_assignment").fetchone() == (len(cases),)
        assert db.execute("select count(*) from grade").fetchone() == (3 * len(cases),)
    assert sorted(p.name for p in (course / "autograded").iterdir()) == sorted(
        c.name for c in cases
    )
    # The killed run's kernels exited on their own (ipykernel watches its parent) and
    # this run removed their scratch folders.
    assert not [p for p in psutil.process_iter(["cwd"]) if str(scratch) in (p.info["cwd"] or "")]
    assert not any(folder.exists() for folder in killed_scratch)


def test_deleted_test_cell_is_put_back_when_the_course_asks(fixture_template, tmp_path, capsys):
    cases = [
        Submission(
            "deletes-passing-test", transform=delete_cell("test_mean"), expected=full_marks()
        ),
        Submission(
            "deletes-failing-test",
            answers={"mean": "def mean(values):\n    return 0"},
            transform=delete_cell("test_mean"),
            expected=full_marks(except_={"test_mean": 0, "test_mean_empty": 0}),
        ),
        Submission(
            "edits-and-deletes",
            transform=_edit_square_test_and_delete_mean_test,
            answers={"square": "def square(x):\n    return 0"},
            expected=full_marks(except_={"test_square": 0}),
        ),
    ]
    course = course_with(
        fixture_template,
        tmp_path / "course",
        FIXTURE,
        cases,
        "c.OverwriteCells.add_missing_cells = True",
    )
    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert (
        "`test_mean` were missing from your notebook; the grader added them back and ran them"
        in out
    )
