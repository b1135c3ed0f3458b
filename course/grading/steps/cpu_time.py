"""Per-cell time limits judged on CPU time, so a grade does not depend on how busy the machine is.

nbclient (so nbgrader) stops a cell after ``Execute.timeout`` seconds of *wall-clock* time.
On a busy machine (other work beside the grader, or ``course grade --workers`` above the
core count) the same cell takes longer: a correct notebook whose training cell fits the limit
on an idle machine can exceed it with other work running, be interrupted and lose its
points. The work a cell does is measured better by the CPU time its processes use, which
hardly moves with the load. So, with :class:`CpuTimeLimit` (``time_limit_clock = "cpu"``,
the default):

* a cell is interrupted when the **CPU time** of the kernel and all its child processes
  during that cell reaches ``Execute.timeout`` seconds (checked every ``cpu_check_interval``
  seconds); it gets the same error output (``Execute.error_on_timeout``) and the same note
  as a cell over the wall-clock limit, so its tests score 0 as before;
* a **wall-clock ceiling** stays, ``wall_limit_factor`` times the limit (5 x: 600 s for the
  kit's 120 s), for cells that wait instead of compute (``time.sleep``, a lock, a socket):
  they use no CPU time and are interrupted there, by nbclient's own timeout;
* a cell that does not stop when interrupted (it ignores ``SIGINT``, or is stuck in C code)
  is given ``Execute.iopub_timeout`` seconds, then treated as nbclient treats one over the
  wall-clock limit (``CellTimeoutError``: ``course grade`` stops the kernel and says so).

CPU time counts every thread: a cell computing on 2 cores for 10 s uses 20 s of CPU time,
so a cell that trains with several threads meets its limit sooner, on every machine alike
(the limit a teacher sets means "this much computing", not "this long on my laptop").
``time_limit_clock = "wall"`` restores nbclient's rule.

Why not run a notebook that timed out again, alone? Alone is not possible when the load is
not the grader's (a shared server, other courses), and it costs the slowest notebooks twice.

Example (``nbgrader_config.py``)::

    c.Execute.timeout = 120                      # CPU seconds per cell
    c.RestartingExecute.wall_limit_factor = 5    # wall-clock ceiling: 600 s per cell
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import psutil
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError
from nbformat import NotebookNode
from traitlets import Enum, Float
from traitlets.config import LoggingConfigurable


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user and system, all threads) used so far by process ``pid``, its
    living descendants, and the children they have already waited for. 0.0 for a process
    that is gone.

    >>> import os
    >>> process_tree_cpu(os.getpid()) > 0
    True
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


async def cpu_exceeded(pid: int, limit: float, done: asyncio.Future, every: float) -> bool:
    """Wait until ``pid``'s process tree has used ``limit`` more CPU seconds than now (True),
    or until ``done`` is done (False)."""
    start = process_tree_cpu(pid)
    while not done.done():
        await asyncio.wait([done], timeout=every)
        if not done.done() and process_tree_cpu(pid) - start >= limit:
            return True
    return False


class CpuTimeLimit(LoggingConfigurable):
    """Mixin for nbclient's ``NotebookClient`` (so nbgrader's ``Execute``): the limit per
    cell counts the kernel's CPU time, with a wall-clock ceiling (module doc). Put it
    before the client class: ``class RestartingExecute(CpuTimeLimit, Execute)``."""

    time_limit_clock = Enum(
        ["cpu", "wall"],
        default_value="cpu",
        help="What the time limit per cell (Execute.timeout) counts: 'cpu', the CPU time of the "
        "kernel's processes during the cell (a busy machine does not change it), or 'wall', "
        "the time on the clock (nbclient's rule).",
    ).tag(config=True)
    wall_limit_factor = Float(
        5.0,
        min=1.0,
        help="With time_limit_clock='cpu': a cell is also stopped after this many times the "
        "limit per cell on the clock (a cell that sleeps or waits uses no CPU time).",
    ).tag(config=True)
    cpu_check_interval = Float(
        0.5, help="Seconds between two readings of the kernel's CPU time."
    ).tag(config=True)

    #: The limit per cell in CPU seconds for the cell being run (None: no CPU limit).
    _cpu_limit: float | None = None
    #: What is left of the notebook's time budget while a cell runs, in :meth:`time_spent`'s
    #: seconds (``RestartingExecute`` sets it; None: no budget).
    _budget_left: float | None = None
    #: Where :meth:`time_spent` counts from: (CPU seconds, clock seconds).
    _spent_from: tuple[float, float] | None = None
    #: Cells stopped because their CPU time reached the limit.
    cpu_cut: list[int]

    def reset_execution_trackers(self) -> None:
        """nbclient's per-notebook counters, and the cells cut on CPU time."""
        super().reset_execution_trackers()  # type: ignore[misc]
        self.cpu_cut = []
        self._spent_from = None

    def time_spent(self) -> float:
        """Seconds the notebook's cells have used since the first call (which returns 0),
        on the limits' clock: the CPU time of the kernel's processes, or the clock time
        divided by ``wall_limit_factor`` if that is more (a notebook's time budget runs out
        on either); the clock time with ``time_limit_clock = "wall"``."""
        pid = self._kernel_pid() if self.time_limit_clock == "cpu" else None
        cpu, now = (process_tree_cpu(pid) if pid else 0.0), time.monotonic()
        if self._spent_from is None:
            self._spent_from = (cpu, now)
        cpu_start, clock_start = self._spent_from
        if pid is None:
            return now - clock_start
        return max(cpu - cpu_start, (now - clock_start) / self.wall_limit_factor)

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        """The wall-clock limit nbclient applies: the ceiling when the limit counts CPU
        time (the limit itself, cut to what is left of the notebook's budget, is kept for
        the cell's CPU watch)."""
        limit = super()._get_timeout(cell)  # type: ignore[misc]
        if self._budget_left is not None:
            left = max(1, math.ceil(self._budget_left))
            limit = left if limit is None else min(limit, left)
        self._cpu_limit = None
        if self.time_limit_clock != "cpu" or not limit or self._kernel_pid() is None:
            return limit
        self._cpu_limit = float(limit)
        return math.ceil(limit * self.wall_limit_factor)

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(getattr(self, "km", None), "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return pid if isinstance(pid, int) and pid > 0 else None

    async def _async_poll_for_reply(
        self,
        msg_id: str,
        cell: NotebookNode,
        timeout: int | None,
        task_poll_output_msg: asyncio.Future,
        task_poll_kernel_alive: asyncio.Future,
    ) -> dict[str, Any]:
        """nbclient's wait for the cell's reply (with its wall-clock limit, the ceiling),
        and beside it a watch on the kernel's CPU time that interrupts the cell at the
        limit; the reply of an interrupted cell is then ``Execute.error_on_timeout``."""
        poll = super()._async_poll_for_reply  # type: ignore[misc]
        reply = asyncio.ensure_future(
            poll(msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive)
        )
        limit, pid = self._cpu_limit, self._kernel_pid()
        if limit is None or pid is None:
            return await reply
        try:
            if not await cpu_exceeded(pid, limit, reply, self.cpu_check_interval):
                return await reply
            return await self._stop_cell(cell, limit, reply)
        except BaseException:
            reply.cancel()
            task_poll_kernel_alive.cancel()
            raise

    async def _stop_cell(
        self, cell: NotebookNode, limit: float, reply: asyncio.Future
    ) -> dict[str, Any]:
        """Interrupt a cell whose CPU time reached ``limit``, as nbclient does one over its
        wall-clock limit."""
        cells = self.nb.cells  # type: ignore[attr-defined]
        index = next((i for i, other in enumerate(cells) if other is cell), -1)
        self.log.error("Cell %d used %.0f s of CPU time; interrupting the kernel.", index, limit)
        self.cpu_cut.append(index)
        if not self.interrupt_on_timeout:  # type: ignore[attr-defined]
            raise CellTimeoutError.error_from_timeout_and_cell(
                "Cell execution used its CPU time", int(limit), cell
            )
        await ensure_async(self.km.interrupt_kernel())  # type: ignore[attr-defined]
        try:
            answer = await asyncio.wait_for(
                asyncio.shield(reply),
                self.iopub_timeout,  # type: ignore[attr-defined]
            )
        except TimeoutError:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "Cell did not stop when interrupted", int(limit), cell
            ) from None
        error = self.error_on_timeout  # type: ignore[attr-defined]
        if answer.get("content", {}).get("status") == "error" and error:
            answer = {**answer, "content": {**error, "status": "error"}}
        return answer
