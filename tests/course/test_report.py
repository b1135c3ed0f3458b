"""course.report: failure messages, grouping, reading a gradebook, writing the report.

The report on really autograded classes (the fixture course and lesson 00, exact counts) is
tested at the end of tests/pipeline/test_classroom.py, as the teacher's last step. Here:
the pieces, on hand-made notebooks and a gradebook built with nbgrader's own API.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook

import course.lessons
import course.report
from course.cli import SUBCOMMANDS
from course.cli import main as course_main
from course.lessons import find_lessons
from course.report import (
    NO_ERROR,
    NOT_ATTEMPTED,
    NOT_AUTOGRADED,
    ClassReport,
    ExerciseResult,
    FailureGroup,
    LessonResult,
    failure_message,
    group_failures,
    plot_pass_rates,
    read_class,
    to_json,
    to_markdown,
    write_report,
)

# nbgrader's add_submission trips SQLAlchemy's autoflush warnings (nbgrader's own tests too).
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def test_report_is_a_course_subcommand():
    assert SUBCOMMANDS["report"][0] == "course.report"


# ------------------------------------------------------------------ failure messages


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _notebook(answer_outputs=(), test_outputs=()) -> nbformat.NotebookNode:
    """An autograded notebook: a statement, an answer cell, its test cell."""

    def meta(grade_id, **flags):
        return {
            "nbgrader": {
                "grade_id": grade_id,
                "schema_version": 3,
                "locked": False,
                "solution": False,
                "grade": False,
                "task": False,
                **flags,
            }
        }

    answer = new_code_cell(
        "model = build()", metadata=meta("ex1", solution=True), outputs=list(answer_outputs)
    )
    test = new_code_cell(
        "helpers.assert_calls(model, 'a', 2)",
        metadata=meta("test_ex1", grade=True, points=2),
        outputs=list(test_outputs),
    )
    return new_notebook(
        cells=[new_markdown_cell("## Exercise 1 — Share a layer (2 points)"), answer, test]
    )


@pytest.mark.parametrize(
    ("answer", "test", "expected"),
    [
        (
            [],
            [
                _error(
                    "CheckFailed",
                    "Layer 'a' should be called 2 times, but it is called 1 time.\nHint: ...",
                )
            ],
            "Layer 'a' should be called 2 times, but it is called 1 time.",
        ),
        ([], [_error("AssertionError", "")], "AssertionError (no message)"),
        ([], [_error("TypeError", "unsupported operand")], "TypeError: unsupported operand"),
        (
            [_error("NotImplementedError", "")],
            [_error("NameError", "name 'model' is not defined")],
            NOT_ATTEMPTED,
        ),
        (
            [_error("ValueError", "bad shape\nmore")],
            [_error("NameError", "name 'model' is not defined")],
            "the answer cell fails: ValueError: bad shape",
        ),
        (
            [],
            [_error("NotImplementedError", "")],
            NOT_ATTEMPTED,
        ),  # a stub function called by the test
        ([], [], NO_ERROR),
    ],
    ids=[
        "check",
        "bare-assert",
        "other-error",
        "stub",
        "answer-fails",
        "stub-called-by-test",
        "no-error",
    ],
)
def test_failure_message(answer, test, expected):
    assert failure_message(_notebook(answer, test), "test_ex1") == expected


def test_similar_failures_group_and_keep_what_they_share():
    groups = group_failures(
        {
            "ann": "'news' should have 203 parameters, but it has 371 (+168).",
            "bob": "'news' should have 203 parameters, but it has 99 (-104).",
            "cem": "'news' should have 203 parameters, but it has 371 (+168).",
            "dan": "'tower_1' and 'tower_2' share weights.",
            "eve": "'tower_1' and 'tower_3' share weights.",
        }
    )
    assert [(g.message, g.students) for g in groups] == [
        ("'news' should have 203 parameters, but it has … (…).", ["ann", "bob", "cem"]),
        ("'tower_1' and 'tower_2' share weights.", ["dan"]),  # names with digits are not numbers
        ("'tower_1' and 'tower_3' share weights.", ["eve"]),
    ]


# ------------------------------------------------------------------------- gradebook


IDEA = "sharing: one layer object called twice is one set of weights"
LESSONS = {lesson.name: lesson for lesson in find_lessons(Path(__file__).resolve().parents[2])}


def test_every_lesson_names_its_idea_in_its_notebook_and_the_learner_version_keeps_it():
    assert LESSONS["01_shared_layers"].idea == IDEA
    for lesson in LESSONS.values():
        idea = lesson.idea
        assert idea.split(":")[0] and ": " in idea, lesson.name
        release = nbformat.read(lesson.release_notebook, as_version=4)
        assert course.lessons.lesson_idea(release) == idea, lesson.name


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A course with one assignment (two cells, 2 + 1 points), four students and grades set
    through nbgrader's API: full, partial (a score set by hand), none, and one absent."""
    tmp_path = tmp_path_factory.mktemp("graded-course")
    with pytest.MonkeyPatch.context() as patch:
        # nbgrader runs `alembic` when it creates a gradebook
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        _fill_gradebook(tmp_path)
    yield tmp_path


def _fill_gradebook(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'demo'\n"
    )
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "demo") as gradebook:
        gradebook.add_assignment("01_shared_layers")
        gradebook.add_notebook("01_shared_layers", "01_shared_layers")
        gradebook.add_grade_cell(
            "test_ex1", "01_shared_layers", "01_shared_layers", max_score=2, cell_type="code"
        )
        gradebook.add_grade_cell(
            "test_ex2", "01_shared_layers", "01_shared_layers", max_score=1, cell_type="code"
        )
        for student in ("ann", "bob", "cem", "dan"):
            gradebook.add_student(student)
        scores = {"ann": (2, 1), "bob": (0, 1), "cem": (0, 0)}  # dan never submits
        for student, (ex1, ex2) in scores.items():
            gradebook.add_submission("01_shared_layers", student)
            for cell, score in (("test_ex1", ex1), ("test_ex2", ex2)):
                grade = gradebook.find_grade(cell, "01_shared_layers", "01_shared_layers", student)
                grade.auto_score = score
            gradebook.db.commit()
        gradebook.find_grade(
            "test_ex1", "01_shared_layers", "01_shared_layers", "bob"
        ).manual_score = 1.5
        gradebook.db.commit()
    folder = tmp_path / "autograded" / "cem" / "01_shared_layers"
    folder.mkdir(parents=True)
    failing = _notebook(
        test_outputs=[
            _error("CheckFailed", "Layer 'a' should be called 2 times, but it is called 1 time.")
        ]
    )
    # nbgrader keeps the lesson's notebook metadata (its idea) from release to autograded.
    failing.metadata["course"] = {"idea": IDEA}
    nbformat.write(failing, folder / "01_shared_layers.ipynb")


def test_read_class_counts_outcomes_from_the_gradebook(course_dir):
    report = read_class(course_dir)
    [lesson] = report.lessons
    assert (
        report.course_id,
        lesson.name,
        lesson.students,
        lesson.submitted,
        lesson.not_submitted,
    ) == ("demo", "01_shared_layers", 4, 3, ["dan"])
    assert lesson.idea == IDEA  # from the lesson notebook's metadata
    ex1, ex2 = lesson.exercises
    # titles from the only notebook there is, cem's autograded one; test_ex2 is not in it
    assert (ex1.grade_id, ex1.title, ex1.max_points) == (
        "test_ex1",
        "Exercise 1 — Share a layer",
        2.0,
    )
    assert ex2.title == "test_ex2"
    assert (ex1.passed, ex1.partly, ex1.failed, ex1.ungraded) == (
        1,
        1,
        1,
        0,
    )  # bob's 1.5 set by hand
    assert (ex2.passed, ex2.partly, ex2.failed) == (2, 0, 1)
    assert [(f.message, f.students) for f in ex1.failures] == [
        ("Layer 'a' should be called 2 times, but it is called 1 time.", ["cem"]),
        (NOT_AUTOGRADED, ["bob"]),  # bob has no autograded notebook in this hand-made course
    ]


def test_course_report_command(course_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert course_main(["report", "--course-dir", str(course_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "01_shared_layers: 3/4 submitted, mean pass rate 50%; weakest: test_ex1 (33%)" in printed
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["lessons"][0]["exercises"][0]["failures"][0]["count"] == 1
    assert (out / "pass_rates.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        "![Share of learners with full points, per exercise](pass_rates.png)"
        in (out / "report.md").read_text()
    )


def test_course_report_errors(course_dir, tmp_path, capsys):
    assert course_main(["report", "nope", "--course-dir", str(course_dir)]) == 1
    assert "not in the gradebook: nope (known: 01_shared_layers)" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "nbgrader_config.py").write_text("c = get_config()\n")
    assert course_main(["report", "--course-dir", str(empty)]) == 1
    assert "no gradebook at" in capsys.readouterr().err


# --------------------------------------------------------------------------- writing


def demo_class() -> ClassReport:
    """Three lessons; tying is the idea this class has not understood."""

    def exercise(grade_id, title, passed, partly, failed, ungraded=0, failures=()):
        return ExerciseResult(
            grade_id,
            "nb",
            title,
            3.0,
            passed,
            partly,
            failed,
            ungraded,
            [FailureGroup(message, message, students) for message, students in failures],
        )

    return ClassReport(
        "keras-layer-reuse",
        [
            LessonResult(
                "01_shared_layers",
                "01 · Calling a layer twice shares its weights",
                LESSONS["01_shared_layers"].idea,
                20,
                ["zoe"],
                [
                    exercise(
                        "test_ex1_shared_model",
                        "Exercise 1: a model that shares one encoder",
                        17,
                        0,
                        2,
                    ),
                    exercise(
                        "test_ex2_separate_model",
                        "Exercise 2: the same architecture, separate weights",
                        14,
                        1,
                        4,
                    ),
                ],
            ),
            LessonResult(
                "03_tied_weights",
                "03 · Tying weights on purpose",
                LESSONS["03_tied_weights"].idea,
                20,
                [],
                [
                    exercise(
                        "test_ex1_dense_transposed",
                        "Exercise 1 — a decoder layer tied to its encoder",
                        6,
                        0,
                        13,
                        1,
                        failures=[
                            (
                                "'dec' should use the kernel of 'enc', but it has a kernel of its "
                                "own.",
                                [f"s{i}" for i in range(9)],
                            ),
                            ("`|` odd | message", ["s9"]),
                        ],
                    ),
                    exercise(
                        "test_ex2_tied_autoencoder",
                        "Exercise 2 — the tied autoencoder for the digits",
                        9,
                        0,
                        11,
                    ),
                ],
            ),
        ],
    )


def test_markdown_flags_the_idea_the_class_has_not_understood():
    markdown = to_markdown(demo_class(), top=1)
    rows = [line for line in markdown.splitlines() if line.startswith("| 0")]
    assert rows[0].startswith("| 01 · Calling a layer twice shares its weights | sharing: ")
    assert "| 19/20 | 82% |" in rows[0] and "lowest" not in rows[0]
    assert (
        "| 20/20 | 38% ← lowest | Exercise 1 — a decoder layer tied to its encoder (30%) |"
        in rows[1]
    )
    assert (
        "- 9 learners: `'dec' should use the kernel of 'enc', but it has a kernel of its own.`"
        in markdown
    )
    assert "- 1 more, with 1 other messages (see report.json)" in markdown
    assert "Submitted: 19 of 20 learners (not submitted: zoe)." in markdown


def test_json_holds_rates_counts_and_learners():
    data = to_json(demo_class())
    tying = data["lessons"][1]
    assert (tying["name"], tying["submitted"], tying["pass_rate"]) == ("03_tied_weights", 20, 0.375)
    first = tying["exercises"][0]
    assert (first["graded"], first["pass_rate"], first["failures"][0]["count"]) == (20, 0.3, 9)
    assert first["failures"][0]["students"][:2] == ["s0", "s1"]


def test_chart_groups_exercises_under_their_lesson_and_idea(tmp_path):
    figure = plot_pass_rates(demo_class())
    [axes] = figure.axes
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert labels[0].startswith("01 · Calling a layer twice shares its weights · sharing")
    assert labels[3] == "03 · Tying weights on purpose · tying · 38% on average"
    ticks = axes.get_yticklabels()
    assert ticks[3].get_color() != ticks[0].get_color(), "the weakest lesson stands out"
    assert (
        labels[4] == "Exercise 1 — a decoder layer tied to its encoder  [test_ex1_dense_transposed]"
    )
    bars = [patch.get_width() for patch in axes.patches]
    assert bars[:4] == pytest.approx(
        [17 / 19, 0, 2 / 19, 0]
    )  # passed, partly, failed, ungraded shares
    paths = write_report(demo_class(), tmp_path / "report")
    assert sorted(p.name for p in paths.values()) == ["pass_rates.png", "report.json", "report.md"]
