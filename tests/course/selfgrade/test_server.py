"""The "Grade my work" server extension in a real ``course lab``, over HTTP.

A learner's copy of the fixture course whose ``square`` answer never ends: the grade runs
in a process of its own, the server answers while it runs, the endless cell is cut at the
course's time limit with a note, and the other exercise keeps its points. Then the roles:
on for a learner alone, off for a hub learner and the grader.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from selfgrade_course import (
    LESSON,
    LOOPING_SQUARE,
    RIGHT_MEAN,
    answer,
    learner_course,
    snapshot,
)

from course.selfgrade.feedback import find_leaks, secret_lines
from course.selfgrade.server import SelfGrader
from course.setup_lab import ROLES, TEACHER_SERVER_EXTENSIONS, configure

pytestmark = pytest.mark.pipeline

EXTENSION = "course.selfgrade.server"
GRADE_TIMEOUT = 300.0  # a bound, not an expectation: the fixture lesson grades in seconds
CELL_LIMIT = 3  # seconds per cell in the learner's course: the endless cell costs 3 s


def _status(lab) -> dict:
    code, body = lab.request("GET", "course-selfgrade/api/status")
    assert code == 200, body
    return json.loads(body)


@pytest.fixture
def learner_lab(course_lab, tmp_path: Path) -> Iterator:
    course = learner_course(tmp_path / "kit", config=f"c.Execute.timeout = {CELL_LIMIT}")
    answer(course, square=LOOPING_SQUARE, mean=RIGHT_MEAN)
    with course_lab(course, tmp_path) as lab:
        yield lab


def test_an_endless_notebook_is_cut_while_the_server_keeps_answering(learner_lab) -> None:
    lab = learner_lab
    before = snapshot(lab.course_dir / "notebooks" / LESSON)
    assert (lab.course_dir / "notebooks" / "progress.ipynb").is_file()  # written by the extension
    assert _status(lab)["running"] is False

    code, body = lab.request("POST", "course-selfgrade/api/grade", {"lessons": [LESSON]})
    assert code == 202, body
    assert json.loads(body) == {"started": [LESSON]}
    code, body = lab.request("POST", "course-selfgrade/api/grade", {"lessons": [LESSON]})
    assert code == 409, body  # one grade at a time

    answered_while_running = 0
    deadline = time.monotonic() + GRADE_TIMEOUT
    while (status := _status(lab))["running"]:
        answered_while_running += 1
        code, _ = lab.request("GET", f"api/contents/{LESSON}")  # JupyterLab's own API too
        assert code == 200
        assert time.monotonic() < deadline, (
            lab.course_dir / "progress" / "last-run.log"
        ).read_text()
        time.sleep(0.2)  # poll interval
    assert answered_while_running > 0

    assert status["run"]["state"] == "done", status["run"]
    lesson = status["lessons"][0]
    assert (lesson["score"], lesson["possible"]) == (3.0, 4.0)
    [failed] = lesson["failed"]
    assert failed["grade_id"] == "test_square"
    assert failed["message"] == "the answer cell fails: KeyboardInterrupt"  # interrupted
    print(lesson["notes"])
    assert any("time" in note and "limit" in note for note in lesson["notes"]), lesson["notes"]
    assert snapshot(lab.course_dir / "notebooks" / LESSON) == before

    code, page = lab.request("GET", f"course-selfgrade/feedback/{LESSON}")
    assert code == 200
    source = nbformat.read(lab.course_dir / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    learner = nbformat.read(lab.course_dir / "notebooks" / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert find_leaks(page.decode(), secret_lines(source, [learner])) == []
    assert lab.request("GET", "course-selfgrade/feedback/01_no_such_lesson")[0] == 404
    assert lab.request("POST", "course-selfgrade/api/grade", {"lessons": ["x"]})[0] == 400


def test_the_extension_is_on_for_a_learner_alone_only(tmp_path: Path) -> None:
    switched_on = {role: ROLES[role][0].get(EXTENSION) for role in ROLES}
    assert switched_on == {"local": True, "hub-learner": False, "grader": False}
    assert TEACHER_SERVER_EXTENSIONS[EXTENSION] is False
    folder = tmp_path / "etc-jupyter"
    configure(folder, "hub-learner")
    written = json.loads((folder / "jupyter_server_config.json").read_text())
    assert written["ServerApp"]["jpserver_extensions"][EXTENSION] is False


def test_a_hub_learner_is_refused_even_with_the_extension_loaded(tmp_path: Path) -> None:
    course = learner_course(tmp_path / "kit")
    assert SelfGrader(course / "notebooks", role="local").course_dir == course
    refused = SelfGrader(course / "notebooks", role="hub-learner")
    assert refused.course_dir is None and "JupyterHub" in refused.reason
    assert refused.write_progress_notebook(course / "notebooks") is None
    without_solutions = learner_course(tmp_path / "hub-home")
    import shutil

    shutil.rmtree(without_solutions / "solutions")
    assert "solutions/" in SelfGrader(without_solutions / "notebooks", role="local").reason


def test_a_server_set_up_for_a_hub_learner_has_no_grade_endpoint(
    course_lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose Jupyter config says ``course setup-lab --role hub-learner`` (here the
    user's config folder, read first, standing in for a hub environment's own) does not
    load the extension: no endpoint, no progress page."""
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")  # the user's folder before the venv's
    course = learner_course(tmp_path / "kit")
    config_dir = tmp_path / "hub-learner-config"
    configure(config_dir, "hub-learner")
    with course_lab(course, tmp_path, config_dir=config_dir) as lab:
        assert lab.request("GET", "api/status")[0] == 200
        assert lab.request("GET", "course-selfgrade/api/status")[0] == 404
        assert lab.request("POST", "course-selfgrade/api/grade", {})[0] == 404
        assert not (course / "notebooks" / "progress.ipynb").exists()
        assert not (course / "progress").exists()
