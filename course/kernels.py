"""Grading kernels for ``course grade``: started ahead of time, contained, limited, watched.

A :class:`GradingKernel` is one Jupyter kernel that executes one learner's notebook and is
then thrown away (no state leaks from one learner to the next). It is started by a subclass
of nbgrader's own ``Execute`` preprocessor (so the course's ``Execute.*`` settings apply:
timeout, kernel name, extra arguments, ...; a kernel that does not answer at start is
replaced, :mod:`course.execute`) and differs from a kernel started by ``nbgrader
autograde`` in four ways:

* **Warm.** Right after it starts, a silent warm-up (no execution count, no names in the
  notebook's namespace) sets the resource limits, replays the literal ``os.environ[...] =
  "..."`` assignments of the assignment's setup cells and imports the modules they import
  (TensorFlow: about 4 s). :class:`KernelPool` does this for the *next* notebooks while the
  current ones execute, so the import overlaps with other work.
* **Contained.** Its working directory is a scratch folder outside the course (a copy of
  what nbgrader puts next to the notebook), ``HOME`` and ``TMPDIR`` point into that scratch
  folder, which is deleted afterwards; so does its connection file. It gets only the
  allow-listed part of the grader's environment (:data:`PASSED_ENV`). Every process it
  starts is killed with it (:mod:`course.contain`: a cgroup, or its process family). Relative paths (``../../solutions``) lead nowhere and
  stray files never reach ``autograded/``. Where Linux offers Landlock, the kernel is also
  *sandboxed* (:mod:`course.sandbox`, ``KernelSettings.sandbox``): absolute paths into the
  course (solutions, gradebook, other learners' work) and into other kernels' scratch
  folders cannot be read, nothing outside its own scratch folder can be written, no TCP
  connection opened, and the grader cannot be signalled.
* **Limited.** ``RLIMIT_DATA`` (heap and anonymous memory of each process) and
  ``RLIMIT_FSIZE`` (largest file it may write) are set to the memory limit, so an
  allocation beyond it raises ``MemoryError`` in the cell and the kernel lives on.
  (``RLIMIT_AS`` cannot be used: TensorFlow reserves over 2 GiB of address space at import.)
* **Watched.** A watchdog sums the resident memory of the kernel and all its child
  processes every 0.2 s and kills them when it exceeds 1.25 x the limit (memory that
  ``RLIMIT_DATA`` does not count: shared memory, many child processes). The grader keeps
  at most ``GradingExecute.output_limit`` (32 MiB) of a notebook's output in memory.

:func:`execute_notebook` runs a notebook's cells the way ``ExecutePreprocessor.preprocess``
does and turns a kernel that dies or hangs into error outputs with a plain message, so the
notebook can still be graded.

Example::

    pool = KernelPool(KernelSettings(config=config, memory_limit=2 * GiB), warm=2)
    pool.expect([spec] * 30)                 # 30 notebooks will need this kind of kernel
    kernel = await pool.take(spec)           # warm when it was started in time
    report = await execute_notebook(kernel, nb, resources)
    await kernel.shutdown()
    await pool.close()
"""

from __future__ import annotations

import ast
import asyncio
import collections
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from traitlets.config import Config

from course.contain import Containment
from course.execute import RestartingExecute
from course.forking.protocol import ENABLE_VAR
from course.sandbox import Rules
from course.warmup import KernelSpec, warm_kernel_fits, warmup_code, warmup_plan  # noqa: F401 (re-exported)

GiB = 2**30
MiB = 2**20

#: The grader's environment variables a grading kernel gets (names, or prefixes ending
#: in ``*``); nothing else is passed on, so tokens such as ``JUPYTERHUB_API_TOKEN`` stay out.
PASSED_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONWARNINGS",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "KERAS_BACKEND",
    "KERAS_HOME",
    "TF_*",
    "CUDA_VISIBLE_DEVICES",
    "XLA_FLAGS",
    "JAX_*",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MPLBACKEND",
    "JUPYTER_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "IPYTHONDIR",
    "LD_LIBRARY_PATH",
    "NBGRADER_*",
)


def passed_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of ``environ`` (default: the grader's) listed in :data:`PASSED_ENV`.

    >>> passed_environment({"PATH": "/bin", "LC_ALL": "C", "JUPYTERHUB_API_TOKEN": "secret"})
    {'PATH': '/bin', 'LC_ALL': 'C'}
    """
    environ = os.environ if environ is None else environ
    names = {n for n in PASSED_ENV if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in PASSED_ENV if n.endswith("*"))
    return {k: v for k, v in environ.items() if k in names or k.startswith(prefixes)}


#: Environment of every grading kernel, on top of the passed part of the grader's.
KERNEL_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    # nbgrader sets this while it autogrades; notebooks and helpers may look at it.
    "NBGRADER_EXECUTION": "autograde",
}
#: Error name of the outputs the grader adds to cells (kernel stopped / cell not run).
STOPPED = "GradingStopped"
NOT_RUN = "NotRun"
#: Scratch folders are named course-grade-<grader pid>-<random>.
SCRATCH_PREFIX = "course-grade-"


class KernelStartError(RuntimeError):
    """A grading kernel could not be started or warmed up (a problem of the grader, not of
    the learner's notebook)."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class KernelSettings:
    """How every grading kernel of a run is started.

    ``config`` is the course's nbgrader config (``Execute.*`` traits apply).
    ``memory_limit`` in bytes (None: no limit, no watchdog). ``scratch_root``: where the
    scratch folders go (default: the system's temporary folder). ``sandbox``: what to hide
    from every kernel (:func:`course.sandbox.course_rules`; None: no sandbox); each kernel
    may also write its own scratch folder and cannot read the others'. ``use_cgroup``: put
    each kernel in a cgroup of its own where possible (:mod:`course.contain`).
    """

    config: Config
    memory_limit: int | None = 2 * GiB
    scratch_root: Path | None = None
    shared_env: dict[str, str] = field(default_factory=dict)
    sandbox: Rules | None = None
    use_cgroup: bool = True

    @property
    def watchdog_limit(self) -> int | None:
        """Resident memory of a kernel's process tree at which the watchdog kills it."""
        return None if not self.memory_limit else self.memory_limit * 5 // 4


class SandboxedKernelManager(AsyncKernelManager):
    """Starts its kernel through ``python -m course.sandbox``, which puts it in its
    containment (``contain_arguments``: a cgroup, a subreaper) and applies the Landlock
    ``rules`` (None: none), then becomes the kernel (same process). With
    ``rules.deny_network`` the kernel may bind only its own ZMQ ports. The connection file
    (the kernel's ports and key) goes into ``connection_folder``, the kernel's scratch
    folder, which no other kernel can read."""

    contain_arguments: tuple[str, ...] = ()
    rules: Rules | None = None
    connection_folder: Path | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self.rules is None:
            sandbox = ["--no-landlock"]
        else:
            rules = self.rules
            if rules.deny_network:
                rules = dataclasses.replace(rules, bind_ports=tuple(p for p in self.ports if p))
            sandbox = rules.arguments()
        return [
            sys.executable,
            "-m",
            "course.sandbox",
            *self.contain_arguments,
            *sandbox,
            "--",
            *command,
        ]


class GradingExecute(RestartingExecute):
    """nbgrader's ``Execute`` preprocessor (one that replaces a kernel which does not start,
    :mod:`course.execute`) that starts its kernels contained (:mod:`course.contain`) and,
    when ``rules`` are given, sandboxed. Output is capped by ``RestartingExecute.output`` (a
    learner printing in an endless loop must not exhaust the grader)."""

    #: Landlock rules for every kernel (None: no sandbox); containment options.
    rules: Rules | None = None
    contain_arguments: tuple[str, ...] = ()
    connection_folder: Path | None = None

    def create_kernel_manager(self) -> AsyncKernelManager:
        """A kernel manager for the next kernel, contained and sandboxed as the run asks
        (also for a kernel started again because the first did not answer)."""
        self.kernel_manager_class = SandboxedKernelManager
        km = super().create_kernel_manager()
        km.rules = self.rules
        km.contain_arguments = self.contain_arguments
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


def _resident(processes: list[psutil.Process], forked: int | None = None) -> int:
    """Resident memory of ``processes``; for ``forked``, a kernel forked from the warm
    parent (course.forking), only the memory it does not share with the parent (USS)."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.pid == forked:
                total += process.memory_full_info().uss
            else:
                total += process.memory_info().rss
    return total


class GradingKernel:
    """One started (and warmed up) kernel in its scratch folder. Use :meth:`start`."""

    def __init__(self, spec: KernelSpec, settings: KernelSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.scratch = Path(
            tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=settings.scratch_root)
        )
        self.cwd = self.scratch / spec.folder
        self.stderr_path = self.scratch / "kernel-output.txt"
        self.client = GradingExecute(config=settings.config)
        #: The kernel's processes: a cgroup, or its process family (course.contain).
        self.containment = Containment.create(
            SCRATCH_PREFIX + "kernel", use_cgroup=settings.use_cgroup
        )
        self.pid: int | None = None
        #: Why the grader stopped this kernel (set by the watchdog or the executor).
        self.stop_reason: str | None = None
        #: Preload modules that failed to import during the warm-up.
        self.warmup_failures: list[str] = []
        self.started_at = time.perf_counter()
        self.ready_at: float | None = None
        self._watchdog: asyncio.Task | None = None

    # -- life cycle

    @classmethod
    async def start(cls, spec: KernelSpec, settings: KernelSettings) -> GradingKernel:
        """Start a kernel for ``spec``, warm it up and start its watchdog.

        Raises KernelStartError (the scratch folder and the kernel are cleaned up)."""
        kernel = cls(spec, settings)
        try:
            await kernel._start()
        except BaseException as error:
            await kernel.shutdown()
            if isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
                raise
            raise KernelStartError(
                f"could not start a {spec.kernel_name!r} grading kernel: {error}"
            ) from error
        return kernel

    def environment(self) -> dict[str, str]:
        """The kernel's environment: the allow-listed part of the grader's
        (:func:`passed_environment`), with HOME and TMPDIR in the scratch folder."""
        home, tmp = self.scratch / "home", self.scratch / "tmp"
        home.mkdir()
        tmp.mkdir()
        env = passed_environment()
        env.update(KERNEL_ENV)
        env.update(self.containment.environment())
        env.update(self.settings.shared_env)
        env.update(HOME=str(home), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
        if not self.spec.preload and not self.spec.env:
            # A fresh kernel (the notebook sets variables before its imports): started the
            # usual way, not forked from a parent that has imported everything already.
            env[ENABLE_VAR] = "0"
        return env

    def sandbox_rules(self) -> Rules:
        """The run's sandbox rules for this kernel: it may write (and read) its own scratch
        folder; the other kernels' scratch folders are hidden, also those started later."""
        base = self.settings.sandbox or Rules()
        others = sorted(self.scratch.parent.glob(f"{SCRATCH_PREFIX}*"))
        return dataclasses.replace(
            base, hide=(*base.hide, *others), writable=(*base.writable, self.scratch)
        )

    async def _start(self) -> None:
        self.cwd.mkdir(parents=True)
        client = self.client
        client.kernel_name = self.spec.kernel_name
        client.resources = {"metadata": {"path": str(self.cwd)}}
        if self.settings.sandbox is not None:
            client.rules = self.sandbox_rules()
        client.contain_arguments = tuple(self.containment.arguments())
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
        self.ready_at = time.perf_counter()

    async def _warm_up(self) -> None:
        kc = self.client.kc
        msg_id = kc.execute(
            warmup_code(self.spec, self.settings.memory_limit),
            silent=True,
            store_history=False,
            user_expressions={
                "warmup": "__import__('sys').__dict__.pop('_course_grade_warmup', None)"
            },
        )
        limit = self.client.startup_timeout + 60 * (1 + len(self.spec.preload))
        try:
            reply = await asyncio.wait_for(self._reply(msg_id), timeout=limit)
        except TimeoutError:
            raise KernelStartError(
                f"the warm-up (importing {', '.join(self.spec.preload) or 'nothing'}) "
                f"took longer than {limit} s"
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
            except Exception:  # queue.Empty: nothing yet; check that the kernel is alive
                if not await ensure_async(kc.is_alive()):
                    if self.stop_reason:  # the watchdog: the imports alone need more memory
                        raise KernelStartError(
                            f"the kernel died during the warm-up: {self.stop_reason}; the memory limit is "
                            "too small for the assignment's imports"
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
            forked = getattr(getattr(self.client.km, "provisioner", None), "forked", None)
            used = _resident(processes, self.pid if forked is not None else None)
            if used > limit:
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

    def kill(self) -> None:
        """SIGKILL the kernel and every process it started (its cgroup or process family)."""
        self.containment.kill(self.pid)

    # -- use

    def load(self, folder: Path) -> None:
        """Copy the files of an assignment folder (as nbgrader prepared it) into the cwd."""
        shutil.copytree(folder, self.cwd, dirs_exist_ok=True)

    def last_words(self) -> str:
        """The last line the kernel process wrote to its own stdout/stderr (often why it crashed)."""
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

    @property
    def warm_seconds(self) -> float:
        """How long the start and warm-up took."""
        return (self.ready_at or time.perf_counter()) - self.started_at


def prepare_matplotlib(folder: Path) -> None:
    """Build matplotlib's font cache in ``folder`` (the kernels' ``MPLCONFIGDIR``) once, so
    that no kernel builds it (slow, and noisy when it takes long) or has to write it: the
    sandbox lets kernels read the folder but not write it. Nothing to do without matplotlib."""
    import importlib.util  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

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


def format_bytes(n: int | None) -> str:
    """1.5 GiB, 300 MiB.

    >>> format_bytes(3 * 2**29), format_bytes(300 * 2**20)
    ('1.5 GiB', '300 MiB')
    """
    if n is None:
        return "unlimited"
    if n >= GiB:
        return f"{n / GiB:.3g} GiB"
    return f"{n / MiB:.3g} MiB"


def parse_bytes(text: str) -> int | None:
    """``2G``, ``512M``, ``1.5GiB``, ``0``/``none`` (no limit) -> bytes.

    >>> parse_bytes("2G"), parse_bytes("512MiB"), parse_bytes("none")
    (2147483648, 536870912, None)
    """
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    if value in ("", "0", "none", "off", "unlimited"):
        return None
    units = {"k": 2**10, "m": MiB, "g": GiB, "t": 2**40}
    scale = units.get(value[-1], 1)
    number = value[:-1] if value[-1] in units else value
    try:
        result = int(float(number) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 2G or 512M)") from None
    if result <= 0:
        raise ValueError(f"not a size: {text!r}")
    return result


# ------------------------------------------------------------------------------- pool


class KernelPool:
    """Keeps kernels started ahead of demand, so warm-up overlaps with grading.

    Callers announce the notebooks to come with :meth:`expect` (in grading order), then
    :meth:`take` one kernel per notebook (or :meth:`forget` a notebook that will not run).
    The pool keeps ``warm`` kernels starting or ready for the next expected notebooks and
    never more than the remaining demand; ``warm=0`` starts each kernel on demand (cold).
    """

    def __init__(self, settings: KernelSettings, warm: int) -> None:
        self.settings = settings
        self.warm = max(0, warm)
        self._demand: list[KernelSpec] = []
        self._spares: dict[KernelSpec, collections.deque[asyncio.Future]] = collections.defaultdict(
            collections.deque
        )
        self.started = 0

    def expect(self, specs: Iterable[KernelSpec]) -> None:
        """Announce notebooks that will need a kernel, in the order they will be taken."""
        self._demand.extend(specs)
        self._refill()

    def forget(self, spec: KernelSpec) -> None:
        """One expected notebook will not run after all."""
        with contextlib.suppress(ValueError):
            self._demand.remove(spec)
        self._refill()

    async def take(self, spec: KernelSpec) -> GradingKernel:
        """A started, warmed-up kernel for ``spec`` (raises KernelStartError)."""
        with contextlib.suppress(ValueError):
            self._demand.remove(spec)
        spares = self._spares.get(spec)
        future = spares.popleft() if spares else self._start(spec)
        self._refill()
        return await future

    def _start(self, spec: KernelSpec) -> asyncio.Future:
        self.started += 1
        return asyncio.ensure_future(GradingKernel.start(spec, self.settings))

    def _refill(self) -> None:
        wanted = collections.Counter(self._demand[: self.warm])
        for spec, count in wanted.items():
            while len(self._spares[spec]) < count:
                self._spares[spec].append(self._start(spec))
        remaining = collections.Counter(self._demand)
        for spec, spares in self._spares.items():
            while len(spares) > remaining[spec]:
                asyncio.ensure_future(_discard(spares.pop()))

    async def close(self) -> None:
        """Shut down every spare kernel (started or still starting)."""
        futures = [future for spares in self._spares.values() for future in spares]
        self._spares.clear()
        self._demand.clear()
        await asyncio.gather(*(_discard(future) for future in futures))


async def _discard(future: asyncio.Future) -> None:
    """Shut down the kernel a start future gives, whether it is ready yet or not."""
    try:
        kernel = await future
    except BaseException:  # a failed or cancelled start cleaned up after itself
        return
    await kernel.shutdown()


# -------------------------------------------------------------------------- execution


@dataclass
class ExecutionReport:
    """What happened while a notebook executed: cells cut by the timeout (interrupted, the
    kernel lived on) and, if the kernel had to be stopped, in which cell and why."""

    timed_out: list[int] = field(default_factory=list)
    stopped_at: int | None = None
    stop_reason: str | None = None
    seconds: float = 0.0
    output_truncated: bool = False
    timeout: int | None = None  # the time limit per cell that applied
    budget: int | None = None  # the time budget of the whole notebook that applied
    budget_cut: int | None = None  # the cell during which the budget ran out
    budget_skipped: list[int] = field(default_factory=list)  # cells not run: budget spent


def _error_output(ename: str, message: str) -> NotebookNode:
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


async def execute_notebook(
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
    timeout_name = (client.error_on_timeout or {}).get("ename", "CellTimeoutError")
    try:
        info = await client.async_wait_for_reply(client.kc.kernel_info())
        if info is not None:
            nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            try:
                await client.async_execute_cell(cell, index, store_history=True)
            except DeadKernelError:
                reason = kernel.stop_reason
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
            if (
                index != client.budget_cut
                and cell.cell_type == "code"
                and any(
                    out.output_type == "error" and out.get("ename") == timeout_name
                    for out in cell.get("outputs", [])
                )
            ):
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
    nb.cells[index].setdefault("outputs", []).append(
        _error_output(
            STOPPED, f"The grader stopped this cell: {reason}. The cells after it were not run."
        )
    )
    for cell in nb.cells[index + 1 :]:
        if cell.cell_type == "code" and cell.source.strip():
            cell.outputs = [
                _error_output(
                    NOT_RUN,
                    f"Not run: the grader stopped the kernel in cell {index + 1} ({reason}).",
                )
            ]
