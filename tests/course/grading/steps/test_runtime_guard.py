"""The run-time guard without a Jupyter kernel: installed in a child Python (its audit hook
cannot be removed, so never in pytest's own process), then asked to check, and its answer
read with the grader's :class:`~course.grading.steps.runtime_guard.KernelGuard`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course.grading.steps.runtime_guard import KernelGuard, _signed, run_sources


def _run(tmp_path: Path, code: str) -> tuple[list[str], dict[str, bool], str]:
    """Install the guard in a child Python, run ``code`` there (then a check with nonce
    ``n1``); return the grader's reading of the answer and the child's output."""
    guard = KernelGuard()
    program = (
        "import json, sys\n"
        f"ns = {{}}\n{run_sources('ns')}\n"
        "print('KEY', ns['install']())\n"
        "del ns\n"
        + "exec(compile("
        + repr(textwrap.dedent(code))
        + ", '<ipython-input-1>', 'exec'))\n"
        "answer = []\n"
        "sys.audit('course.integrity.check', 'n1', answer)\n"
        "print('ANSWER', json.dumps(answer))\n"
    )
    script = tmp_path / "kernel.py"  # a file: only the code in `<ipython-input-1>` is the learner's
    script.write_text(program, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    key_line = next(line for line in done.stdout.splitlines() if line.startswith("KEY "))
    guard.key = bytes.fromhex(key_line.split()[1])
    answer = next((line for line in done.stdout.splitlines() if line.startswith("ANSWER ")), "")
    findings, checked = guard.read(json.loads(answer[7:]) if answer else [])
    return findings, checked, done.stdout + done.stderr


def test_an_honest_program_changes_nothing(tmp_path):
    findings, checked, _ = _run(
        tmp_path,
        """
        import collections, json, functools
        data = json.dumps({"a": [1, 2]})
        counts = collections.Counter("abcab")
        @functools.lru_cache
        def square(x):
            return x * x
        total = sum(square(i) for i in range(10))
        """,
    )
    assert findings == [] and checked == {"n1": True}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # aliases of every kind reach the same objects
        (
            "import functools\n_f = [functools][0]\n_f.wraps = lambda *a, **k: None",
            "`functools.wraps` was replaced",
        ),
        (
            "import sys\n_s = sys\ngetattr(_s, 'mod' + 'ules')['json'] = _s",
            "`json` was replaced in `sys.modules`",
        ),
        (
            "b = getattr(print, '__se' + 'lf__')\n_len = b.len\n"
            "setattr(b, 'len', lambda o: _len(o))",
            "the built-in `len` was replaced",
        ),
        (
            "import importlib.util as u\n(lambda m: setattr(m, 'module_from_spec', print))(u)",
            "`importlib.util.module_from_spec` was replaced",
        ),
        (
            "import functools\nfunctools.update_wrapper.__code__ = (lambda *a, **k: 0).__code__",
            "the code of `functools.update_wrapper` was replaced",
        ),
        (
            "import collections\nsetattr(collections.Counter, 'most_common', lambda *a: [])",
            "`collections.Counter.most_common` was replaced",
        ),
        (
            "class Finder:\n    def find_spec(self, *args):\n        return None\n"
            "import sys\nsys.meta_path.insert(0, Finder())",
            "`sys.meta_path` was changed",
        ),
        # code from strings, by any route
        (
            "import codecs\ngetattr(print.__self__, 'ex' + 'ec')(codecs.decode('k = 1', 'rot13'))",
            "ran code built from a string at run time",
        ),
    ],
)
def test_changes_are_found_whatever_their_spelling(tmp_path, code, expected):
    findings, checked, output = _run(tmp_path, code)
    assert checked == {"n1": True}, output
    assert any(expected in finding for finding in findings), (findings, output)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import gc\ngc.get_referrers(print)", "`gc.get_referrers`"),
        ("import gc\ngc.get_objects()", "`gc.get_objects`"),
        ("import sys\nsys.settrace(lambda *a: None)", "`sys.settrace`"),
        ("import sys\nsys.setprofile(lambda *a: None)", "`sys.setprofile`"),
        ("import sys\nsys._current_frames()", "`sys._current_frames`"),
    ],
)
def test_ways_to_reach_the_guard_are_refused_and_reported(tmp_path, code, expected):
    wrapped = "try:\n" + textwrap.indent(code, "    ") + "\nexcept PermissionError:\n    print('R')"
    findings, _checked, output = _run(tmp_path, wrapped)
    assert "\nR" in "\n" + output
    assert any(expected in finding for finding in findings), (findings, output)


def test_a_forged_or_dropped_line_is_a_finding():
    """Lines not signed with the key, and a gap in their numbers (a line the kernel's code
    kept from the grader), are findings; a check without its line is no answer."""
    guard = KernelGuard()
    guard.key = b"k" * 32
    sign = lambda line: _signed(guard.key, line)  # noqa: E731
    findings, checked = guard.read([sign(["changed", 1, "x"]), sign(["checked", 2, "n1"])])
    assert findings == ["x"] and checked == {"n1": True}
    findings, checked = guard.read([sign(["checked", 4, "n2"])])  # line 3 was dropped
    assert findings == ["the grader's log holds lines the grader did not write"]
    forged = "0" * 64 + ' ["checked", 5, "n3"]'
    findings, checked = guard.read([forged])
    assert findings == ["the grader's log holds lines the grader did not write"]
    assert checked == {}


def test_a_missing_answer_is_no_check():
    """No check line for the nonce (the check never ran): nothing is answered."""
    guard = KernelGuard()
    guard.key = b"k" * 32
    assert guard.read([]) == ([], {})


def test_a_fresh_kernel_importing_keras_changes_nothing(tmp_path):
    """Libraries imported after the guard (a fresh kernel's first `import keras`) add
    finders, built-ins and methods of their own: not changes."""
    findings, checked, output = _run(
        tmp_path,
        """
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras, helpers
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        helpers.assert_output_shape(model, (None, 2))
        from helpers.grading import pristine
        pristine().assert_output_shape(model, (None, 2))
        """,
    )
    assert findings == [] and checked == {"n1": True}, output


def test_helpers_changed_before_the_grader_saw_them_are_found(tmp_path):
    """A fresh kernel imports helpers after the guard: they are compared with their files."""
    findings, _checked, output = _run(
        tmp_path,
        """
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import helpers
        _h = helpers
        setattr(_h, "assert_calls", lambda *args, **kwargs: None)
        """,
    )
    assert findings == ["`helpers.assert_calls` was replaced"], output
