"""``course.grading.steps.restarting_execute``: a kernel that does not start is replaced;
the notebook runs once.

The kernels here are real (``flaky_kernels`` in conftest.py): a kernel spec runs a small
script that, for its first starts in a folder, stays alive without ever answering (or
exits, as a kernel whose port was taken does) and then becomes a normal IPython kernel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat
import pytest
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, LimitOutput, SaveAutoGrades
from traitlets.config import Config

from course.config import load_course_config
from course.grading.steps.integrity import (
    GuardSubmission,
    IntegritySaveAutoGrades,
    JudgeIntegrity,
)
from course.grading.steps.output_limits import LimitAllOutput
from course.grading.steps.restarting_execute import RestartingExecute

REPO = Path(__file__).resolve().parents[2]


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
