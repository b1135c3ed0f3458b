"""course.config: the one place the course configuration, its defaults and the kernels'
environment come from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nbgrader.exchange.default.exchange import Exchange
from nbgrader.preprocessors import Execute
from traitlets.config import Config

from course.config import (
    CELL_TIMEOUT,
    CONFIG_FILE,
    QUIET_ENV,
    bin_dir,
    cell_timeout,
    default_exchange_root,
    find_root,
    load_course_config,
    tool_environment,
)
from course.grading.autograder import Autograder
from course.grading.cli import time_limits
from course.hub import hub_nbgrader_config

REPO = Path(__file__).resolve().parents[2]


def test_the_course_config_sets_the_cell_time_limit_the_kit_names():
    """nbgrader_config.py is the course's setting; the hub-wide config repeats it."""
    config = load_course_config(REPO)
    assert Execute(config=config).timeout == CELL_TIMEOUT == cell_timeout(config)
    assert config.ExecutePreprocessor.timeout == CELL_TIMEOUT
    assert f"c.Execute.timeout = {CELL_TIMEOUT}" in hub_nbgrader_config(Path("/x"))


@pytest.mark.parametrize("section", ["Execute", "ExecutePreprocessor", "RestartingExecute"])
def test_settings_are_read_through_the_configured_step(tmp_path, section):
    """The limit per cell and the kernel name are what the grading step itself reads from
    the config, whichever of the names nbgrader honours sets them (no reading by hand)."""
    config = Config({section: {"timeout": 45, "kernel_name": "kit-kernel"}})
    assert time_limits(config).startswith("time limit 45 s per cell")
    assert Autograder(tmp_path, config).configured_kernel_name == "kit-kernel"
    if section != "RestartingExecute":  # the kit's own step is not nbgrader's
        assert cell_timeout(config) == 45


def test_unset_limits_are_nbgraders_own_defaults(tmp_path):
    """A config without a limit per cell gets nbgrader's default, and the CLI says which."""
    default = Execute().timeout
    assert cell_timeout(Config()) == default
    assert time_limits(Config()) == f"time limit {default} s per cell (no budget per notebook)"
    assert Autograder(tmp_path, Config()).configured_kernel_name == ""


def test_the_course_folder_wins_over_the_jupyter_path(tmp_path, monkeypatch):
    user, course_dir = tmp_path / "user", tmp_path / "course"
    user.mkdir()
    course_dir.mkdir()
    (user / CONFIG_FILE).write_text(
        "c = get_config()\nc.Execute.timeout = 7\nc.CourseDirectory.course_id = 'user'\n"
    )
    (course_dir / CONFIG_FILE).write_text("c = get_config()\nc.Execute.timeout = 9\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(user))
    config = load_course_config(course_dir)
    assert config.Execute.timeout == 9  # the course's own
    assert config.CourseDirectory.course_id == "user"  # what only the user's sets
    assert config.CourseDirectory.root == str(course_dir.resolve())


def test_a_folder_without_the_config_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        load_course_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="--course-dir"):
        find_root(tmp_path)
    assert find_root(REPO / "solutions") == REPO


def test_the_exchange_default_is_nbgraders():
    assert default_exchange_root() == Path(Exchange.class_traits()["root"].default_value)


def test_tool_environment_is_quiet_with_this_bin_first():
    env = tool_environment({"PATH": "/usr/bin", "HOME": "/h", "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert env["PATH"].split(os.pathsep) == [bin_dir(), "/usr/bin"]
    assert {k: env[k] for k in QUIET_ENV} == QUIET_ENV and env["HOME"] == "/h"


def test_the_config_fails_loudly_without_the_kit(monkeypatch):
    """Copied into an environment without the kit, nbgrader_config.py must not quietly fall
    back to nbgrader's own lists: a teacher would grade without the kit's protections."""
    monkeypatch.setitem(sys.modules, "course.grading.steps", None)  # import raises
    namespace = {"get_config": Config}
    source = (REPO / "nbgrader_config.py").read_text(encoding="utf-8")
    with pytest.raises(ImportError, match="grade without them"):
        exec(compile(source, "nbgrader_config.py", "exec"), namespace)
