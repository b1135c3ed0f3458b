"""`course build` on a copy of the fixture course (tests/pipeline/fixtures/course): tiny
notebooks without TensorFlow, so each execution takes about a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course import build
from course.build import (
    BuildError,
    check_release,
    compare_folders,
    execute_notebook,
    generate_release,
)
from course.cli import SUBCOMMANDS
from course.cli import main as course_main
from course.config import find_root
from course.lessons import find_lessons

FIXTURE_COURSE = Path(__file__).resolve().parents[1] / "pipeline" / "fixtures" / "course"
LESSON = "00_fixture"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A writable copy of the fixture course."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, root, ignore=shutil.ignore_patterns("tests"))
    return root


def _nb(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_build_is_a_course_subcommand():
    assert SUBCOMMANDS["build"][0] == "course.build"


def test_find_lessons_and_root(course):
    assert [lesson.name for lesson in find_lessons(course)] == [LESSON]
    assert find_root(course / "solutions" / LESSON) == course
    with pytest.raises(ValueError, match="No such lesson.*nope.*available: 00_fixture"):
        find_lessons(course, ["nope"])


def test_learner_notebook_is_clean_and_keeps_only_visible_tests(course):
    lesson = find_lessons(course)[0]
    with generate_release([lesson]) as release:
        learner = _nb(release / LESSON / f"{LESSON}.ipynb")
    code = [cell for cell in learner.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    sources = "\n".join(cell.source for cell in learner.cells)
    assert "raise NotImplementedError()" in sources
    assert "return x * x" not in sources  # solution removed
    assert "square(-2)" not in sources  # hidden test removed
    assert 'assert square(3) == 9, "square(3) should be 9"' in sources
    assert not list(course.rglob("gradebook.db"))


def test_build_no_execute_recreates_the_committed_notebooks(course):
    shutil.rmtree(course / "notebooks")
    assert course_main(["build", "--no-execute", "--course-dir", str(course)]) == 0
    assert (
        compare_folders(FIXTURE_COURSE / "notebooks" / LESSON, course / "notebooks" / LESSON) == []
    )
    assert not list(course.rglob("gradebook.db"))


def test_execute_restores_outputs_byte_for_byte(course):
    path = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    committed = path.read_bytes()
    nb = _nb(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)

    assert execute_notebook(path, timeout=30) is True
    assert path.read_bytes() == committed  # fresh outputs, same metadata, no timing churn
    assert execute_notebook(path, timeout=30) is False


def test_execute_names_the_failing_cell_and_leaves_the_file(course):
    path = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = _nb(path)
    nb.cells[-1].source = "1 / 0"
    nbformat.write(nb, path)
    before = path.read_bytes()
    with pytest.raises(BuildError, match="ZeroDivisionError"):
        execute_notebook(path, timeout=30)
    assert path.read_bytes() == before


def test_execute_stops_a_cell_at_the_timeout(course):
    path = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = _nb(path)
    nb.cells[-1].source = "while True:\n    pass"
    nbformat.write(nb, path)
    with pytest.raises(BuildError, match="longer than 1 s"):
        execute_notebook(path, timeout=1)


def test_execute_runs_in_the_lesson_folder_with_quiet_tensorflow(course):
    path = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import os\nprint(os.getcwd(), os.environ['TF_CPP_MIN_LOG_LEVEL'])"
            )
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)
    execute_notebook(path, timeout=30)
    assert _nb(path).cells[0].outputs[0].text == f"{path.parent} 3\n"


def test_check_passes_then_names_the_drifted_lesson(course, capsys):
    lessons = find_lessons(course)
    assert check_release(lessons) == {}
    assert course_main(["build", "--check", "--course-dir", str(course)]) == 0

    learner = course / "notebooks" / LESSON / f"{LESSON}.ipynb"
    data = json.loads(learner.read_text())
    data["cells"][3]["source"] = ["def square(x):\n", "    return x * x"]  # a leaked solution
    learner.write_text(json.dumps(data))
    assert check_release(lessons) == {LESSON: [f"{LESSON}.ipynb: cell 3 differs (source)"]}
    capsys.readouterr()
    assert course_main(["build", "--check", "--course-dir", str(course)]) == 1
    assert f"out of date for {LESSON}" in capsys.readouterr().err


def test_check_ignores_formatting_but_not_extra_files(course):
    learner = course / "notebooks" / LESSON / f"{LESSON}.ipynb"
    learner.write_text(json.dumps(json.loads(learner.read_text()), indent=4, sort_keys=False))
    lessons = find_lessons(course)
    assert check_release(lessons) == {}
    (course / "notebooks" / LESSON / "notes.txt").write_text("hand-made")
    assert check_release(lessons) == {LESSON: ["unexpected notes.txt"]}


def test_check_reports_and_build_removes_a_stale_release_folder(course, capsys):
    (course / "notebooks" / "zz_removed").mkdir()
    (course / "notebooks" / "zz_removed" / "zz_removed.ipynb").write_text("{}")
    assert course_main(["build", "--check", "--course-dir", str(course)]) == 1
    assert "zz_removed" in capsys.readouterr().err
    assert course_main(["build", "--no-execute", "--course-dir", str(course)]) == 0
    assert not (course / "notebooks" / "zz_removed").exists()


def test_build_copies_lesson_files_and_warns_about_files_created_by_running(course):
    lesson = find_lessons(course)[0]
    (lesson.source_dir / "data.csv").write_text("x\n1\n")
    nb = _nb(lesson.source_notebook)
    nb.cells.append(nbformat.v4.new_code_cell("open('scratch.txt', 'w').write('x');"))
    nbformat.write(nb, lesson.source_notebook)
    messages: list[str] = []
    build.build([lesson], execute=True, timeout=30, log=messages.append)
    assert (course / "notebooks" / LESSON / "data.csv").read_text() == "x\n1\n"
    assert any("created solutions/00_fixture/scratch.txt" in m for m in messages), messages


def test_generate_failure_names_the_lesson(course):
    lesson = find_lessons(course)[0]
    nb = _nb(lesson.source_notebook)
    nb.cells[4].metadata.nbgrader.grade_id = "square"  # duplicate grade_id: nbgrader refuses
    nbformat.write(nb, lesson.source_notebook)
    with pytest.raises(BuildError, match="00_fixture: nbgrader generate_assignment failed"):
        with generate_release([lesson]):
            pass


def test_no_lessons_is_not_an_error(tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert course_main(["build", "--check", "--course-dir", str(tmp_path)]) == 0
    assert "no lessons" in capsys.readouterr().out
