"""The ``course`` command: every subcommand is listed, and only the chosen one is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from course.cli import SUBCOMMANDS, main


def test_every_subcommand_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SUBCOMMANDS)


def _subcommand_modules_after(code: str) -> list[str]:
    """The subcommand modules imported after running ``code`` in a new interpreter."""
    code += (
        "\nimport sys\nfrom course.cli import SUBCOMMANDS\n"
        "print(' '.join(m for m, _ in SUBCOMMANDS.values() if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()


@pytest.mark.parametrize("name", ["grade", "lab", "build"])  # the ones run most often
def test_a_subcommand_imports_only_what_its_module_does(name: str) -> None:
    """``course grade`` pays for grading's imports, not the bench's or the hub's."""
    module = SUBCOMMANDS[name][0]
    ran = _subcommand_modules_after(
        "from course.cli import main\n"
        "try:\n"
        f"    main([{name!r}, '--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code"
    )
    assert module in ran
    assert ran == _subcommand_modules_after(f"import {module}")
