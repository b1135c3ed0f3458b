"""The grader's integrity checks, without a kernel: what the static reading flags (and
what honest code it leaves alone), the shadowing-file guard, the judge's rules, the
output caps, and the guarded helpers.grading."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import course.grading.notes
import course.grading.steps.code_scan
import course.grading.steps.integrity
from course.cells import grade_id_of
from course.config import with_bin_first
from course.corpus import lesson_corpus
from course.grading.notes import is_notes_cell, notes_cell
from course.grading.steps.code_scan import scan_code
from course.grading.steps.integrity import (
    FINDINGS_KEY,
    MANUAL_KEY,
    GuardSubmission,
    IntegritySaveAutoGrades,
    JudgeIntegrity,
    guard_folder,
)
from course.grading.steps.output_limits import LimitAllOutput
from course.lessons import find_lessons

REPO = Path(__file__).resolve().parents[4]


HONEST = [
    "keras.backend.clear_session()\nx = layers.Dense(3, name='d')\nk = x.kernel",
    "import os\nos.environ['KERAS_BACKEND'] = 'tensorflow'",
    "from IPython.display import display, Markdown\ndisplay(Markdown('hi'))",
    "object.__setattr__(self, 'tied_to', layer)",
    "clone = layer.__class__.from_config(layer.get_config())",
    "%%time\nmodel.fit(x, y, verbose=0)",
    "%timeit model(x)\n%matplotlib inline",
    "z = keras.ops.stack([a, b])\nimport sys\nprint(sys.version)",
    "for i in range(3):\n    setattr(self, f'dense_{i}', layers.Dense(4))\n"
    "w = getattr(layer, 'kernel')",
    "import numpy as np\nnp.random.seed(0)\n"
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.dpi'] = 80",
    "def broken(:\n    pass",  # does not parse: it cannot run either
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_code_is_not_flagged(source):
    assert scan_code(source) == []


TAMPERING = {
    "helpers.grading.pristine = lambda: helpers": "assigns to `helpers.grading.pristine`",
    "from helpers import grading\ngrading.pristine = None": "assigns to `grading.pristine`",
    # every check, where it is re-exported and in the module that defines it
    "helpers.assert_shared = ok": "assigns to `helpers.assert_shared`",
    "helpers.checks.assert_shared = ok": "assigns to `helpers.checks.assert_shared`",
    "helpers.checks.sharing.assert_shared = ok": "assigns to `helpers.checks.sharing.assert_sh",
    "from helpers.checks import sharing\nsharing.assert_calls = ok": "assigns to `sharing.assert",
    "import helpers.checks.tying as t\nt.assert_tied = ok": "assigns to `t.assert_tied`",
    "from helpers.checks import _common\n_common.fail = ok": "assigns to `_common.fail`",
    "from helpers.checks import _common as c\nc.CheckFailed = E": "assigns to `c.CheckFailed`",
    "setattr(helpers.checks.capacity, 'assert_param_count', ok)": "calls `setattr` on the module",
    "helpers.checks.outputs.__dict__['assert_io_names'] = ok": "uses `.__dict__`",
    "import sys\nsys.modules['helpers.grading'] = fake": "uses `.modules`",
    "import builtins\nbuiltins.isinstance = lambda *a: True": "imports `builtins`",
    "__builtins__.len = lambda x: 0": "uses `__builtins__`",
    "get_ipython().ast_transformers.append(T())": "uses `.ast_transformers`",
    "get_ipython().input_transformers_post.append(f)": "uses `.input_transformers_post`",
    "ip = get_ipython()\nip.events.register('pre_run_cell', f)": "uses `.events`",
    "get_ipython().set_custom_exc((Exception,), h)": "uses `.set_custom_exc`",
    "get_ipython().showtraceback = lambda *a, **k: None": "uses `.showtraceback`",
    "exec('x = 1')": "runs code built at run time (`exec`)",
    "f = eval": "runs code built at run time (`eval`)",
    "m = __import__('sy' + 's')": "uses `__import__`",
    "import importlib\nimportlib.reload(helpers)": "imports `importlib`",
    "import sys\nsys.settrace(tracer)": "uses `.settrace`",
    "import ctypes": "imports `ctypes`",
    "import gc\ngc.get_objects()": "imports `gc`",
    "g = f.__globals__": "uses `.__globals__`",
    "getattr(get_ipython(), 'ev' + 'ents')": "uses `get_ipython()`",
    "setattr(helpers, name, None)": "calls `setattr` on the module `helpers`",
    "x = getattr(helpers, 'assert_' + name)": "calls `getattr` on the module `helpers`",
    "open('mine.py', 'w').write(code)": "names the Python file `mine.py`",
    "%timeit exec('1')": "runs code built at run time (`exec`)",
    "%load_ext mine": "runs the magic `%load_ext`",
    "%pip install something": "runs the magic `%pip`",
    "!python -c 'print(1)'": "runs a shell command",
    "import subprocess": "imports `subprocess`",
    "import threading": "imports `threading`",
    "from IPython import get_ipython": "imports `get_ipython`",
}


@pytest.mark.parametrize("source", TAMPERING)
def test_tampering_is_flagged(source):
    found = scan_code(source)
    assert any(TAMPERING[source] in text for text in found), found


def test_no_honest_corpus_case_is_flagged():
    """Every corpus case of every lesson that does not expect an integrity note has no
    learner code cell the grader would flag (lessons 00-05)."""
    flagged = []
    for lesson in find_lessons(REPO):
        learner = nbformat.read(lesson.release_notebook, as_version=4)
        source = nbformat.read(lesson.source_notebook, as_version=4)
        given = {grade_id_of(c): c.source for c in learner.cells}
        for case in lesson_corpus(lesson):
            nb = case.notebook(learner, source)
            if not hasattr(nb, "cells") or case.integrity_note:
                continue
            for cell in nb.cells:
                grade_id = grade_id_of(cell)
                if (
                    cell.cell_type == "code"
                    and given.get(grade_id) != cell.source
                    and scan_code(cell.source)
                ):
                    flagged.append((lesson.name, case.name, grade_id, scan_code(cell.source)))
    assert not flagged


# ------------------------------------------------------------------- files next to it


def test_guard_folder_removes_shadowing_and_compiled_files(tmp_path):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("def __getattr__(n):\n    return None\n")
    (tmp_path / "keras.py").write_text("x = 1\n")
    (tmp_path / "json.py").write_text("x = 1\n")  # the standard library too
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "mine.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "native.so").write_bytes(b"\0")
    (tmp_path / "mine.py").write_text("import sys\nsys.modules['helpers'] = None\n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data").mkdir()  # a folder without __init__.py shadows nothing
    removed, findings = guard_folder(tmp_path)
    assert removed == ["__pycache__", "helpers/", "json.py", "keras.py", "native.so"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "mine.py", "notes.txt"]
    assert [f["file"] for f in findings] == ["mine.py"] and "uses `.modules`" in findings[0]["what"]


# --------------------------------------------------------------------------- judging


def _test_cell(grade_id: str, points: int = 2, outputs=()):
    cell = nbformat.v4.new_code_cell(
        "helpers.check()",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": True,
                "grade_id": grade_id,
                "points": points,
            }
        },
    )
    cell.outputs = list(outputs)
    return cell


def _answer(grade_id: str, source: str):
    return nbformat.v4.new_code_cell(
        source,
        metadata={
            "nbgrader": {"grade": False, "solution": True, "locked": False, "grade_id": grade_id}
        },
    )


def _notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    forged = nbformat.v4.new_markdown_cell(
        "**Notes from the grader**\n\n- full marks", metadata={"course_grade": "notes"}
    )
    nb.cells = [
        forged,
        _answer("ex1", "model = 1"),
        _test_cell("test_ex1"),
        _answer("ex2", "get_ipython().events.register('pre_run_cell', f)"),
        _test_cell("test_ex2"),
        _test_cell("test_ex3"),
    ]
    return nb


def test_guard_then_judge(tmp_path):
    nb = _notebook(tmp_path)
    nb.metadata[FINDINGS_KEY] = {"findings": []}  # a learner's own metadata is overwritten
    resources = {"metadata": {"path": str(tmp_path)}}
    nb, resources = GuardSubmission()(nb, resources)
    assert (
        not is_notes_cell(nb.cells[0])
        and "made to look like the grader's notes" in nb.cells[0].source
    )
    # course grade puts its own notes on top before judging; a hook emitted a score.
    nb.cells.insert(0, notes_cell(["Cell 2 ran out of memory."]))
    result = nbformat.v4.new_output(
        "execute_result", data={"text/plain": "'full'"}, execution_count=3
    )
    nb.cells[5].outputs = [result]
    nb, resources = JudgeIntegrity()(nb, resources)
    assert FINDINGS_KEY not in nb.metadata
    assert nb.cells[5].outputs == []  # the execute_result is gone
    assert sorted(resources[MANUAL_KEY]) == ["test_ex2", "test_ex3"]  # after cell 4, not test_ex1
    assert [is_notes_cell(c) for c in nb.cells].count(True) == 1
    note = nb.cells[0].source
    assert "Cell 2 ran out of memory." in note
    assert "Cell 1 is made to look like the grader's notes; it was marked as yours." in note
    assert "Cell 4 (`ex2`) changes how grading runs: uses `.events` (IPython event hooks)" in note
    assert (
        "Cell 5 (`test_ex2`) showed output the kit's tests never produce (execute_result)" in note
    )
    assert (
        "Test cell(s) `test_ex2`, `test_ex3` score 0 until your teacher grades them by hand" in note
    )


def test_save_auto_grades_flags_and_never_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", with_bin_first(os.environ["PATH"]))  # alembic
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.add_assignment("a")
        gb.add_notebook("nb", "a")
        for gid in ("t1", "t2", "t3"):
            gb.add_grade_cell(gid, "nb", "a", max_score=2, cell_type="code")
        gb.add_student("s")
        gb.add_submission("a", "s")
    above = nbformat.v4.new_output("execute_result", data={"text/plain": "99"}, execution_count=1)
    nb = nbformat.v4.new_notebook()
    nb.cells = [_test_cell("t1"), _test_cell("t2", outputs=[above]), _test_cell("t3")]
    resources = {
        "nbgrader": {"notebook": "nb", "assignment": "a", "student": "s", "db_url": db},
        MANUAL_KEY: {"t3": ["cell 1"]},
    }
    IntegritySaveAutoGrades()(nb, resources)
    with Gradebook(db) as gb:
        grades = {gid: gb.find_grade(gid, "nb", "a", "s") for gid in ("t1", "t2", "t3")}
        assert (grades["t1"].auto_score, grades["t1"].needs_manual_grade) == (2, False)
        assert (grades["t2"].auto_score, grades["t2"].needs_manual_grade) == (
            0,
            True,
        )  # 99 > 2 points
        assert (grades["t3"].auto_score, grades["t3"].needs_manual_grade) == (0, True)  # flagged


def test_limit_all_output_caps_errors_data_and_metadata():
    error = nbformat.v4.new_output(
        "error", ename="ValueError", evalue="x" * 10**6, traceback=["y" * 10**6] * 3
    )
    shown = nbformat.v4.new_output(
        "display_data", data={"text/plain": "z" * 10**6}, metadata={"m": "w" * 10**6}
    )
    cell = nbformat.v4.new_code_cell("x", outputs=[error, shown])
    nb = nbformat.v4.new_notebook(cells=[cell])
    LimitAllOutput(max_chars=1000)(nb, {})
    assert len(nbformat.writes(nb)) < 10_000
    assert error.evalue.endswith("... Output truncated ...") and shown.metadata == {}


# ----------------------------------------------------------------- helpers.grading


def test_grading_module_is_read_only():
    import helpers.grading

    with pytest.raises(AttributeError, match="read-only"):
        helpers.grading.pristine = lambda: None
    with pytest.raises(AttributeError, match="read-only"):
        del helpers.grading.pristine
    assert helpers.grading.kernel_changes() == []


def test_pristine_refuses_a_tracer(capsys):

    import helpers.grading

    def tracer(*args):
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(
            helpers.grading.GradingMachineryChanged, match="a tracer runs inside every call"
        ):
            helpers.grading.pristine()
    finally:
        sys.settrace(previous)
    assert "GRADING MACHINERY CHANGED" in capsys.readouterr().err


def test_execute_caps_every_output_kind_while_running():
    """RestartingExecute (both graders' Execute) cuts errors, data and metadata of each
    message to output_item_limit, and drops output beyond output_limit per notebook."""
    from course.grading.steps.restarting_execute import RestartingExecute

    step = RestartingExecute(output_item_limit=1000, output_limit=5000)
    step.reset_execution_trackers()
    step.clear_before_next_output = False  # set by nbclient when a cell starts
    outs: list = []

    def message(kind, **content):
        return {
            "msg_type": kind,
            "content": content,
            "header": {"msg_type": kind},
            "parent_header": {},
            "metadata": {},
        }

    step.output(
        outs,
        message("error", ename="ValueError", evalue="x" * 10**6, traceback=["y" * 10**6]),
        None,
        0,
    )
    step.output(
        outs,
        message("display_data", data={"text/plain": "z" * 10**6}, metadata={"m": "w" * 10**6}),
        None,
        0,
    )
    for _ in range(10):
        step.output(outs, message("stream", name="stdout", text="s" * 900), None, 0)
    assert outs[0].output_type == "error" and len(outs[0].evalue) < 1100  # still an error
    assert len(outs[1].data["text/plain"]) < 1100 and outs[1].metadata == {}
    assert (
        len(
            nbformat.writes(
                nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outs)])
            )
        )
        < 20_000
    )
    assert step._truncated and "was dropped" in "".join(o.get("text", "") for o in outs)


#: What the run-time guard's notes say (course/grading/steps/guard_kernel.py).
RUNTIME_PHRASES = (
    "the grader found what the checks rely on changed",
    " was replaced",
    " was added to the class",
    "is not the grader's function",
    "ran code built from a string",
    "(`gc.",
    "(`sys.settrace`)",
)


def test_the_corpus_flags_exactly_the_cases_whose_code_changes_grading():
    """A corpus case expects a manual grade or an integrity note exactly when the grader's
    reading of its answers finds something (or it hands in files, or forges a note): an
    expectation put on the wrong case would otherwise pass unnoticed until a slow pipeline run."""
    import importlib.util

    from course.grading.steps.code_scan import scan_code

    wrong = []
    for path in sorted((Path(__file__).resolve().parents[3] / "corpus").glob("0*.py")):
        spec = importlib.util.spec_from_file_location(f"corpus_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for case in module.CASES:
            flagged = any(scan_code(code) for code in case.answers.values())
            expects = bool(case.manual_grade or case.integrity_note)
            # Found by the run-time guard (course/grading/steps/runtime_guard.py), not by reading.
            at_run_time = any(
                phrase in note for note in case.integrity_note for phrase in RUNTIME_PHRASES
            )
            if (
                flagged
                and not expects
                or expects
                and not (flagged or at_run_time or case.extra_files or case.transform)
            ):
                wrong.append(f"{path.stem}/{case.name}: {'flagged' if flagged else 'not flagged'}")
    assert not wrong, wrong


# ------------------------------------------------------------------- a bounded scan


def test_a_long_expression_is_read():
    """A 1,000-term sum compiles and runs; the scan reads it (no recursion)."""
    assert scan_code("total = " + " + ".join(["1"] * 1000)) == []
    deep = "".join("    " * i + "if x:\n" for i in range(99)) + "    " * 99 + "import ctypes\n"
    assert scan_code(deep) == ["imports `ctypes` (writes into the process's memory)"]


def test_many_magics_are_read_in_linear_time():
    """499 `%time 0` lines and 12,000 lines of `0` (the transformers of IPython took minutes):
    read by a linear rewrite, with the code of each magic scanned too."""
    cell = "\n".join(["%time 0"] * 499 + ["0"] * 12_000 + ["%time exec('1')"])
    assert scan_code(cell, budget=5.0) == ["runs code built at run time (`exec`)"]


def test_a_two_megabyte_cell_is_read_within_its_budget():
    cell = "x = layers.Dense(3)(x)\n" * (2 * 2**20 // 24) + "import ctypes\n"
    assert scan_code(cell) == ["imports `ctypes` (writes into the process's memory)"]


def test_a_scan_that_cannot_finish_reports_the_cell_unreadable():
    found = scan_code("x = 1\n" * 200_000, budget=0.0)
    assert found == ["could not be read by the grader's integrity scan (it took longer than 10 s)"]
    assert scan_code("x" * (9 * 2**20)) == [
        "could not be read by the grader's integrity scan (it is longer than 8 MB)"
    ]


def test_a_notebook_whose_scan_fails_is_still_graded(tmp_path, monkeypatch):
    """Any failure of the scan flags the cell (the tests after it wait for the teacher)."""

    def broken(source, budget=None):
        raise RecursionError

    monkeypatch.setattr(course.grading.steps.code_scan, "_python_of", broken)
    course.grading.steps.integrity._SCANNED.clear()
    nb = nbformat.v4.new_notebook(cells=[_answer("ex1", "model = 1"), _test_cell("test_ex1")])
    nb, resources = GuardSubmission()(nb, {"metadata": {"path": str(tmp_path)}})
    nb, resources = JudgeIntegrity()(nb, resources)
    course.grading.steps.integrity._SCANNED.clear()
    assert resources[MANUAL_KEY] == {"test_ex1": ["cell 1 (`ex1`)"]}
    assert "could not be read by the grader's integrity scan (it nests too deeply)" in (
        nb.cells[0].source
    )


def test_prescanned_cells_are_not_read_again(tmp_path):
    from course.grading.steps.integrity import NotebookScan, prescan_notebooks

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import ctypes  # prescan")])
    nbformat.write(nb, tmp_path / "a.ipynb")
    (tmp_path / "b.ipynb").write_text("not json")
    assert prescan_notebooks(tmp_path) == 1
    spent = NotebookScan(budget=0.0)  # no time left: only a scan made already answers
    assert spent.scan("import ctypes  # prescan") == [
        "imports `ctypes` (writes into the process's memory)"
    ]
    assert "unreadable" not in spent.scan("import ctypes  # prescan")[0]
    assert spent.scan("x = 2") == [
        "could not be read by the grader's integrity scan (the notebook's scan used up its time)"
    ]
