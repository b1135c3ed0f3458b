"""``course.grading.steps.cpu_time``: the limit per cell counts CPU time, with a wall-clock ceiling.

Real kernels (the kit's ``python3``), run by the kit's ``RestartingExecute``. No test here
depends on how fast or busy the machine is: a cell that computes is cut on CPU time whatever
the load (the wall-clock ceiling is set far away, 100 x the limit), a cell that sleeps uses
no CPU time, so only the clock can stop it (and it sleeps far longer than the ceiling), and
an interrupted cell has a minute to answer.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from course.grading.steps import cpu_time
from course.grading.steps.cpu_time import _process_tree_cpu_psutil, process_tree_cpu
from course.grading.steps.restarting_execute import RestartingExecute

TIMEOUT_NAME = "CellTimeoutError"


def run(cells: list[str], folder: Path, timeout: int, **settings: object):
    """Run ``cells`` with the kit's RestartingExecute (limit ``timeout`` s per cell); the
    notebook and the step."""
    config = Config()
    config.Execute.timeout = timeout
    config.Execute.iopub_timeout = 60  # as the kit's: an interrupted cell may answer late
    for name, value in settings.items():
        setattr(config.RestartingExecute, name, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    folder.mkdir(exist_ok=True)
    step = RestartingExecute(config=config, log=logging.getLogger("test_cpu_time"))
    step.preprocess(nb, {"metadata": {"path": str(folder)}})
    # Without the grader's note (a markdown cell at the top when the budget ran out).
    nb.cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    return nb, step


def error_names(cell: nbformat.NotebookNode) -> list[str]:
    return [out.ename for out in cell.outputs if out.output_type == "error"]


def text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.outputs)


def test_an_endless_loop_is_cut_on_cpu_time(tmp_path):
    nb, step = run(
        ["print('before')", "while True:\n    pass", "print('after')"],
        tmp_path,
        timeout=2,
        wall_limit_factor=100,
    )
    assert error_names(nb.cells[1]) == ["KeyboardInterrupt", TIMEOUT_NAME]
    assert step.cpu_cut == [1], "cut by its CPU time, far below the wall-clock ceiling"
    assert text(nb.cells[2]) == "after\n", "the kernel lives on"


def test_cpu_time_of_child_processes_counts(tmp_path):
    spin = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'while True: pass'])"
    nb, step = run([spin, "print('after')"], tmp_path, timeout=2, wall_limit_factor=100)
    assert TIMEOUT_NAME in error_names(nb.cells[0])
    assert step.cpu_cut == [0]
    assert text(nb.cells[1]) == "after\n"


def test_a_cell_that_waits_is_not_cut_at_the_limit(tmp_path):
    """Longer than the limit on the clock, as a computing cell is on a busy machine, but
    with little CPU time: it finishes (nbclient's wall-clock rule would cut it)."""
    nb, step = run(
        ["import time\ntime.sleep(3)\nprint('done')"], tmp_path, timeout=1, wall_limit_factor=100
    )
    assert text(nb.cells[0]) == "done\n" and not error_names(nb.cells[0])
    assert step.cpu_cut == []


def test_a_cell_that_sleeps_is_cut_at_the_wall_ceiling(tmp_path):
    nb, step = run(
        ["import time\ntime.sleep(600)", "print('after')"],
        tmp_path,
        timeout=1,
        wall_limit_factor=3,
    )
    assert error_names(nb.cells[0]) == ["KeyboardInterrupt", TIMEOUT_NAME]
    assert step.cpu_cut == [], "cut by the clock, 3 s"
    assert text(nb.cells[1]) == "after\n"


def test_the_wall_clock_rule_is_still_there(tmp_path):
    nb, step = run(
        ["import time\ntime.sleep(600)", "print('after')"],
        tmp_path,
        timeout=1,
        time_limit_clock="wall",
    )
    assert TIMEOUT_NAME in error_names(nb.cells[0]) and text(nb.cells[1]) == "after\n"


def test_process_tree_cpu_counts_children_as_psutil_does():
    """The tree read from /proc's lists of children counts what psutil's walk counts: here a
    child that has computed 0.3 s and now waits."""
    spin = SPIN.format(0.3) + "\nprint('spun', flush=True)\ninput()"
    with subprocess.Popen(
        [sys.executable, "-c", spin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout.readline() == "spun\n"
        mine, by_psutil = process_tree_cpu(os.getpid()), _process_tree_cpu_psutil(os.getpid())
        alone = sum(os.times()[:4])  # this process and the children it has waited for
        assert process_tree_cpu(child.pid) >= 0.3
        child.communicate("\n")
    assert mine - alone >= 0.3, "the living child's CPU time counts"
    assert abs(mine - by_psutil) < 0.05, (mine, by_psutil)


def test_process_tree_cpu_of_a_process_that_is_gone():
    assert process_tree_cpu(2**22 + 1) == 0.0
    assert process_tree_cpu(os.getpid()) > 0


SPIN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {}:\n    pass"


async def _blind_watch(pid, start, limit, done, every):
    """A CPU watch that never looks in time: every cell ends before it sees the limit."""
    await done
    return False


@pytest.fixture(params=["watch", "blind watch"])
def watch(request, monkeypatch):
    """The real CPU watch, and one that never sees a cell reach its limit before the cell
    ends (as when the grader is slow to look, on a busy machine): the verdict is the same."""
    if request.param == "blind watch":
        monkeypatch.setattr(cpu_time, "cpu_exceeded", _blind_watch)
    return request.param


def test_a_cell_that_ends_over_its_limit_is_cut(tmp_path, monkeypatch):
    """Whether a cell is cut does not depend on when the grader looks at its CPU time: one
    that ends between two looks, having used its limit, is judged as if the look came first."""
    monkeypatch.setattr(cpu_time, "cpu_exceeded", _blind_watch)
    nb, step = run(
        [SPIN.format(1.5), "print('after')", SPIN.format(0.2)],
        tmp_path,
        timeout=1,
        wall_limit_factor=100,
    )
    assert error_names(nb.cells[0]) == [TIMEOUT_NAME], "ended, so not interrupted, but cut"
    assert step.cpu_cut == [0]
    assert text(nb.cells[1]) == "after\n"
    assert not error_names(nb.cells[2]), "a cell below its limit"


def test_the_time_budget_counts_cpu_time(tmp_path, watch):
    """Two cells that each compute 1.5 s, a budget of 2 s for the notebook: it runs out in
    the second, however busy the machine (the clock's ceiling is 100 x away) and whenever
    the grader looks."""
    nb, step = run(
        [SPIN.format(1.5), SPIN.format(1.5), "print('after')"],
        tmp_path,
        timeout=60,
        notebook_timeout=2,
        wall_limit_factor=100,
    )
    assert not error_names(nb.cells[0])
    assert TIMEOUT_NAME in error_names(nb.cells[1])
    assert (step.budget_cut, step.budget_skipped) == (1, [2])


def test_the_time_budget_has_a_wall_clock_ceiling(tmp_path):
    """Cells that sleep use no CPU time: the budget (1 s) runs out on the clock, at 2 x."""
    nb, step = run(
        ["import time\ntime.sleep(600)", "print('after')"],
        tmp_path,
        timeout=60,
        notebook_timeout=1,
        wall_limit_factor=2,
    )
    assert TIMEOUT_NAME in error_names(nb.cells[0])
    assert (step.budget_cut, step.budget_skipped) == (0, [1])
