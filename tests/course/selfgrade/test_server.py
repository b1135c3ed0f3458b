"""The "Grade my work" server extension in a real ``course lab``, over HTTP.

A learner's copy of the fixture course whose ``square`` answer never ends: the grade runs
in a process of its own, the server answers while it runs, the endless cell is cut at the
course's time limit with a note, and the other exercise keeps its points. Then the roles:
on for a learner alone, off for a hub learner and the grader.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from selfgrade_course import (
    LESSON,
    LOOPING_SQUARE,
    RIGHT_MEAN,
    answer,
    learner_course,
    snapshot,
)

from course.lab import is_ready
from course.selfgrade.feedback import find_leaks, secret_lines
from course.selfgrade.server import SelfGrader
from course.setup_lab import ROLES, TEACHER_SERVER_EXTENSIONS, configure

pytestmark = pytest.mark.pipeline

EXTENSION = "course.selfgrade.server"
READY_TIMEOUT = 120.0
GRADE_TIMEOUT = 300.0  # a bound, not an expectation: the fixture lesson grades in seconds
CELL_LIMIT = 3  # seconds per cell in the learner's course: the endless cell costs 3 s


@dataclass
class Lab:
    port: int
    token: str
    course: Path
    log: Path

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def status(self) -> dict:
        code, body = self.request("GET", "course-selfgrade/api/status")
        assert code == 200, body
        return json.loads(body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_lab(course: Path, workdir: Path, config_dir: Path | None = None) -> Iterator[Lab]:
    """``course lab`` on ``course`` with Jupyter folders of its own; stopped (and checked to
    leave no process behind) afterwards."""
    lab = Lab(_free_port(), secrets.token_hex(16), course, workdir / "lab.log")
    env = {
        **os.environ,
        "JUPYTER_TOKEN": lab.token,
        "JUPYTER_CONFIG_DIR": str(config_dir or workdir / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(workdir / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter-runtime"),
    }
    command = [sys.executable, "-m", "course.cli", "lab", "--port", str(lab.port)]
    with lab.log.open("w") as log:
        process = subprocess.Popen(
            [*command, "--course-dir", str(course)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not is_ready(lab.port, lab.token):
            assert process.poll() is None, lab.log.read_text()
            assert time.monotonic() < deadline, lab.log.read_text()
            time.sleep(0.1)  # poll interval
        yield lab
    finally:
        descendants = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        _, alive = psutil.wait_procs(descendants, timeout=60)
        for leftover in alive:
            leftover.kill()
    assert not alive, f"left running after course lab stopped: {alive}"


@pytest.fixture
def learner_lab(tmp_path: Path) -> Iterator[Lab]:
    course = learner_course(tmp_path / "kit", config=f"c.Execute.timeout = {CELL_LIMIT}")
    answer(course, square=LOOPING_SQUARE, mean=RIGHT_MEAN)
    yield from _start_lab(course, tmp_path)


def test_an_endless_notebook_is_cut_while_the_server_keeps_answering(learner_lab: Lab) -> None:
    lab = learner_lab
    before = snapshot(lab.course / "notebooks" / LESSON)
    assert (lab.course / "notebooks" / "progress.ipynb").is_file()  # written by the extension
    assert lab.status()["running"] is False

    code, body = lab.request("POST", "course-selfgrade/api/grade", {"lessons": [LESSON]})
    assert code == 202, body
    assert json.loads(body) == {"started": [LESSON]}
    code, body = lab.request("POST", "course-selfgrade/api/grade", {"lessons": [LESSON]})
    assert code == 409, body  # one grade at a time

    answered_while_running = 0
    deadline = time.monotonic() + GRADE_TIMEOUT
    while (status := lab.status())["running"]:
        answered_while_running += 1
        code, _ = lab.request("GET", f"api/contents/{LESSON}")  # JupyterLab's own API too
        assert code == 200
        assert time.monotonic() < deadline, (lab.course / "progress" / "last-run.log").read_text()
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
    assert snapshot(lab.course / "notebooks" / LESSON) == before

    code, page = lab.request("GET", f"course-selfgrade/feedback/{LESSON}")
    assert code == 200
    source = nbformat.read(lab.course / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    learner = nbformat.read(lab.course / "notebooks" / LESSON / f"{LESSON}.ipynb", as_version=4)
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose Jupyter config says ``course setup-lab --role hub-learner`` (here the
    user's config folder, read first, standing in for a hub environment's own) does not
    load the extension: no endpoint, no progress page."""
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")  # the user's folder before the venv's
    course = learner_course(tmp_path / "kit")
    config_dir = tmp_path / "hub-learner-config"
    configure(config_dir, "hub-learner")
    for lab in _start_lab(course, tmp_path, config_dir=config_dir):
        assert lab.request("GET", "api/status")[0] == 200
        assert lab.request("GET", "course-selfgrade/api/status")[0] == 404
        assert lab.request("POST", "course-selfgrade/api/grade", {})[0] == 404
        assert not (course / "notebooks" / "progress.ipynb").exists()
        assert not (course / "progress").exists()
