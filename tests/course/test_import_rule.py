"""The one rule for import-time settings (course/import_rule.py): a warm package set aside is
put back at the notebook's first import when the settings it read are unchanged, and
imported fresh when the notebook changed them first, however it changed them. Run in a
child Python (the rule changes ``sys.modules``), with a small package standing for Keras."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import course.import_rule
from course.forking import protocol
from course.grading.warmup import WarmKernelPlan, warm_kernel_fits
from course.import_rule import import_settings

REPO = Path(__file__).resolve().parents[2]


def test_the_forking_provisioner_and_course_grade_share_the_rule():
    env = {"HOME": "/nowhere", "KERAS_BACKEND": "jax", "PYTHONPATH": "/x", "LANG": "C"}
    assert protocol.import_settings(env) == import_settings(env)
    assert protocol.IMPORT_VARS is course.import_rule.IMPORT_VARS
    assert warm_kernel_fits(None, WarmKernelPlan("python3", "a", preload=("keras",)))


def _kernel(tmp_path: Path, learner: str) -> str:
    """A 'warm kernel': imports ``fakekeras`` (which reads FAKE_BACKEND), sets it aside,
    then runs the learner's code; returns what it printed."""
    package = tmp_path / "fakekeras"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\nBACKEND = os.environ.get('FAKE_BACKEND', 'tensorflow')\n"
    )
    (package / "layers.py").write_text("from fakekeras import BACKEND\n")
    program = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(REPO)!r}]
        import fakekeras, fakekeras.layers
        warm = fakekeras
        from course.import_rule import defer_warm_imports
        parked = defer_warm_imports(packages=("fakekeras",), read=("FAKE_BACKEND",))
        print("parked", sorted(parked), "fakekeras" in sys.modules)
        """
    ) + textwrap.dedent(learner)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("learner", "expected"),
    [
        # no change: the warm modules come back, the very same objects
        ("from fakekeras import layers\nimport fakekeras\n", "warm True tensorflow"),
        # a change first, by any spelling: imported fresh, with the new value
        (
            "import os\nos.environ.update(FAKE_BACKEND='jax')\nimport fakekeras\n",
            "warm False jax",
        ),
        (
            "import os\ngetattr(os, 'environ')['FAKE_' + 'BACKEND'] = 'jax'\n"
            "import importlib\nfakekeras = importlib.import_module('fake' + 'keras')\n",
            "warm False jax",
        ),
        # a change after the first import: what a fresh kernel does too (too late)
        (
            "import fakekeras\nimport os\nos.environ['FAKE_BACKEND'] = 'jax'\nimport fakekeras\n",
            "warm True tensorflow",
        ),
    ],
)
def test_the_rule_is_decided_at_the_first_import(tmp_path, learner, expected):
    output = _kernel(
        tmp_path,
        learner
        + "import sys, fakekeras.layers\n"
        + "print('warm', sys.modules['fakekeras'] is warm, sys.modules['fakekeras'].BACKEND)\n"
        + "print('layers', sys.modules['fakekeras.layers'].BACKEND)\n",
    )
    assert "parked ['fakekeras', 'fakekeras.layers'] False" in output
    assert expected in output, output
    assert f"layers {expected.split()[-1]}" in output, output
