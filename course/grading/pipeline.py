"""The ``course grade`` pipeline: kernels from a pool, one thread for the gradebook.

Example::

    summary = await grade_jobs(autograder, jobs.todo, settings, workers=2, warm=2)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
from nbformat import NotebookNode

from course.grading.autograder import Autograder
from course.grading.console import printable
from course.grading.pool import KernelPool
from course.grading.records import ExecutionReport, Job, PreparedNotebook, Result, Summary
from course.grading.run_notebook import execute_in_kernel
from course.grading.settings import KernelSettings
from course.grading.steps.integrity import prescan_submission
from course.grading.steps.restarting_execute import RUNS_AFTER_OUTSIDE_KILL
from course.grading.warmup import WarmKernelPlan


class KernelKilled(RuntimeError):
    """Every run of a notebook was ended from outside it (not graded: not its fault)."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(memory_limit: int | None) -> int:
    """One worker per core, but no more than memory allows: every worker also keeps a warm
    kernel, and each kernel may grow to ``memory_limit``."""
    cores = _cores()
    if not memory_limit:
        return cores
    return max(1, min(cores, psutil.virtual_memory().available // (2 * memory_limit)))


# ---------------------------------------------------------------------------- pipeline


async def grade_jobs(
    autograder: Autograder,
    jobs: Sequence[Job],
    settings: KernelSettings,
    workers: int,
    warm: int,
    on_result: Callable[[Result], None] = lambda result: None,
    summary: Summary | None = None,
) -> Summary:
    """Grade ``jobs``: ``workers`` notebooks execute at once in kernels from a
    :class:`~course.grading.pool.KernelPool`; every call into ``autograder`` (the gradebook)
    runs on one dedicated thread, one at a time. ``on_result`` is called as each
    submission finishes."""
    summary = summary or Summary()
    loop = asyncio.get_running_loop()
    gradebook = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebook")

    def in_gradebook_thread(function, *args):
        return loop.run_in_executor(gradebook, function, *args)

    pool = KernelPool(settings, warm)
    expected: dict[Job, dict[str, WarmKernelPlan]] = {}
    for job in jobs:
        expected[job] = {
            nb: await in_gradebook_thread(autograder.warm_plan, job.assignment, nb)
            for nb in job.notebooks
        }
        pool.expect(expected[job].values())
    queue = list(jobs)
    queue.reverse()

    async def grade_one(job: Job) -> Result:
        started = time.perf_counter()
        waiting = dict(expected[job])  # notebooks whose kernel is not taken yet
        try:
            # The integrity scan of the learner's code, on a thread of its own.
            await loop.run_in_executor(None, prescan_submission, autograder, job)
            prepared = await in_gradebook_thread(autograder.prepare, job)
            executed = {}
            waited = ran = 0.0
            for item in prepared.notebooks:
                plan = waiting.pop(item.notebook_id, None)
                if plan is not None and plan != item.plan:
                    pool.forget(plan)  # the notebook asks for another kernel: start that one cold
                nb, report, waited_here, ran_here = await _execute(
                    pool, item, prepared.folder, summary
                )
                waited, ran = waited + waited_here, ran + ran_here
                executed[item.notebook_id] = (nb, report)
            result = await in_gradebook_thread(
                autograder.finish, prepared, executed, settings.memory_limit
            )
            result.waited, result.executed = waited, ran
        except Exception as error:  # noqa: BLE001 - one submission must never stop the others
            await in_gradebook_thread(autograder.discard, job)
            result = Result(job, error=f"{type(error).__name__}: {error}".strip())
        finally:
            for plan in waiting.values():
                pool.forget(plan)
        result.seconds = time.perf_counter() - started
        return result

    async def worker() -> None:
        while queue:
            result = await grade_one(queue.pop())
            summary.results.append(result)
            try:
                on_result(result)
            except Exception as error:  # noqa: BLE001 - a broken terminal must not stop grading
                print(
                    f"course grade: could not report {printable(result.job.label)}: {error}",
                    file=sys.stderr,
                )

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    finally:
        await pool.close()
        gradebook.shutdown(wait=True)
        summary.seconds += time.perf_counter() - started
        summary.kernels_started += pool.started
    return summary


async def _execute(
    pool: KernelPool, item: PreparedNotebook, folder: Path, summary: Summary
) -> tuple[NotebookNode, ExecutionReport, float, float]:
    """Execute one prepared notebook in a kernel from ``pool``, and again in a new kernel when
    something outside the notebook killed it: the notebook, its report, the seconds spent
    waiting for kernels and executing. KernelKilled when every run was killed that way."""
    waited = ran = 0.0
    for _ in range(RUNS_AFTER_OUTSIDE_KILL + 1):
        asked = time.perf_counter()
        kernel = await pool.take(item.plan)
        waited += time.perf_counter() - asked
        if kernel.warmup_failures:
            summary.warmup_failures.setdefault(item.plan.folder, kernel.warmup_failures)
        try:
            kernel.load(folder)
            nb = nbformat.read(item.path, as_version=4)
            report = await execute_in_kernel(kernel, nb, {"metadata": {"path": str(kernel.cwd)}})
        finally:
            await kernel.shutdown()
        ran += report.seconds
        if not report.killed_from_outside:
            return nb, report, waited, ran
    # The learner is not to blame: no grade rather than a wrong one.
    raise KernelKilled(
        f"the kernel of {item.notebook_id} was killed from outside its notebook "
        f"{RUNS_AFTER_OUTSIDE_KILL + 1} times ({report.stop_reason}); run again"
    )


def run_to_completion(coroutine) -> None:
    """``asyncio.run(coroutine)``, also when the calling thread already runs an event loop
    (a notebook, or a test process that drives a browser): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()
