"""Grading kernels for ``course grade``: started ahead of time, boxed, limited, watched.

A :class:`GradingKernel` is one Jupyter kernel that executes one learner's notebook and is then
thrown away (no state leaks from one learner to the next). It is started by a subclass of
nbgrader's own ``Execute`` preprocessor (so the course's ``Execute.*`` settings apply: timeout,
kernel name, extra arguments, ...; a kernel that does not answer at start is replaced,
:mod:`course.grading.steps.restarting_execute`). Like a kernel of ``nbgrader autograde`` with
the kit's config, it runs in a box of its own (:mod:`course.isolation`: it sees the system,
Python, the packages the notebooks import and its scratch folder; memory and processes capped;
the Landlock fallback where the system allows no box). It differs in four ways:

* **Warm.** Right after it starts, a silent warm-up (no execution count, no names in the
  notebook's namespace) replays the literal ``os.environ[...] = "..."`` assignments of the
  assignment's setup cells and imports the modules they import (TensorFlow takes seconds).
  :class:`KernelPool` does this for the *next* notebooks while the current ones execute,
  so the import overlaps with other work (:mod:`course.grading.pool`).
* **Contained.** Its working directory is a scratch folder outside the course (``work/``
  of it, which the box holds as its own copy; :meth:`GradingKernel.load` copies what
  nbgrader puts next to the notebook into the box), ``HOME`` is in it, its connection file
  next to it; the folder is deleted afterwards. It gets only the allow-listed part of the
  grader's environment (:data:`PASSED_ENV`). Every process it starts is killed with it (its
  PID namespace; :mod:`course.isolation.contain`: a cgroup, or its process family).
  Relative paths (``../../solutions``) lead nowhere and stray files never reach
  ``autograded/``.
* **Limited.** The launcher sets ``RLIMIT_DATA`` (heap and anonymous memory of each
  process, beyond what a forked kernel inherited) and ``RLIMIT_FSIZE`` (largest file) to the
  memory limit, so an allocation beyond it raises ``MemoryError`` in the cell and the
  kernel lives on. (``RLIMIT_AS`` cannot be used: TensorFlow reserves over 2 GiB of address
  space at import.) Where cgroups can be had, a memory cgroup also counts shared memory and
  in-memory files; a kernel it ends gets that reason in the note (:meth:`death_reason`).
* **Watched.** A watchdog sums the resident memory of the kernel and all its child
  processes every 0.2 s and kills them when it exceeds 1.25 x the limit (memory that
  ``RLIMIT_DATA`` does not count where there is no cgroup). The grader keeps at most
  ``GradingExecute.output_limit`` (32 MiB) of a notebook's output in memory.

Example::

    kernel = await GradingKernel.start(plan, KernelSettings(config=config))
    kernel.load(prepared_folder)             # what nbgrader puts next to the notebook
    ...                                      # course.grading.run_notebook.execute_in_kernel
    await kernel.shutdown()
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async

from course.forking.protocol import ENABLE_VAR
from course.grading.notes import memory_cap_reason
from course.grading.settings import (
    KERNEL_ENV,
    SCRATCH_PREFIX,
    KernelSettings,
    format_bytes,
    passed_environment,
)
from course.grading.steps.restarting_execute import RestartingExecute
from course.grading.warmup import WarmKernelPlan, warmup_code
from course.isolation.contain import Containment
from course.isolation.kernels import IsolatedKernel, KernelRoom, box_available, isolate_kernel
from course.isolation.landlock import Rules


class KernelStartError(RuntimeError):
    """A grading kernel could not be started or warmed up (a problem of the grader, not of
    the learner's notebook)."""


class IsolatedKernelManager(AsyncKernelManager):
    """Starts its kernel isolated as ``room`` says (:func:`course.isolation.kernels.
    isolate_kernel`: a box, or the Landlock fallback; None: as usual), through ``python -m
    course.isolation.launch``. The kernel may bind only its own ZMQ ports. The connection
    file (the kernel's ports and key) goes into its scratch folder, which no other kernel
    can see; in a box it is the only file of that folder the kernel sees."""

    room: KernelRoom | None = None
    isolated: IsolatedKernel | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self.room is None:
            return command
        if self.isolated is not None:  # a second start (restart): new cgroups
            self.isolated.cleanup()
        room = dataclasses.replace(
            self.room, read_only=(*self.room.read_only, Path(self.connection_file))
        )
        self.isolated = isolate_kernel(
            command, room, bind_ports=[p for p in self.ports if p], label=SCRATCH_PREFIX + "k"
        )
        return self.isolated.command


class GradingExecute(RestartingExecute):
    """nbgrader's ``Execute`` preprocessor (one that replaces a kernel which does not start,
    :mod:`course.grading.steps.restarting_execute`) that starts its kernels isolated as ``room``
    says. Output is capped by ``RestartingExecute.output`` (a learner printing in an endless
    loop must not exhaust the grader)."""

    room: KernelRoom | None = None
    connection_folder: Path | None = None

    def create_kernel_manager(self) -> AsyncKernelManager:
        """A kernel manager for the next kernel, isolated as the run asks (also for a
        kernel started again because the first did not answer)."""
        self.kernel_manager_class = IsolatedKernelManager
        km = super().create_kernel_manager()
        km.room = self.room
        if self.connection_folder is not None:
            km.connection_file = str(
                self.connection_folder / f"kernel-{uuid.uuid4().hex[:12]}.json"
            )
        return km


# ---------------------------------------------------------------------------- kernels


def _processes(pids: Iterable[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def _resident(processes: list[psutil.Process], unique: bool = False) -> int:
    """Resident memory of ``processes``; ``unique``: only what each does not share (USS:
    a kernel forked from the warm parent shares the parent's imports)."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if unique:
                total += process.memory_full_info().uss
            else:
                total += process.memory_info().rss
    return total


def _resident_above(processes: list[psutil.Process], limit: int) -> int | None:
    """The unique memory of ``processes`` if it is above ``limit``, else None.

    A process's unique memory (USS) is part of its resident memory (RSS), so while the
    resident memories add up to at most ``limit`` (``/proc/PID/statm``, cheap), so does the
    exact total. Only above it is the USS read (``/proc/PID/smaps_rollup``, which walks the
    whole address space: for a forked kernel with TensorFlow's, about as costly as the
    kernel's own work when read five times a second)."""
    used = _resident(processes)
    if used > limit:
        used = _resident(processes, unique=True)
    return used if used > limit else None


class GradingKernel:
    """One started (and warmed up) kernel in its scratch folder. Use :meth:`start`."""

    def __init__(self, plan: WarmKernelPlan, settings: KernelSettings) -> None:
        self.plan = plan
        self.settings = settings
        self.scratch = Path(
            tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=settings.scratch_root)
        )
        #: What the kernel may write: in a box, a copy of this folder in the box's tmpfs.
        self.work = self.scratch / "work"
        self.cwd = self.work / plan.folder
        self.stderr_path = self.scratch / "kernel-output.txt"
        self.client = GradingExecute(config=settings.config)
        #: The kernel's processes: a cgroup, or its process family (course.isolation.contain).
        self.containment = Containment.create(
            SCRATCH_PREFIX + "kernel", use_cgroup=settings.use_cgroup
        )
        self.pid: int | None = None
        #: Why the grader stopped this kernel (set by the watchdog or the executor).
        self.stop_reason: str | None = None
        #: Preload modules that failed to import during the warm-up.
        self.warmup_failures: list[str] = []
        self._watchdog: asyncio.Task | None = None

    # -- life cycle

    @classmethod
    async def start(cls, plan: WarmKernelPlan, settings: KernelSettings) -> GradingKernel:
        """Start a kernel for ``plan``, warm it up and start its watchdog.

        Raises KernelStartError (the scratch folder and the kernel are cleaned up)."""
        kernel = cls(plan, settings)
        try:
            await kernel._start()
        except BaseException as error:
            await kernel.shutdown()
            if isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
                raise
            raise KernelStartError(
                f"could not start a {plan.kernel_name!r} grading kernel: {error}"
            ) from error
        return kernel

    def environment(self) -> dict[str, str]:
        """The kernel's environment: the allow-listed part of the grader's
        (:func:`passed_environment`), with HOME and TMPDIR in the scratch folder."""
        home, tmp = self.work / "home", self.work / "tmp"
        home.mkdir()
        tmp.mkdir()
        if self.boxed:
            tmp = Path("/tmp")  # the box's own
        env = passed_environment()
        env.update(KERNEL_ENV)
        env.update(self.containment.environment())
        env.update(self.settings.shared_env)
        env.update(HOME=str(home), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
        if not self.plan.preload and not self.plan.env:
            # A fresh kernel (the notebook sets variables before its imports): started the
            # usual way, not forked from a parent that has imported everything already.
            env[ENABLE_VAR] = "0"
        return env

    def sandbox_rules(self) -> Rules | None:
        """The Landlock fallback's rules for this kernel (where there is no box): it may
        write (and read) its own scratch folder; the other kernels' scratch folders that
        exist now are hidden (a hide-list: those started later are not)."""
        if self.settings.sandbox is None:
            return None
        base = self.settings.sandbox
        others = sorted(self.scratch.parent.glob(f"{SCRATCH_PREFIX}*"))
        return dataclasses.replace(
            base, hide=(*base.hide, *others), writable=(*base.writable, self.scratch)
        )

    def room(self) -> KernelRoom:
        """What this kernel may use (:mod:`course.isolation.kernels`)."""
        return KernelRoom(
            scratch=(self.work,),
            read_only=self.settings.read_only,
            memory=self.settings.memory_limit,
            processes=self.settings.processes,
            fallback=self.sandbox_rules(),
            cgroups=(self.containment.cgroup,) if self.containment.cgroup else (),
            subreaper=True,
        )

    @property
    def boxed(self) -> bool:
        """Whether this kernel runs in a box (else the fallback, or not isolated)."""
        return self.settings.isolate and box_available()

    async def _start(self) -> None:
        self.cwd.mkdir(parents=True)
        client = self.client
        client.kernel_name = self.plan.kernel_name
        client.resources = {"metadata": {"path": str(self.cwd)}}
        client.room = self.room() if self.settings.isolate else None
        client.connection_folder = self.scratch
        client.create_kernel_manager()
        # The kernel process's own output (log lines, crash messages) goes to a file, not to
        # the teacher's terminal; what the notebook prints still reaches its outputs. The
        # file stays open while the client waits: a kernel that does not answer is replaced
        # by a new one started the same way.
        with open(self.stderr_path, "wb") as log:
            await client.async_start_new_kernel(env=self.environment(), stdout=log, stderr=log)
            await client.async_start_new_kernel_client()
        self.pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if self.settings.watchdog_limit and self.pid:
            self._watchdog = asyncio.ensure_future(self._watch())
        await self._warm_up()

    async def _warm_up(self) -> None:
        kc = self.client.kc
        msg_id = kc.execute(
            warmup_code(self.plan),
            silent=True,
            store_history=False,
            user_expressions={
                "warmup": "__import__('sys').__dict__.pop('_course_grade_warmup', None)"
            },
        )
        limit = self.client.startup_timeout + 60 * (1 + len(self.plan.preload))
        try:
            reply = await asyncio.wait_for(self._reply(msg_id), timeout=limit)
        except TimeoutError:
            raise KernelStartError(
                f"the warm-up (importing {', '.join(self.plan.preload) or 'nothing'}) took longer "
                f"than {limit} s"
            ) from None
        content = reply["content"]
        if content["status"] != "ok":
            raise KernelStartError(
                f"warm-up failed: {content.get('ename')}: {content.get('evalue')}"
            )
        result = content["user_expressions"]["warmup"]
        if result.get("status") != "ok":
            raise KernelStartError(f"warm-up result unreadable: {result}")
        value = ast.literal_eval(result["data"]["text/plain"])
        self.pid = self.pid or value["pid"]
        self.warmup_failures = value["failed"]
        if self._watchdog is None and self.settings.watchdog_limit:
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _reply(self, msg_id: str) -> dict:
        kc = self.client.kc
        while True:
            try:
                msg = await kc.get_shell_msg(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty: nothing yet; is the kernel alive?
                if not await ensure_async(kc.is_alive()):
                    if self.stop_reason:  # the watchdog: the imports alone need more memory
                        raise KernelStartError(
                            f"the kernel died during the warm-up: {self.stop_reason}; the memory "
                            "limit is too small for the assignment's imports"
                        ) from None
                    raise KernelStartError(
                        f"the kernel died during the warm-up: {self.last_words() or 'no message'}"
                    ) from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    async def _watch(self, every: float = 0.2) -> None:
        """Kill the kernel's process tree when its resident memory passes the limit."""
        limit = self.settings.watchdog_limit
        while True:
            await asyncio.sleep(every)
            processes = _processes(self.containment.pids(self.pid))
            if not processes:
                return
            used = _resident_above(processes, limit)
            if used is not None:
                self.stop_reason = (
                    f"it used more than {format_bytes(self.settings.memory_limit)} of memory "
                    f"({format_bytes(used)} resident)"
                )
                self.kill()
                return

    async def shutdown(self) -> None:
        """Kill the kernel and its child processes, delete the scratch folder. Idempotent."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.kill()
        client = self.client
        if client.kc is not None:
            with contextlib.suppress(Exception):
                client.kc.stop_channels()
            client.kc = None
        if client.km is not None:
            with contextlib.suppress(Exception):
                if client.km.has_kernel:
                    await client.km.shutdown_kernel(now=True)
                else:
                    await ensure_async(client.km.cleanup_resources())
            client.km = None
        shutil.rmtree(self.scratch, ignore_errors=True)
        isolated = self.isolated()
        if isolated is not None:
            isolated.cleanup()

    def kill(self) -> None:
        """SIGKILL the kernel and every process it started (its box, cgroup or process
        family)."""
        self.containment.kill(self.pid)

    async def exit_code(self) -> int | None:
        """The kernel's exit code once it ended (negative: the signal that killed it)."""
        km = self.client.km
        if km is None or km.provisioner is None:
            return None
        with contextlib.suppress(Exception):
            return await km.provisioner.poll()
        return None

    def isolated(self) -> IsolatedKernel | None:
        km = self.client.km
        return km.isolated if isinstance(km, IsolatedKernelManager) else None

    def death_reason(self) -> str | None:
        """Why the kernel died, when the grader knows it was the notebook's doing: the
        watchdog or a timeout stopped it, or the memory cap (a cgroup's) ended it."""
        if self.stop_reason:
            return self.stop_reason
        isolated = self.isolated()
        if isolated is not None and isolated.oom_killed():
            return memory_cap_reason(self.settings.memory_limit)
        return None

    # -- use

    def load(self, folder: Path) -> None:
        """Copy the files of an assignment folder (as nbgrader prepared it) into the cwd
        (in a box: into the box, through ``/proc/PID/root``, the box's root as this
        process sees it)."""
        target = self.cwd
        if self.boxed and self.pid:
            target = Path(f"/proc/{self.pid}/root") / self.cwd.relative_to("/")
        shutil.copytree(folder, target, dirs_exist_ok=True)

    def last_words(self) -> str:
        """The last line the kernel process wrote to its stdout/stderr (often why it crashed)."""
        try:
            lines = [
                line.strip()
                for line in self.stderr_path.read_text(errors="replace").splitlines()
                if line.strip()
            ]
        except OSError:
            return ""
        lines = [line for line in lines if "without encryption" not in line]
        return lines[-1][:300] if lines else ""


def prepare_matplotlib(folder: Path) -> None:
    """Build matplotlib's font cache in ``folder`` (the kernels' ``MPLCONFIGDIR``) once, so
    that no kernel builds it (slow, and noisy when it takes long) or has to write it: the
    sandbox lets kernels read the folder but not write it. Nothing to do without matplotlib."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("matplotlib") is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLCONFIGDIR": str(folder), "MPLBACKEND": "agg"}
    subprocess.run(
        [sys.executable, "-c", "import matplotlib.font_manager"],
        env=env,
        capture_output=True,
        check=False,
    )


def remove_stale_scratch(scratch_root: Path | None = None) -> int:
    """Delete scratch folders left by graders that no longer run (killed); returns how many.

    A killed grader's kernels exit by themselves (ipykernel watches its parent process),
    but their scratch folders stay behind.
    """
    removed = 0
    for folder in Path(scratch_root or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
