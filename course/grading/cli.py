"""``course grade``: autograde a class in parallel, with nbgrader's own grading steps.

Grades every learner's submission (``submitted/<student>/<assignment>/``) of the given
assignments, like ``nbgrader autograde`` run once per assignment, but

* **in parallel**: ``--workers`` notebooks execute at once (default: one per core, fewer
  when memory is short);
* **pipelined**: kernels for the next notebooks are started and import the assignment's
  modules (TensorFlow: seconds) while the current ones execute (``--warm``);
* **safely**: ONE thread writes the gradebook (nbgrader's preprocessors that read or write
  it run there, one submission after another); kernels only execute;
* **idempotently**: a submission appears in ``autograded/`` only when all its grades are
  in the gradebook, so a run that is killed can simply be started again: it grades the
  rest, each learner once (``--force`` regrades everything);
* **robustly**: per-cell time limit (``Execute.timeout``, ``--timeout``) and per-notebook time
  budget (``RestartingExecute.notebook_timeout``, ``--notebook-timeout``), a memory limit on
  each kernel (``--memory-limit``), and each kernel in a box of its own
  (:mod:`course.isolation`: it sees the system, Python and its scratch folder, nothing of the
  course, the teacher or other learners; where the system has no user namespaces, a Landlock
  fallback, said at the start of the run); a kernel that does not start is replaced
  (:mod:`course.grading.steps.restarting_execute`); a notebook that is broken, endless, too big
  or not a notebook at all is graded (0 where due) with a note at the top of its autograded
  notebook saying what happened, and the other learners are not affected.

Results land where nbgrader puts them, so ``nbgrader generate_feedback`` and ``nbgrader
export`` work unchanged afterwards.

Example::

    $ course grade 00_layers_calls_variables            # every submission, one worker per core
    $ course grade --workers 2 --timeout 60 --memory-limit 1G
    $ course grade 00_fixture --course-dir ~/class --student alice --force
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from course.config import CONFIG_FILE, find_root, load_course_config, put_bin_on_path
from course.forking.client import private_servers
from course.forking.protocol import base_folder as fork_servers_folder
from course.grading.autograder import Autograder
from course.grading.console import Progress, plural, print_summary
from course.grading.kernel import GradingExecute, prepare_matplotlib, remove_stale_scratch
from course.grading.pipeline import default_workers, grade_jobs, run_to_completion
from course.grading.records import Job, Result, Summary
from course.grading.settings import GiB, KernelSettings, format_bytes, parse_bytes
from course.isolation import cgroups
from course.isolation.contain import cgroup_parent, remove_stale_cgroups
from course.isolation.kernels import box_available, describe, kit_packages
from course.isolation.landlock import Rules, course_rules, landlock_abi

DEFAULT_MEMORY_LIMIT = 2 * GiB


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
        help="notebooks executing at once (default: one per core, fewer if memory is short: with "
        "the warm kernels, at most available memory / memory limit kernels)",
    )
    parser.add_argument(
        "--warm",
        type=int,
        help="kernels started ahead of time (default: as many as workers; 0: start each on demand)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        help="time limit per cell in seconds of CPU time, with a wall-clock ceiling "
        "RestartingExecute.wall_limit_factor times higher (default: Execute.timeout of the config)",
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
        help="comma-separated modules warm kernels import before the notebook (default: the "
        "imports of the assignment's setup cells; '' for none, to grade exactly like a fresh "
        "nbgrader kernel)",
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
        help="do not isolate the grading kernels (by default each runs in a box of its own, or "
        "under Landlock rules where the system allows no box: docs/teachers.md)",
    )
    parser.add_argument("--verbose", action="store_true", help="show nbgrader's own log messages")


def run(args: argparse.Namespace, on_result: Callable[[Result], None] | None = None) -> int:
    """Grade as ``args`` say; ``on_result`` (default: one printed line per submission) is
    called as each submission finishes (``course check`` shows its own progress)."""
    try:
        course_dir, memory_limit = _checked_arguments(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    _setup_logging(args.verbose)
    if not args.verbose:
        # nbgrader's gradebook code triggers harmless SQLAlchemy autoflush warnings.
        warnings.filterwarnings("ignore", category=SAWarning)
    # nbgrader runs `alembic` when it creates a gradebook: this environment's bin on PATH.
    put_bin_on_path()
    config = course_config(course_dir, args.timeout, args.notebook_timeout)
    autograder = Autograder(course_dir, config)
    if args.preload is not None:
        autograder.set_preload([m.strip() for m in args.preload.split(",") if m.strip()])
    try:
        autograder.lock()
    except RuntimeError as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    try:
        return _grade(args, autograder, memory_limit, on_result)
    finally:
        autograder.unlock()


def _checked_arguments(args: argparse.Namespace) -> tuple[Path, int | None]:
    """The course folder and the memory limit per kernel; ValueError or FileNotFoundError
    with the message to print when the arguments do not allow a run."""
    course_dir = args.course_dir.resolve() if args.course_dir else find_root()
    if not (course_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{course_dir / CONFIG_FILE} does not exist")
    memory_limit = parse_bytes(args.memory_limit)
    if (args.workers is not None and args.workers < 1) or (args.warm is not None and args.warm < 0):
        raise ValueError("--workers must be at least 1 and --warm at least 0")
    return course_dir, memory_limit


def course_config(
    course_dir: Path, timeout: int | None = None, notebook_timeout: int | None = None
) -> Config:
    """The course's nbgrader config with this run's ``--timeout`` and ``--notebook-timeout``
    (0: no budget) applied."""
    config = load_course_config(course_dir)
    if timeout is not None:
        config.Execute.timeout = timeout
    if notebook_timeout is not None:
        config.RestartingExecute.notebook_timeout = notebook_timeout or None
    return config


def time_limits(config: Config) -> str:
    """The time limits the grading kernels apply with ``config``, as the configured step
    reads them (``Execute.timeout``, else ``ExecutePreprocessor.timeout``, else nbgrader's
    default; ``RestartingExecute.notebook_timeout``).

    >>> time_limits(Config())
    'time limit 30 s per cell (no budget per notebook)'
    >>> time_limits(Config({"ExecutePreprocessor": {"timeout": 45},
    ...                     "RestartingExecute": {"notebook_timeout": 600}}))
    'time limit 45 s per cell (600 s per notebook)'
    """
    execute = GradingExecute(config=config)
    per_cell = f"{execute.timeout} s" if execute.timeout else "none"
    budget = execute.notebook_timeout
    per_notebook = f"{budget} s per notebook" if budget else "no budget per notebook"
    return f"time limit {per_cell} per cell ({per_notebook})"


def _grade(
    args: argparse.Namespace,
    autograder: Autograder,
    memory_limit: int | None,
    on_result: Callable[[Result], None] | None,
) -> int:
    """Grade the submissions ``args`` select with the locked ``autograder``: the exit code."""
    course_dir = autograder.root
    assignments = args.assignments or _assignments_with_submissions(autograder)
    problems = autograder.check_assignments(assignments)
    if problems:
        for problem in problems:
            print(f"course grade: {problem}", file=sys.stderr)
        return 2
    if not assignments:
        print(
            "course grade: no submissions in "
            f"{course_dir / autograder.coursedir.submitted_directory}, nothing to do"
        )
        return 0
    jobs = autograder.find_jobs(assignments, args.student, force=args.force)
    workers = args.workers or default_workers(memory_limit)
    warm = workers if args.warm is None else args.warm
    print(
        f"course grade: {len(jobs.todo)} submission{'s' * (len(jobs.todo) != 1)} of "
        f"{', '.join(assignments)} to grade ({len(jobs.done)} already graded) in {course_dir}; "
        f"{plural(workers, 'worker')}, {plural(warm, 'warm kernel')}, "
        f"{time_limits(autograder.config)}, memory limit {format_bytes(memory_limit)} per kernel",
        flush=True,
    )
    settings = _kernel_settings(args, autograder, jobs.todo, memory_limit)
    summary = Summary(skipped=len(jobs.done))
    try:
        # A warm parent of this run's own, started by it, stopped at its end: no other
        # process (a teacher's JupyterLab, a notebook graded before) has asked it for
        # anything, and no one else knows where it is.
        with private_servers():
            run_to_completion(
                grade_jobs(
                    autograder,
                    jobs.todo,
                    settings,
                    workers,
                    warm,
                    on_result or Progress(len(jobs.todo)),
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


def _kernel_settings(
    args: argparse.Namespace, autograder: Autograder, jobs: Sequence[Job], memory_limit: int | None
) -> KernelSettings:
    """How this run's kernels start (scratch, matplotlib, isolation), stale leftovers of an
    earlier run removed; says how a notebook's processes are contained."""
    if args.scratch_dir:
        args.scratch_dir.mkdir(parents=True, exist_ok=True)
    matplotlib_dir = autograder.work / "matplotlib"
    prepare_matplotlib(matplotlib_dir)
    imports = autograder.setup_imports(jobs)
    settings = KernelSettings(
        config=autograder.config,
        memory_limit=memory_limit,
        scratch_root=args.scratch_dir.resolve() if args.scratch_dir else None,
        shared_env={"MPLCONFIGDIR": str(matplotlib_dir)},
        sandbox=_sandbox(args, autograder, imports, visible=[matplotlib_dir]),
        isolate=args.sandbox,
        read_only=(*kit_packages(imports), matplotlib_dir),
    )
    remove_stale_scratch(settings.scratch_root)
    remove_stale_cgroups()
    cgroups.remove_stale()
    contained = (
        "a cgroup per kernel"
        if cgroup_parent()
        else "its process group and descendants; no writable cgroup v2"
    )
    print(
        f"course grade: processes a notebook starts are killed with its kernel ({contained})",
        flush=True,
    )
    return settings


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
    args: argparse.Namespace,
    autograder: Autograder,
    imports: Sequence[str],
    visible: Sequence[Path],
) -> Rules | None:
    """Say how this run's kernels are isolated; the Landlock rules of the fallback where
    there is no box (None: a box, or no isolation at all)."""
    if not args.sandbox:
        print(
            "course grade: kernels NOT isolated (--no-sandbox): notebooks run with your rights "
            "and can read and write the course folder",
            flush=True,
        )
        return None
    print(f"course grade: {describe(parse_bytes(args.memory_limit))}", flush=True)
    if box_available() or landlock_abi() < 1:
        return None
    return course_rules(
        autograder.root,
        imports,
        also_hide=[*autograder.outside_paths(), fork_servers_folder()],
        also_visible=visible,
    )


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
