"""What a learner's self-grading keeps: the results per lesson and the state of a run.

Everything lives in the course's ``progress/`` folder (git ignores it), outside
``notebooks/`` (which ``course build`` regenerates) and outside the learner's lesson folders:

- ``progress.json``: the last result of every lesson graded (:class:`LessonRecord`);
- ``status.json``: the run going on or the last one (:class:`RunStatus`);
- ``feedback/<lesson>.html``: the lesson's feedback page, hidden tests left out;
- ``last-run.log``: what ``course grade`` printed during the last run;
- ``.template/``: the generated nbgrader course every run copies (:mod:`.engine`).

Files are replaced atomically (write, then rename), so a reader never sees half a file.

Example::

    >>> import tempfile
    >>> state = StateDir(Path(tempfile.mkdtemp()))
    >>> record = LessonRecord("01_x", "01 · X", "2026-01-01T10:00:00+00:00", "ab12", 3, 8)
    >>> state.save_records({"01_x": record})
    >>> state.records()["01_x"].score
    3.0
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The learner's results, in the course folder (next to ``notebooks/``).
STATE_DIR = "progress"


@dataclass
class Check:
    """One graded test cell: its points and, when it lost points, the check's message."""

    grade_id: str
    exercise: str
    points: float
    max_points: float
    message: str = ""  # "" when it earned every point
    manual: bool = False  # flagged: a teacher would look at it by hand


@dataclass
class LessonRecord:
    """The last self-grade of one lesson."""

    lesson: str
    title: str
    graded_at: str  # ISO 8601, UTC
    notebook_sha256: str  # of the learner's notebook as it was graded
    score: float
    max_score: float
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the grader's notes (time limit, ...)
    feedback: str | None = None  # file name in progress/feedback/, None if none was made
    error: str | None = None  # the GRADER failed: nothing was recorded

    def __post_init__(self) -> None:
        self.score, self.max_score = float(self.score), float(self.max_score)
        self.checks = [c if isinstance(c, Check) else Check(**c) for c in self.checks]

    def exercises(self) -> list[tuple[str, float, float]]:
        """(exercise, points, possible points), in notebook order.

        >>> r = LessonRecord("l", "L", "", "", 1, 3, [Check("t1", "Ex 1", 1, 2, "no"),
        ...     Check("t2", "Ex 1", 0, 0), Check("t3", "Ex 2", 0, 1, "wrong")])
        >>> r.exercises()
        [('Ex 1', 1.0, 2.0), ('Ex 2', 0.0, 1.0)]
        """
        totals: dict[str, list[float]] = {}
        for check in self.checks:
            total = totals.setdefault(check.exercise, [0.0, 0.0])
            total[0] += check.points
            total[1] += check.max_points
        return [(name, points, possible) for name, (points, possible) in totals.items()]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.points < c.max_points]


@dataclass
class RunStatus:
    """A grading run: which lessons, which are done, and how it ended."""

    state: str  # "running", "done" or "failed"
    lessons: list[str]
    done: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    message: str = ""
    pid: int = 0


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file's bytes, or None when it cannot be read.

    >>> file_sha256(Path("/no/such/file")) is None
    True
    """
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class StateDir:
    """The ``progress/`` folder of one course."""

    path: Path

    @classmethod
    def of(cls, course_dir: Path) -> StateDir:
        return cls(Path(course_dir) / STATE_DIR)

    @property
    def feedback_dir(self) -> Path:
        return self.path / "feedback"

    @property
    def log_path(self) -> Path:
        return self.path / "last-run.log"

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    def records(self) -> dict[str, LessonRecord]:
        """lesson -> its last self-grade (a damaged file reads as no results)."""
        data = _read_json(self.path / "progress.json")
        records = {}
        for name, item in (data or {}).get("lessons", {}).items():
            try:
                records[name] = LessonRecord(**item)
            except TypeError:  # written by another version: graded again next time
                continue
        return records

    def save_records(self, records: dict[str, LessonRecord]) -> None:
        lessons = {name: dataclasses.asdict(records[name]) for name in sorted(records)}
        _write_json(self.path / "progress.json", {"lessons": lessons})

    def status(self) -> RunStatus | None:
        data = _read_json(self.path / "status.json")
        try:
            return RunStatus(**data) if isinstance(data, dict) else None
        except TypeError:
            return None

    def save_status(self, status: RunStatus) -> None:
        _write_json(self.path / "status.json", dataclasses.asdict(status))


class SelfGradeError(RuntimeError):
    """Self-grading cannot start: no instructor notebooks, no such lesson, a grade running."""


@contextlib.contextmanager
def grading_lock(state: StateDir) -> Iterator[None]:
    """Hold the course's self-grading lock; SelfGradeError if another run holds it."""
    state.path.mkdir(parents=True, exist_ok=True)
    fd = os.open(state.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SelfGradeError("a grade of your work is already running") from None
        yield
    finally:
        os.close(fd)


def is_running(state: StateDir) -> bool:
    """Whether a run holds the lock right now (in any process).

    >>> import tempfile
    >>> state = StateDir(Path(tempfile.mkdtemp()))
    >>> with grading_lock(state):
    ...     is_running(state)
    True
    >>> is_running(state)
    False
    """
    try:
        fd = os.open(state.lock_path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
