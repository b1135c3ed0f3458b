"""``course grade``: autograde a class in parallel, with nbgrader's own grading steps.

Grades every learner's submission (``submitted/<student>/<assignment>/``) of the given
assignments, like ``nbgrader autograde`` run once per assignment, but

* **in parallel**: ``--workers`` notebooks execute at once (default: one per core, fewer
  when memory is short);
* **pipelined**: kernels for the next notebooks are started and import the assignment's
  modules (TensorFlow: about 4 s) while the current ones execute (``--warm``);
* **safely**: ONE thread writes the gradebook (nbgrader's preprocessors that read or write
  it run there, one submission after another); kernels only execute;
* **idempotently**: a submission appears in ``autograded/`` only when all its grades are
  in the gradebook, so a run that is killed can simply be started again: it grades the
  rest, each learner once (``--force`` regrades everything);
* **robustly**: per-cell time limit (``Execute.timeout``, ``--timeout``) and per-notebook
  time budget (``RestartingExecute.notebook_timeout``, ``--notebook-timeout``), a memory limit on
  each kernel (``--memory-limit``), a scratch working folder and HOME outside the course,
  and where Linux offers Landlock a sandbox (:mod:`course.sandbox`: the course cannot be
  read, nothing outside the scratch folder written, the grader not signalled); a kernel
  that does not start is replaced (:mod:`course.execute`); a notebook that is broken,
  endless, too big or not a notebook at all is graded (0 where due) with a note at the top
  of its autograded notebook saying what happened, and the other learners are not
  affected.

Results land where nbgrader puts them, so ``nbgrader generate_feedback`` and ``nbgrader
export`` work unchanged afterwards.

Example::

    $ course grade 00_layers_calls_variables            # every submission, one worker per core
    $ course grade --workers 2 --timeout 60 --memory-limit 1G
    $ course grade 00_fixture --course-dir ~/class --student alice --force
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from sqlalchemy.exc import SAWarning

from course.autograder import Autograder, Job, Result, load_course_config
from course.console import printable
from course.contain import cgroup_parent, remove_stale_cgroups
from course.kernels import (
    GiB,
    KernelPool,
    KernelSettings,
    KernelSpec,
    execute_notebook,
    format_bytes,
    parse_bytes,
    prepare_matplotlib,
    remove_stale_scratch,
)
from course.lessons import CONFIG_FILE, find_root
from course.sandbox import Rules, course_rules, landlock_abi

DEFAULT_MEMORY_LIMIT = 2 * GiB


@dataclass
class Summary:
    """What a run did, for the closing report."""

    results: list[Result] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    kernels_started: int = 0
    warmup_failures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def graded(self) -> list[Result]:
        return [r for r in self.results if r.error is None]

    @property
    def errors(self) -> list[Result]:
        return [r for r in self.results if r.error is not None]


def _plural(count: int, noun: str) -> str:
    """``_plural(1, "worker")`` -> ``'1 worker'``, ``_plural(2, "worker")`` -> ``'2 workers'``."""
    return f"{count} {noun}{'s' * (count != 1)}"


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
    :class:`~course.kernels.KernelPool`; every call into ``autograder`` (the gradebook)
    runs on one dedicated thread, one at a time. ``on_result`` is called as each
    submission finishes."""
    summary = summary or Summary()
    loop = asyncio.get_running_loop()
    gradebook = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebook")

    def in_gradebook_thread(function, *args):  # noqa: ANN001, ANN202
        return loop.run_in_executor(gradebook, function, *args)

    pool = KernelPool(settings, warm)
    expected: dict[Job, dict[str, KernelSpec]] = {}
    for job in jobs:
        expected[job] = {
            nb: await in_gradebook_thread(autograder.kernel_spec, job.assignment, nb)
            for nb in job.notebooks
        }
        pool.expect(expected[job].values())
    queue = list(jobs)
    queue.reverse()

    async def grade_one(job: Job) -> Result:
        started = time.perf_counter()
        waiting = dict(expected[job])  # notebooks whose kernel is not taken yet
        try:
            prepared = await in_gradebook_thread(autograder.prepare, job)
            executed = {}
            waited = ran = 0.0
            for item in prepared.notebooks:
                spec = waiting.pop(item.notebook_id, None)
                if spec is not None and spec != item.spec:
                    pool.forget(spec)  # the notebook asks for another kernel: start that one cold
                asked = time.perf_counter()
                kernel = await pool.take(item.spec)
                waited += time.perf_counter() - asked
                if kernel.warmup_failures:
                    summary.warmup_failures.setdefault(item.spec.folder, kernel.warmup_failures)
                try:
                    kernel.load(prepared.folder)
                    nb = nbformat.read(item.path, as_version=4)
                    report = await execute_notebook(
                        kernel, nb, {"metadata": {"path": str(kernel.cwd)}}
                    )
                finally:
                    await kernel.shutdown()
                ran += report.seconds
                executed[item.notebook_id] = (nb, report)
            result = await in_gradebook_thread(
                autograder.finish, prepared, executed, settings.memory_limit
            )
            result.waited, result.executed = waited, ran
        except Exception as error:  # noqa: BLE001 - one submission must never stop the others
            await in_gradebook_thread(autograder.discard, job)
            result = Result(job, error=f"{type(error).__name__}: {error}".strip())
        finally:
            for spec in waiting.values():
                pool.forget(spec)
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


# ----------------------------------------------------------------------------- report


class Progress:
    """One line per finished submission: count, score or error, notes."""

    def __init__(self, total: int, stream=None) -> None:  # noqa: ANN001
        self.total = total
        self.done = 0
        self.errors = 0
        self.stream = stream
        self.width = len(str(total))

    def __call__(self, result: Result) -> None:
        self.done += 1
        self.errors += result.error is not None
        counts = f"[{self.done:>{self.width}}/{self.total}"
        counts += f", {self.errors} error{'s' * (self.errors != 1)}]" if self.errors else "]"
        label = printable(result.job.label)
        if result.error:
            line = (
                f"{counts} {label}  NOT GRADED ({result.seconds:.1f} s): {printable(result.error)}"
            )
        else:
            line = (
                f"{counts} {label}  {result.score:g}/{result.max_score:g}  ({result.seconds:.1f} s)"
            )
            if result.notes:
                line += "  ! " + " | ".join(printable(note) for note in result.notes)
        print(line, file=self.stream or sys.stdout, flush=True)


def print_summary(
    summary: Summary, autograder: Autograder, assignments: Sequence[str], workers: int, stream=None
) -> None:  # noqa: ANN001
    """The closing report: counts, wall time, class mean per assignment, notes, errors."""
    stream = stream or sys.stdout
    graded, errors = summary.graded, summary.errors
    notebooks = sum(len(r.job.notebooks) for r in summary.results)
    per = f", {summary.seconds / notebooks:.1f} s per notebook" if notebooks else ""
    print(
        f"\ncourse grade: {len(graded)} graded, {len(errors)} error{'s' * (len(errors) != 1)}, "
        f"{summary.skipped} already graded (skipped) in {summary.seconds:.1f} s "
        f"({_plural(workers, 'worker')}, {_plural(summary.kernels_started, 'kernel')}{per})",
        file=stream,
    )
    if graded:
        print(
            f"  per submission: {statistics.fmean(r.seconds for r in graded):.1f} s, of which "
            f"{statistics.fmean(r.executed for r in graded):.1f} s running cells and "
            f"{statistics.fmean(r.waited for r in graded):.1f} s waiting for a kernel",
            file=stream,
        )
    for assignment in assignments:
        scores, maximum = autograder.assignment_scores(assignment)
        if scores:
            mean = statistics.fmean(scores)
            share = f" ({100 * mean / maximum:.0f}%)" if maximum else ""
            print(
                f"  {assignment}: mean {mean:.2f} / {maximum:g}{share} over {len(scores)} graded learners",
                file=stream,
            )
    for folder, failures in summary.warmup_failures.items():
        print(
            f"  note: grading kernels for {folder} could not preload {printable('; '.join(failures))}",
            file=stream,
        )
    noted = [r for r in graded if r.notes]
    if noted:
        print(f"Learners with notes in their feedback ({len(noted)}):", file=stream)
        for r in noted:
            print(
                f"  {printable(r.job.label)}: " + " | ".join(printable(note) for note in r.notes),
                file=stream,
            )
    if errors:
        print(
            f"NOT graded, nothing recorded ({len(errors)}); fix the cause and run again:",
            file=stream,
        )
        for r in errors:
            print(f"  {printable(r.job.label)}: {printable(r.error)}", file=stream)


# -------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help="assignments to grade (default: every assignment in the gradebook with submissions)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="nbgrader course directory (default: nearest folder with nbgrader_config.py)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="notebooks executing at once (default: one per core, fewer if memory is short: "
        "with the warm kernels, at most available memory / memory limit kernels)",
    )
    parser.add_argument(
        "--warm",
        type=int,
        help="kernels started ahead of time (default: as many as workers; 0: start each on demand)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        help="time limit per cell in seconds (default: Execute.timeout of the config)",
    )
    parser.add_argument(
        "--notebook-timeout",
        type=int,
        metavar="SECONDS",
        help="time budget of all cells of one notebook together; cells after it are not run "
        "(default: RestartingExecute.notebook_timeout of the config; 0: none)",
    )
    parser.add_argument(
        "--memory-limit",
        default=format_bytes(DEFAULT_MEMORY_LIMIT).replace(" ", ""),
        help="memory per grading kernel, e.g. 2G, 512M, or 'none' (default: %(default)s)",
    )
    parser.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="ID",
        help="grade only this student (repeatable)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade submissions that are already graded"
    )
    parser.add_argument(
        "--preload",
        metavar="MODULES",
        help="comma-separated modules warm kernels import before the notebook (default: the imports of "
        "the assignment's setup cells; '' for none, to grade exactly like a fresh nbgrader kernel)",
    )
    parser.add_argument(
        "--scratch-dir",
        type=Path,
        help="where the kernels' scratch folders go (default: the system's temporary folder)",
    )
    parser.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="do not sandbox the grading kernels (by default, where Linux offers Landlock, they cannot read "
        "the course folder, write outside their scratch folder or signal the grader)",
    )
    parser.add_argument("--verbose", action="store_true", help="show nbgrader's own log messages")


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


def run(args: argparse.Namespace) -> int:
    try:
        course_dir = args.course_dir.resolve() if args.course_dir else find_root()
        if not (course_dir / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{course_dir / CONFIG_FILE} does not exist")
        memory_limit = parse_bytes(args.memory_limit)
    except (FileNotFoundError, ValueError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    if (args.workers is not None and args.workers < 1) or (args.warm is not None and args.warm < 0):
        print("course grade: --workers must be at least 1 and --warm at least 0", file=sys.stderr)
        return 2
    _setup_logging(args.verbose)
    if not args.verbose:
        # nbgrader's gradebook code triggers harmless SQLAlchemy autoflush warnings.
        warnings.filterwarnings("ignore", category=SAWarning)
    # nbgrader runs `alembic` when it creates a gradebook: this environment's bin on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    config = load_course_config(course_dir)
    if args.timeout is not None:
        config.Execute.timeout = args.timeout
    if args.notebook_timeout is not None:
        config.RestartingExecute.notebook_timeout = args.notebook_timeout or None
    autograder = Autograder(course_dir, config)
    if args.preload is not None:
        autograder.set_preload([m.strip() for m in args.preload.split(",") if m.strip()])
    try:
        autograder.lock()
    except RuntimeError as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    try:
        assignments = args.assignments or _assignments_with_submissions(autograder)
        problems = autograder.check_assignments(assignments)
        if problems:
            for problem in problems:
                print(f"course grade: {problem}", file=sys.stderr)
            return 2
        if not assignments:
            print(
                f"course grade: no submissions in {course_dir / autograder.coursedir.submitted_directory}, nothing to do"
            )
            return 0
        jobs = autograder.find_jobs(assignments, args.student, force=args.force)
        workers = args.workers or default_workers(memory_limit)
        warm = workers if args.warm is None else args.warm
        timeout = config.Execute.timeout if "timeout" in config.Execute else "nbgrader default"
        budget = (
            config.RestartingExecute.get("notebook_timeout")
            if "RestartingExecute" in config
            else None
        )
        budget_text = f" ({budget} s per notebook)" if budget else " (no budget per notebook)"
        print(
            f"course grade: {len(jobs.todo)} submission{'s' * (len(jobs.todo) != 1)} of {', '.join(assignments)} to grade"
            f" ({len(jobs.done)} already graded) in {course_dir}; {_plural(workers, 'worker')}, "
            f"{_plural(warm, 'warm kernel')}, "
            f"time limit {timeout} s per cell{budget_text}, memory limit {format_bytes(memory_limit)} per kernel",
            flush=True,
        )
        if args.scratch_dir:
            args.scratch_dir.mkdir(parents=True, exist_ok=True)
        matplotlib_dir = autograder.work / "matplotlib"
        prepare_matplotlib(matplotlib_dir)
        settings = KernelSettings(
            config=config,
            memory_limit=memory_limit,
            scratch_root=args.scratch_dir.resolve() if args.scratch_dir else None,
            shared_env={"MPLCONFIGDIR": str(matplotlib_dir)},
            sandbox=_sandbox(args, autograder, jobs.todo, visible=[matplotlib_dir]),
        )
        remove_stale_scratch(settings.scratch_root)
        remove_stale_cgroups()
        contained = (
            "a cgroup per kernel"
            if cgroup_parent()
            else "its process group and descendants; no writable cgroup v2"
        )
        print(
            f"course grade: processes a notebook starts are killed with its kernel ({contained})",
            flush=True,
        )
        summary = Summary(skipped=len(jobs.done))
        try:
            run_to_completion(
                grade_jobs(
                    autograder,
                    jobs.todo,
                    settings,
                    workers,
                    warm,
                    Progress(len(jobs.todo)),
                    summary,
                )
            )
        except KeyboardInterrupt:
            print(
                "\ncourse grade: interrupted; graded submissions are kept, run again to grade the rest",
                file=sys.stderr,
            )
            return 130
        print_summary(summary, autograder, assignments, workers)
        return 1 if summary.errors else 0
    finally:
        autograder.unlock()


def _assignments_with_submissions(autograder: Autograder) -> list[str]:
    with autograder.db() as gb:
        names = [a.name for a in gb.assignments]
    submitted = Path(autograder.coursedir.root) / autograder.coursedir.submitted_directory
    return [
        name
        for name in sorted(names)
        if any((student / name).is_dir() for student in submitted.glob("*") if student.is_dir())
    ]


def _sandbox(
    args: argparse.Namespace, autograder: Autograder, jobs: Sequence[Job], visible: Sequence[Path]
) -> Rules | None:
    """The sandbox rules of this run (None: no sandbox), and a line saying what they do."""
    if not args.sandbox:
        print(
            "course grade: kernels NOT sandboxed (--no-sandbox): notebooks can read and write the course folder",
            flush=True,
        )
        return None
    abi = landlock_abi()
    if abi < 1:
        print(
            "course grade: this system has no Landlock (Linux 5.13+), so kernels are not sandboxed: a notebook can "
            "read and write files of the course folder by absolute path; grade on a recent Linux to prevent it",
            flush=True,
        )
        return None
    rules = course_rules(
        autograder.root,
        autograder.setup_imports(jobs),
        also_hide=autograder.outside_paths(),
        also_visible=visible,
    )
    network = (
        ", nor open network connections"
        if abi >= 4
        else "; Linux 6.7+ would also deny them the network"
    )
    signals = "" if abi >= 6 else "; Linux 6.12+ would also stop them from signalling the grader"
    print(
        f"course grade: kernels sandboxed (Landlock ABI {abi}): they cannot read "
        f"{', '.join(str(p) for p in rules.hide)} except the Python packages they import, nor write outside their "
        f"scratch folder{network}{signals}",
        flush=True,
    )
    return rules


def _setup_logging(verbose: bool) -> None:
    nbgrader_log = logging.getLogger("course.grade.nbgrader")
    nbgrader_log.propagate = False
    nbgrader_log.handlers.clear()
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[nbgrader %(levelname)s] %(message)s"))
        nbgrader_log.addHandler(handler)
        nbgrader_log.setLevel(logging.INFO)
    else:
        nbgrader_log.addHandler(logging.NullHandler())
        nbgrader_log.setLevel(logging.CRITICAL)
    # nbclient logs every timeout and interrupt as an error; the notes say it better.
    logging.getLogger("traitlets").setLevel(logging.INFO if verbose else logging.CRITICAL)
