"""``course.grading.steps.restarting_execute``: a kernel that does not start is replaced;
the notebook runs once.

The kernels here are real (``flaky_kernels`` in conftest.py): a kernel spec runs a small
script that, for its first starts in a folder, stays alive without ever answering (or
exits, as a kernel whose port was taken does) and then becomes a normal IPython kernel.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import nbformat
import pytest
from grading_course import (
    FIXTURE,
    FIXTURE_CASES,
    SQUARE,
    autograded,
    break_out,
    course_grade,
    course_with,
    expected_points,
    nbgrader,
    notebook_text,
    points,
)
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, LimitOutput, SaveAutoGrades
from traitlets.config import Config

from course.cells import grade_id_of
from course.config import load_course_config
from course.corpus import (
    Submission,
    full_marks,
    no_marks,
)
from course.grading.steps.integrity import (
    GuardSubmission,
    IntegritySaveAutoGrades,
    JudgeIntegrity,
)
from course.grading.steps.output_limits import LimitAllOutput
from course.grading.steps.restarting_execute import RestartingExecute
from course.isolation.landlock import landlock_abi

REPO = Path(__file__).resolve().parents[4]


def execute(kernel_name: str, folder: Path, **settings: object) -> nbformat.NotebookNode:
    """Run a two-cell notebook with RestartingExecute in ``folder``."""
    config = Config()
    config.Execute.kernel_name = kernel_name
    config.Execute.startup_timeout = 3
    for name, value in settings.items():
        setattr(config.RestartingExecute, name, value)
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 21"), nbformat.v4.new_code_cell("x * 2")]
    )
    folder.mkdir(exist_ok=True)
    # A logger of the test's own: without one, traitlets hands out the logger of whatever
    # Application ran last in this process (another test's), which may not reach caplog.
    step = RestartingExecute(config=config, log=logging.getLogger("test_execute"))
    step.preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb


@pytest.mark.parametrize("failure", ["silent", "dies"])
def test_a_kernel_that_does_not_start_is_replaced(flaky_kernels, tmp_path, caplog, failure):
    with caplog.at_level(logging.WARNING):
        nb = execute(f"{failure}-1", tmp_path / "run")
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "42"
    assert nb.cells[0].execution_count == 1, "the notebook ran once, in the second kernel"
    assert flaky_kernels.starts(tmp_path / "run") == 2
    assert "The kernel did not start" in caplog.text and "attempt 2 of 3" in caplog.text


def test_after_the_last_attempt_the_error_is_raised(flaky_kernels, tmp_path):
    with pytest.raises(RuntimeError, match="didn't respond in 3 seconds"):
        execute("silent-9", tmp_path / "run", kernel_start_attempts=2)
    assert flaky_kernels.starts(tmp_path / "run") == 2


def test_one_attempt_is_plain_nbgrader(flaky_kernels, tmp_path):
    with pytest.raises(RuntimeError, match="Kernel died before replying"):
        execute("dies-1", tmp_path / "run", kernel_start_attempts=1)
    assert flaky_kernels.starts(tmp_path / "run") == 1


def test_a_kernel_that_does_not_exist_is_not_tried_again(tmp_path):
    from jupyter_client.kernelspec import NoSuchKernel

    with pytest.raises(NoSuchKernel):
        execute("no-such-kernel", tmp_path / "run")


def test_the_kit_config_puts_it_in_nbgrader_autograde():
    config = load_course_config(REPO)
    preprocessors = Autograde(config=config).autograde_preprocessors
    # The kit's integrity checks run around it (course/grading/steps/integrity.py).
    assert preprocessors[:3] == [GuardSubmission, RestartingExecute, JudgeIntegrity]
    assert Execute not in preprocessors
    assert SaveAutoGrades not in preprocessors and IntegritySaveAutoGrades in preprocessors
    assert LimitOutput not in preprocessors and LimitAllOutput in preprocessors
    execute_step = RestartingExecute(config=config)
    assert execute_step.kernel_start_attempts == 3
    assert execute_step.timeout == 120, "the course's Execute.* settings still apply"
    # A busy grader must not fail a whole notebook because a cell's outputs arrive late.
    assert execute_step.iopub_timeout >= 30 and execute_step.raise_on_iopub_timeout


# --- The step in both graders, on the fixture course (the pipeline marker: nbgrader runs).


@pytest.mark.pipeline
def test_kit_config_reaches_nbgrader_execute():
    """The kit's time limit and missing-cell policy are what nbgrader's classes read."""
    from nbgrader.preprocessors import Execute, OverwriteCells

    config = load_course_config(REPO)
    assert Execute(config=config).timeout == 120
    assert "allowed per cell" in Execute(config=config).error_on_timeout["traceback"][0]
    assert OverwriteCells(config=config).add_missing_cells is True


BUDGET_CONFIG = """
from course.grading.steps.restarting_execute import autograde_preprocessors
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.Execute.timeout = 60
c.RestartingExecute.notebook_timeout = 3
"""


@pytest.mark.pipeline
def test_a_notebook_gets_a_time_budget_in_both_graders(fixture_template, tmp_path, capsys):
    """A cell far below the limit per cell (60 s) is interrupted when the notebook's
    budget (3 s for all cells) runs out, and the cells after it are not run: 0 points,
    in nbgrader autograde with the kit's config and in course grade, with the same note."""
    cases = [
        Submission(
            "spends-budget",
            answers={"square": SQUARE + "while True:\n    pass"},
            expected=no_marks(),
        ),
        FIXTURE_CASES[0],
    ]
    serial = course_with(fixture_template, tmp_path / "serial", FIXTURE, cases, BUDGET_CONFIG)
    parallel = course_with(fixture_template, tmp_path / "parallel", FIXTURE, cases, BUDGET_CONFIG)
    result = nbgrader("autograde", FIXTURE.name, cwd=serial)
    assert result.returncode == 0, result.stdout + result.stderr
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "(3 s per notebook)" in out
    assert points(serial, FIXTURE) == points(parallel, FIXTURE) == expected_points(cases, FIXTURE)

    for course in (serial, parallel):
        nb = autograded(course, "spends-budget", FIXTURE)
        test_mean = next(c for c in nb.cells if grade_id_of(c) == "test_mean")
        assert (
            "TimeBudgetExceeded: Not run: your notebook's cells used up their time budget (3 s"
            in notebook_text(test_mean)
        )
    # Both graders write the same note (plain nbgrader: RestartingExecute; course grade: its
    # report of the run).
    for course in (serial, parallel):
        note = autograded(course, "spends-budget", FIXTURE).cells[0].source
        assert (
            "Your notebook used up its time budget (3 s for all cells together) in cell 4 "
            "(`square`); the 5 cells after it were not run, so their tests score 0." in note
        ), note
        assert "time limit for one cell" not in note


#: Every learner's first kernel stays silent (flaky_kernels in conftest.py); the kit's
#: config replaces nbgrader's Execute with the kit's RestartingExecute.
SILENT_FIRST_KERNEL = """
from course.grading.steps.restarting_execute import autograde_preprocessors
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.Execute.kernel_name = "silent-1"
c.Execute.startup_timeout = 4
"""


@pytest.mark.pipeline
def test_nbgrader_autograde_replaces_a_kernel_that_does_not_start(
    fixture_template, tmp_path, flaky_kernels
):
    cases = FIXTURE_CASES[:3]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, SILENT_FIRST_KERNEL)
    result = nbgrader("autograde", FIXTURE.name, cwd=course)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "There was an error processing" not in log
    assert log.count("The kernel did not start") == len(cases), log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    for (
        case
    ) in cases:  # two kernels started in each learner's folder; the notebook ran in the second
        assert flaky_kernels.starts(course / "autograded" / case.name / FIXTURE.name) == 2


@pytest.mark.pipeline
@pytest.mark.skipif(
    landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
)
def test_course_grade_replaces_a_kernel_that_does_not_start_in_the_sandbox(
    fixture_template, tmp_path, flaky_kernels, capsys
):
    """The kernel started in place of the silent one is sandboxed like the first."""
    course = tmp_path / "course"
    cases = [
        *FIXTURE_CASES[:2],
        Submission("breaks-out", answers={"square": break_out(course)}, expected=full_marks()),
    ]
    course_with(fixture_template, course, FIXTURE, cases, SILENT_FIRST_KERNEL)
    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "3 graded, 0 errors" in out and "Landlock rules" in out, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    text = notebook_text(autograded(course, "breaks-out", FIXTURE))
    assert "read solutions: PermissionError" in text and "signal grader: PermissionError" in text, (
        text
    )
    assert "scratch file: done" in text
