"""nbgrader's autograde, split around notebook execution, for ``course grade``.

``nbgrader autograde`` does, for each submission in turn (``Autograde.convert_notebooks``):

1. skip it if ``autograded/<student>/<assignment>/`` exists (unless ``--force`` or the
   submission is newer);
2. ``init_assignment``: student and submission rows in the gradebook, the submission's
   other files copied, then the source folder's files over them; notebooks the gradebook
   does not know are skipped, notebooks missing from the submission score 0;
3. per notebook, the *sanitize* preprocessors (ClearOutput, DeduplicateIds,
   OverwriteKernelspec, OverwriteCells: read-only and test cells restored from the
   gradebook, CheckCellMetadata; the kit's config uses the fair versions of
   :mod:`course.grading.steps.fairness`), then the *autograde* preprocessors (Execute,
   IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
   CheckCellMetadata);
4. file permissions.

:class:`Autograder` calls the same converter methods with the same, configurable,
preprocessor lists: :meth:`Autograder.prepare` is steps 2-3 up to ``Execute``,
:meth:`Autograder.finish` the rest of step 3 and step 4. Execution happens in between,
elsewhere (:mod:`course.grading.run_notebook`). An Autograder is not thread-safe:
``course grade`` calls it from ONE thread, the only one that touches the gradebook.

Results are written to a staging folder ``<course>/.course-grade/staging/<student>/<assignment>/``
and renamed to ``autograded/<student>/<assignment>/`` after every grade is committed, so
the existence of that folder (nbgrader's own "already graded" test) means "completely
graded": a run killed halfway leaves no half-graded folder, and the next run grades the
rest, each learner once.

Example (one submission, executing in between)::

    grader = Autograder(course_dir, load_course_config(course_dir))
    job = grader.find_jobs(["00_fixture"]).todo[0]
    prepared = grader.prepare(job)
    ...  # execute prepared.notebooks[i].path's notebook, nbformat.NotebookNode in hand
    result = grader.finish(prepared, {"00_fixture": (executed_nb, report)})
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import glob
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbconvert.writers import FilesWriter
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from course.config import exchange_root
from course.grading.notes import execution_notes, notes_cell
from course.grading.records import ExecutionReport, Job, Jobs, Prepared, PreparedNotebook, Result
from course.grading.steps.fairness import take_notes
from course.grading.steps.restarting_execute import RestartingExecute
from course.grading.warmup import WarmKernelPlan, warm_kernel_fits, warmup_plan

#: Work folder of ``course grade`` inside the course (staging, lock); removed after a run.
WORK_DIR = ".course-grade"

log = logging.getLogger("course.grade.nbgrader")


class Autograder:
    """nbgrader's autograde steps for one course directory (one thread only)."""

    def __init__(self, course_dir: Path, config: Config) -> None:
        self.root = Path(course_dir).resolve()
        self.config = copy.deepcopy(config)
        self.config.CourseDirectory.root = str(self.root)
        self.coursedir = CourseDirectory(config=self.config)
        self.work = self.root / WORK_DIR
        staging_config = copy.deepcopy(self.config)
        staging_config.CourseDirectory.autograded_directory = f"{WORK_DIR}/staging"
        self.staging = CourseDirectory(config=staging_config)
        self.converter = Autograde(coursedir=self.staging, config=staging_config, log=log)
        self.converter.writer = FilesWriter(parent=self.converter, config=staging_config)
        self.converter.exporter = self.converter.exporter_class(
            parent=self.converter, config=staging_config
        )
        self._plans: dict[tuple[str, str], tuple] = {}
        #: The kernel the course's config names (``Execute.kernel_name`` or
        #: ``ExecutePreprocessor.kernel_name``, as the configured step reads it); "" for none.
        self.configured_kernel_name = RestartingExecute(config=self.config).kernel_name
        self._preload_override: tuple[str, ...] | None = None
        self._lock: int | None = None

    # -- run-level

    def db(self) -> Gradebook:
        return Gradebook(self.coursedir.db_url, self.coursedir.course_id)

    def lock(self) -> None:
        """Take the course's grading lock (RuntimeError if another run holds it) and clear
        what a killed run left in the work folder."""
        self.work.mkdir(exist_ok=True)
        fd = os.open(self.work / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"another `course grade` is grading {self.root} (lock: {self.work / 'lock'})"
            ) from None
        self._lock = fd
        for leftover in ("staging", "trash"):
            shutil.rmtree(self.work / leftover, ignore_errors=True)

    def unlock(self) -> None:
        """Release the lock and remove the work folder."""
        if self._lock is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            os.close(self._lock)
            self._lock = None

    def check_assignments(self, assignments: Sequence[str]) -> list[str]:
        """Problems that stop grading before it starts (assignment not in the gradebook)."""
        problems = []
        with self.db() as gb:
            known = {a.name for a in gb.assignments}
        for name in assignments:
            if name not in known:
                problems.append(
                    f"assignment {name!r} is not in the gradebook {self.coursedir.db_url}: run "
                    f"`nbgrader generate_assignment {name}` in {self.root} first (it records the "
                    "cells that grading restores)"
                )
        return problems

    def find_jobs(
        self, assignments: Sequence[str], students: Sequence[str] = (), force: bool = False
    ) -> Jobs:
        """The submissions of ``assignments`` in ``submitted/`` (only ``students`` if given),
        split into to-do and already graded, the way ``nbgrader autograde`` decides."""
        jobs = Jobs()
        exclude = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        with self.db() as gb:
            for assignment in assignments:
                known = [nb.name for nb in gb.find_assignment(assignment).notebooks]
                pattern = re.compile(
                    self.coursedir.format_path(
                        self.coursedir.submitted_directory,
                        "(?P<student_id>[^/]+)",
                        re.escape(assignment),
                        escape=True,
                    )
                    + "$"
                )
                found = self.coursedir.format_path(
                    self.coursedir.submitted_directory, "*", assignment
                )
                for folder in sorted(Path(p) for p in glob.glob(found)):
                    match = pattern.match(str(folder))
                    if not match or not folder.is_dir():
                        continue
                    student = match.group("student_id")
                    if (students and student not in students) or student in exclude:
                        continue
                    submitted = {p.stem for p in folder.glob("*.ipynb")}
                    job = Job(assignment, student, tuple(nb for nb in known if nb in submitted))
                    (jobs.todo if force or self._needs_grading(job) else jobs.done).append(job)
        return jobs

    def _needs_grading(self, job: Job) -> bool:
        dest = self.coursedir.format_path(
            self.coursedir.autograded_directory, job.student, job.assignment
        )
        if not os.path.exists(dest):
            return True
        src = self.coursedir.format_path(
            self.coursedir.submitted_directory, job.student, job.assignment
        )
        new, old = (
            self.coursedir.get_existing_timestamp(src),
            self.coursedir.get_existing_timestamp(dest),
        )
        return new is not None and old is not None and new > old

    def warm_plan(
        self, assignment: str, notebook_id: str, kernel_name: str | None = None
    ) -> WarmKernelPlan:
        """The warm kernel a notebook of ``assignment`` needs: the gradebook's kernel, the
        environment assignments and imports of the source notebook's setup cells."""
        key = (assignment, notebook_id)
        if key not in self._plans:
            source = (
                Path(self.coursedir.format_path(self.coursedir.source_directory, ".", assignment))
                / f"{notebook_id}.ipynb"
            )
            try:
                plan = warmup_plan(nbformat.read(source, as_version=4))
            except (OSError, ValueError):
                plan = ((), ())
            with self.db() as gb:
                kernelspec = gb.find_notebook(notebook_id, assignment).kernelspec
            name = _kernel_name_from(kernelspec) or "python3"
            self._plans[key] = (name, *plan)
        name, env, modules = self._plans[key]
        configured = self.configured_kernel_name
        if self._preload_override is not None:
            modules = self._preload_override
        return WarmKernelPlan(configured or kernel_name or name, assignment, env, modules)

    def setup_imports(self, jobs: Sequence[Job]) -> list[str]:
        """The modules the setup cells of the jobs' source notebooks import (whatever
        ``set_preload`` says): the packages a grading kernel must be able to read."""
        modules: dict[str, None] = {}
        for job in jobs:
            for notebook_id in job.notebooks:
                self.warm_plan(job.assignment, notebook_id)
                modules.update(dict.fromkeys(self._plans[(job.assignment, notebook_id)][2]))
        return list(modules)

    def outside_paths(self) -> list[Path]:
        """Course data kept outside the course folder: the exchange, a gradebook elsewhere."""
        paths = []
        root = exchange_root(self.config)
        if root is not None:
            paths.append(root)
        url = self.coursedir.db_url
        if url.startswith("sqlite:///"):
            paths.append(Path(url.removeprefix("sqlite:///")))
        return [p for p in paths if p.exists() and self.root not in p.resolve().parents]

    def set_preload(self, modules: Sequence[str] | None) -> None:
        """Override the modules warm kernels import (None: from the source notebooks)."""
        self._preload_override = None if modules is None else tuple(modules)

    # -- one submission

    def staging_folder(self, job: Job) -> Path:
        return Path(
            self.staging.format_path(self.staging.autograded_directory, job.student, job.assignment)
        )

    def prepare(self, job: Job) -> Prepared:
        """Gradebook rows, files and sanitized notebooks of ``job`` in its staging folder.

        A notebook nbgrader cannot read or sanitize (not JSON, bad metadata) is listed in
        ``unreadable`` instead. Raises NbGraderException for problems of the course."""
        conv = self.converter
        folder = self.staging_folder(job)
        shutil.rmtree(folder, ignore_errors=True)
        conv._sanitizing = True
        conv.coursedir.assignment_id = job.assignment
        conv.coursedir.student_id = job.student
        conv.coursedir.notebook_id = "*"
        prepared = Prepared(job, folder)
        submitted = Path(conv._format_source(job.assignment, job.student))
        conv.notebooks = sorted(str(submitted / f"{nb}.ipynb") for nb in job.notebooks)
        conv.run_pre_convert_hook()
        try:
            conv.init_assignment(job.assignment, job.student)  # also scores missing notebooks 0
        except NbGraderException:
            if job.notebooks:
                raise
            # No notebook the gradebook knows: nbgrader stops before scoring them 0.
        folder.mkdir(parents=True, exist_ok=True)
        with self.db() as gb:
            expected = [nb.name for nb in gb.find_assignment(job.assignment).notebooks]
        for notebook_id in expected:
            if notebook_id not in job.notebooks:
                prepared.missing.append(notebook_id)
        for filename in list(conv.notebooks):
            notebook_id = Path(filename).stem
            conv._sanitizing = True
            conv._init_preprocessors()
            try:
                super(Autograde, conv).convert_single_notebook(filename)
                sanitized = nbformat.read(folder / f"{notebook_id}.ipynb", as_version=4)
            except Exception as error:  # noqa: BLE001 - anything nbgrader cannot read is the learner's file
                prepared.unreadable[notebook_id] = _unreadable_reason(Path(filename), error)
                continue
            # What the kit's sanitize steps restored or ignored (fairness.GraderNotes): written
            # again after execution, with the notes on the run.
            prepared.notes[notebook_id] = take_notes(sanitized)
            if prepared.notes[notebook_id]:
                nbformat.write(sanitized, folder / f"{notebook_id}.ipynb")
            sanitized = self._before_execution(folder / f"{notebook_id}.ipynb", sanitized)
            kernel = sanitized.metadata.get("kernelspec", {}).get("name")
            plan = self.warm_plan(job.assignment, notebook_id, kernel)
            if not warm_kernel_fits(sanitized, plan):
                # The learner's cells set environment variables before imports: a fresh
                # kernel, as nbgrader autograde would start, not one warmed up for others.
                plan = dataclasses.replace(plan, env=(), preload=())
            prepared.notebooks.append(
                PreparedNotebook(notebook_id, folder / f"{notebook_id}.ipynb", plan)
            )
        return prepared

    def _split_autograde_preprocessors(self) -> tuple[list, list]:
        """nbgrader's autograde list split around Execute: (before, after) it."""
        before: list = []
        after: list = []
        seen_execute = False
        for pp in self.converter.autograde_preprocessors:
            pp_class = import_item(pp) if isinstance(pp, str) else pp
            if isinstance(pp_class, type) and issubclass(pp_class, Execute):
                seen_execute = True  # done by course.grading.run_notebook
                continue
            (after if seen_execute else before).append(pp_class)
        return before, after

    def _before_execution(self, path: Path, nb: NotebookNode) -> NotebookNode:
        """Run the autograde preprocessors that come before Execute (the kit's
        GuardSubmission) on the sanitized notebook in its staging folder, as nbgrader does."""
        before, _ = self._split_autograde_preprocessors()
        if not before:
            return nb
        conv = self.converter
        conv._sanitizing = False
        try:
            resources = conv.init_single_notebook_resources(str(path))
        finally:
            conv._sanitizing = True
        resources["metadata"] = {"path": str(path.parent)}
        for pp_class in before:
            nb, resources = pp_class(parent=conv.exporter, config=self.config)(nb, resources)
        nbformat.write(nb, path)
        return nb

    def finish(
        self,
        prepared: Prepared,
        executed: dict[str, tuple[NotebookNode, ExecutionReport]],
        memory_limit: int | None = None,
    ) -> Result:
        """Grade the executed notebooks (SaveAutoGrades and the rest of nbgrader's list),
        score unreadable notebooks 0, and move the folder into ``autograded/``."""
        job, conv = prepared.job, self.converter
        result = Result(job)
        conv.coursedir.assignment_id = job.assignment
        conv.coursedir.student_id = job.student
        conv._sanitizing = False
        conv.exporter._preprocessors = []
        for pp in self._split_autograde_preprocessors()[1]:  # the ones before ran in prepare()
            conv.exporter.register_preprocessor(pp)
        for item in prepared.notebooks:
            nb, report = executed[item.notebook_id]
            notes = prepared.notes.get(item.notebook_id, []) + execution_notes(
                nb, report, memory_limit
            )
            result.notes += notes
            if notes:
                nb.cells.insert(0, notes_cell(notes))
            nbformat.write(nb, item.path)
            resources = conv.init_single_notebook_resources(str(item.path))
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                output, resources = conv.exporter.from_filename(str(item.path), resources=resources)
            conv.write_single_notebook(output, resources)
        for notebook_id in prepared.missing:
            result.notes.append(
                f"`{notebook_id}.ipynb` is missing from your submission, so its tests score 0."
            )
            self._score_zero(job, notebook_id)
        for notebook_id, reason in prepared.unreadable.items():
            result.notes.append(reason)
            self._score_zero(job, notebook_id)
            nbformat.write(
                self._placeholder(job, notebook_id, reason),
                prepared.folder / f"{notebook_id}.ipynb",
            )
        conv.set_permissions(job.assignment, job.student)
        conv.run_post_convert_hook()
        self._publish(prepared)
        with self.db() as gb:
            submission = gb.find_submission(job.assignment, job.student)
            result.score, result.max_score = float(submission.score), float(submission.max_score)
        return result

    def discard(self, job: Job) -> None:
        """Forget the staging folder of a submission that could not be graded."""
        shutil.rmtree(self.staging_folder(job), ignore_errors=True)

    def _score_zero(self, job: Job, notebook_id: str) -> None:
        with self.db() as gb:
            notebook = gb.find_submission_notebook(notebook_id, job.assignment, job.student)
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    def _placeholder(self, job: Job, notebook_id: str, reason: str) -> NotebookNode:
        """The autograded notebook of an unreadable submission: the message, nothing else."""
        nb = nbformat.v4.new_notebook()
        with contextlib.suppress(Exception), self.db() as gb:
            kernelspec = gb.find_notebook(notebook_id, job.assignment).kernelspec
            if kernelspec:
                nb.metadata["kernelspec"] = nbformat.from_dict(json.loads(kernelspec))
        nb.cells.append(notes_cell([reason], title="Not graded: your notebook could not be read"))
        return nb

    def _publish(self, prepared: Prepared) -> None:
        job = prepared.job
        final = Path(
            self.coursedir.format_path(
                self.coursedir.autograded_directory, job.student, job.assignment
            )
        )
        final.parent.mkdir(parents=True, exist_ok=True)
        trash = None
        if final.exists():
            trash = self.work / "trash" / uuid.uuid4().hex
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(final, trash)
        os.rename(prepared.folder, final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    # -- summaries

    def assignment_scores(self, assignment: str) -> tuple[list[float], float]:
        """Total scores of every learner graded in ``autograded/`` for ``assignment`` and its
        maximum."""
        scores = []
        with self.db() as gb:
            a = gb.find_assignment(assignment)
            for submission in a.submissions:
                dest = self.coursedir.format_path(
                    self.coursedir.autograded_directory, submission.student_id, assignment
                )
                if os.path.isdir(dest):
                    scores.append(float(submission.score))
            return scores, float(a.max_score)


def _unreadable_reason(path: Path, error: Exception) -> str:
    """Why nbgrader could not read or sanitize the file at ``path``, for learner and teacher."""
    detail = (str(error).strip().splitlines() or [""])[0][:200]
    try:
        nbformat.read(path, as_version=4)
    except nbformat.reader.NotJSONError:
        what = f"is not a notebook: its content is not valid JSON ({detail})"
    except Exception as problem:  # noqa: BLE001 - valid JSON, but not shaped like a notebook
        first = (str(problem).strip().splitlines() or [""])[0][:200]
        what = f"is not a valid notebook ({type(problem).__name__}: {first})"
    else:  # a notebook that nbgrader's checks reject (e.g. edited grading metadata)
        what = f"could not be graded: nbgrader rejected it ({type(error).__name__}: {detail})"
    return f"`{path.name}` {what}. Every test of this notebook scores 0."


def _kernel_name_from(kernelspec: str | None) -> str | None:
    if not kernelspec:
        return None
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(kernelspec).get("name")
    return None
