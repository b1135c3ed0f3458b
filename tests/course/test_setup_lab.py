"""``course setup-lab``: the learner's nbgrader extensions, read back through Jupyter's own
config loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
from jupyter_server.services.config import ConfigManager

from course import setup_lab
from course.cli import main

# What installing nbgrader 0.9.6 writes: all four server extensions on.
NBGRADER_DEFAULTS = {
    "ServerApp": {
        "jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": True,
            "nbgrader.server_extensions.validate_assignment": True,
            "nbgrader.server_extensions.assignment_list": True,
            "nbgrader.server_extensions.course_list": True,
        }
    }
}


@pytest.fixture
def env_config(tmp_path: Path) -> Path:
    """A fresh ``<venv>/etc/jupyter`` as pip leaves it after installing nbgrader."""
    folder = tmp_path / "etc" / "jupyter"
    (folder / "jupyter_server_config.d").mkdir(parents=True)
    (folder / "jupyter_server_config.d" / "nbgrader.json").write_text(json.dumps(NBGRADER_DEFAULTS))
    return folder


def server_extensions(*folders: Path) -> dict[str, bool]:
    """Enabled server extensions as Jupyter Server merges them (first folder wins)."""
    return ExtensionConfigManager(
        read_config_path=[str(f) for f in folders]
    ).get_jpserver_extensions()


def disabled_plugins(*folders: Path) -> set[str]:
    """Disabled lab plugins as JupyterLab merges page_config.json (first folder wins)."""
    page = ConfigManager(read_config_path=[str(f / "labconfig") for f in folders]).get(
        "page_config"
    )
    return {name for name, off in page.get("disabledExtensions", {}).items() if off}


def test_learners_get_validate_and_none_of_the_teacher_tools(env_config: Path) -> None:
    assert server_extensions(env_config)["nbgrader.server_extensions.formgrader"] is True  # before

    changes = setup_lab.configure_for_learners(env_config)

    assert changes
    assert server_extensions(env_config) == {
        "nbgrader.server_extensions.validate_assignment": True,
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
        "nbgrader.server_extensions.assignment_list": False,
        "course.selfgrade.server": True,  # Grade my work (docs/learners.md)
    }
    assert disabled_plugins(env_config) == {
        "@jupyter/nbgrader:formgrader",
        "@jupyter/nbgrader:course-list",
        "@jupyter/nbgrader:assignment-list",
        "@jupyter/nbgrader:create-assignment",
        "@jupyter/nbgrader:menu",
        "@jupyterlab/apputils-extension:announcements",
    }


def test_second_run_changes_nothing(env_config: Path) -> None:
    setup_lab.configure_for_learners(env_config)
    files = sorted(p for p in env_config.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}

    assert setup_lab.configure_for_learners(env_config) == []
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(p for p in env_config.rglob("*") if p.is_file()) == files


def test_keeps_settings_it_does_not_own(env_config: Path) -> None:
    (env_config / "labconfig").mkdir()
    (env_config / "labconfig" / "page_config.json").write_text(
        json.dumps(
            {
                "disabledExtensions": {"@jupyterlab/some-plugin:x": True},
                "lockedExtensions": {"y": True},
            }
        )
    )
    (env_config / "jupyter_server_config.json").write_text(
        json.dumps(
            {"ServerApp": {"jpserver_extensions": {"other_ext": True}, "iopub_data_rate_limit": 5}}
        )
    )

    setup_lab.configure_for_learners(env_config)

    page = json.loads((env_config / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyterlab/some-plugin:x"] is True
    assert page["lockedExtensions"] == {"y": True}
    server = json.loads((env_config / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["iopub_data_rate_limit"] == 5
    assert server["ServerApp"]["jpserver_extensions"]["other_ext"] is True


def test_teacher_overlay_turns_the_formgrader_back_on_for_one_run(
    env_config: Path, tmp_path: Path
) -> None:
    setup_lab.configure_for_learners(env_config)
    overlay = tmp_path / "overlay"

    setup_lab.write_teacher_overlay(overlay)

    # JUPYTER_CONFIG_PATH folders come first, so the overlay wins where it is used ...
    assert server_extensions(overlay, env_config)["nbgrader.server_extensions.formgrader"] is True
    assert "@jupyter/nbgrader:formgrader" not in disabled_plugins(overlay, env_config)
    assert "@jupyter/nbgrader:create-assignment" not in disabled_plugins(overlay, env_config)
    assert "@jupyter/nbgrader:assignment-list" in disabled_plugins(
        overlay, env_config
    )  # no exchange
    # ... and the environment itself still says "learner".
    assert server_extensions(env_config)["nbgrader.server_extensions.formgrader"] is False


def test_cli_reports_changes_then_nothing_to_do(
    env_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup-lab", "--config-dir", str(env_config)]) == 0
    out = capsys.readouterr().out
    assert f"Configured JupyterLab for learners in {env_config}" in out
    assert "nbgrader.server_extensions.formgrader" in out
    assert main(["setup-lab", "--config-dir", str(env_config)]) == 0
    assert "already set up for learners" in capsys.readouterr().out


def test_this_environment_is_set_up_for_learners() -> None:
    """``make venv`` runs ``course setup-lab``: the kit's own environment says "learner"."""
    folders = [Path(p) for p in jupyter_config_path()]
    assert setup_lab.environment_config_dir() in folders
    extensions = server_extensions(*folders)
    assert extensions["nbgrader.server_extensions.validate_assignment"] is True
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert "@jupyter/nbgrader:formgrader" in disabled_plugins(*folders)
