"""Every lesson through nbgrader: generated notebooks match the committed ones, and every
corpus submission gets exactly its expected points and feedback (see course/corpus.py)."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from course.build import compare_folders
from course.cells import graded_points
from course.cli import main as course_main
from course.config import CONFIG_FILE
from course.corpus import feedback_outputs
from course.grading.notes import is_notes_cell

pytestmark = pytest.mark.pipeline


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def test_generate_assignment_matches_committed_notebooks(graded, lesson):
    result = graded(lesson)
    assert result.generate.returncode == 0, _tail(result.generate.stdout + result.generate.stderr)
    problems = compare_folders(result.release_dir, lesson.lesson.release_dir)
    assert not problems, (
        f"notebooks/{lesson.lesson.name}/ is not what `nbgrader generate_assignment` produces from "
        f"solutions/{lesson.lesson.name}/: {problems}. Run `make notebooks` and commit the result."
    )


def test_build_check_detects_a_perturbed_copy(lesson, tmp_path, capsys):
    source = lesson.lesson
    shutil.copy(source.root / CONFIG_FILE, tmp_path / CONFIG_FILE)
    shutil.copytree(source.source_dir, tmp_path / "solutions" / source.name)
    shutil.copytree(source.release_dir, tmp_path / "notebooks" / source.name)
    check = ["build", "--check", "--course-dir", str(tmp_path), source.name]
    assert course_main(check) == 0, capsys.readouterr().err

    learner = tmp_path / "notebooks" / source.name / f"{source.name}.ipynb"
    nb = nbformat.read(learner, as_version=4)
    nb.cells[-1].source += "\n# hand-edited"
    nbformat.write(nb, learner)
    capsys.readouterr()
    assert course_main(check) == 1
    err = capsys.readouterr().err
    assert f"out of date for {source.name}" in err
    assert f"cell {len(nb.cells) - 1} differs (source)" in err


def test_autograde_fails_only_for_ungradable_submissions(graded, lesson):
    if not lesson.cases:
        pytest.skip(
            f"{lesson.lesson.name} has no corpus yet (tests/corpus/{lesson.lesson.name}.py)"
        )
    result = graded(lesson)
    ungradable = [case.name for case in lesson.cases if case.grading_fails]
    assert (result.autograde.returncode != 0) == bool(ungradable), _tail(result.autograde_log)
    assert result.feedback.returncode == 0, _tail(result.feedback.stdout + result.feedback.stderr)


def test_points(graded, lesson, case):
    result = graded(lesson)
    points = graded_points(nbformat.read(lesson.lesson.source_notebook, as_version=4))
    assert {cell: result.max_points[cell] for cell in points} == points, (
        "gradebook and notebook disagree on points"
    )
    wrong = case.wrong_points(points, result.scores[case.name])
    assert not wrong, (
        f"{case.name}: {wrong}\n--- autograde log ---\n{_tail(result.student_log(case.name))}"
    )


def test_integrity(graded, lesson, case):
    """Tampering is flagged for manual grading with the note
    (course/grading/steps/integrity.py), forged notes are unmarked, and no notebook
    grows beyond a few MB."""
    if case.grading_fails:
        pytest.skip("nbgrader cannot grade this notebook")
    result = graded(lesson)
    name = lesson.lesson.name
    path = result.course_dir / "autograded" / case.name / name / f"{name}.ipynb"
    problems = case.integrity_problems(path, result.manual[case.name])
    assert not problems, (
        f"{case.name}: {problems}\n--- autograde log ---\n{_tail(result.student_log(case.name))}"
    )


def test_feedback(graded, lesson, case):
    result = graded(lesson)
    lesson_name = lesson.lesson.name
    error_line = (
        f"There was an error processing assignment '{lesson_name}' for student '{case.name}'"
    )
    feedback = result.feedback_file(case.name)
    if case.grading_fails:
        assert error_line in result.autograde_log, (
            "nbgrader should report this submission as ungradable"
        )
        assert not feedback.exists()
        return
    assert error_line not in result.autograde_log, _tail(result.student_log(case.name))
    assert feedback.is_file(), f"no feedback at {feedback}"
    html = feedback.read_text(encoding="utf-8")
    outputs = feedback_outputs(html)
    missing = [text for text in case.feedback_contains if text not in outputs]
    assert not missing, f"{case.name}: feedback outputs lack {missing}:\n{_tail(outputs)}"
    # What grading restored or ignored: the kit's sanitize steps write it at the top of the
    # notebook (course.grading.steps.fairness), as course grade does; the learner reads it in the
    # feedback.
    first = nbformat.read(result.autograded(case.name), as_version=4).cells[0]
    note = first.source if is_notes_cell(first) else ""
    missing = [text for text in case.notes if text not in note]
    assert not missing, f"{case.name}: the grader's note lacks {missing}:\n{note or '(no note)'}"
    if not case.expects_a_note:
        assert not note, f"{case.name}: unexpected note:\n{note}"
    words = re.sub(r"<[^>]+>|`", "", html)
    for text in case.notes:
        assert text.replace("`", "") in words, f"{case.name}: feedback lacks the note {text!r}"
