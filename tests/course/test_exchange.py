"""course.exchange.SafeCollect: ``nbgrader collect`` with the kit's config never follows a
symbolic link a learner put into the exchange (real nbgrader commands, a real exchange)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory
from traitlets.config import Config

from course.config import CONFIG_FILE, tool_environment
from course.corpus import Submission, full_marks, write_submission

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "pipeline" / "fixtures" / "course" / "solutions" / "00_fixture"
BIN = Path(sys.executable).parent
SECRET = "### BEGIN HIDDEN TESTS"
#: In the teacher's notebook only: the autograded notebook has the hidden tests back.
SOLUTION_MARK = "### BEGIN SOLUTION"


def teacher(*args: str, course: Path) -> subprocess.CompletedProcess:
    env = tool_environment()
    return subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True
    )


def learner_submits(name: str, home: Path, exchange: Path) -> None:
    """fetch_assignment and submit as ``name``, the way JupyterLab's Assignment List does."""
    home.mkdir(parents=True)
    for step in ("FetchAssignment", "Submit"):
        config = Config()
        config.CourseDirectory.course_id = "keras-layer-reuse"
        config.CourseDirectory.assignment_id = "00_fixture"
        config.CourseDirectory.student_id = name
        config.Exchange.root = str(exchange)
        config.Exchange.assignment_dir = str(home)
        config.Exchange.cache = str(home / ".cache")
        app = getattr(ExchangeFactory(config=config), step)(
            coursedir=CourseDirectory(config=config),
            authenticator=Authenticator(config=config),
            config=config,
        )
        app.start()


def released_course(tmp_path: Path) -> tuple[Path, Path]:
    """(course, exchange): the fixture lesson released through a real exchange, with the
    kit's config."""
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    course.mkdir()
    exchange.mkdir()
    config = (REPO / CONFIG_FILE).read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n"
    (course / CONFIG_FILE).write_text(config)
    shutil.copytree(FIXTURE, course / "solutions" / "00_fixture")
    for step in ("generate_assignment", "release_assignment"):
        result = teacher(step, "00_fixture", course=course)
        assert result.returncode == 0, result.stdout + result.stderr
    assert SECRET in (course / "solutions" / "00_fixture" / "00_fixture.ipynb").read_text()
    return course, exchange


def test_collect_leaves_links_out_of_submitted(tmp_path):
    course, exchange = released_course(tmp_path)
    solution = course / "solutions" / "00_fixture" / "00_fixture.ipynb"

    learner_submits("ann", tmp_path / "ann", exchange)
    learner_submits("bob", tmp_path / "bob", exchange)
    inbound = exchange / "keras-layer-reuse" / "inbound"
    ann = next(inbound.glob("ann+00_fixture+*"))
    bob = next(inbound.glob("bob+00_fixture+*"))
    # ann's notebook becomes a link to the teacher's, with a linked folder and file beside it;
    # bob's whole submission folder becomes a link to solutions/.
    (ann / "00_fixture.ipynb").unlink()
    (ann / "00_fixture.ipynb").symlink_to(solution)
    (ann / "course").symlink_to(course / "solutions")
    (ann / "gradebook.db").symlink_to(course / "gradebook.db")
    (ann / "notes.txt").write_text("mine")
    shutil.rmtree(bob)
    shutil.copytree(FIXTURE, course / "solutions-copy")
    (course / "solutions-copy" / "timestamp.txt").write_text("2030-01-01 00:00:00.000000 UTC")
    bob.symlink_to(course / "solutions-copy")

    result = teacher("collect", "00_fixture", course=course)
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout + result.stderr
    assert "Left out symbolic link" in log and "is a symbolic link" in log, log

    submitted = course / "submitted" / "ann" / "00_fixture"
    assert sorted(p.name for p in submitted.iterdir()) == [
        "notes.txt",
        "submission_secret.txt",
        "timestamp.txt",
    ]
    assert not any(p.is_symlink() for p in submitted.rglob("*"))
    assert not (course / "submitted" / "bob" / "00_fixture").exists()
    for path in (course / "submitted").rglob("*"):
        assert path.is_dir() or SECRET not in path.read_text(errors="replace"), path


# A learner's answer that also tries to read the files her links point to (the teacher's
# notebook, the course's solutions/) and print them into her notebook.
PEEKS = """def square(x):
    return x * x


import pathlib
for name in ("answers.txt", "solutions/00_fixture/00_fixture.ipynb"):
    try:
        print(pathlib.Path(name).read_text())
    except OSError as error:
        print(name, type(error).__name__)
"""


def test_a_linked_solution_never_reaches_either_grader(tmp_path):
    """A submission with links to the teacher's notebook and solutions/ beside a real
    notebook: collect leaves the links out, and both graders (nbgrader autograde with the
    kit's config, and course grade) give the notebook what it earned (full marks), with
    no instructor content in the autograded notebook or the feedback.

    This is the exchange's test, not a corpus case: the corpus writes submissions straight
    into ``submitted/``, and the protection is ``collect``'s (course.exchange.SafeCollect).
    """
    course, exchange = released_course(tmp_path)
    learner_submits("carol", tmp_path / "carol", exchange)
    inbound = next((exchange / "keras-layer-reuse" / "inbound").glob("carol+00_fixture+*"))
    write_submission(
        Submission("carol", answers={"square": PEEKS}, expected=full_marks()),
        inbound / "00_fixture.ipynb",
        FIXTURE / "00_fixture.ipynb",
        inbound / "00_fixture.ipynb",
    )
    (inbound / "answers.txt").symlink_to(course / "solutions" / "00_fixture" / "00_fixture.ipynb")
    (inbound / "solutions").symlink_to(course / "solutions")
    result = teacher("collect", "00_fixture", course=course)
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = course / "submitted" / "carol" / "00_fixture"
    assert sorted(p.name for p in submitted.iterdir()) == [
        "00_fixture.ipynb",
        "submission_secret.txt",
        "timestamp.txt",
    ]

    # Both graders on the same collected submission, each in its own copy of the course.
    by_course = tmp_path / "course-grade"
    shutil.copytree(course, by_course)
    result = teacher("autograde", "00_fixture", course=course)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [str(BIN / "course"), "grade", "00_fixture", "--course-dir", str(by_course)]
        + ["--workers", "1", "--scratch-dir", str(tmp_path / "scratch")],
        cwd=by_course,
        env=tool_environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for graded in (course, by_course):
        result = teacher("generate_feedback", "00_fixture", course=graded)
        assert result.returncode == 0, result.stdout + result.stderr
        with Gradebook(f"sqlite:///{graded / 'gradebook.db'}", "keras-layer-reuse") as gradebook:
            score = gradebook.find_submission("00_fixture", "carol").score
        assert score == 4, f"{graded.name}: {score} of 4"
        autograded = graded / "autograded" / "carol" / "00_fixture"
        feedback = graded / "feedback" / "carol" / "00_fixture"
        assert sorted(p.name for p in autograded.glob("*.ipynb")) == ["00_fixture.ipynb"]
        text = (autograded / "00_fixture.ipynb").read_text()
        assert "answers.txt FileNotFoundError" in text, text
        assert (feedback / "00_fixture.html").is_file()
        for path in [*autograded.rglob("*"), *feedback.rglob("*")]:
            assert path.is_dir() or SOLUTION_MARK not in path.read_text(errors="replace"), path


def test_the_grader_hides_nbgrader_s_own_default_exchange(tmp_path):
    """Without ``Exchange.root`` the sandbox hides the folder nbgrader really uses."""
    from nbgrader.exchange.default.exchange import Exchange

    from course.config import exchange_root

    assert exchange_root(Config()) == Path(Exchange.class_traits()["root"].default_value)
    config = Config()
    config.Exchange.root = str(tmp_path / "exchange")
    assert exchange_root(config) == tmp_path / "exchange"
