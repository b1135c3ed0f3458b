"""nbgrader's ``Execute`` preprocessor, with a new kernel when one does not start.

Before the first cell of a notebook runs, nbclient starts a kernel and waits for its answer
to a ``kernel_info`` request. Now and then, on a busy machine, a healthy kernel never gets
that far, through no fault of the notebook:

* its ports were taken by another process between the moment jupyter_client chose them
  and the moment the kernel bound them (``ZMQError: Address already in use``, then
  "Kernel died before replying to kernel_info"); kernels started by parallel graders or
  test workers race for ports this way (jupyter_client issue #487);
* it is alive but never answers ("Kernel didn't respond in 60 seconds"; ipykernel 7 had
  such a wedge, ipykernel issues #1529 and #1554).

Plain nbgrader then records the learner's whole submission as *failed* ("There was an
error processing assignment"), and the teacher has to notice and autograde again.
:class:`RestartingExecute` instead shuts that kernel down and starts a new one, up to
``kernel_start_attempts`` times, and logs a warning each time. Only the start is retried:
nothing of the notebook has run yet, so nothing runs twice. A kernel that cannot be
started at all (no such kernel, a broken environment) still fails after the last attempt,
with the last error.

A kernel of plain ``nbgrader autograde`` that the memory cap (its box's cgroup) ends is
judged as ``course grade`` judges it: the notebook is cut in that cell (the cells after it
are not run, their tests score 0) and the grader's note says it used too much memory,
instead of the whole submission failing ("There was an error processing").

It also gives a notebook a **time budget** for all its cells together
(``notebook_timeout``), on top of nbgrader's limit per cell (``Execute.timeout``): without
it, N cells that each stop just short of the limit cost N times the limit. A cell runs at
most until the budget is spent (then it is interrupted like a cell over the limit), and the
cells after it are not run: each gets an error output (``TimeBudgetExceeded``) saying so,
so their tests score 0.

The kit's ``nbgrader_config.py`` puts it in place of nbgrader's ``Execute`` (see
:func:`autograde_preprocessors`); ``course grade``'s kernels start and run the same way.

Example::

    c.RestartingExecute.kernel_start_attempts = 3      # in nbgrader_config.py (the default)
    c.RestartingExecute.notebook_timeout = 600         # seconds for all cells of a notebook
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import nbformat
from jupyter_client.client import KernelClient
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, LimitOutput, SaveAutoGrades
from traitlets import Integer

from course.forking.provisioner import ForkingProvisioner
from course.grading.notes import (
    budget_note,
    is_notes_cell,
    memory_cap_reason,
    notes_cell,
    stop_notebook,
    stopped_note,
)
from course.grading.settings import MiB
from course.grading.steps.cpu_time import CpuTimeLimit
from course.grading.steps.integrity import (
    GuardSubmission,
    IntegritySaveAutoGrades,
    JudgeIntegrity,
)
from course.grading.steps.output_limits import LimitAllOutput, cap_output
from course.grading.steps.runtime_guard import forget_guard, guard_cell
from course.isolation.kernels import killed_from_outside

#: A notebook whose kernel something outside it killed is run again this many times (both
#: graders); after that it is not graded (an error, nothing recorded), never scored 0.
RUNS_AFTER_OUTSIDE_KILL = 1
#: Error name of the output of a cell not run because the notebook's time budget was spent.
BUDGET_SPENT = "TimeBudgetExceeded"


class RestartingExecute(CpuTimeLimit, Execute):
    """nbgrader's ``Execute``, which starts a new kernel when one does not answer at start.

    Its limit per cell counts CPU time, with a wall-clock ceiling (:class:`CpuTimeLimit`,
    :mod:`course.grading.steps.cpu_time`): a busy machine does not cost a notebook its points.

    The ``Execute.*`` settings of the course (timeout, kernel name, startup timeout, ...)
    apply to it unchanged: traitlets passes a class's settings on to its subclasses.
    """

    kernel_start_attempts = Integer(
        3,
        help="How many kernels to start, one after another, before giving up on a notebook whose "
        "kernel does not answer at start (1: no second try, as plain nbgrader).",
    ).tag(config=True)

    output_limit = Integer(
        32 * MiB,
        help="Characters of output (text, images, error messages, metadata) kept in memory per "
        "notebook while it runs; the rest is dropped (errors stay errors, cut short).",
    ).tag(config=True)
    output_item_limit = Integer(
        MiB, help="Characters kept of any one output (an error message, an image, metadata)."
    ).tag(config=True)

    _kept = 0
    _truncated = False

    notebook_timeout = Integer(
        None,
        allow_none=True,
        help="Seconds all the cells of one notebook may run together (None or 0: no budget, only "
        "the limit per cell, Execute.timeout), counted as the limit per cell is (CPU time, with a "
        "wall-clock ceiling: time_limit_clock). Cells after the budget is spent are not run; "
        "their tests score 0.",
    ).tag(config=True)

    _start_arguments: dict[str, Any] | None = None
    #: The cell during which the budget ran out (it was interrupted), if any.
    budget_cut: int | None = None
    #: Code cells not run because the budget was spent.
    budget_skipped: list[int]

    def reset_execution_trackers(self) -> None:
        """nbclient's per-notebook counters, the time budget's and the output cap's."""
        super().reset_execution_trackers()
        self._kept = 0
        self._truncated = False
        self._budget_left = None
        self.budget_cut = None
        self.budget_skipped = []
        forget_guard(self)  # the run-time integrity guard: one per notebook

    #: The exit code of a kernel that died while it ran a cell (None: it did not die).
    died_with: int | None = None
    #: The cell in which the kernel died (None: it did not die).
    died_in: int | None = None
    #: Why the kernel that died was stopped, when its memory cap ended it (else None).
    memory_cap_hit: str | None = None

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        """Run a cell (nbclient's method); when the kernel dies, note its exit code."""
        try:
            return await self._execute_cell_within_budget(
                cell, cell_index, execution_count, store_history
            )
        except DeadKernelError:
            self.died_with, self.died_in = None, cell_index
            provisioner = self.km.provisioner if self.km is not None else None
            if provisioner is not None:
                with contextlib.suppress(Exception):
                    self.died_with = await provisioner.poll()
            # Read now: the kernel's cgroups are removed when the kernel is cleaned up.
            isolated = provisioner.isolated if isinstance(provisioner, ForkingProvisioner) else None
            if isolated is not None and isolated.oom_killed():
                self.memory_cap_hit = memory_cap_reason(isolated.memory)
            raise

    async def _execute_cell_within_budget(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None,
        store_history: bool,
    ) -> NotebookNode:
        """Run a cell (nbclient's method) within what is left of the notebook's budget; a
        cell after the budget is spent gets an error output instead of running."""
        await guard_cell(self, cell, cell_index)  # run-time integrity (runtime_guard.py)
        if not self.notebook_timeout or cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        # Counted on the clock of the limit per cell (CPU time, course/grading/steps/cpu_time.py).
        left = self.notebook_timeout - self.time_spent()
        if left <= 0:
            self.budget_skipped.append(cell_index)
            cell.outputs = [budget_spent_output(self.notebook_timeout, self.budget_cut)]
            cell.execution_count = None
            return cell
        self._budget_left = left
        try:
            result = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        finally:
            self._budget_left = None
        ran_out = self.stopped_by_budget(cell, cell_index)
        if (ran_out or self.time_spent() >= self.notebook_timeout) and self.budget_cut is None:
            self.budget_cut = cell_index
            cell.outputs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stderr",
                    text=f"The notebook's time budget ({self.notebook_timeout} s for all cells) "
                    "ran out in this cell.\n",
                )
            )
        return result

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """Start a kernel (nbclient's method) and remember how, to start another like it."""
        self._start_arguments = dict(kwargs)
        await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self) -> KernelClient:
        """Connect to the kernel and wait for its answer; if it does not come, start a new
        kernel like the last one and try again, ``kernel_start_attempts`` times in all."""
        attempts = max(1, self.kernel_start_attempts)
        for attempt in range(2, attempts + 1):
            try:
                return await super().async_start_new_kernel_client()
            except RuntimeError as error:  # "Kernel didn't respond ..." / "Kernel died before ..."
                if self._start_arguments is None:  # a kernel we did not start: nothing to repeat
                    raise
                self.log.warning(
                    "The kernel did not start (%s); starting a new one (attempt %d of %d).",
                    error,
                    attempt,
                    attempts,
                )
            # nbclient has shut the silent kernel down and dropped its manager.
            if self.km is None:
                self.km = self.create_kernel_manager()
            await super().async_start_new_kernel(**self._start_arguments)
        return (
            await super().async_start_new_kernel_client()
        )  # the last attempt: its error is raised

    def output(self, outs, msg, display_id, cell_index):  # nbclient's signature
        """Keep at most ``output_limit`` characters of a notebook's output in memory, and at
        most ``output_item_limit`` of any one output: a learner printing, raising or
        displaying without end must not exhaust the grader or its gradebook. Errors are
        always kept (cut short): grading depends on them."""
        kind = msg["msg_type"]
        if kind not in ("stream", "display_data", "execute_result", "update_display_data", "error"):
            return super().output(outs, msg, display_id, cell_index)
        content = msg["content"]
        if kind == "error":  # cut short, but kept: the test must still fail
            cap_output(content, self.output_item_limit, self.output_item_limit, kind=kind)
            return super().output(outs, msg, display_id, cell_index)
        if self._kept > self.output_limit:
            return None
        cap_output(content, self.output_item_limit, self.output_item_limit, kind=kind)
        self._kept += _size(content)
        if self._kept > self.output_limit:
            if not self._truncated:
                self._truncated = True
                outs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stdout",
                        text=f"\n[grader: output beyond {self.output_limit // MiB} MiB was "
                        "dropped]\n",
                    )
                )
            return None
        return super().output(outs, msg, display_id, cell_index)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None):
        """Execute the notebook (nbclient's method); if its time budget ran out, or the
        memory cap ended its kernel, say so in the grader's note at the top (``course grade``
        runs cells itself and writes the same notes from its report: :func:`budget_note`,
        :func:`stopped_note`)."""
        notes: list[str] = []
        try:
            original = copy.deepcopy(nb)
            for run in range(RUNS_AFTER_OUTSIDE_KILL + 1):
                self.died_with = self.died_in = self.memory_cap_hit = None
                try:
                    nb, resources = super().preprocess(nb, resources, km)
                    break
                except DeadKernelError:
                    if self.memory_cap_hit is not None and self.died_in is not None:
                        # The notebook's own doing: cut where it died, graded on the rest.
                        nb, resources = self.nb, self.resources
                        stop_notebook(nb, self.died_in, self.memory_cap_hit)
                        notes.append(stopped_note(nb, self.died_in, self.memory_cap_hit))
                        break
                    # Killed from outside (its warm parent died, the system ended it): not the
                    # notebook's doing, so it runs again instead of failing the submission.
                    if run == RUNS_AFTER_OUTSIDE_KILL or not killed_from_outside(self.died_with):
                        raise
                    self.log.warning(
                        "The kernel was killed from outside the notebook; running it again."
                    )
                    nb = copy.deepcopy(original)
        finally:
            forget_guard(self)
        budget = budget_note(nb, self.notebook_timeout, self.budget_cut, self.budget_skipped)
        notes += [budget] if budget else []
        if notes and nb.cells and is_notes_cell(nb.cells[0]):
            nb.cells[0].source += "".join(f"\n- {note}" for note in notes)
        elif notes:
            nb.cells.insert(0, notes_cell(notes))
        return nb, resources

    # nbclient binds the synchronous versions to its own coroutines; bind them to ours.
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    execute_cell = run_sync(async_execute_cell)


def budget_spent_output(budget: int, cut: int | None) -> NotebookNode:
    """The error output of a cell not run because the notebook's time budget was spent.

    >>> budget_spent_output(600, 4).evalue.split("budget ")[1]
    '(600 s for all cells together) in cell 5.'
    """
    where = f" in cell {cut + 1}" if cut is not None else ""
    message = (
        f"Not run: your notebook's cells used up their time budget ({budget} s for all cells "
        f"together){where}."
    )
    return nbformat.v4.new_output(
        "error", ename=BUDGET_SPENT, evalue=message, traceback=[f"{BUDGET_SPENT}: {message}"]
    )


def _size(content: dict) -> int:
    return len(str(content.get("text", ""))) + sum(
        len(str(v)) for v in content.get("data", {}).values()
    )


def autograde_preprocessors() -> list[type]:
    """nbgrader's own list of autograde preprocessors with the kit's in place and around
    ``Execute`` (see :mod:`course.grading.steps.integrity`): the value for
    ``c.Autograde.autograde_preprocessors``, in ``nbgrader autograde`` and ``course grade``.

    >>> [p.__name__ for p in autograde_preprocessors()][:4]
    ['GuardSubmission', 'RestartingExecute', 'JudgeIntegrity', 'IgnorePattern']
    >>> [p.__name__ for p in autograde_preprocessors()][5:7]
    ['LimitAllOutput', 'IntegritySaveAutoGrades']
    """
    replace = {
        Execute: RestartingExecute,
        LimitOutput: LimitAllOutput,
        SaveAutoGrades: IntegritySaveAutoGrades,
    }
    result: list[type] = []
    for p in Autograde.class_traits()["autograde_preprocessors"].default():
        if p is Execute:
            result += [GuardSubmission, RestartingExecute, JudgeIntegrity]
        else:
            result.append(replace.get(p, p))
    return result
