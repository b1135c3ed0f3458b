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
  seconds, more often near the limit); it gets the same error output
  (``Execute.error_on_timeout``) and the same note as a cell over the wall-clock limit, so
  its tests score 0 as before. A cell that ends between two checks having used its limit is
  judged the same way (it is not interrupted: it has ended), so whether a cell is cut does
  not depend on when the grader happened to look;
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
import os
import time
from pathlib import Path
from typing import Any

import psutil
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError
from nbformat import NotebookNode
from traitlets import Enum, Float
from traitlets.config import LoggingConfigurable

#: Clock ticks per second, the unit of the CPU times in ``/proc/PID/stat``.
_TICKS = os.sysconf("SC_CLK_TCK")
#: Whether this Linux lists each thread's children (``/proc/PID/task/TID/children``, since
#: Linux 3.5 with ``CONFIG_PROC_CHILDREN``); without it psutil finds them, by reading the
#: parent of every process on the machine.
_LISTS_CHILDREN = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user and system, all threads) used so far by process ``pid``, its
    living descendants, and the children they have already waited for. 0.0 for a process
    that is gone.

    The limits read it several times per cell, so it reads only the tree's own files: a
    fraction of a millisecond, where asking psutil for the children reads the status of
    every process on the machine (milliseconds, more on a busy grading machine).

    >>> import os
    >>> process_tree_cpu(os.getpid()) > 0
    True
    """
    if not _LISTS_CHILDREN:
        return _process_tree_cpu_psutil(pid)
    ticks, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_bytes()
            threads = os.listdir(f"/proc/{current}/task")
        except OSError:  # gone
            continue
        # Fields 14 to 17 (utime, stime, cutime, cstime), counted after the command name.
        ticks += sum(int(field) for field in stat[stat.rindex(b")") + 2 :].split()[11:15])
        for thread in threads:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{current}/task/{thread}/children").read_bytes()
                stack.extend(int(child) for child in children.split())
    return ticks / _TICKS


def _process_tree_cpu_psutil(pid: int) -> float:
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


async def cpu_exceeded(
    pid: int, start: float, limit: float, done: asyncio.Future, every: float
) -> bool:
    """Wait until ``pid``'s process tree has used ``limit`` CPU seconds since it had used
    ``start`` (True), or until ``done`` is done (False).

    It looks every ``every`` seconds, and more often when the limit is near: the tree cannot
    use more CPU seconds than there are cores in a second, so the next look comes before it
    can pass the limit by more than a few milliseconds.
    """
    cores = os.cpu_count() or 1
    while not done.done():
        left = limit - (process_tree_cpu(pid) - start)
        if left <= 0:
            return True
        await asyncio.wait([done], timeout=min(every, max(left / cores, 0.01)))
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
    #: The kernel's CPU seconds before the cell being run was sent to it.
    _cell_cpu_start: float = 0.0
    #: Whether the limits of the cell being run come from what is left of the budget.
    _budget_binds: bool = False
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
        seconds = None if limit is None else float(limit)
        self._budget_binds = False
        if self._budget_left is not None:
            left = max(self._budget_left, 0.0)
            self._budget_binds = seconds is None or left < seconds
            seconds = left if seconds is None else min(seconds, left)
            limit = max(1, math.ceil(seconds))  # nbclient's limit: whole seconds
        self._cpu_limit = None
        if self.time_limit_clock != "cpu" or not limit or self._kernel_pid() is None:
            return limit
        self._cpu_limit = seconds
        return math.ceil(seconds * self.wall_limit_factor)

    def timed_out(self, cell: NotebookNode) -> bool:
        """Whether ``cell`` was stopped at a time limit (on CPU time or on the clock): it
        has the error output of ``Execute.error_on_timeout``."""
        name = (self.error_on_timeout or {}).get("ename", "CellTimeoutError")  # type: ignore[attr-defined]
        return any(
            out.output_type == "error" and out.get("ename") == name
            for out in cell.get("outputs", [])
        )

    def stopped_by_budget(self, cell: NotebookNode, index: int) -> bool:
        """Whether the cell just run was stopped (on CPU time or on the clock) by a limit
        that came from what was left of the notebook's time budget."""
        return self._budget_binds and (index in self.cpu_cut or self.timed_out(cell))

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(getattr(self, "km", None), "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return pid if isinstance(pid, int) and pid > 0 else None

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, *args, **kwargs):
        """Run a cell (nbclient's method), counting its CPU time from before it is sent."""
        pid = self._kernel_pid()
        self._cell_cpu_start = process_tree_cpu(pid) if pid else 0.0
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)  # type: ignore[misc]

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
        limit; the reply of a cell that used its limit is then ``Execute.error_on_timeout``."""
        poll = super()._async_poll_for_reply  # type: ignore[misc]
        reply = asyncio.ensure_future(
            poll(msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive)
        )
        limit, pid, start = self._cpu_limit, self._kernel_pid(), self._cell_cpu_start
        if limit is None or pid is None:
            return await reply
        try:
            if await cpu_exceeded(pid, start, limit, reply, self.cpu_check_interval):
                return await self._stop_cell(cell, limit, reply)
            answer = await reply
            if process_tree_cpu(pid) - start < limit:
                return answer
            # It ended between two looks, over its limit: judged as if the look had come first.
            self._record_cut(cell, limit, "ended after using")
            return self._timeout_reply(answer)
        except BaseException:
            reply.cancel()
            task_poll_kernel_alive.cancel()
            raise

    async def _stop_cell(
        self, cell: NotebookNode, limit: float, reply: asyncio.Future
    ) -> dict[str, Any]:
        """Interrupt a cell whose CPU time reached ``limit``, as nbclient does one over its
        wall-clock limit."""
        self._record_cut(cell, limit, "used")
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
        return self._timeout_reply(answer)

    def _record_cut(self, cell: NotebookNode, limit: float, what: str) -> None:
        """Note a cell that used its CPU limit; as nbclient does at its wall-clock limit,
        raise ``CellTimeoutError`` when ``interrupt_on_timeout`` is off."""
        cells = self.nb.cells  # type: ignore[attr-defined]
        index = next((i for i, other in enumerate(cells) if other is cell), -1)
        self.log.error("Cell %d %s its %.1f s of CPU time.", index, what, limit)
        self.cpu_cut.append(index)
        if not self.interrupt_on_timeout:  # type: ignore[attr-defined]
            raise CellTimeoutError.error_from_timeout_and_cell(
                "Cell execution used its CPU time", int(limit), cell
            )

    def _timeout_reply(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The reply of a cut cell: ``Execute.error_on_timeout`` (nbgrader's ``Execute``
        adds it to the cell's outputs)."""
        error = self.error_on_timeout  # type: ignore[attr-defined]
        return {**answer, "content": {**error, "status": "error"}} if error else answer
