"""nbgrader end to end, once per lesson: generate_assignment, ONE autograde call for the
lesson's whole corpus, generate_feedback, all with nbgrader's own command line in a
temporary course directory. Tests read the results from :class:`GradedLesson`.

Lessons come from the kit (``solutions/``, corpus in ``tests/corpus/``) and from the
fixture course (``tests/pipeline/fixtures/course``), so the machinery is tested before real
lessons exist. Tests ask for ``lesson`` (one per lesson) or ``lesson, case`` (one per corpus
case that nbgrader itself can grade) and get parametrized here; the ids start with the
lesson, which the repository's conftest.py uses to keep a lesson's tests on one
pytest-xdist worker (graded once).

Lessons whose corpus has ``course_grade_only`` cases (a memory bomb, a notebook reaching for
the solutions) or cases with a note (an edit grading restored or ignored) are also graded,
whole corpus at once, by ``course grade`` (memory limit, watchdog). Both graders run every
kernel in a box; ``needs_box`` cases are left out where the system allows none (and
``needs_memory_cap`` cases where no memory cgroup can be made: not root), and a
service on the host (:class:`HostService`) runs while they grade: tests ask for ``lesson,
any_case`` and read :class:`CourseGradedLesson`. Their ids start with the lesson too
(``05_capstone/course-grade/...``), so one worker runs both graders on a lesson, once each,
and the tests can compare them.

Both graders get a per-cell time limit of ``TIME_LIMIT`` seconds instead of the kit's 120,
so an endless loop costs seconds, not minutes, and the lessons of ``NOTEBOOK_BUDGET`` a time
budget for all cells of a notebook together (``RestartingExecute.notebook_timeout``) instead
of the kit's 600 s, so a notebook that spends it costs seconds too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course.build import IGNORED
from course.config import CONFIG_FILE, load_course_config, set_cell_timeout, tool_environment
from course.corpus import Submission, lesson_corpus, place_submissions
from course.isolation.cgroups import controller_folder
from course.isolation.kernels import box_available
from course.lessons import Lesson, find_lessons

TIME_LIMIT = 20
#: lesson -> seconds all cells of one notebook may run together. Lesson 00's corpus has a
#: notebook that spends its budget in cells that each stay under TIME_LIMIT
#: (``computes-through-budget``, 19 s of CPU time each: the budget runs out in the first of
#: them, however fast the cells above ran); its honest notebooks use 1 to 5 s, so 15 s leaves
#: room, and costs the case about 15 s per grader. Both limits count CPU time
#: (course/grading/steps/cpu_time.py), so a busy machine changes neither grade.
NOTEBOOK_BUDGET = {"00_layers_calls_variables": 15}
#: Both limits count CPU time; their wall-clock ceiling (for cells that sleep: no corpus case
#: does) is this many times the limit, far enough that a busy machine never reaches it.
WALL_LIMIT_FACTOR = 20
REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = Path(__file__).resolve().parent / "fixtures" / "course"
COURSES = {"kit": REPO, "fixture": FIXTURE_COURSE}


@dataclass(frozen=True)
class PipelineLesson:
    """A lesson of one of the COURSES and its corpus (empty without a corpus file)."""

    course: str
    lesson: Lesson
    cases: tuple[Submission, ...]

    @property
    def id(self) -> str:
        return self.lesson.name if self.course == "kit" else f"{self.course}-{self.lesson.name}"

    @property
    def nbgrader_cases(self) -> tuple[Submission, ...]:
        """The cases plain ``nbgrader autograde`` grades (not the course_grade_only ones)."""
        return tuple(case for case in self.cases if not case.course_grade_only)

    @property
    def needs_course_grade(self) -> bool:
        """Whether ``course grade`` grades this lesson's corpus too: it has cases only it can
        grade, or cases with a note, which both graders must write alike."""
        return any(case.course_grade_only or case.course_grade_notes for case in self.cases)


def _all_lessons() -> list[PipelineLesson]:
    """Every lesson with its corpus; without a box on this system (no user namespaces),
    without the ``needs_box`` cases, whose outputs hold only in a box; without a memory
    cgroup (not root), without the ``needs_memory_cap`` cases."""
    boxed = box_available()
    capped = controller_folder("memory") is not None

    def kept(case: Submission) -> bool:
        return (boxed or not case.needs_box) and (capped or not case.needs_memory_cap)

    return [
        PipelineLesson(course, lesson, tuple(filter(kept, lesson_corpus(lesson))))
        for course, root in COURSES.items()
        for lesson in find_lessons(root)
    ]


@dataclass
class HostService:
    """A service the test suite runs on the host while notebooks are graded: a UNIX socket
    in the host's ``/tmp`` (the corpus's ``SERVICE_SOCKETS``) and a SysV shared memory
    segment. No graded notebook may reach either (issue 23)."""

    path: Path
    connections: int = 0


@pytest.fixture(scope="session", autouse=True)
def host_service() -> Iterator[HostService]:
    import ctypes
    import os
    import socket
    import threading

    service = HostService(Path(f"/tmp/course-corpus-service-{os.getpid()}.sock"))
    listener = socket.socket(socket.AF_UNIX)
    service.path.unlink(missing_ok=True)
    listener.bind(str(service.path))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            service.connections += 1
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    libc = ctypes.CDLL(None, use_errno=True)
    segment = libc.shmget(0, 4096, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    try:
        yield service
    finally:
        listener.close()
        service.path.unlink(missing_ok=True)
        if segment >= 0:
            libc.shmctl(segment, 0, None)  # IPC_RMID


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    lessons = _all_lessons()
    if "any_case" in metafunc.fixturenames:
        metafunc.parametrize(
            ("lesson", "any_case"),
            [
                pytest.param(item, case, id=f"{item.id}/course-grade/{case.name}")
                for item in lessons
                if item.needs_course_grade
                for case in item.cases
            ],
        )
    elif "case" in metafunc.fixturenames:
        metafunc.parametrize(
            ("lesson", "case"),
            [
                pytest.param(item, case, id=f"{item.id}/{case.name}")
                for item in lessons
                for case in item.nbgrader_cases
            ],
        )
    elif "graded_by_course" in metafunc.fixturenames:
        metafunc.parametrize(
            "lesson",
            [
                pytest.param(item, id=f"{item.id}/course-grade")
                for item in lessons
                if item.needs_course_grade
            ],
        )
    elif "lesson" in metafunc.fixturenames:
        metafunc.parametrize(
            "lesson",
            [pytest.param(item, id=item.id) for item in lessons],
        )


def run_tool(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run this environment's command ``tool`` (``nbgrader``, ``course``) in ``cwd`` (venv
    bin on PATH for nbgrader's `alembic`; quiet TensorFlow)."""
    bin_dir = Path(sys.executable).parent
    env = tool_environment()
    return subprocess.run(
        [str(bin_dir / tool), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run this environment's ``nbgrader`` in ``cwd``."""
    return run_tool("nbgrader", *args, cwd=cwd)


def new_course(lesson: Lesson, course_dir: Path) -> subprocess.CompletedProcess:
    """A temporary course at ``course_dir`` holding ``lesson``'s source, with the kit's
    config, a ``TIME_LIMIT`` per cell and its ``NOTEBOOK_BUDGET`` if it has one; returns
    ``nbgrader generate_assignment``'s run."""
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(lesson.root / CONFIG_FILE, course_dir / CONFIG_FILE)
    set_cell_timeout(course_dir, TIME_LIMIT)
    with open(course_dir / CONFIG_FILE, "a", encoding="utf-8") as config:
        config.write(f"c.RestartingExecute.wall_limit_factor = {WALL_LIMIT_FACTOR}\n")
        if lesson.name in NOTEBOOK_BUDGET:
            config.write(f"c.RestartingExecute.notebook_timeout = {NOTEBOOK_BUDGET[lesson.name]}\n")
    shutil.copytree(lesson.source_dir, course_dir / "solutions" / lesson.name, ignore=IGNORED)
    return nbgrader("generate_assignment", lesson.name, cwd=course_dir)


@dataclass
class GradedLesson:
    """What nbgrader produced for one lesson and its corpus in a temporary course."""

    item: PipelineLesson
    course_dir: Path
    generate: subprocess.CompletedProcess
    autograde: subprocess.CompletedProcess | None = None
    feedback: subprocess.CompletedProcess | None = None
    max_points: dict[str, float] = field(
        default_factory=dict
    )  # grade cell -> max, from the gradebook
    scores: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # student -> grade cell -> score
    manual: dict[str, list[str]] = field(
        default_factory=dict
    )  # student -> cells needing manual grade

    @property
    def release_dir(self) -> Path:
        return self.course_dir / "notebooks" / self.item.lesson.name

    def feedback_file(self, student: str) -> Path:
        name = self.item.lesson.name
        return self.course_dir / "feedback" / student / name / f"{name}.html"

    def autograded(self, student: str) -> Path:
        name = self.item.lesson.name
        return self.course_dir / "autograded" / student / name / f"{name}.ipynb"

    @property
    def autograde_log(self) -> str:
        return (self.autograde.stdout + self.autograde.stderr) if self.autograde else ""

    def student_log(self, student: str) -> str:
        """The part of the autograde log about ``student`` (nbgrader grades one after another)."""
        marker = "Creating/updating student with ID "
        sections = self.autograde_log.split(marker)
        mine = [section for section in sections[1:] if section.startswith(f"'{student}'")]
        return marker + mine[0] if mine else f"(no autograde log for {student})"


def _grade(item: PipelineLesson, course_dir: Path) -> GradedLesson:
    lesson = item.lesson
    result = GradedLesson(item, course_dir, generate=new_course(lesson, course_dir))
    if result.generate.returncode != 0 or not item.nbgrader_cases:
        return result

    # Learners get the committed learner notebook, so submissions start from it.
    place_submissions(
        course_dir,
        lesson.name,
        item.nbgrader_cases,
        lesson.release_notebook,
        lesson.source_notebook,
    )
    result.autograde = nbgrader("autograde", lesson.name, cwd=course_dir)
    result.feedback = nbgrader("generate_feedback", lesson.name, cwd=course_dir)
    result.max_points, result.scores = read_scores(course_dir, item, item.nbgrader_cases)
    result.manual = read_manual(course_dir, item, item.nbgrader_cases)
    return result


def read_scores(course_dir: Path, item: PipelineLesson, cases) -> tuple[dict, dict]:
    """(grade cell -> max points, student -> grade cell -> score) from the gradebook."""
    lesson = item.lesson
    course_id = load_course_config(lesson.root).CourseDirectory.course_id
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id) as gradebook:
        notebook = gradebook.find_notebook(lesson.name, lesson.name)
        max_points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
        scores = {
            case.name: {
                cell: float(gradebook.find_grade(cell, lesson.name, lesson.name, case.name).score)
                for cell in max_points
            }
            for case in cases
        }
    return max_points, scores


def read_manual(course_dir: Path, item: PipelineLesson, cases) -> dict[str, list[str]]:
    """student -> the grade cells the gradebook marks *needs manual grade*."""
    lesson = item.lesson
    course_id = load_course_config(lesson.root).CourseDirectory.course_id
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id) as gradebook:
        notebook = gradebook.find_notebook(lesson.name, lesson.name)
        return {
            case.name: sorted(
                cell.name
                for cell in notebook.grade_cells
                if gradebook.find_grade(
                    cell.name, lesson.name, lesson.name, case.name
                ).needs_manual_grade
            )
            for case in cases
        }


def autograded_notebook(course_dir: Path, lesson: str, student: str) -> Path:
    return course_dir / "autograded" / student / lesson / f"{lesson}.ipynb"


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """``graded(lesson) -> GradedLesson``, computed once per lesson and pytest(-xdist worker)
    session."""
    cache: dict[str, GradedLesson] = {}

    def get(item: PipelineLesson) -> GradedLesson:
        if item.id not in cache:
            cache[item.id] = _grade(item, tmp_path_factory.mktemp(f"course-{item.id}"))
        return cache[item.id]

    return get


# ------------------------------------------------------------------------ course grade


@dataclass
class CourseGradedLesson:
    """What ``course grade`` (then ``nbgrader generate_feedback``) produced for a lesson's
    whole corpus in a temporary course."""

    item: PipelineLesson
    course_dir: Path
    grade: subprocess.CompletedProcess
    feedback: subprocess.CompletedProcess
    max_points: dict[str, float]
    scores: dict[str, dict[str, float]]
    manual: dict[str, list[str]] = field(default_factory=dict)

    def autograded(self, student: str) -> Path:
        name = self.item.lesson.name
        return self.course_dir / "autograded" / student / name / f"{name}.ipynb"

    def feedback_file(self, student: str) -> Path:
        name = self.item.lesson.name
        return self.course_dir / "feedback" / student / name / f"{name}.html"


def _course_grade(item: PipelineLesson, course_dir: Path) -> CourseGradedLesson:
    lesson = item.lesson
    generate = new_course(lesson, course_dir)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    place_submissions(
        course_dir, lesson.name, item.cases, lesson.release_notebook, lesson.source_notebook
    )
    grade = run_tool(
        "course",
        "grade",
        lesson.name,
        "--course-dir",
        str(course_dir),
        "--workers",
        "2",
        "--scratch-dir",
        str(course_dir.parent / "scratch"),
        cwd=course_dir,
    )
    feedback = nbgrader("generate_feedback", lesson.name, cwd=course_dir)
    max_points, scores = (
        read_scores(course_dir, item, item.cases) if grade.returncode == 0 else ({}, {})
    )
    manual = read_manual(course_dir, item, item.cases) if grade.returncode == 0 else {}
    return CourseGradedLesson(item, course_dir, grade, feedback, max_points, scores, manual)


@pytest.fixture(scope="session")
def graded_by_course(tmp_path_factory: pytest.TempPathFactory):
    """``graded_by_course(lesson) -> CourseGradedLesson``, once per lesson and worker session."""
    cache: dict[str, CourseGradedLesson] = {}

    def get(item: PipelineLesson) -> CourseGradedLesson:
        if item.id not in cache:
            cache[item.id] = _course_grade(
                item, tmp_path_factory.mktemp(f"course-grade-{item.id}") / "course"
            )
        return cache[item.id]

    return get
