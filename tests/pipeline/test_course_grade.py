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

import nbformat
import pytest

from course.autograder import is_notes_cell
from course.corpus import feedback_outputs, graded_points
from course.sandbox import landlock_abi

pytestmark = [
    pytest.mark.pipeline,
    pytest.mark.skipif(landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"),
]


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def test_the_run_grades_everyone_in_a_sandbox(graded_by_course, lesson):
    result = graded_by_course(lesson)
    out = result.grade.stdout + result.grade.stderr
    assert result.grade.returncode == 0, _tail(out)
    cases = lesson.cases
    assert f"course grade: {len(cases)} graded, 0 errors" in out, _tail(out)
    assert "kernels sandboxed (Landlock ABI" in out
    assert result.feedback.returncode == 0, _tail(result.feedback.stdout + result.feedback.stderr)
    # Nothing the notebooks tried left a file in the course repository or the test course.
    assert not list(lesson.lesson.root.glob("*was-here*")) and not list(result.course_dir.rglob("*was-here*"))


def test_points(graded_by_course, lesson, any_case):
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    points = graded_points(nbformat.read(lesson.lesson.source_notebook, as_version=4))
    assert {cell: result.max_points[cell] for cell in points} == points, "gradebook and notebook disagree on points"
    wrong = any_case.wrong_points(points, result.scores[any_case.name])
    assert not wrong, f"{any_case.name}: {wrong}"


def test_integrity(graded_by_course, lesson, any_case):
    """The same integrity rules as plain nbgrader (the kit's preprocessors): flagged cells
    need manual grading, the note says why, forged notes are unmarked, sizes are bounded."""
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    problems = any_case.integrity_problems(result.autograded(any_case.name), result.manual[any_case.name])
    assert not problems, f"{any_case.name}: {problems}"


def test_note_and_feedback(graded_by_course, lesson, any_case):
    result = graded_by_course(lesson)
    assert result.grade.returncode == 0, _tail(result.grade.stdout + result.grade.stderr)
    first = nbformat.read(result.autograded(any_case.name), as_version=4).cells[0]
    note = first.source if is_notes_cell(first) else ""
    missing = [text for text in any_case.note_contains if text not in note]
    assert not missing, f"{any_case.name}: the grader's note lacks {missing}:\n{note or '(no note)'}"
    if not any_case.note_contains and not any_case.integrity_note and not any_case.extra_files:
        assert not note, f"{any_case.name}: unexpected note:\n{note}"

    feedback = result.feedback_file(any_case.name)
    assert feedback.is_file(), f"no feedback at {feedback}"
    html = feedback.read_text(encoding="utf-8")
    outputs = feedback_outputs(html)
    missing = [text for text in any_case.feedback_contains if text not in outputs]
    assert not missing, f"{any_case.name}: feedback outputs lack {missing}:\n{_tail(outputs)}"
    # The learner reads the note in the feedback too (rendered Markdown: compare the words).
    words = re.sub(r"<[^>]+>|`", "", html)
    for text in any_case.note_contains:
        assert text.replace("`", "") in words, f"{any_case.name}: feedback lacks the note {text!r}"
