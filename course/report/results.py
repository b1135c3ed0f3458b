"""What ``course report`` finds: per lesson, per exercise, the outcomes and failure groups.

Example:
    >>> ExerciseResult("ex1", "01_x", "Share a layer", 1.0, passed=3, failed=1).pass_rate
    0.75
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: What a failure is called when the learner left the exercise's stub in place.
NOT_ATTEMPTED = "not attempted: the answer cell still raises NotImplementedError"
#: ... when nbgrader could not run the notebook at all (invalid JSON, a kernel that died).
NOT_AUTOGRADED = "not autograded: nbgrader could not run this notebook (see the autograde log)"
#: ... when a cell waits for the teacher (a manually graded answer).
MANUAL = "waiting for manual grading"
#: ... when a cell lost points without showing an error (partial credit, a score set by hand).
NO_ERROR = "no error shown (partial credit or a score set by hand)"


@dataclass
class FailureGroup:
    """Learners whose cell failed with the same (normalised) message."""

    message: str  # what the report shows: the message, numbers that differ blanked as "…"
    key: str  # normalise(message): what groups
    students: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class ExerciseResult:
    """One graded cell of an assignment and how the class did on it."""

    grade_id: str
    notebook: str
    title: str
    max_points: float
    passed: int = 0  # full points
    partly: int = 0  # some points
    failed: int = 0  # no points
    ungraded: int = 0  # no score yet (nbgrader could not run the notebook, or manual grading)
    failures: list[FailureGroup] = field(default_factory=list)  # most common first

    @property
    def graded(self) -> int:
        """Submissions counted for this cell."""
        return self.passed + self.partly + self.failed + self.ungraded

    @property
    def pass_rate(self) -> float:
        """Share of submissions with full points (0 when nobody submitted)."""
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class LessonResult:
    """One assignment (a lesson) and its exercises, in notebook order."""

    name: str
    title: str
    idea: str
    students: int  # on the gradebook's roster
    not_submitted: list[str]
    exercises: list[ExerciseResult]

    @property
    def submitted(self) -> int:
        return self.students - len(self.not_submitted)

    @property
    def pass_rate(self) -> float:
        """Mean pass rate of the lesson's exercises."""
        return (
            sum(e.pass_rate for e in self.exercises) / len(self.exercises)
            if self.exercises
            else 0.0
        )


@dataclass
class ClassReport:
    course_id: str
    lessons: list[LessonResult]
