"""What ``course grade`` passes around: submissions to grade, prepared and graded.

Example::

    job = Job("01_shared_layers", "alice", ("01_shared_layers",))
    job.label                      # 'alice/01_shared_layers'
    Result(job, score=3, max_score=5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course.grading.warmup import WarmKernelPlan


@dataclass(frozen=True)
class Job:
    """One learner's submission of one assignment: the notebooks to grade."""

    assignment: str
    student: str
    notebooks: tuple[str, ...]  # notebook ids (file names without .ipynb) known to the gradebook

    @property
    def label(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass
class Jobs:
    """What a run has to do: ``todo`` in grading order, ``done`` already graded (skipped)."""

    todo: list[Job] = field(default_factory=list)
    done: list[Job] = field(default_factory=list)


@dataclass
class PreparedNotebook:
    """A sanitized notebook ready to execute, and the kernel it needs."""

    notebook_id: str
    path: Path  # the sanitized notebook in the staging folder
    plan: WarmKernelPlan


@dataclass
class Prepared:
    """A submission after :meth:`Autograder.prepare`."""

    job: Job
    folder: Path  # staging folder: what nbgrader puts next to the notebook
    notebooks: list[PreparedNotebook] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # notebook id -> why
    missing: list[str] = field(default_factory=list)  # notebook ids not in the submission
    notes: dict[str, list[str]] = field(default_factory=dict)  # notebook id -> notes


@dataclass
class Result:
    """How one submission was graded. ``error`` is set when the GRADER failed (nothing was
    recorded for the learner); problems of the learner's notebook are ``notes``."""

    job: Job
    score: float = 0.0
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # from start to finish of this submission
    waited: float = 0.0  # of which waiting for a kernel (start and warm-up not hidden by the pool)
    executed: float = 0.0  # of which running the notebook's cells


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
    #: The kernel was killed by something outside its notebook (its warm parent died, the
    #: system killed it): the notebook is run again, not graded on this run.
    killed_from_outside: bool = False
