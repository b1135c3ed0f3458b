"""The ``course`` command: one entry point, one module per subcommand.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; only the
chosen one is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "bench": (
        "course.bench.cli",
        "measure the floor, each lesson, nbval and grading a class (serial vs course grade)",
    ),
    "build": (
        "course.build",
        "re-run solutions/ and regenerate the learner notebooks in notebooks/",
    ),
    "lab": (
        "course.lab",
        "JupyterLab on the learner notebooks (--teacher: whole course, formgrader on)",
    ),
    "setup-lab": (
        "course.setup_lab",
        "set up this environment's JupyterLab for a role: local or hub learner, grader "
        "(idempotent)",
    ),
    "setup-hub": (
        "course.hub",
        "once per JupyterHub, as root: the shared exchange and nbgrader settings "
        "(docs/jupyterhub.md)",
    ),
    "report": (
        "course.report",
        "class report from the gradebook: pass rates and common failures per exercise",
    ),
    "grade": (
        "course.grading.cli",
        "autograde every submission in parallel with nbgrader's grading steps",
    ),
    "check": (
        "course.selfgrade.cli",
        "learners: grade your own work with the teacher's grader and hidden checks (make grade)",
    ),
}


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (its first argument that is not an option), if any.

    >>> chosen_command(["grade", "01_shared_layers", "--workers", "2"]), chosen_command(["-h"])
    ('grade', None)
    """
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return command if command in SUBCOMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Only the chosen subcommand's module is imported (`course grade` does not pay for the
    # bench's or the hub's imports); the list of commands needs only their help lines.
    chosen = chosen_command(argv)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_module=module)
    args = parser.parse_args(argv)
    return int(args._module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
