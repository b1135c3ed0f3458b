"""course.corpus: building submissions from the fixture lesson, and the corpus every lesson
(kit and fixture) must have."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import course.corpus
from course.cells import exercises, graded_points
from course.corpus import (
    Submission,
    coverage_problems,
    edit_cell,
    full_marks,
    lesson_corpus,
    load_corpus,
    no_marks,
    place_submissions,
    solution_sources,
    write_submission,
)
from course.lessons import find_lessons

REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = REPO / "tests" / "pipeline" / "fixtures" / "course"
COURSES = {"kit": REPO, "fixture": FIXTURE_COURSE}
LESSON = find_lessons(FIXTURE_COURSE)[0]


@pytest.fixture(scope="module")
def learner():
    return nbformat.read(LESSON.release_notebook, as_version=4)


@pytest.fixture(scope="module")
def instructor():
    return nbformat.read(LESSON.source_notebook, as_version=4)


def _sources(nb) -> dict[str, str]:
    return {c.metadata.nbgrader.grade_id: c.source for c in nb.cells if "nbgrader" in c.metadata}


def test_reading_the_instructor_notebook(instructor):
    assert graded_points(instructor) == {
        "test_square": 1.0,
        "test_mean": 2.0,
        "test_mean_empty": 1.0,
    }
    assert exercises(instructor) == {
        "square": ["test_square"],
        "mean": ["test_mean", "test_mean_empty"],
    }
    assert solution_sources(instructor)["square"] == "def square(x):\n    return x * x"


def test_solution_base_fills_every_answer_without_markers(learner, instructor):
    nb = Submission("s", expected=full_marks()).notebook(learner, instructor)
    sources = _sources(nb)
    assert sources["square"] == "def square(x):\n    return x * x"
    assert "SOLUTION" not in sources["mean"] and "sum(values) / len(values)" in sources["mean"]
    assert sources["test_square"] == _sources(learner)["test_square"]  # tests stay the learner's
    assert "square(-2)" not in json.dumps(nb)  # no hidden tests leak into submissions


def test_blank_base_keeps_the_stubs_and_answers_override(learner, instructor):
    nb = Submission(
        "s", base="blank", answers={"mean": "mean = len"}, expected=no_marks()
    ).notebook(learner, instructor)
    assert "raise NotImplementedError()" in _sources(nb)["square"]
    assert _sources(nb)["mean"] == "mean = len"


def test_unknown_answer_id_is_an_error(learner, instructor):
    with pytest.raises(KeyError, match=r"unknown solution cells \['test_square'\]"):
        Submission("s", answers={"test_square": "pass"}, expected=full_marks()).notebook(
            learner, instructor
        )


def test_transforms_edit_or_replace_the_file(learner, instructor, tmp_path):
    edited = Submission("s", transform=edit_cell("test_square", "pass"), expected=no_marks())
    assert _sources(edited.notebook(learner, instructor))["test_square"] == "pass"
    raw = Submission("s", transform=lambda nb: b"{oops", expected=no_marks())
    path = write_submission(raw, learner, instructor, tmp_path / "a" / "nb.ipynb")
    assert path.read_bytes() == b"{oops"
    with pytest.raises(KeyError, match="no cell with grade_id 'nope'"):
        Submission("s", transform=edit_cell("nope", ""), expected=no_marks()).notebook(
            learner, instructor
        )


def test_marks_resolve_against_the_lesson(instructor):
    points = graded_points(instructor)
    assert full_marks(except_={"test_mean": 1}).resolve(points) == {
        "test_square": 1,
        "test_mean": 1,
        "test_mean_empty": 1,
    }
    with pytest.raises(KeyError, match="not autograded test cells: test_typo"):
        full_marks(except_={"test_typo": 0}).resolve(points)
    with pytest.raises(ValueError, match="outside 0..1.0"):
        no_marks(except_={"test_square": 2}).resolve(points)
    with pytest.raises(KeyError, match="missing"):
        Submission("s", expected={"test_square": 1}).expected_points(points)


def test_submission_names_are_student_ids():
    with pytest.raises(ValueError, match="student id"):
        Submission("Has Space", expected=full_marks())
    with pytest.raises(ValueError, match="base must be"):
        Submission("s", base="empty", expected=full_marks())


def test_place_submissions_writes_one_student_each(tmp_path, learner, instructor):
    cases = [
        Submission("a", expected=full_marks()),
        Submission("b", base="blank", expected=no_marks()),
    ]
    paths = place_submissions(tmp_path, "00_fixture", cases, learner, instructor)
    assert paths == [
        tmp_path / "submitted" / n / "00_fixture" / "00_fixture.ipynb" for n in ("a", "b")
    ]
    assert "return x * x" in paths[0].read_text() and "return x * x" not in paths[1].read_text()
    with pytest.raises(ValueError, match="duplicate submission names: a"):
        place_submissions(tmp_path, "00_fixture", cases + cases[:1], learner, instructor)


def test_load_corpus_rejects_bad_files(tmp_path):
    bad = tmp_path / "01_x.py"
    bad.write_text("CASES = ['correct']\n")
    with pytest.raises(ValueError, match="CASES must be a list"):
        load_corpus(bad)
    bad.write_text(
        "from course.corpus import Submission, full_marks\nCASES = [Submission('a', "
        "expected=full_marks()), Submission('a', expected=full_marks())]\n"
    )
    with pytest.raises(ValueError, match="duplicate case names a"):
        load_corpus(bad)


def test_coverage_names_what_is_missing(instructor):
    cases = lesson_corpus(LESSON)
    assert coverage_problems(cases, instructor) == []
    without_wrong_mean = [c for c in cases if c.name != "wrong_mean"]
    assert coverage_problems(without_wrong_mean, instructor) == [
        "no wrong answer for exercise 'mean' (answers={'mean': ...}) that loses points on "
        "test_mean, test_mean_empty only and lists feedback_contains"
    ]
    only_correct = [c for c in cases if c.name == "correct"]
    assert len(coverage_problems(only_correct, instructor)) == 3
    # losing points outside the exercise does not count as that exercise's wrong answer
    sloppy = [
        c for c in cases if c.name not in ("wrong_square", "hidden_test_fails", "edits_locked_test")
    ]
    sloppy.append(
        Submission(
            "w", answers={"square": "square = 0"}, expected=no_marks(), feedback_contains=["x"]
        )
    )
    assert any("exercise 'square'" in p for p in coverage_problems(sloppy, instructor))


ALL_LESSONS = [
    (course, lesson) for course, root in COURSES.items() for lesson in find_lessons(root)
]


@pytest.mark.parametrize(
    "lesson",
    [lesson for _, lesson in ALL_LESSONS],
    ids=[f"{c}-{lesson.name}" for c, lesson in ALL_LESSONS],
)
def test_every_lesson_has_a_complete_corpus(lesson):
    """tests/corpus/<lesson>.py: correct, untouched and one wrong answer per exercise."""
    path = course.corpus.corpus_path(lesson.root, lesson.name)
    assert path.is_file(), (
        f"{lesson.name} has no corpus: add {path.relative_to(lesson.root)} (see course/corpus.py)"
    )
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    learner = nbformat.read(lesson.release_notebook, as_version=4)
    cases = load_corpus(path)
    points = graded_points(instructor)
    for case in cases:
        case.expected_points(points)  # names real test cells, within their points
        case.notebook(learner, instructor)  # answers name real solution cells
    assert coverage_problems(cases, instructor) == []
