"""How the repository's conftest.py orders and groups the suite for pytest-xdist."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

# The repository's own conftest.py, loaded under a name of its own (tests/ has another).
_spec = importlib.util.spec_from_file_location(
    "repository_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)


def items(*nodeids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_work_units_keep_a_notebook_a_lesson_the_hub_and_the_browser_together():
    assert conftest.work_unit("solutions/x/x.ipynb::Cell 3") == "solutions/x/x.ipynb"
    assert (
        conftest.work_unit("tests/pipeline/test_pipeline.py::test_points[01_shared_layers/correct]")
        == "pipeline:01_shared_layers"
    )
    assert (
        conftest.work_unit("tests/pipeline/test_busy_machine.py::test_x")
        == "pipeline:tests/pipeline/test_busy_machine.py"
    )
    assert conftest.work_unit("tests/hub/test_hub_course.py::test_x") == "hub"
    assert conftest.work_unit("tests/browser/test_browser_teacher.py::test_x") == "browser"
    assert conftest.work_unit("tests/course/test_cells.py::test_x") is None


def test_the_largest_lesson_units_start_first_and_keep_their_order():
    suite = items(
        "tests/course/test_cells.py::test_a",
        "tests/pipeline/test_pipeline.py::test_points[00_small/correct]",
        "tests/pipeline/test_pipeline.py::test_points[01_large/correct]",
        "tests/pipeline/test_pipeline.py::test_points[01_large/wrong]",
        "solutions/x/x.ipynb::Cell 0",
        "tests/pipeline/test_course_grade.py::test_points[01_large/course-grade/correct]",
        "tests/course/test_cells.py::test_b",
    )
    ordered = [item.nodeid for item in conftest.longest_units_first(suite)]
    assert ordered == [
        "tests/pipeline/test_pipeline.py::test_points[01_large/correct]",
        "tests/pipeline/test_pipeline.py::test_points[01_large/wrong]",
        "tests/pipeline/test_course_grade.py::test_points[01_large/course-grade/correct]",
        "tests/pipeline/test_pipeline.py::test_points[00_small/correct]",
        "tests/course/test_cells.py::test_a",
        "solutions/x/x.ipynb::Cell 0",
        "tests/course/test_cells.py::test_b",
    ]
