"""A whole class through nbgrader on one machine: release, fetch, submit, collect, autograde
(twice), generate and return feedback, export, report; the steps the teachers' guide
(docs/teachers.md) walks.

Two classes, each in its own temporary course directory with its own exchange directory:

* the fixture course (tests/pipeline/fixtures/course, no TensorFlow) with every case of its
  corpus as a learner, one learner who submits twice and one on the roster who never
  submits. The teacher's steps run through nbgrader's command line, as in the guide;
* lesson 00 of the kit with three learners (correct, a wrong model that passes the visible
  checks, untouched). The teacher's steps run through ``NbGraderAPI``, the API behind
  formgrader's buttons, so both teacher front ends are covered.

How several learners share one machine: nbgrader's exchange takes the learner's id from the
OS user unless ``CourseDirectory.student_id`` is set (``nbgrader submit --student ID``, meant
"for scripted use" in nbgrader 0.9's help). Each simulated learner has its own home folder
(``Exchange.assignment_dir``, where fetched assignments land), its own submission cache
(``Exchange.cache``: fetch_feedback finds the learner's feedback through the submission
secret kept there) and its student id, and runs the exchange classes that JupyterLab's
Assignment List extension runs when a learner clicks Fetch, Submit or Fetch Feedback. Every
file then belongs to the one OS user running the tests, so collect's owner cross-check
(which only logs a warning) is turned off with ``--ExchangeCollect.check_owner=False``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory
from traitlets.config import Config

from course.build import IGNORED
from course.cells import graded_points
from course.cli import main as course_main
from course.config import CONFIG_FILE, load_course_config, tool_environment, with_bin_first
from course.corpus import Submission, feedback_outputs, lesson_corpus, write_submission
from course.lessons import Lesson, find_lessons

pytestmark = [
    pytest.mark.pipeline,
    # nbgrader's in-process autograde (NbGraderAPI) trips SQLAlchemy's autoflush warnings.
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),
]

REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = Path(__file__).resolve().parent / "fixtures" / "course"
BIN = Path(sys.executable).parent

# ----------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class Learner:
    """One learner on a shared machine: a home folder, a submission cache and a student id.

    Example::

        ann = Learner("ann", tmp / "home" / "ann", "fixture-course", tmp / "exchange")
        notebook = ann.fetch("00_fixture") / "00_fixture.ipynb"
        ...                                     # ann edits the notebook
        ann.submit("00_fixture")
    """

    name: str
    home: Path
    course_id: str
    exchange: Path

    def _run(self, step: str, assignment: str) -> None:
        """Run exchange step ``step`` ("FetchAssignment", "Submit", "FetchFeedback") as this
        learner, the way JupyterLab's Assignment List extension does."""
        config = Config()
        config.CourseDirectory.course_id = self.course_id
        config.CourseDirectory.assignment_id = assignment
        config.CourseDirectory.student_id = self.name
        config.Exchange.root = str(self.exchange)
        config.Exchange.assignment_dir = str(self.home)
        config.Exchange.cache = str(self.home / ".nbgrader_cache")
        exchange = ExchangeFactory(config=config)
        app = getattr(exchange, step)(
            coursedir=CourseDirectory(config=config),
            authenticator=Authenticator(config=config),
            config=config,
        )
        app.start()

    def fetch(self, assignment: str) -> Path:
        """``nbgrader fetch_assignment``: the released assignment into the home folder."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._run("FetchAssignment", assignment)
        return self.home / assignment

    def submit(self, assignment: str) -> None:
        """``nbgrader submit --student NAME``: the home folder's copy into the exchange."""
        self._run("Submit", assignment)

    def fetch_feedback(self, assignment: str) -> list[Path]:
        """``nbgrader fetch_feedback``: returned feedback pages into the assignment folder."""
        self._run("FetchFeedback", assignment)
        return sorted((self.home / assignment / "feedback").glob("*/*.html"))


def teacher(*args: str, course_dir: Path) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course directory, as a teacher types it."""
    env = tool_environment()
    return subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=course_dir, env=env, capture_output=True, text=True
    )


def new_course(lesson: Lesson, course_dir: Path, exchange: Path) -> None:
    """A teacher's course directory: the lesson's source and the course's config with the
    exchange root added (the one line a teacher adds for a shared machine)."""
    course_dir.mkdir(parents=True)
    config = (lesson.root / CONFIG_FILE).read_text(encoding="utf-8")
    (course_dir / CONFIG_FILE).write_text(
        config + f"\nc.Exchange.root = {str(exchange)!r}\n", encoding="utf-8"
    )
    shutil.copytree(lesson.source_dir, course_dir / "solutions" / lesson.name, ignore=IGNORED)


def gradebook_scores(
    course_dir: Path, course_id: str, assignment: str
) -> dict[str, dict[str, float]]:
    """student -> grade cell -> score, straight from nbgrader's gradebook, for every student
    with a submission of ``assignment`` (one notebook named like the assignment)."""
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id) as gradebook:
        notebook = gradebook.find_notebook(assignment, assignment)
        scores = {}
        for student in gradebook.students:
            try:
                gradebook.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            scores[student.id] = {
                cell.name: float(
                    gradebook.find_grade(cell.name, assignment, assignment, student.id).score
                )
                for cell in notebook.grade_cells
            }
        return scores


def read_csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(assignment, student_id) -> row of an ``nbgrader export`` CSV file."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["assignment"], row["student_id"]): row for row in csv.DictReader(handle)}


def _output(result: subprocess.CompletedProcess | dict) -> str:
    """Everything a step logged: a command's stdout and stderr, or an NbGraderAPI result's log."""
    if isinstance(result, subprocess.CompletedProcess):
        return result.stdout + result.stderr
    return result.get("log", "") + result.get("error", "")


def _log(result: subprocess.CompletedProcess | dict, limit: int = 4000) -> str:
    """The end of a step's log, for assertion messages."""
    text = _output(result)
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass
class ClassRun:
    """What one class produced, step by step."""

    lesson: Lesson
    course_dir: Path
    exchange: Path
    cases: dict[str, Submission]  # learner name -> what they submitted (last submission)
    roster: list[str]
    steps: dict[str, subprocess.CompletedProcess | dict] = field(default_factory=dict)
    fetched: dict[str, nbformat.NotebookNode] = field(
        default_factory=dict
    )  # learner -> fetched notebook
    first_grades: dict[str, dict[str, float]] = field(default_factory=dict)
    second_grades: dict[str, dict[str, float]] = field(default_factory=dict)
    feedback: dict[str, list[Path]] = field(
        default_factory=dict
    )  # learner -> fetched feedback pages
    report: dict | None = None

    @property
    def points(self) -> dict[str, float]:
        return graded_points(nbformat.read(self.lesson.source_notebook, as_version=4))

    @property
    def course_id(self) -> str:
        return load_course_config(self.lesson.root).CourseDirectory.course_id

    def csv_rows(self) -> dict[tuple[str, str], dict[str, str]]:
        return read_csv(self.course_dir / "grades.csv")

    def ungradable(self) -> set[str]:
        return {name for name, case in self.cases.items() if case.grading_fails}


def _learners(run: ClassRun, tmp: Path) -> dict[str, Learner]:
    return {
        name: Learner(name, tmp / "home" / name, run.course_id, run.exchange) for name in run.cases
    }


def _report(run: ClassRun) -> None:
    """The teacher's last step: ``course report ASSIGNMENT --course-dir ... --out ...``."""
    out = run.course_dir / "reports"
    status = course_main(
        ["report", run.lesson.name, "--course-dir", str(run.course_dir), "--out", str(out)]
    )
    run.steps["course report"] = {
        "success": status == 0,
        "log": f"course report exited with {status}",
    }
    if status == 0:
        run.report = json.loads((out / "report.json").read_text(encoding="utf-8"))


def _fill_in(learner: Learner, case: Submission, run: ClassRun) -> None:
    """The learner works on the fetched notebook and saves their answer in place."""
    name = run.lesson.name
    path = learner.home / name / f"{name}.ipynb"
    write_submission(case, path, run.lesson.source_notebook, path)


# ------------------------------------------------------------- class 1: fixture, CLI

FIXTURE_LESSON = find_lessons(FIXTURE_COURSE)[0]
RESUBMITTER = "resubmits"
ABSENT = "absent"


@pytest.fixture(scope="module")
def fixture_class(tmp_path_factory: pytest.TempPathFactory) -> ClassRun:
    """The fixture course's corpus as a class, through the guide's nbgrader commands."""
    tmp = tmp_path_factory.mktemp("fixture-class")
    lesson = FIXTURE_LESSON
    cases = {case.name: case for case in lesson_corpus(lesson)}
    correct = cases["correct"]
    cases[RESUBMITTER] = replace(correct, name=RESUBMITTER)  # first submits untouched, then this
    run = ClassRun(lesson, tmp / "course", tmp / "exchange", cases, roster=[*cases, ABSENT])
    new_course(lesson, run.course_dir, run.exchange)
    name, cwd = lesson.name, run.course_dir

    roster = run.course_dir / "roster.csv"
    roster.write_text(
        "id,first_name,last_name,email\n"
        + "".join(
            f"{student},{student.title()},Learner,{student}@example.org\n" for student in run.roster
        ),
        encoding="utf-8",
    )
    run.steps["student import"] = teacher("db", "student", "import", str(roster), course_dir=cwd)
    run.steps["generate_assignment"] = teacher("generate_assignment", name, course_dir=cwd)
    run.steps["release_assignment"] = teacher("release_assignment", name, course_dir=cwd)

    learners = _learners(run, tmp)
    for student, learner in learners.items():
        folder = learner.fetch(name)
        run.fetched[student] = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        if student == RESUBMITTER:
            learner.submit(name)  # the untouched notebook, by mistake
        _fill_in(learner, cases[student], run)
        learner.submit(name)

    run.steps["collect"] = teacher(
        "collect", name, "--ExchangeCollect.check_owner=False", course_dir=cwd
    )
    run.steps["autograde"] = teacher("autograde", name, course_dir=cwd)
    run.first_grades = gradebook_scores(run.course_dir, run.course_id, name)
    run.steps["autograde --force"] = teacher("autograde", name, "--force", course_dir=cwd)
    run.second_grades = gradebook_scores(run.course_dir, run.course_id, name)
    run.steps["generate_feedback"] = teacher("generate_feedback", name, course_dir=cwd)
    run.steps["release_feedback"] = teacher("release_feedback", name, course_dir=cwd)
    run.feedback = {student: learner.fetch_feedback(name) for student, learner in learners.items()}
    run.steps["export"] = teacher("export", "--to", "grades.csv", course_dir=cwd)
    _report(run)
    return run


# ---------------------------------------------------------- class 2: lesson 00, API

KIT_LESSON = find_lessons(REPO, ["00_layers_calls_variables"])[0]
KIT_LEARNERS = ["correct", "ex2-heads-differ", "untouched"]


@pytest.fixture(scope="module")
def lesson00_class(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClassRun]:
    """Lesson 00 with three learners, the teacher's steps through ``NbGraderAPI``."""
    tmp = tmp_path_factory.mktemp("lesson00-class")
    lesson = KIT_LESSON
    corpus = {case.name: case for case in lesson_corpus(lesson)}
    run = ClassRun(
        lesson,
        tmp / "course",
        tmp / "exchange",
        {n: corpus[n] for n in KIT_LEARNERS},
        roster=KIT_LEARNERS,
    )
    new_course(lesson, run.course_dir, run.exchange)
    name = lesson.name

    config = load_course_config(run.course_dir)
    config.CourseDirectory.root = str(run.course_dir)
    config.ExchangeCollect.check_owner = False
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = with_bin_first(old_path)  # nbgrader runs `alembic` for a new gradebook
    try:
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        run.steps["generate_assignment"] = api.generate_assignment(name)
        run.steps["release_assignment"] = api.release_assignment(name)
        learners = _learners(run, tmp)
        for student, learner in learners.items():
            folder = learner.fetch(name)
            run.fetched[student] = nbformat.read(folder / f"{name}.ipynb", as_version=4)
            _fill_in(learner, run.cases[student], run)
            learner.submit(name)
        run.steps["collect"] = api.collect(name)
        for student in learners:
            run.steps[f"autograde {student}"] = api.autograde(name, student)
        run.first_grades = gradebook_scores(run.course_dir, run.course_id, name)
        run.steps["generate_feedback"] = api.generate_feedback(name)
        run.steps["release_feedback"] = api.release_feedback(name)
        run.feedback = {
            student: learner.fetch_feedback(name) for student, learner in learners.items()
        }
    finally:
        os.environ["PATH"] = old_path
    run.steps["export"] = teacher("export", "--to", "grades.csv", course_dir=run.course_dir)
    _report(run)
    yield run


# Every test is parametrized by the class it looks at, so its id ends in [fixture_class] or
# [lesson00_class]: the repository's conftest.py then keeps each class on one pytest-xdist
# worker (one run of the flow per class) and lets the two classes run in parallel.


@pytest.fixture(params=["fixture_class", "lesson00_class"])
def any_class(request: pytest.FixtureRequest) -> ClassRun:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["fixture_class"])
def cli_class(request: pytest.FixtureRequest) -> ClassRun:
    """The fixture class (the one graded through the command line, twice)."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["lesson00_class"])
def api_class(request: pytest.FixtureRequest) -> ClassRun:
    """The lesson 00 class (graded through NbGraderAPI)."""
    return request.getfixturevalue(request.param)


# ---------------------------------------------------------------------------- tests


def test_every_teacher_step_succeeds(any_class):
    """Every step but autograde succeeds; autograde fails exactly for ungradable notebooks."""
    for step, result in any_class.steps.items():
        if isinstance(result, dict):
            assert result["success"], f"{step} failed:\n{_log(result)}"
        elif step.startswith("autograde") and any_class.ungradable():
            assert result.returncode != 0, f"{step} should report the ungradable submissions"
            for student in any_class.ungradable():
                assert f"for student '{student}'" in _output(result), _log(result)
        else:
            assert result.returncode == 0, f"`nbgrader {step}` failed:\n{_log(result)}"


def test_learners_fetch_the_released_notebook_without_solutions(any_class):
    name = any_class.lesson.name
    released = nbformat.read(
        any_class.course_dir / "notebooks" / name / f"{name}.ipynb", as_version=4
    )
    committed = nbformat.read(any_class.lesson.release_notebook, as_version=4)
    assert [c.source for c in released.cells] == [c.source for c in committed.cells]
    for student, notebook in any_class.fetched.items():
        assert [c.source for c in notebook.cells] == [c.source for c in released.cells], student
        assert "BEGIN SOLUTION" not in json.dumps(notebook) and "HIDDEN TESTS" not in json.dumps(
            notebook
        )


def test_collect_takes_each_learners_last_submission(cli_class):
    submitted = cli_class.course_dir / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(cli_class.cases)
    inbound = list((cli_class.exchange / cli_class.course_id / "inbound").iterdir())
    assert (
        len([p for p in inbound if p.name.startswith(f"{RESUBMITTER}+")]) == 2
    )  # both submissions arrived
    # ... and the graded one is the later, complete one
    # (full marks, see test_grades_are_the_expected_ones)


def test_grades_are_the_expected_ones(any_class):
    """The gradebook holds the corpus's expected points for every learner, cell by cell."""
    points = any_class.points
    expected = {name: case.expected_points(points) for name, case in any_class.cases.items()}
    assert any_class.first_grades == expected


def test_autograding_twice_gives_the_same_grades(cli_class):
    """``autograde --force`` throws away and re-executes every submission; the gradebook must
    come out the same, cell by cell."""
    log = _output(cli_class.steps["autograde --force"])
    name = cli_class.lesson.name
    for student in set(cli_class.cases) - cli_class.ungradable():
        autograded = cli_class.course_dir / "autograded" / student / name
        assert f"Removing existing assignment: {autograded}" in log, (
            f"{student} was not graded again"
        )
    assert cli_class.second_grades == cli_class.first_grades


def test_exported_csv_matches_the_gradebook(any_class):
    """One row per learner on the roster; each total is the sum of that learner's cell grades."""
    rows = any_class.csv_rows()
    name = any_class.lesson.name
    assert sorted(student for _, student in rows) == sorted(any_class.roster)
    max_score = sum(any_class.points.values())
    for student in any_class.roster:
        row = rows[(name, student)]
        assert float(row["max_score"]) == max_score
        cells = any_class.first_grades.get(student)
        if cells is None:  # on the roster, never submitted
            assert (row["timestamp"], float(row["raw_score"]), float(row["score"])) == (
                "",
                0.0,
                0.0,
            ), row
            continue
        assert row["timestamp"], f"{student} submitted, so the CSV should show when"
        assert float(row["raw_score"]) == pytest.approx(sum(cells.values())), student
        assert float(row["score"]) == float(row["raw_score"]), (
            f"{student}: no late penalty configured"
        )


def test_roster_names_reach_the_csv(cli_class):
    row = cli_class.csv_rows()[(FIXTURE_LESSON.name, "wrong_square")]
    assert (row["first_name"], row["last_name"], row["email"]) == (
        "Wrong_Square",
        "Learner",
        "wrong_square@example.org",
    )


def test_learners_fetch_their_own_feedback(any_class):
    name = any_class.lesson.name
    for student, case in any_class.cases.items():
        pages = any_class.feedback[student]
        if case.grading_fails:
            assert pages == [], f"{student}'s notebook could not be graded, so there is no feedback"
            continue
        assert len(pages) == 1 and pages[0].name == f"{name}.html", (student, pages)
        generated = any_class.course_dir / "feedback" / student / name / f"{name}.html"
        assert pages[0].read_bytes() == generated.read_bytes(), (
            f"{student} fetched someone else's feedback"
        )
        outputs = feedback_outputs(pages[0].read_text(encoding="utf-8"))
        missing = [text for text in case.feedback_contains if text not in outputs]
        assert not missing, f"{student}'s feedback lacks {missing}"


# --------------------------------------------------------------------- class report


def _exercises(report: dict) -> dict[str, dict]:
    [lesson] = report["lessons"]
    return {exercise["grade_id"]: exercise for exercise in lesson["exercises"]}


def _outcomes(exercise: dict) -> tuple[int, int, int, int]:
    return exercise["passed"], exercise["partly"], exercise["failed"], exercise["ungraded"]


def _failures(exercise: dict) -> list[tuple[str, list[str]]]:
    return [(failure["message"], failure["students"]) for failure in exercise["failures"]]


def test_report_agrees_with_the_gradebook(any_class):
    """Per exercise: full points, some, none and ungraded learners, counted from the gradebook."""
    exercises = _exercises(any_class.report)
    assert list(exercises) == list(any_class.points), "exercises in notebook order"
    for grade_id, max_points in any_class.points.items():
        scores = {student: cells[grade_id] for student, cells in any_class.first_grades.items()}
        ungraded = len(any_class.ungradable())
        passed = sum(score == max_points for score in scores.values())
        partly = sum(0 < score < max_points for score in scores.values())
        failed = len(scores) - passed - partly - ungraded
        assert _outcomes(exercises[grade_id]) == (passed, partly, failed, ungraded), grade_id
        assert exercises[grade_id]["max_points"] == max_points


def test_report_of_the_fixture_class(cli_class):
    from course.report import NOT_ATTEMPTED, NOT_AUTOGRADED

    report = cli_class.report
    [lesson] = report["lessons"]
    assert (lesson["students"], lesson["submitted"], lesson["not_submitted"]) == (9, 8, [ABSENT])
    exercises = _exercises(report)
    assert _outcomes(exercises["test_square"]) == (3, 0, 4, 1)
    assert _outcomes(exercises["test_mean"]) == (5, 0, 2, 1)
    assert _outcomes(exercises["test_mean_empty"]) == (6, 0, 1, 1)
    assert exercises["test_square"]["pass_rate"] == 0.375
    assert _failures(exercises["test_square"]) == [
        ("square(3) should be 9", ["edits_locked_test", "wrong_square"]),
        (NOT_ATTEMPTED, ["untouched"]),
        (NOT_AUTOGRADED, ["invalid_json"]),
        ("square(-2) should be 4 (hidden test)", ["hidden_test_fails"]),
    ]
    assert _failures(exercises["test_mean"]) == [  # one learner each: alphabetical
        ("mean([1, 2, 3]) should be 2", ["wrong_mean"]),
        (NOT_ATTEMPTED, ["untouched"]),
        (NOT_AUTOGRADED, ["invalid_json"]),
    ]
    markdown = (cli_class.course_dir / "reports" / "report.md").read_text(encoding="utf-8")
    assert "| Exercise 1 | `test_square` | 1 | 3 | 0 | 4 | 1 | 38% |" in markdown
    assert "- 2 learners: `square(3) should be 9`" in markdown
    assert "not submitted: absent" in markdown


def test_report_of_lesson00_names_the_idea_and_the_hidden_failure(api_class):
    from course.report import NOT_ATTEMPTED

    [lesson] = api_class.report["lessons"]
    assert lesson["idea"].startswith("groundwork:")
    assert lesson["title"] == "00 · Layers, calls and variables"
    exercises = _exercises(api_class.report)
    assert (
        exercises["test_ex1_counts"]["title"]
        == "Exercise 1 — Count the calls and variables of a given model"
    )
    assert _outcomes(exercises["test_ex1_counts"]) == (2, 0, 1, 0)
    assert _failures(exercises["test_ex1_counts"]) == [(NOT_ATTEMPTED, ["untouched"])]
    assert _outcomes(exercises["test_ex2_news_model"]) == (1, 0, 2, 0)
    [(hidden, who), (not_attempted, _)] = _failures(exercises["test_ex2_news_model"])
    assert hidden.startswith(
        "'title_head' and 'body_head' should be copies of one architecture"
    ) and who == ["ex2-heads-differ"]
    assert not_attempted == NOT_ATTEMPTED
    png = api_class.course_dir / "reports" / "pass_rates.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
