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

**Roles.** ``--role`` chooses who the environment is for:

- ``local`` (the default): a learner working from this repository, as above, plus the
  kit's own server extension ``course.selfgrade.server`` ("Grade my work" and the progress
  page, docs/learners.md), which the other roles leave off (a hub learner's hidden tests
  stay the teacher's, docs/jupyterhub.md);
- ``hub-learner``: a learner on a JupyterHub with an nbgrader exchange: the same, plus
  the **Assignment List** (server extension, lab plugin and the Nbgrader menu that opens
  it), to fetch lessons, submit and fetch feedback;
- ``grader``: the grader account of a hub, whose server is the formgrader service: the
  formgrader, the Assignment List and the "Create Assignment" panel on. Written into that
  account's own ``~/.jupyter`` by default (the shared environment stays "learner"), with
  ``c.CourseDirectory.root`` in ``~/.jupyter/nbgrader_config.py`` when ``--course-dir``
  is given.

The role is recorded in the config folder (``course_role.json``), and a later
``course setup-lab`` without ``--role`` (which ``make venv``, ``make lab`` and
``course lab`` run) keeps it: a hub environment is never switched back to ``local``.

It also makes the environment's ``python3`` kernel spec start kernels forked from a warm
parent (:mod:`course.forking.kernelspec`, docs/fast-kernels.md).

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
    # "Grade my work" and the progress page (course/selfgrade/server.py): learners alone only.
    "course.selfgrade.server": True,
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
    "course.selfgrade.server": False,
}
TEACHER_DISABLED_PLUGINS: dict[str, bool] = {
    **LEARNER_DISABLED_PLUGINS,
    "@jupyter/nbgrader:formgrader": False,
    "@jupyter/nbgrader:create-assignment": False,
    "@jupyter/nbgrader:menu": False,
}


# A hub learner: everything of ``local`` plus the Assignment List and the menu that opens it.
HUB_LEARNER_SERVER_EXTENSIONS: dict[str, bool] = {
    **LEARNER_SERVER_EXTENSIONS,
    "nbgrader.server_extensions.assignment_list": True,
    # Off: a hub learner has no solutions/, and the hidden tests stay the teacher's.
    "course.selfgrade.server": False,
}
HUB_LEARNER_DISABLED_PLUGINS: dict[str, bool] = {
    **LEARNER_DISABLED_PLUGINS,
    "@jupyter/nbgrader:assignment-list": False,
    "@jupyter/nbgrader:menu": False,
}

# The hub's grader account: the teacher tools and the Assignment List (to try a release).
GRADER_SERVER_EXTENSIONS: dict[str, bool] = {
    **TEACHER_SERVER_EXTENSIONS,
    "nbgrader.server_extensions.assignment_list": True,
}
GRADER_DISABLED_PLUGINS: dict[str, bool] = {
    **TEACHER_DISABLED_PLUGINS,
    "@jupyter/nbgrader:assignment-list": False,
}

# role -> (server extensions, lab plugins disabled)
ROLES: dict[str, tuple[dict[str, bool], dict[str, bool]]] = {
    "local": (LEARNER_SERVER_EXTENSIONS, LEARNER_DISABLED_PLUGINS),
    "hub-learner": (HUB_LEARNER_SERVER_EXTENSIONS, HUB_LEARNER_DISABLED_PLUGINS),
    "grader": (GRADER_SERVER_EXTENSIONS, GRADER_DISABLED_PLUGINS),
}
DEFAULT_ROLE = "local"
ROLE_FILE = "course_role.json"


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
        config_dir / "jupyter_server_config.json",
        "ServerApp",
        server_extensions,
        "jpserver_extensions",
    )
    lab = _merge_json(
        config_dir / "labconfig" / "page_config.json", "disabledExtensions", disabled_plugins, None
    )
    return [f"server extension {line}" for line in server] + [
        f"lab plugin disabled {line}" for line in lab
    ]


def recorded_role(config_dir: Path) -> str | None:
    """The role ``course setup-lab --role`` last wrote into ``config_dir``, if any.

    >>> import tempfile
    >>> recorded_role(Path(tempfile.mkdtemp())) is None
    True
    """
    path = config_dir / ROLE_FILE
    try:
        role = json.loads(path.read_text(encoding="utf-8")).get("role")
    except (OSError, ValueError, AttributeError):
        return None
    return role if role in ROLES else None


def configure(config_dir: Path, role: str | None = None) -> list[str]:
    """Apply ``role`` (default: the recorded one, else ``local``) to ``config_dir``. Idempotent.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> change = "server extension nbgrader.server_extensions.assignment_list: None -> True"
    >>> change in configure(folder, "hub-learner")
    True
    >>> configure(folder)  # a plain setup-lab keeps the hub role
    []
    """
    role = role or recorded_role(config_dir) or DEFAULT_ROLE
    server_extensions, disabled_plugins = ROLES[role]
    changes = write_config(config_dir, server_extensions, disabled_plugins)
    if recorded_role(config_dir) != role:
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / ROLE_FILE).write_text(json.dumps({"role": role}) + "\n", encoding="utf-8")
        changes.append(f"role: {role}")
    return changes


def configure_for_learners(config_dir: Path | None = None) -> list[str]:
    """Apply the learner setup to ``config_dir`` (default: this environment's). Idempotent.

    An environment set up for a hub (``--role hub-learner``) keeps that role.
    """
    return configure(config_dir or environment_config_dir())


def write_course_root(config_dir: Path, course_dir: Path) -> bool:
    """Set ``c.CourseDirectory.root`` in ``config_dir/nbgrader_config.py``; True if it changed.

    Other lines of that file are kept; an earlier root line is replaced.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> course = Path("/srv/course")
    >>> write_course_root(folder, course), write_course_root(folder, course)
    (True, False)
    """
    path = config_dir / "nbgrader_config.py"
    line = f"c.CourseDirectory.root = {str(course_dir)!r}  # course setup-lab --role grader"
    lines = (
        path.read_text(encoding="utf-8").splitlines()
        if path.is_file()
        else ["c = get_config()  # noqa: F821"]
    )
    if line in lines:
        return False
    lines = [old for old in lines if not old.startswith("c.CourseDirectory.root =")] + [line]
    config_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


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
        "--role",
        choices=sorted(ROLES),
        default=None,
        help="local (default), hub-learner (Assignment List on) or grader (formgrader on); "
        "without it, the role recorded by an earlier run is kept",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="Jupyter config folder to write (default: this environment's, <venv>/etc/jupyter; "
        "for --role grader, the account's ~/.jupyter)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        default=None,
        help="with --role grader: the course folder (a clone of this repository) the formgrader "
        "manages",
    )


def run(args: argparse.Namespace) -> int:
    from jupyter_core.paths import jupyter_config_dir

    from course.forking import kernelspec

    role = args.role
    if args.config_dir:
        config_dir = args.config_dir
    elif role == "grader":
        config_dir = Path(jupyter_config_dir())
    else:
        config_dir = environment_config_dir()
    if args.course_dir and role != "grader":
        print("course setup-lab: --course-dir goes with --role grader", file=sys.stderr)
        return 2
    changes = configure(config_dir, role)
    if not args.config_dir:  # the environment's own setup: its kernels start forked
        changes += kernelspec.install(sys.prefix)
    if args.course_dir and write_course_root(config_dir, args.course_dir.resolve()):
        changes.append(f"nbgrader course folder: {args.course_dir.resolve()}")
    role = recorded_role(config_dir) or DEFAULT_ROLE
    who = {"local": "learners", "hub-learner": "hub learners", "grader": "the grader"}[role]
    if not changes:
        print(f"JupyterLab in {config_dir} is already set up for {who}.")
        return 0
    print(f"Configured JupyterLab for {who} in {config_dir}:")
    for line in changes:
        print(f"  {line}")
    return 0
