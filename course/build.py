"""``course build``: re-run the instructor notebooks and regenerate the learner notebooks.

For each lesson (default: every lesson in ``solutions/``):

1. execute ``solutions/<lesson>/<lesson>.ipynb`` in place with nbclient (kernel
   ``python3`` of this environment, working directory = the lesson folder, quiet
   TensorFlow) and store the fresh outputs, which nbval later compares;
2. run nbgrader's ``generate_assignment`` in a temporary course directory (no
   ``gradebook.db`` in the repository, no clash between parallel runs) and copy the result
   to ``notebooks/<lesson>/``. Learner notebooks carry no outputs.

``course build --check`` executes nothing and exits 1, naming the lessons, when the
committed ``notebooks/`` differs from what ``generate_assignment`` produces now.

Example::

    $ course build 01_shared_layers        # execute + regenerate one lesson
    $ course build --no-execute            # regenerate all, keep stored outputs
    $ course build --check                 # CI: is notebooks/ up to date?

The same steps are importable: :func:`execute_notebook`, :func:`generate_release`,
:func:`check_release`, :func:`build`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
from traitlets.config import Config

from course.config import (
    FALLBACK_CELL_TIMEOUT,
    cell_timeout,
    find_root,
    load_course_config,
    tool_environment,
)
from course.lessons import RELEASE_DIR, SOURCE_DIR, Lesson, find_lessons

#: Files and folders never copied into a temporary course.
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


class BuildError(RuntimeError):
    """A lesson could not be executed or generated; the message says which and why."""


# --------------------------------------------------------------------------- execute


def execute_notebook(
    path: Path, timeout: int = FALLBACK_CELL_TIMEOUT, kernel_name: str = "python3"
) -> bool:
    """Run every cell of the notebook at ``path`` and save it with fresh outputs.

    The kernel starts in the notebook's folder with :func:`course.config.tool_environment`.
    Only outputs and execution counts change: notebook metadata is kept as it was
    (nbclient's ``language_info`` is added only when missing) and no timing metadata is
    recorded, so re-running an unchanged lesson leaves the file byte-identical.
    Returns True when the file changed. Raises BuildError naming the failing cell.

    Example::

        execute_notebook(Path("solutions/01_shared_layers/01_shared_layers.ipynb"), timeout=120)
    """
    path = Path(path)
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    metadata = copy.deepcopy(nb.metadata)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    try:
        client.execute(env=tool_environment())
    except CellTimeoutError as error:
        raise BuildError(f"{path}: a cell ran longer than {timeout} s\n{error}") from error
    except CellExecutionError as error:
        raise BuildError(f"{path}: a cell raised an error\n{error}") from error

    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    metadata.setdefault("language_info", nb.metadata.get("language_info", {}))
    nb.metadata = metadata
    text = nbformat.writes(nb)
    text += "" if text.endswith("\n") else "\n"
    if text == original:
        return False
    path.write_text(text, encoding="utf-8")
    return True


# -------------------------------------------------------------------------- generate


def _assignment_config(root: Path, course_dir: Path) -> Config:
    """The course's nbgrader config, pointed at ``course_dir`` and without a database."""
    config = load_course_config(root)
    config.CourseDirectory.root = str(course_dir)
    # generate_assignment needs no database to write the learner version; skipping it also
    # avoids nbgrader's `alembic` subprocess.
    config.GenerateAssignment.no_database = True
    config.SaveCells.enabled = False
    return config


@contextlib.contextmanager
def generate_release(lessons: list[Lesson]) -> Iterator[Path]:
    """Generate the learner version of ``lessons`` in a temporary course; yield its release dir.

    The yielded folder holds ``<lesson>/`` for each lesson, exactly as nbgrader's
    ``generate_assignment`` wrote it; it is deleted when the ``with`` block ends.

    Example::

        with generate_release(find_lessons(root)) as release:
            print(sorted(p.name for p in release.iterdir()))
    """
    with tempfile.TemporaryDirectory(prefix="course-build-") as tmp:
        course_dir = Path(tmp)
        for lesson in lessons:
            shutil.copytree(
                lesson.source_dir, course_dir / SOURCE_DIR / lesson.name, ignore=IGNORED
            )
        for lesson in lessons:
            config = _assignment_config(lesson.root, course_dir)
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id = lesson.name
            converter = GenerateAssignment(coursedir=coursedir, config=config)
            converter.force = True
            result = capture_log(converter)
            if not result["success"]:
                raise BuildError(
                    f"{lesson.name}: nbgrader generate_assignment "
                    f"failed\n{result.get('log', '')}{result.get('error', '')}"
                )
        yield course_dir / RELEASE_DIR


# ----------------------------------------------------------------------------- check


def _relative_files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and ".ipynb_checkpoints" not in path.parts
    }


def _describe_notebook_difference(expected: dict, actual: dict) -> str:
    """Where two notebooks (parsed JSON) first differ, in words."""
    expected_cells, actual_cells = expected.get("cells", []), actual.get("cells", [])
    if len(expected_cells) != len(actual_cells):
        return f"{len(actual_cells)} cells, expected {len(expected_cells)}"
    for index, (want, got) in enumerate(zip(expected_cells, actual_cells, strict=True)):
        if want != got:
            keys = sorted(key for key in set(want) | set(got) if want.get(key) != got.get(key))
            return f"cell {index} differs ({', '.join(keys)})"
    return "notebook metadata differs"


def compare_folders(expected: Path, actual: Path) -> list[str]:
    """Differences between two lesson folders, one line each (empty list: identical).

    Notebooks are compared as parsed JSON (formatting and key order do not matter), other
    files byte for byte.
    """
    expected_files, actual_files = _relative_files(expected), _relative_files(actual)
    problems = [f"missing {name}" for name in sorted(expected_files - actual_files)]
    problems += [f"unexpected {name}" for name in sorted(actual_files - expected_files)]
    for name in sorted(expected_files & actual_files):
        want, got = (expected / name).read_bytes(), (actual / name).read_bytes()
        if name.endswith(".ipynb"):
            try:
                want_json, got_json = json.loads(want), json.loads(got)
            except json.JSONDecodeError as error:
                problems.append(f"{name} is not valid JSON ({error})")
                continue
            if want_json != got_json:
                problems.append(f"{name}: {_describe_notebook_difference(want_json, got_json)}")
        elif want != got:
            problems.append(f"{name} differs")
    return problems


def stale_release_dirs(root: Path) -> list[str]:
    """Folders in ``notebooks/`` whose lesson no longer exists in ``solutions/``."""
    lessons = {lesson.name for lesson in find_lessons(root)}
    release = Path(root) / RELEASE_DIR
    if not release.is_dir():
        return []
    return sorted(p.name for p in release.iterdir() if p.is_dir() and p.name not in lessons)


def check_release(lessons: list[Lesson]) -> dict[str, list[str]]:
    """Lesson name -> differences between committed ``notebooks/<lesson>`` and a fresh
    ``generate_assignment``; lessons that are up to date are left out.

    Example::

        assert check_release(find_lessons(root)) == {}
    """
    differences: dict[str, list[str]] = {}
    with generate_release(lessons) as release:
        for lesson in lessons:
            problems = compare_folders(release / lesson.name, lesson.release_dir)
            if problems:
                differences[lesson.name] = problems
    return differences


# ----------------------------------------------------------------------------- build


def _files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}


def build(
    lessons: list[Lesson],
    execute: bool = True,
    timeout: int | None = None,
    log=print,
) -> None:
    """Execute (optionally) and regenerate ``lessons``: the whole of ``course build``.

    ``timeout`` defaults to ``Execute.timeout`` from nbgrader_config.py. ``notebooks/<lesson>/``
    is replaced by the generated folder. Raises BuildError on the first failing lesson
    (notebooks already written stay written).

    Example::

        build(find_lessons(root, ["01_shared_layers"]), execute=False)
    """
    if execute:
        for lesson in lessons:
            limit = timeout or cell_timeout(load_course_config(lesson.root))
            before = _files_in(lesson.source_dir)
            started = time.perf_counter()
            changed = execute_notebook(lesson.source_notebook, timeout=limit)
            log(
                f"executed {lesson.source_notebook.relative_to(lesson.root)} in "
                f"{time.perf_counter() - started:.1f} s ({'updated' if changed else 'unchanged'})"
            )
            created = sorted(
                p.relative_to(lesson.root).as_posix() for p in _files_in(lesson.source_dir) - before
            )
            if created:
                log(
                    f"warning: running {lesson.name} created {', '.join(created)}; files in "
                    f"{SOURCE_DIR}/{lesson.name}/ are copied to the learners' folder. Write "
                    "scratch files to a temporary directory instead."
                )
    started = time.perf_counter()
    with generate_release(lessons) as release:
        for lesson in lessons:
            if lesson.release_dir.exists():
                shutil.rmtree(lesson.release_dir)
            shutil.copytree(release / lesson.name, lesson.release_dir)
    names = ", ".join(lesson.name for lesson in lessons)
    log(f"generated {RELEASE_DIR}/ for {names} in {time.perf_counter() - started:.1f} s")


# ------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "lessons", nargs="*", metavar="LESSON", help="lesson names (default: all in solutions/)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="execute nothing; exit 1 if notebooks/ differs from what generate_assignment produces",
    )
    mode.add_argument(
        "--no-execute", action="store_true", help="only regenerate notebooks/, keep stored outputs"
    )
    parser.add_argument(
        "--timeout", type=int, help="per-cell time limit in seconds (default: Execute.timeout)"
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="nbgrader course directory (default: nearest folder with nbgrader_config.py)",
    )


def run(args: argparse.Namespace) -> int:
    root = args.course_dir.resolve() if args.course_dir else find_root()
    try:
        lessons = find_lessons(root, args.lessons)
    except ValueError as error:
        print(f"course build: {error}", file=sys.stderr)
        return 2
    if not lessons:
        print(f"course build: no lessons in {root / SOURCE_DIR} yet, nothing to do")
        return 0

    try:
        if args.check:
            differences = check_release(lessons)
            stale = [] if args.lessons else stale_release_dirs(root)
            for name in stale:
                differences[name] = [f"{RELEASE_DIR}/{name}/ has no source in {SOURCE_DIR}/"]
            if not differences:
                print(f"{RELEASE_DIR}/ is up to date ({len(lessons)} lessons)")
                return 0
            for name, problems in sorted(differences.items()):
                print(f"{name}: " + "; ".join(problems), file=sys.stderr)
            print(
                f"course build --check: {RELEASE_DIR}/ is out of date for "
                f"{', '.join(sorted(differences))}. Run `make notebooks` (or `course build "
                "--no-execute`) and commit the result.",
                file=sys.stderr,
            )
            return 1

        build(lessons, execute=not args.no_execute, timeout=args.timeout)
        if not args.lessons:
            for name in stale_release_dirs(root):
                shutil.rmtree(root / RELEASE_DIR / name)
                print(f"removed {RELEASE_DIR}/{name}/ (no source in {SOURCE_DIR}/)")
        return 0
    except BuildError as error:
        print(f"course build: {error}", file=sys.stderr)
        return 1
