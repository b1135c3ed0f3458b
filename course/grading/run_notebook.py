"""Run a learner's notebook in a grading kernel, turning a dead or stuck kernel into outputs.

:func:`execute_in_kernel` runs a notebook's cells the way ``ExecutePreprocessor.preprocess``
does and turns a kernel that dies or hangs into error outputs with a plain message, so the
notebook can still be graded.

Example::

    kernel = await pool.take(plan)
    kernel.load(prepared.folder)
    report = await execute_in_kernel(kernel, nb, {"metadata": {"path": str(kernel.cwd)}})
    await kernel.shutdown()
"""

from __future__ import annotations

import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from course.grading.kernel import GradingKernel
from course.grading.notes import stop_notebook
from course.grading.records import ExecutionReport
from course.isolation.kernels import killed_from_outside


async def execute_in_kernel(
    kernel: GradingKernel, nb: NotebookNode, resources: dict
) -> ExecutionReport:
    """Execute every cell of ``nb`` (in place) in ``kernel``, as nbgrader's Execute
    preprocessor would (errors allowed, timeout per cell with an interrupt).

    If the kernel dies (memory watchdog, crash, ``os._exit``) or a timed-out cell cannot be
    interrupted, the kernel is stopped, the cell gets an error output saying why and every
    later code cell an error output saying it was not run, so their tests score 0.
    """
    client = kernel.client
    client.nb = nb
    client.resources = resources
    client.reset_execution_trackers()
    report = ExecutionReport(timeout=client.timeout, budget=client.notebook_timeout or None)
    started = time.perf_counter()
    try:
        info = await client.async_wait_for_reply(client.kc.kernel_info())
        if info is not None:
            nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            try:
                await client.async_execute_cell(cell, index, store_history=True)
            except DeadKernelError:
                reason = kernel.death_reason()
                if reason is None and killed_from_outside(await kernel.exit_code()):
                    report.killed_from_outside = True
                    reason = (
                        "the kernel was killed from outside (its parent process ended, or the "
                        "system ended it), not by the notebook's code"
                    )
                if reason is None:
                    last = kernel.last_words()
                    reason = "the Python kernel stopped (it crashed, or the code ended the process)"
                    reason += f": {last}" if last else ""
                _stop(nb, index, report, reason)
                break
            except CellTimeoutError:
                # nbclient interrupted the cell after the timeout and the kernel did not
                # come back: the code is stuck where an interrupt cannot reach it.
                reason = f"it ran longer than {client.timeout} s and could not be interrupted"
                kernel.stop_reason = reason
                kernel.kill()
                _stop(nb, index, report, reason)
                break
            if index != client.budget_cut and cell.cell_type == "code" and client.timed_out(cell):
                report.timed_out.append(index)
        client.set_widgets_metadata()
    finally:
        report.seconds = time.perf_counter() - started
        report.output_truncated = client._truncated
        report.budget_cut = client.budget_cut
        report.budget_skipped = list(client.budget_skipped)
    return report


def _stop(nb: NotebookNode, index: int, report: ExecutionReport, reason: str) -> None:
    report.stopped_at = index
    report.stop_reason = reason
    stop_notebook(nb, index, reason)
