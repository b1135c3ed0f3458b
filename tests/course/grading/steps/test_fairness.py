"""The kit's fair sanitize steps (course/grading/steps/fairness.py) on the fixture course,
without running any kernel: what nbgrader's sanitizing makes of ordinary learner edits (the
cells that are graded, where a deleted test goes back, the notes), and that plain nbgrader
0.9.6's own steps fail on the same notebooks (the reason the kit replaces them).

The graded results of the same edits, under both graders, are in tests/pipeline (corpus
cases of lessons 01 and 05, and of the fixture course).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.cells import grade_id_of
from course.config import CONFIG_FILE, load_course_config
from course.corpus import (
    Submission,
    add_foreign_cell,
    delete_cells,
    duplicate_cell,
    full_marks,
    move_cells,
    place_submissions,
)
from course.grading.autograder import Autograder
from course.grading.notes import is_notes_cell
from course.grading.steps.fairness import sanitize_preprocessors
from course.lessons import find_lessons

REPO = Path(__file__).resolve().parents[4]
FIXTURE = find_lessons(REPO / "tests" / "pipeline" / "fixtures" / "course")[0]
# The fixture lesson's cells with a grade id, in order (markdown statements are locked).
LESSON = [
    "intro",
    "exercise_square",
    "square",
    "test_square",
    "exercise_mean",
    "mean",
    "test_mean",
    "test_mean_empty",
]
# As in the kit's config (the fixture course's does not add deleted cells back).
KIT = "c.OverwriteCells.add_missing_cells = True"
# nbgrader's own sanitize steps, in place of the kit's.
NBGRADER_DEFAULTS = (
    "from nbgrader.converters import Autograde\nc.Autograde.sanitize_preprocessors = "
    "Autograde.class_traits()['sanitize_preprocessors'].default()"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture course after ``nbgrader generate_assignment`` (the gradebook knows it)."""
    root = tmp_path_factory.mktemp("fair") / "course"
    root.mkdir()
    shutil.copy(FIXTURE.root / CONFIG_FILE, root / CONFIG_FILE)
    shutil.copytree(FIXTURE.source_dir, root / "solutions" / FIXTURE.name)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "nbgrader"), "generate_assignment", FIXTURE.name],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def sanitized(
    template: Path, dest: Path, transform, config: str = KIT
) -> tuple[list[str], list[str], str]:
    """(grade ids of the sanitized notebook in order, the notes, why it is unreadable) for a
    correct submission edited by ``transform``, through course grade's sanitize step (the
    configured ``Autograde.sanitize_preprocessors``, as ``nbgrader autograde`` runs them),
    with ``config`` added to the fixture course's (default: deleted tests added back)."""
    shutil.copytree(template, dest)
    if config:
        with open(dest / CONFIG_FILE, "a", encoding="utf-8") as handle:
            handle.write("\n" + config + "\n")
    case = Submission("learner", transform=transform, expected=full_marks())
    place_submissions(dest, FIXTURE.name, [case], FIXTURE.release_notebook, FIXTURE.source_notebook)
    grader = Autograder(dest, load_course_config(dest))
    prepared = grader.prepare(grader.find_jobs([FIXTURE.name]).todo[0])
    if prepared.unreadable:
        return [], [], prepared.unreadable[FIXTURE.name]
    nb = nbformat.read(prepared.notebooks[0].path, as_version=4)
    assert not is_notes_cell(nb.cells[0]), (
        "course grade writes the notes after the run, with its own"
    )
    ids = [gid if gid else "." for gid in map(grade_id_of, nb.cells)]
    return ids, prepared.notes[FIXTURE.name], ""


def graded_ids(ids: list[str]) -> list[str]:
    return [gid for gid in ids if gid != "."]


def test_the_kit_config_uses_the_fair_steps():
    config = load_course_config(REPO)
    assert [p.__name__ for p in config.Autograde.sanitize_preprocessors] == [
        p.__name__ for p in sanitize_preprocessors()
    ]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (duplicate_cell("square"), "KeyError: 'grade_id'"),
        (add_foreign_cell("square", "test_cube", "assert cube(2) == 8"), "KeyError: 'grade_id'"),
        (delete_cells("square", "test_square"), "KeyError: 'square'"),
    ],
    ids=["copied-answer", "foreign-cell", "deleted-exercise"],
)
def test_nbgrader_own_steps_fail_on_ordinary_edits(template, tmp_path, edit, error):
    _, _, unreadable = sanitized(
        template, tmp_path / "course", edit, KIT + "\n" + NBGRADER_DEFAULTS
    )
    assert error in unreadable


def test_a_copied_cell_keeps_one_grade_id_and_every_copy_stays(template, tmp_path):
    ids, notes, _ = sanitized(template, tmp_path / "course", duplicate_cell("test_square"))
    assert graded_ids(ids) == LESSON
    assert ids[ids.index("test_square") - 1] == "."  # the first copy: an ordinary cell, still there
    assert notes == [
        "Cell `test_square` appears 2 times in your notebook. Every copy ran where it stands; the "
        "last one counts as `test_square`, the others as ordinary cells."
    ]


def test_a_foreign_cell_is_an_ordinary_cell(template, tmp_path):
    ids, notes, _ = sanitized(
        template,
        tmp_path / "course",
        add_foreign_cell("square", "test_cube", "assert cube(2) == 8"),
    )
    assert graded_ids(ids) == LESSON and len(ids) == 11
    assert notes == [
        "Cell 5 is marked as `test_cube`, a cell this lesson does not have (pasted from another "
        "notebook?); it ran as an ordinary cell and is not graded."
    ]


def test_grading_marks_without_an_id_are_ignored(template, tmp_path):
    def marks_without_id(nb):
        nb.cells[1].metadata["nbgrader"] = {"grade": True, "points": 5}
        nb.cells[9].metadata["nbgrader"] = {}

    ids, notes, _ = sanitized(template, tmp_path / "course", marks_without_id)
    assert graded_ids(ids) == LESSON
    assert notes == ["Cell 2 has grading marks without a grade id; it ran as an ordinary cell."]


def test_a_deleted_exercise_gets_its_test_back_after_the_statement(template, tmp_path):
    ids, notes, _ = sanitized(template, tmp_path / "course", delete_cells("square", "test_square"))
    assert graded_ids(ids) == [
        "intro",
        "exercise_square",
        "test_square",
        "exercise_mean",
        "mean",
        "test_mean",
        "test_mean_empty",
    ]
    assert notes == [
        "Graded cell(s) `test_square` were missing from your notebook; the grader added them back "
        "and ran them.",
        "Answer cell(s) `square` were missing from your notebook; the tests ran without them.",
    ]


def test_several_deleted_tests_go_back_in_lesson_order(template, tmp_path):
    ids, notes, _ = sanitized(
        template, tmp_path / "course", delete_cells("test_square", "test_mean", "test_mean_empty")
    )
    assert graded_ids(ids) == LESSON
    assert ids[-2:] == [
        "test_mean_empty",
        ".",
    ]  # before the learner's last ordinary cell, as in the lesson
    assert "`test_square`, `test_mean`, `test_mean_empty` were missing" in notes[0]


def test_a_deleted_test_follows_its_moved_answer(template, tmp_path):
    def moves_square_and_deletes_its_test(nb):
        delete_cells("test_square")(nb)
        move_cells("square", "square")(nb)

    ids, notes, _ = sanitized(template, tmp_path / "course", moves_square_and_deletes_its_test)
    assert graded_ids(ids)[-2:] == ["square", "test_square"]
    assert notes == [
        "Some of your cells are in another order than in the lesson; they ran in your order, top "
        "to bottom.",
        "Graded cell(s) `test_square` were missing from your notebook; the grader added them back "
        "and ran them.",
    ]


def test_without_add_missing_cells_a_deleted_test_scores_0(template, tmp_path):
    ids, notes, _ = sanitized(
        template,
        tmp_path / "course",
        delete_cells("test_mean"),
        "c.OverwriteCells.add_missing_cells = False",
    )
    assert "test_mean" not in ids
    assert notes == ["Graded cell(s) `test_mean` were missing from your notebook, so they score 0."]


def test_without_the_source_notebook_the_gradebook_gives_the_order(template, tmp_path):
    shutil.copytree(template, tmp_path / "template")
    shutil.rmtree(tmp_path / "template" / "solutions")
    ids, _, _ = sanitized(
        tmp_path / "template", tmp_path / "course", delete_cells("square", "test_square")
    )
    assert graded_ids(ids)[:3] == ["intro", "exercise_square", "test_square"]


def test_an_honest_notebook_gets_no_note(template, tmp_path):
    ids, notes, _ = sanitized(template, tmp_path / "course", None)
    assert graded_ids(ids) == LESSON and notes == []
