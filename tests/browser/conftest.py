"""Fixtures for the browser suite: a real JupyterLab, started by the kit's own ``course lab``,
driven by Debian's Chromium through Playwright.

- ``learner_lab`` (session): ``course lab`` on a temporary copy of the course, as a learner
  runs it (``make lab``); ``teacher_lab`` (session): the same with ``--teacher``.
  Both are started by the ``course_lab`` fixture (tests/labserver.py): a free port on
  127.0.0.1, a random token, Jupyter folders of their own, and at the end SIGTERM and a
  check that the server and every kernel it started are gone. Here the fixture also fails
  if the server log has an error line.
- ``lab`` (function): a fresh browser context on one server, wrapped in
  :class:`labpage.LabPage`, which collects the page's console errors (asserted empty,
  known-benign ones aside, when the test ends) and numbers its screenshots.

Screenshots and server logs are written to ``artifacts/browser/`` (emptied at the start of
a run). Without Chromium (``make test`` installs it as root) every test here skips and
says why.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from labpage import ARTIFACTS, LabPage
from labserver import LabServer

REPO = Path(__file__).resolve().parents[2]
# Debian's Chromium (``make test`` installs it); another Chromium build can be named with
# the CHROMIUM environment variable.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# What a headless Chromium needs on a machine with no network but loopback, as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the fixture copies into its temporary course folder.
COURSE_CONTENT = ["nbgrader_config.py", "notebooks", "solutions"]

# A server log line that is an error: Jupyter's "[E ...]" lines, "| ERROR" from nbgrader
# and the kernels, and tracebacks.
ERROR_LINE = re.compile(r"^\[E |\bERROR\b|Traceback \(most recent call last\)")
# Printed by nbgrader when the Validate handler cannot see the course's config.
NO_CONFIG = "No nbgrader_config.py file found"


def server_log_problems(text: str) -> list[str]:
    """The lines of a JupyterLab log that a healthy session must not have.

    >>> server_log_problems("[I 10:00 ServerApp] fine\\n[E 10:01 ServerApp] broken")
    ['[E 10:01 ServerApp] broken']
    """
    return [line for line in text.splitlines() if ERROR_LINE.search(line) or NO_CONFIG in line]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip that says how to get it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. `make test` installs Debian's "
            "when run as root with apt-get; otherwise install it (apt-get install chromium) "
            "or set CHROMIUM to a Chromium binary to run tests/browser/."
        )
    return CHROMIUM


# Set by pytest-xdist in its worker processes ("gw0", "gw1", ...).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``artifacts/browser/``, emptied once per run.

    (Under pytest-xdist every worker writes there, so none empties it.)
    """
    if not XDIST_WORKER:
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _copy_of_the_course(workdir: Path) -> Path:
    """The parts of the course a lab needs (:data:`COURSE_CONTENT`), copied into ``workdir``."""
    course = workdir / "course"
    course.mkdir()
    for item in COURSE_CONTENT:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(
                source, course / item, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
            )
        elif source.is_file():
            shutil.copy2(source, course / item)
    return course


def _run_course_lab(
    course_lab, workdir: Path, name: str, teacher: bool, artifacts: Path
) -> Iterator[LabServer]:
    """``course lab`` on a copy of the course in ``workdir``, its log in ``artifacts``;
    checked for error lines once stopped."""
    log_name = f"jupyterlab-{name}-{XDIST_WORKER}.log" if XDIST_WORKER else f"jupyterlab-{name}.log"
    course = _copy_of_the_course(workdir)
    with course_lab(
        course, workdir, name=name, teacher=teacher, log_path=artifacts / log_name
    ) as server:
        yield server
    problems = server_log_problems(server.log_path.read_text(encoding="utf-8"))
    assert not problems, "JupyterLab log has errors:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def learner_lab(
    chromium: Path, artifacts: Path, course_lab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    """``course lab`` as a learner starts it, on a temporary copy of the course."""
    workdir = tmp_path_factory.mktemp("learner")
    yield from _run_course_lab(course_lab, workdir, "learner", False, artifacts)


@pytest.fixture(scope="session")
def teacher_lab(
    chromium: Path, artifacts: Path, course_lab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    """``course lab --teacher`` on a temporary copy of the course."""
    workdir = tmp_path_factory.mktemp("teacher")
    yield from _run_course_lab(course_lab, workdir, "teacher", True, artifacts)


@pytest.fixture(scope="session")
def browser(chromium: Path):
    """One headless Chromium for the run (Playwright gives it a fresh, temporary profile)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def open_lab(browser, artifacts: Path, request: pytest.FixtureRequest) -> Iterator:
    """Factory: ``open_lab(server)`` gives a :class:`LabPage` in a fresh browser context.

    When the test ends, the notebook's kernel must be idle again and the page's console
    must hold no error but the known-benign ones.
    """
    pages: list[LabPage] = []

    def _open(server: LabServer) -> LabPage:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        lab_page = LabPage(context.new_page(), server, test_name=request.node.name)
        pages.append(lab_page)
        return lab_page

    yield _open
    for lab_page in pages:
        lab_page.wait_until_idle()
        errors = lab_page.console_errors()
        lab_page.page.context.close()
        assert not errors, "browser console errors:\n" + "\n".join(errors)
