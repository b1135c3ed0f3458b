"""course.exchange.SafeCollect: ``nbgrader collect`` with the kit's config never follows a
symbolic link a learner put into the exchange (real nbgrader commands, a real exchange)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory
from traitlets.config import Config

from course.config import CONFIG_FILE, tool_environment

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "pipeline" / "fixtures" / "course" / "solutions" / "00_fixture"
BIN = Path(sys.executable).parent
SECRET = "### BEGIN HIDDEN TESTS"


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


def test_collect_leaves_links_out_of_submitted(tmp_path):
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    course.mkdir()
    exchange.mkdir()
    config = (REPO / CONFIG_FILE).read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n"
    (course / CONFIG_FILE).write_text(config)
    shutil.copytree(FIXTURE, course / "solutions" / "00_fixture")
    for step in ("generate_assignment", "release_assignment"):
        result = teacher(step, "00_fixture", course=course)
        assert result.returncode == 0, result.stdout + result.stderr
    solution = course / "solutions" / "00_fixture" / "00_fixture.ipynb"
    assert SECRET in solution.read_text()

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


def test_doctests():
    import doctest

    import course.exchange

    assert doctest.testmod(course.exchange).failed == 0


def test_the_grader_hides_nbgrader_s_own_default_exchange(tmp_path):
    """Without ``Exchange.root`` the sandbox hides the folder nbgrader really uses."""
    from nbgrader.exchange.default.exchange import Exchange

    from course.config import exchange_root

    assert exchange_root(Config()) == Path(Exchange.class_traits()["root"].default_value)
    config = Config()
    config.Exchange.root = str(tmp_path / "exchange")
    assert exchange_root(config) == tmp_path / "exchange"
