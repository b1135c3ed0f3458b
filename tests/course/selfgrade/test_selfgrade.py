"""``course check``: a learner grades their own notebooks with the teacher's grader.

On a learner's copy of the fixture course (no TensorFlow). Each test grades for real:
``course grade``'s kernels, sandbox and hidden tests, in a throwaway course.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
from selfgrade_course import (
    HIDDEN_MEAN_MESSAGE,
    LESSON,
    RIGHT_MEAN,
    RIGHT_SQUARE,
    WRONG_MEAN,
    WRONG_SQUARE,
    answer,
    learner_course,
    notebook_path,
    snapshot,
)

from course.cli import main as course_main
from course.config import load_course_config
from course.selfgrade import engine
from course.selfgrade.feedback import find_leaks, secret_lines
from course.selfgrade.records import StateDir
from course.selfgrade.summary import progress_summary

pytestmark = pytest.mark.pipeline


def check(course: Path, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = course_main(["check", "--course-dir", str(course), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def points(course: Path) -> dict[str, tuple[float, float, str]]:
    record = StateDir.of(course).records()[LESSON]
    return {c.grade_id: (c.points, c.max_points, c.message) for c in record.checks}


def test_grades_a_copy_and_never_touches_the_learners_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    answer(course, square=RIGHT_SQUARE, mean=WRONG_MEAN)
    before = snapshot(course / "notebooks")

    code, output = check(course, capsys, "00")

    assert code == 0, output
    assert snapshot(course / "notebooks") == before  # bytes and mtimes, no file added
    assert points(course) == {
        "test_square": (1.0, 1.0, ""),
        "test_mean": (0.0, 2.0, HIDDEN_MEAN_MESSAGE),
        "test_mean_empty": (1.0, 1.0, ""),
    }
    record = StateDir.of(course).records()[LESSON]
    assert (record.score, record.max_score) == (2.0, 4.0)
    assert record.exercises() == [("Exercise 1", 1.0, 1.0), ("Exercise 2", 1.0, 3.0)]
    assert "Fixture lesson" in output and "2 / 4" in output
    assert HIDDEN_MEAN_MESSAGE in output
    assert "[########################]  1/1 lesson" in output  # the progress bar, at its end


def test_nothing_the_learner_sees_holds_a_hidden_test_or_a_solution(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    learner = answer(course, square=WRONG_SQUARE, mean=WRONG_MEAN)
    source = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    release = engine.find_lessons(course)[0].release_notebook  # the learner's, answers in
    secrets = secret_lines(nbformat.read(source, as_version=4), [nbformat.read(learner, 4)])
    assert 'assert square(-2) == 4, "square(-2) should be 4 (hidden test)"' in secrets
    assert 'raise ValueError("mean() of an empty list")' in secrets
    assert release == learner

    code, output = check(course, capsys)
    assert code == 0, output

    state = StateDir.of(course)
    page = (state.feedback_dir / f"{LESSON}.html").read_text(encoding="utf-8")
    seen = {
        "course check's output": output,
        "the feedback page": page,
        "progress.json": (state.path / "progress.json").read_text(encoding="utf-8"),
        "status.json": (state.path / "status.json").read_text(encoding="utf-8"),
        "the progress page's data": json.dumps(progress_summary(course)),
    }
    for where, text in seen.items():
        assert find_leaks(text, secrets) == [], where
    # The failed hidden checks' messages do reach the learner, in the page too.
    assert "AssertionError: square(-2) should be 4 (hidden test)" in page
    assert HIDDEN_MEAN_MESSAGE in page


def test_nbgraders_own_feedback_would_show_the_hidden_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the feedback page is made the kit's way: nbgrader's generate_feedback, run on
    the same grade, quotes the hidden test's source (the check above has teeth)."""
    course = learner_course(tmp_path / "kit")
    learner = answer(course, square=WRONG_SQUARE, mean=RIGHT_MEAN)
    source = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    secrets = secret_lines(nbformat.read(source, as_version=4), [nbformat.read(learner, 4)])
    keep = tmp_path / "graded"
    publish = engine._publish_feedback

    def keep_the_graded_course(temp_course: Path, *args):
        shutil.copytree(temp_course, keep)
        return publish(temp_course, *args)

    monkeypatch.setattr(engine, "_publish_feedback", keep_the_graded_course)
    engine.grade_lessons(course, [LESSON])
    config = load_course_config(keep)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = LESSON, engine.LEARNER
    converter = GenerateFeedback(coursedir=coursedir, config=config)
    converter.force = True
    assert capture_log(converter)["success"]
    plain = keep / "feedback" / engine.LEARNER / LESSON / f"{LESSON}.html"
    assert find_leaks(plain.read_text(encoding="utf-8"), secrets)
    ours = StateDir.of(course).feedback_dir / f"{LESSON}.html"
    assert find_leaks(ours.read_text(encoding="utf-8"), secrets) == []


def test_a_second_grade_after_a_fix_updates_the_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    answer(course, square=RIGHT_SQUARE, mean=WRONG_MEAN)
    assert check(course, capsys)[0] == 0
    first = progress_summary(course)["lessons"][0]
    assert (first["score"], first["changed"]) == (2.0, False)
    assert [f["grade_id"] for f in first["failed"]] == ["test_mean"]

    answer(course, mean=RIGHT_MEAN)
    assert progress_summary(course)["lessons"][0]["changed"] is True
    code, output = check(course, capsys, "--table")
    assert code == 0 and "your notebook changed since it was graded" in output

    assert check(course, capsys)[0] == 0
    second = progress_summary(course)["lessons"][0]
    assert (second["score"], second["changed"], second["failed"]) == (4.0, False, [])
    assert second["graded_at"] >= first["graded_at"]
    assert progress_summary(course)["total"] == {"score": 4.0, "possible": 4.0}


def test_a_missing_notebook_is_reported_not_graded(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    notebook_path(course).unlink()
    code, output = check(course, capsys)
    assert code == 0, output
    assert "NOT GRADED" in output and f"no notebook at notebooks/{LESSON}" in output
    assert "(no notebook" not in json.dumps(progress_summary(course)["total"])


def test_without_solutions_there_is_nothing_to_grade_with(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    shutil.rmtree(course / "solutions")  # what a learner on a hub has: the notebooks only
    code, output = check(course, capsys)
    assert code == 2
    assert "needs the kit's solutions/ folder" in output
    assert not (course / "progress").exists()


def test_an_unknown_lesson_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    course = learner_course(tmp_path / "kit")
    code, output = check(course, capsys, "07")
    assert code == 2 and "no such lesson: '07' (lessons: 00_fixture)" in output


def test_a_damaged_notebook_is_graded_zero_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = learner_course(tmp_path / "kit")
    notebook_path(course).write_text("{ this is not a notebook", encoding="utf-8")
    code, output = check(course, capsys)
    assert code == 0, output
    record = StateDir.of(course).records()[LESSON]
    assert (record.error, record.score, record.max_score) == (None, 0.0, 4.0)
    assert any("is not a notebook" in note for note in record.notes), record.notes
    assert "is not a notebook" in output
