"""A lesson's whole corpus graded by ``course grade``, the kit's classroom grader: the cases
plain nbgrader grades *and* the ones only ``course grade`` survives (a memory bomb, a notebook
that reaches for the solutions and the grader), all in one run, with two workers.

Every learner gets exactly the points the corpus says, the note the grader writes at the top
of the notebook, and the messages in the feedback; the run itself ends normally. The
notebooks that try to break out need the sandbox (Linux 6.12+ with Landlock): elsewhere
these tests are skipped, except in CI, where they must pass.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import psutil
import pytest

from course.cells import graded_points
from course.corpus import feedback_outputs
from course.grading.notes import is_notes_cell
from course.isolation.kernels import box_available
from course.isolation.landlock import landlock_abi

pytestmark = [
    pytest.mark.pipeline,
    pytest.mark.skipif(
        landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
    ),
]


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def test_the_run_grades_everyone_in_a_sandbox(graded_by_course, lesson, host_service):
    result = graded_by_course(lesson)
    out = result.grade.stdout + result.grade.stderr
    assert result.grade.returncode == 0, _tail(out)
    cases = lesson.cases
    assert f"course grade: {len(cases)} graded, 0 errors" in out, _tail(out)
    assert ("kernels run boxed" if box_available() else "Landlock rules") in out
    assert result.feedback.returncode == 0, _tail(result.feedback.stdout + result.feedback.stderr)
    # Nothing the notebooks tried left a file in the course repository or the test course.
    assert not list(lesson.lesson.root.glob("*was-here*")) and not list(
        result.course_dir.rglob("*was-here*")
    )
    assert not list(Path("/dev/shm").glob("*was-here*")) and not list(
        Path("/dev").glob("*was-here*")
    )
    # The process table after grading: no process a notebook started is left.
    left = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if any("course-corpus-daemon" in part for part in p.info["cmdline"] or ())
    ]
    assert not left, f"processes started by notebooks survived grading: {left}"
    assert host_service.connections == 0, "a notebook reached the test's service"


def test_points(graded_by_course, lesson, any_case):
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    points = graded_points(nbformat.read(lesson.lesson.source_notebook, as_version=4))
    assert {cell: result.max_points[cell] for cell in points} == points, (
        "gradebook and notebook disagree on points"
    )
    wrong = any_case.wrong_points(points, result.scores[any_case.name])
    assert not wrong, f"{any_case.name}: {wrong}"


def test_integrity(graded_by_course, lesson, any_case):
    """The same integrity rules as plain nbgrader (the kit's preprocessors): flagged cells
    need manual grading, the note says why, forged notes are unmarked, sizes are bounded."""
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    problems = any_case.integrity_problems(
        result.autograded(any_case.name), result.manual[any_case.name]
    )
    assert not problems, f"{any_case.name}: {problems}"


def test_note_and_feedback(graded_by_course, lesson, any_case):
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    first = nbformat.read(result.autograded(any_case.name), as_version=4).cells[0]
    note = first.source if is_notes_cell(first) else ""
    missing = [text for text in any_case.course_grade_notes if text not in note]
    assert not missing, (
        f"{any_case.name}: the grader's note lacks {missing}:\n{note or '(no note)'}"
    )
    if not any_case.course_grade_notes and not any_case.extra_files:
        assert not note, f"{any_case.name}: unexpected note:\n{note}"

    feedback = result.feedback_file(any_case.name)
    assert feedback.is_file(), f"no feedback at {feedback}"
    html = feedback.read_text(encoding="utf-8")
    outputs = feedback_outputs(html)
    missing = [text for text in any_case.feedback_contains if text not in outputs]
    assert not missing, f"{any_case.name}: feedback outputs lack {missing}:\n{_tail(outputs)}"
    # The learner reads the note in the feedback too (rendered Markdown: compare the words).
    words = re.sub(r"<[^>]+>|`", "", html)
    for text in any_case.course_grade_notes:
        assert text.replace("`", "") in words, f"{any_case.name}: feedback lacks the note {text!r}"


def test_both_graders_agree(graded, graded_by_course, lesson):
    """Plain ``nbgrader autograde`` (the kit's config) and ``course grade`` give every case
    both grade the same points per cell, and the same notes on what grading restored or
    ignored (course grade adds its own about the run)."""
    by_course = graded_by_course(lesson)
    by_nbgrader = graded(lesson)
    assert by_course.grade.returncode == 0, _tail(by_course.grade.stdout + by_course.grade.stderr)
    disagree = {}
    for case in lesson.nbgrader_cases:
        if by_nbgrader.scores[case.name] != by_course.scores[case.name]:
            disagree[case.name] = (
                f"nbgrader {by_nbgrader.scores[case.name]}, course grade "
                f"{by_course.scores[case.name]}"
            )
            continue
        if case.grading_fails:
            continue
        unread = [
            r.autograded(case.name)
            for r in (by_nbgrader, by_course)
            if not r.autograded(case.name).is_file()
        ]
        if unread:
            disagree[case.name] = f"no autograded notebook {unread}"
            continue
        ours, theirs = (
            nbformat.read(r.autograded(case.name), as_version=4).cells[0]
            for r in (by_nbgrader, by_course)
        )
        notes = (
            [line for line in ours.source.splitlines()[1:] if line.strip()]
            if is_notes_cell(ours)
            else []
        )
        lacking = [line for line in notes if not is_notes_cell(theirs) or line not in theirs.source]
        if lacking:
            disagree[case.name] = f"course grade's note lacks nbgrader's {lacking}"
    assert not disagree, disagree
