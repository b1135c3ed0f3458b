"""Warm grading kernels (course/grading/warmup.py): what they set and import before the
notebook, and that a notebook gets what a fresh kernel would give it.

Mostly on the fixture course (no TensorFlow: a kernel starts quickly). Every test grades
a fresh copy of a course in which ``nbgrader generate_assignment`` has run once
(grading_course.py, fixture_template in conftest.py).
"""

from __future__ import annotations

import nbformat
import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    LESSON_00,
    SQUARE,
    course_grade,
    course_with,
    expected_points,
    nbgrader,
    points,
)

from course.cells import grade_id_of
from course.corpus import (
    Submission,
    full_marks,
)
from course.grading.warmup import WarmKernelPlan, warmup_code, warmup_plan

pytestmark = pytest.mark.pipeline


def test_warmup_plan_reads_setup_cells_only():
    nb = nbformat.read(LESSON_00.source_notebook, as_version=4)
    env, modules = warmup_plan(nb)
    assert dict(env) == {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    # The imports of the lesson's own cells (setup and demonstrations: h5py reads a weights
    # file) and the test cells' `from helpers.grading import pristine`; nothing from the
    # solution cells (learners write those).
    # (The setup cells are backend-neutral: `import keras` brings in the backend, TensorFlow.)
    assert modules == (
        "os",
        "logging",
        "numpy",
        "keras",
        "helpers",
        "tempfile",
        "h5py",
        "helpers.grading",
    )
    code = warmup_code(WarmKernelPlan("python3", "x", env, modules))
    compile(code, "<warmup>", "exec")  # valid Python
    assert "keras" in code and "import_module" in code


def _sets_backend_before_import(nb: nbformat.NotebookNode) -> None:
    """The learner's (unlocked) setup cell sets an environment variable a module reads
    when it is imported, then imports it; the answer depends on it."""
    nb.cells[1].source = (
        'import os\nos.environ["MPLBACKEND"] = "svg"\nimport matplotlib\n' + nb.cells[1].source
    )
    fill = next(c for c in nb.cells if grade_id_of(c) == "square")
    fill.source = 'assert matplotlib.get_backend() == "svg", matplotlib.get_backend()\n' + SQUARE


def test_a_setup_cell_that_sets_environment_gets_a_fresh_kernel(fixture_template, tmp_path, capsys):
    """course grade's warm kernels have imported the setup modules already (here
    matplotlib, --preload); a notebook whose editable cells set environment variables
    first is run in a fresh kernel instead, and both graders agree."""
    cases = [
        Submission("sets-backend", transform=_sets_backend_before_import, expected=full_marks()),
        FIXTURE_CASES[0],
    ]
    serial = course_with(fixture_template, tmp_path / "serial", FIXTURE, cases)
    parallel = course_with(fixture_template, tmp_path / "parallel", FIXTURE, cases)
    result = nbgrader("autograde", FIXTURE.name, cwd=serial)
    assert result.returncode == 0, result.stdout + result.stderr
    code, out = course_grade(parallel, "--workers", "1", "--preload", "matplotlib", capsys=capsys)
    assert code == 0, out
    assert points(serial, FIXTURE) == points(parallel, FIXTURE) == expected_points(cases, FIXTURE)


def test_grading_kernels_import_the_setup_modules_ahead(fixture_template, tmp_path, capsys):
    """--preload: what warm kernels import; a module that does not exist is reported, the
    learners are still graded as nbgrader would."""
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:2])
    code, out = course_grade(
        course, "--workers", "2", "--preload", "json,no_such_module_abc", capsys=capsys
    )
    assert code == 0, out
    assert "could not preload no_such_module_abc: ModuleNotFoundError" in out
    assert "2 workers, 2 kernels" in out, "each notebook got a kernel warmed up with the override"
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:2], FIXTURE)
