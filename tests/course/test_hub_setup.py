"""``course setup-hub`` and the two nbgrader fixes it and nbgrader_config.py switch on
(the whole hub is tested in tests/hub/)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config.loader import PyFileConfigLoader

from course import setup_lab
from course.cli import main
from course.exchange import submitted_notebooks
from course.grading.steps.fairness import FairOverwriteCells

ROOT = Path(__file__).resolve().parents[2]


def test_setup_hub_writes_shared_settings_and_the_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_config = tmp_path / "env" / "etc" / "jupyter"
    monkeypatch.setattr(setup_lab, "environment_config_dir", lambda: env_config)
    exchange = tmp_path / "exchange"

    assert (
        main(["setup-hub", "--exchange", str(exchange), "--config-dir", str(tmp_path / "etc")]) == 0
    )

    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path / "etc")).load_config()
    assert config.Exchange.root == str(exchange.resolve())
    assert config.CourseDirectory.course_id == "keras-layer-reuse"
    assert config.ExchangeFactory.submit == "course.exchange.KitExchangeSubmit"
    course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert (
        config.Execute.timeout == course.Execute.timeout
    )  # Validate on the hub: the course's limit
    assert setup_lab.recorded_role(env_config) == "hub-learner"


def test_setup_hub_keeps_a_config_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup_lab, "environment_config_dir", lambda: tmp_path / "env")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nbgrader_config.py").write_text("c.Exchange.root = '/mine'\n")

    assert (
        main(
            ["setup-hub", "--exchange", str(tmp_path / "x"), "--config-dir", str(tmp_path / "etc")]
        )
        == 1
    )
    assert (tmp_path / "etc" / "nbgrader_config.py").read_text() == "c.Exchange.root = '/mine'\n"


def test_hub_learner_role_survives_a_plain_setup_lab(tmp_path: Path) -> None:
    setup_lab.configure(tmp_path, "hub-learner")

    assert setup_lab.configure_for_learners(tmp_path) == []  # what make lab / course lab run
    assert main(["setup-lab", "--config-dir", str(tmp_path)]) == 0
    server, plugins = setup_lab.ROLES["hub-learner"]
    assert server["nbgrader.server_extensions.assignment_list"] is True
    assert plugins["@jupyter/nbgrader:assignment-list"] is False
    assert setup_lab.recorded_role(tmp_path) == "hub-learner"


def test_grader_role_turns_the_formgrader_on_and_sets_the_course(tmp_path: Path) -> None:
    assert (
        main(
            [
                "setup-lab",
                "--role",
                "grader",
                "--config-dir",
                str(tmp_path),
                "--course-dir",
                "/srv/c",
            ]
        )
        == 0
    )
    server, _ = setup_lab.ROLES["grader"]
    assert server["nbgrader.server_extensions.formgrader"] is True
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    assert config.CourseDirectory.root == "/srv/c"


def test_checkpoints_are_not_submitted_notebooks(tmp_path: Path) -> None:
    (tmp_path / ".ipynb_checkpoints").mkdir()
    for name in ("lesson.ipynb", ".ipynb_checkpoints/lesson-checkpoint.ipynb", "extra.ipynb"):
        (tmp_path / name).write_text("{}")
    assert submitted_notebooks(str(tmp_path), [".ipynb_checkpoints"]) == [
        "extra.ipynb",
        "lesson.ipynb",
    ]


def test_hidden_tests_are_what_the_learner_lacks() -> None:
    full = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(b)\n### END HIDDEN TESTS"
    assert FairOverwriteCells()._released_source(full) == "check(a)"
    assert FairOverwriteCells()._released_source("check(a)") == "check(a)"


def test_course_config_uses_the_quiet_overwrite_cells() -> None:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    names = [step.__name__ for step in config.Autograde.sanitize_preprocessors]
    assert "FairOverwriteCells" in names and "OverwriteCells" not in names


def _graded_test_cell(source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata.nbgrader = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "test_ex1",
        "points": 2,
        "schema_version": 3,
    }
    return cell


@pytest.mark.parametrize(
    ("learner_source", "warned"),
    [
        ("check(a)", False),  # as released: hidden tests removed, nothing to report
        ("pass  # no more checks", True),  # a learner who edited the test cell is still reported
    ],
)
def test_overwrite_cells_reports_only_real_edits(
    tmp_path: Path, learner_source: str, warned: bool
) -> None:
    from nbgrader.api import Gradebook
    from nbgrader.utils import compute_checksum

    full = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(b)\n### END HIDDEN TESTS"
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("ps1")
        gb.add_notebook("nb", "ps1")
        gb.add_grade_cell("test_ex1", "nb", "ps1", max_score=2, cell_type="code")
        gb.add_source_cell(
            "test_ex1",
            "nb",
            "ps1",
            cell_type="code",
            locked=True,
            source=full,
            checksum=compute_checksum(_graded_test_cell(full)),
        )
    notebook = new_notebook(cells=[_graded_test_cell(learner_source)])
    # A logger of the test's own: the default one is whatever Application ran last in this
    # process, with its level and propagation.
    log = logging.getLogger(f"test-overwrite-cells-{tmp_path.name}")
    log.setLevel(logging.WARNING)
    log.propagate = False
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    log.addHandler(handler)
    step = FairOverwriteCells(log=log)
    result, _ = step.preprocess(
        notebook, {"nbgrader": {"db_url": url, "assignment": "ps1", "notebook": "nb"}}
    )

    assert result.cells[0].source == full  # the grader runs the hidden tests either way
    assert any("checksum" in record.getMessage() for record in warnings) is warned
