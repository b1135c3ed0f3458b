"""``course setup-lab``: set up this environment's JupyterLab for learners.

nbgrader 0.9 switches on all of its JupyterLab plugins and Jupyter Server extensions when
it is installed. A learner of this kit needs one of them: the **Validate** button, which
runs the notebook's tests on the server. The others are teacher tools or need an nbgrader
exchange, which this kit doesn't use (learners get the notebooks from the repository):

- the formgrader (server extension and lab plugin) manages and grades the course, and
  creates ``gradebook.db`` in the directory JupyterLab was started from;
- the course list lists formgraders, and the assignment list talks to the exchange
  (``/usr/local/share/nbgrader/exchange``): without one it shows "The exchange
  directory does not exist" and the server logs an ``ExchangeError`` traceback;
- the "Create Assignment" side panel edits nbgrader's cell metadata (a learner who
  uses it breaks their notebook's grading), and the "Nbgrader" menu only opens the above.

The JupyterLab news pop-up is switched off too: it asks learners whether to fetch news
from the internet, which a classroom machine may not reach.

Everything is written at the environment (``sys.prefix``) level, in
``<venv>/etc/jupyter/jupyter_server_config.json`` and
``<venv>/etc/jupyter/labconfig/page_config.json``, never in the user's ``~/.jupyter``:
other environments on the machine keep their own setup. Keys already in those files are
kept. Running it again changes nothing. ``course lab --teacher`` switches the teacher
tools back on for one run (see :func:`write_teacher_overlay`).

Example::

    $ course setup-lab
    Configured JupyterLab for learners in /repo/.venv/etc/jupyter:
      server extension nbgrader.server_extensions.formgrader: off
      ...
    $ course setup-lab
    JupyterLab in /repo/.venv/etc/jupyter is already set up for learners.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Jupyter Server extensions: module -> enabled.
LEARNER_SERVER_EXTENSIONS: dict[str, bool] = {
    "nbgrader.server_extensions.validate_assignment": True,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.assignment_list": False,
}

# JupyterLab plugins: plugin id -> disabled (JupyterLab's own "disabledExtensions" format).
LEARNER_DISABLED_PLUGINS: dict[str, bool] = {
    "@jupyter/nbgrader:validate-assignment": False,
    "@jupyter/nbgrader:formgrader": True,
    "@jupyter/nbgrader:course-list": True,
    "@jupyter/nbgrader:assignment-list": True,
    "@jupyter/nbgrader:create-assignment": True,
    "@jupyter/nbgrader:menu": True,
    "@jupyterlab/apputils-extension:announcements": True,
}

# What ``course lab --teacher`` turns back on: the formgrader, the "Create Assignment"
# panel and the Nbgrader menu. The assignment and course lists stay off (no exchange).
TEACHER_SERVER_EXTENSIONS: dict[str, bool] = {
    **LEARNER_SERVER_EXTENSIONS,
    "nbgrader.server_extensions.formgrader": True,
}
TEACHER_DISABLED_PLUGINS: dict[str, bool] = {
    **LEARNER_DISABLED_PLUGINS,
    "@jupyter/nbgrader:formgrader": False,
    "@jupyter/nbgrader:create-assignment": False,
    "@jupyter/nbgrader:menu": False,
}


def environment_config_dir() -> Path:
    """The Jupyter config folder of the running environment: ``<sys.prefix>/etc/jupyter``."""
    return Path(sys.prefix) / "etc" / "jupyter"


def _merge_json(path: Path, section: str, values: dict[str, bool], nest: str | None) -> list[str]:
    """Set ``values`` in the JSON file at ``path`` (created if missing), keeping other keys.

    ``section`` (and ``nest`` below it, if given) is the dict the values go in.
    Returns one line per value that changed; the file is only rewritten when one did.
    """
    data: dict[str, Any] = {}
    if path.is_file() and path.stat().st_size:
        data = json.loads(path.read_text(encoding="utf-8"))
    target = data.setdefault(section, {})
    if nest is not None:
        target = target.setdefault(nest, {})
    changed = [
        f"{key}: {target.get(key)!r} -> {value!r}"
        for key, value in values.items()
        if target.get(key) != value
    ]
    if changed:
        target.update(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return changed


def write_config(
    config_dir: Path,
    server_extensions: dict[str, bool],
    disabled_plugins: dict[str, bool],
) -> list[str]:
    """Write server-extension and lab-plugin switches into one Jupyter config folder.

    Returns a readable line per setting that changed (empty when nothing did).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> len(write_config(folder, LEARNER_SERVER_EXTENSIONS, LEARNER_DISABLED_PLUGINS)) > 0
    True
    >>> write_config(folder, LEARNER_SERVER_EXTENSIONS, LEARNER_DISABLED_PLUGINS)
    []
    """
    server = _merge_json(
        config_dir / "jupyter_server_config.json", "ServerApp", server_extensions, "jpserver_extensions"
    )
    lab = _merge_json(
        config_dir / "labconfig" / "page_config.json", "disabledExtensions", disabled_plugins, None
    )
    return [f"server extension {line}" for line in server] + [f"lab plugin disabled {line}" for line in lab]


def configure_for_learners(config_dir: Path | None = None) -> list[str]:
    """Apply the learner setup to ``config_dir`` (default: this environment's). Idempotent."""
    folder = config_dir or environment_config_dir()
    return write_config(folder, LEARNER_SERVER_EXTENSIONS, LEARNER_DISABLED_PLUGINS)


def write_teacher_overlay(config_dir: Path) -> None:
    """Write the teacher setup into ``config_dir``, a folder meant for ``JUPYTER_CONFIG_PATH``.

    Folders on ``JUPYTER_CONFIG_PATH`` take precedence over the environment's, so a
    server started with it sees the teacher tools on, and nothing is changed for the next
    learner run. The server-extension dict is written whole because Jupyter's config
    loader replaces (does not merge) that dict across files.
    """
    write_config(config_dir, TEACHER_SERVER_EXTENSIONS, TEACHER_DISABLED_PLUGINS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="Jupyter config folder to write (default: this environment's, <venv>/etc/jupyter)",
    )


def run(args: argparse.Namespace) -> int:
    config_dir = args.config_dir or environment_config_dir()
    changes = configure_for_learners(config_dir)
    if not changes:
        print(f"JupyterLab in {config_dir} is already set up for learners.")
        return 0
    print(f"Configured JupyterLab for learners in {config_dir}:")
    for line in changes:
        print(f"  {line}")
    return 0
