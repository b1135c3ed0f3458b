"""The environment ``make venv`` builds: what its processes pay for at start."""

from __future__ import annotations

import subprocess
import sys


def test_nbformat_does_not_compile_an_iri_grammar() -> None:
    """Every nbgrader, course and Jupyter process imports nbformat, hence jsonschema's
    format checkers; ``rfc3987_syntax`` (compiled on import, 0.7 s) is not installed
    (Makefile ``UNUSED``), so jsonschema skips the one check that needs it."""
    code = (
        "import sys, nbformat, jsonschema\n"
        "from jsonschema import Draft7Validator\n"
        "print('rfc3987_syntax' in sys.modules, 'lark' in sys.modules,\n"
        "      'date-time' in Draft7Validator.FORMAT_CHECKER.checkers)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]
