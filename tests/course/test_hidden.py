"""Hidden stays hidden, for every lesson of the kit.

1. No text that exists only inside a ``BEGIN/END SOLUTION`` or ``BEGIN/END HIDDEN TESTS``
   region of the instructor notebook (solutions/) reaches the learner's folder (notebooks/):
   not in a cell, an output, metadata or another file. A line also given to learners on
   purpose (the given model a hidden test rebuilds, a hint quoting a solution line) is
   exempt: it appears in the instructor notebook outside the regions too. So are lines
   without a letter or digit. No ``pristine`` either.
2. The visible and the hidden checks of every graded cell use the same helpers, read from
   the cells' syntax trees: the visible part calls ``helpers.assert_*`` (the learner can run
   them), the hidden part ``from helpers.grading import pristine; grader = pristine()`` and
   ``grader.assert_*`` (a copy the learner's code cannot patch), re-running every visible
   check. Prediction exercises are the exception the lessons need: their visible part only
   checks the answer's form (a visible check would give the answer away), and the hidden
   part grades it with a ``grader.assert_*predict*`` check.
3. Behaviour: at least one lesson's corpus has a wrong model that passes the visible checks,
   and running the hidden part on it fails with a message that says why. One such case is
   run (visible part, then hidden part, in one kernel); the pipeline tests grade every
   corpus case through nbgrader.

The static tests read files only (no TensorFlow); the behavioural one runs one notebook.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from course.cells import cells_by_id, exercises, grade_id_of, graded_points, unmark
from course.config import tool_environment
from course.corpus import Submission, lesson_corpus, solution_sources
from course.lessons import Lesson, find_lessons

REPO = Path(__file__).resolve().parents[2]
LESSONS = find_lessons(REPO)
HELPERS = REPO / "helpers"

_REGION = re.compile(r"^\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
_HIDDEN = re.compile(r"^\s*#+\s*(BEGIN|END) HIDDEN TESTS\s*$")

# ------------------------------------------------------------------ reading notebooks


def split_regions(source: str, marker: re.Pattern = _REGION) -> tuple[list[str], list[str]]:
    """(lines outside, lines inside) the regions ``marker`` opens and closes; markers dropped.

    >>> split_regions("a\\n### BEGIN SOLUTION\\nb\\n### END SOLUTION\\nc")
    (['a', 'c'], ['b'])
    """
    outside, inside, within = [], [], False
    for line in source.splitlines():
        match = marker.match(line)
        if match:
            within = match.group(1) == "BEGIN"
            continue
        (inside if within else outside).append(line)
    return outside, inside


def strings(node: object) -> list[str]:
    """Every string in a JSON-like structure (a notebook: sources, outputs, metadata)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (key, *strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def learner_text(folder: Path) -> str:
    """All text a learner gets in ``folder``: every string of every notebook, and other files."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            parts += strings(nbformat.read(path, as_version=4))
        else:
            try:
                parts.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue  # binary files hold no notebook text
    return "\n".join(parts)


def leaked_lines(instructor: NotebookNode, learner_folder: Path) -> list[str]:
    """Lines found only inside solution/hidden regions of ``instructor`` that appear in the
    learner's folder."""
    public, secret = [], []
    for cell in instructor.cells:
        outside, inside = split_regions(cell.source)
        public += outside
        secret += inside
    public_text = "\n".join(public)
    text = learner_text(learner_folder)
    leaks = []
    for line in dict.fromkeys(line.strip() for line in secret):
        if not re.search(r"\w", line) or line in public_text:
            continue  # punctuation only, or given to learners on purpose
        if line in text:
            leaks.append(line)
    return leaks


def test_split_regions():
    assert split_regions("a\n### BEGIN SOLUTION\nb\n### END SOLUTION\nc") == (["a", "c"], ["b"])
    assert split_regions("a\n    ### BEGIN HIDDEN TESTS\nb\n    ### END HIDDEN TESTS\n") == (
        ["a"],
        ["b"],
    )


# --------------------------------------------------------------------- 1. no leaks


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_no_solution_or_hidden_test_text_reaches_learners(lesson: Lesson):
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    secret_lines = sum(len(split_regions(c.source)[1]) for c in instructor.cells)
    assert secret_lines > 10, (
        f"{lesson.name}: expected solution and hidden-test regions in the instructor notebook"
    )
    leaks = leaked_lines(instructor, lesson.release_dir)
    assert not leaks, f"notebooks/{lesson.name}/ shows instructor-only lines: {leaks}"
    text = learner_text(lesson.release_dir)
    for word in (
        "pristine",
        "BEGIN SOLUTION",
        "END SOLUTION",
        "BEGIN HIDDEN TESTS",
        "END HIDDEN TESTS",
    ):
        assert word not in text, f"notebooks/{lesson.name}/ contains {word!r}"


def test_a_leaked_line_is_found(tmp_path):
    """The leak check on a learner folder that shows one hidden-test line in a markdown cell."""
    lesson = LESSONS[0]
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    hidden = next(
        line.strip()
        for cell in instructor.cells
        for line in split_regions(cell.source, _HIDDEN)[1]
        if "grader.assert_" in line
    )
    learner = nbformat.read(lesson.release_notebook, as_version=4)
    learner.cells.append(nbformat.v4.new_markdown_cell(f"Spoiler: `{hidden}`"))
    nbformat.write(learner, tmp_path / lesson.release_notebook.name)
    assert leaked_lines(instructor, tmp_path) == [hidden]


# ------------------------------------------------------- 2. the same helpers, by ast


def _check_names() -> set[str]:
    """The public checks of helpers.checks (its ``__all__``), read without importing."""
    tree = ast.parse((HELPERS / "checks" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__all__" for t in node.targets
        ):
            return {elt.value for elt in node.value.elts if elt.value.startswith("assert_")}
    raise AssertionError("helpers/checks/__init__.py has no __all__")


CHECKS = _check_names()
# A hidden check that re-runs a visible one in a stronger form: assert_sharing_map checks
# every layer's call count (so covers assert_calls) and which layers share.
COVERED_BY = {"assert_calls": {"assert_sharing_map"}, "assert_call_counts": {"assert_sharing_map"}}
# Known gaps in a lesson, to fix there; strict xfail, so a fix makes the test say so.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _calls(source: str) -> list[tuple[str | None, str]]:
    """(object, function) of every call in ``source``: helpers.assert_x(...) -> ("helpers",
    "assert_x"), assert_x(...) -> (None, "assert_x")."""
    result = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else "<expression>"
            result.append((owner, func.attr))
        elif isinstance(func, ast.Name):
            result.append((None, func.id))
    return result


def _names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def graded_cells() -> list[pytest.param]:
    params = []
    for lesson in LESSONS:
        instructor = nbformat.read(lesson.source_notebook, as_version=4)
        for grade_id in graded_points(instructor):
            marks = []
            if (lesson.name, grade_id) in KNOWN_GAPS:
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[(lesson.name, grade_id)])]
            params.append(
                pytest.param(lesson, grade_id, id=f"{lesson.name}/{grade_id}", marks=marks)
            )
    return params


def problems_with(source: str) -> list[str]:
    """How a graded cell's visible and hidden checks break the rules in this module's docstring."""
    outside, hidden_lines = split_regions(source, _HIDDEN)
    visible, hidden = "\n".join(outside), "\n".join(hidden_lines)
    problems = []
    if not hidden.strip():
        return ["no hidden tests"]
    visible_calls, hidden_calls = _calls(visible), _calls(hidden)

    # visible part: the learner's own helpers, real checks only
    if {"grader", "pristine"} & _names(visible):
        problems.append(
            "the visible part uses pristine()/grader: learners would see how the grader works"
        )
    visible_checks = {
        f for owner, f in visible_calls if owner == "helpers" and f.startswith("assert_")
    }
    problems += [
        f"visible part calls {f}() bare: call helpers.{f}"
        for o, f in visible_calls
        if o is None and f.startswith("assert_")
    ]
    problems += [
        f"helpers.{f} is not a check in helpers.checks" for f in sorted(visible_checks - CHECKS)
    ]

    # hidden part: a pristine copy, called as grader.assert_*
    tree = ast.parse(hidden)
    imports_pristine = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "helpers.grading"
        and any(a.name == "pristine" for a in n.names)
        for n in ast.walk(tree)
    )
    assigns_grader = any(
        isinstance(n, ast.Assign)
        and any(getattr(t, "id", None) == "grader" for t in n.targets)
        and isinstance(n.value, ast.Call)
        and getattr(n.value.func, "id", None) == "pristine"
        for n in ast.walk(tree)
    )
    if not (imports_pristine and assigns_grader):
        problems.append(
            "the hidden part must start with `from helpers.grading import pristine` and "
            "`grader = pristine()`"
        )
    if "helpers" in _names(hidden):
        problems.append(
            "the hidden part uses `helpers.`, which the learner's code can patch: use `grader.`"
        )
    problems += [
        f"hidden part calls {f}() bare: call grader.{f}"
        for o, f in hidden_calls
        if o is None and f.startswith("assert_")
    ]
    # grader.* may also give the hidden test its own data (e.g. grader.digit_pairs: fresh
    # held-out examples); every grader.assert_* must be a real check.
    hidden_checks = {
        f for owner, f in hidden_calls if owner == "grader" and f.startswith("assert_")
    }
    problems += [
        f"grader.{f} is not a check in helpers.checks" for f in sorted(hidden_checks - CHECKS)
    ]
    if not hidden_checks:
        problems.append("the hidden part calls no grader.assert_* check")

    # the same helpers: visible checks re-run (or covered) by the hidden part
    if visible_checks:
        missing = [
            f
            for f in sorted(visible_checks)
            if f not in hidden_checks and not COVERED_BY.get(f, set()) & hidden_checks
        ]
        problems += [
            f"visible check {f} is not re-run by the hidden part (grader.{f})" for f in missing
        ]
    elif not any("predict" in f for f in hidden_checks):
        problems.append(
            "the visible part calls no helpers.assert_* check (and this is no prediction exercise)"
        )
    return problems


@pytest.mark.parametrize(("lesson", "grade_id"), graded_cells())
def test_visible_and_hidden_checks_use_the_same_helpers(lesson: Lesson, grade_id: str):
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    problems = problems_with(cells_by_id(instructor)[grade_id].source)
    assert not problems, f"{lesson.name} {grade_id}: " + "; ".join(problems)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "helpers.assert_calls(m, 'a', 2)\n### BEGIN HIDDEN TESTS\n"
            "from helpers.grading import pristine\n"
            "grader = pristine()\nhelpers.assert_calls(m, 'a', 2)\n### END HIDDEN TESTS",
            "the hidden part uses `helpers.`",
        ),
        (
            "helpers.assert_calls(m, 'a', 2)\n### BEGIN HIDDEN TESTS\n"
            "from helpers.grading import pristine\n"
            "grader = pristine()\ngrader.assert_param_count(m, 3)\n### END HIDDEN TESTS",
            "visible check assert_calls is not re-run",
        ),
        (
            "helpers.assert_calls(m, 'a', 2)\n### BEGIN HIDDEN TESTS\n"
            "from helpers.checks import assert_calls\n"
            "assert_calls(m, 'a', 2)\n### END HIDDEN TESTS",
            "hidden part calls assert_calls() bare",
        ),
        (
            "assert x == 1\n### BEGIN HIDDEN TESTS\nfrom helpers.grading import pristine\ngrader "
            "= pristine()\ngrader.assert_calls(m, 'a', 2)\n### END HIDDEN TESTS",
            "the visible part calls no helpers.assert_* check",
        ),
        (
            "helpers.assert_callz(m)\n### BEGIN HIDDEN TESTS\n"
            "from helpers.grading import pristine\n"
            "grader = pristine()\ngrader.assert_callz(m)\n### END HIDDEN TESTS",
            "helpers.assert_callz is not a check",
        ),
    ],
    ids=[
        "hidden-uses-helpers",
        "visible-check-not-rerun",
        "hidden-bare-import",
        "no-visible-check",
        "unknown-check",
    ],
)
def test_rule_breaking_cells_are_caught(source, problem):
    assert any(problem in p for p in problems_with(source)), problems_with(source)


def test_the_rules_accept_a_well_formed_cell():
    source = (
        "helpers.assert_calls(m, 'a', 2)\n### BEGIN HIDDEN TESTS\n"
        "from helpers.grading import pristine\n"
        "grader = pristine()\ngrader.assert_sharing_map(m, calls={'a': 2})\n### END HIDDEN TESTS"
    )
    assert problems_with(source) == []


# -------------------------------------------- 3. a wrong model the visible part passes


def _printed_strings(source: str) -> set[str]:
    """The constant strings ``print(...)`` shows in ``source`` (a visible part's success line)."""
    return {
        arg.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }


def _stored(source: str) -> set[str]:
    """Names ``source`` assigns."""
    return {
        n.id
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def visible_pass_hidden_fail_cases(lesson: Lesson) -> list[tuple[Submission, str, str]]:
    """(case, test cell, hidden message) for each corpus case of ``lesson`` that is an honest
    wrong model the visible checks pass: it changes one answer only, leaves ``helpers`` alone,
    assigns no name the test reads that the exercise does not ask for (it does not replace a
    given model), loses the points of one test cell, and its expected feedback holds both
    that cell's visible success line and another message."""
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    cells, points = cells_by_id(instructor), graded_points(instructor)
    solutions = solution_sources(instructor)
    found = []
    for case in lesson_corpus(lesson):
        if (
            len(case.answers) != 1
            or case.transform
            or case.base != "solution"
            or case.grading_fails
        ):
            continue
        [(answer_id, code)] = case.answers.items()
        lost = [g for g, p in case.expected_points(points).items() if p < points[g]]
        if len(lost) != 1 or lost[0] not in exercises(instructor)[answer_id]:
            continue
        replaced = (_stored(code) - _stored(solutions[answer_id])) & _names(cells[lost[0]].source)
        if "helpers" in _names(code) or replaced:
            continue
        visible = "\n".join(split_regions(cells[lost[0]].source, _HIDDEN)[0])
        success = _printed_strings(visible)
        others = [
            text for text in case.feedback_contains if text not in success and text not in visible
        ]
        if success & set(case.feedback_contains) and others:
            found.append((case, lost[0], others[0]))
    return found


def test_some_lesson_has_a_wrong_model_that_passes_the_visible_checks():
    found = {
        lesson.name: [c.name for c, _, _ in visible_pass_hidden_fail_cases(lesson)]
        for lesson in LESSONS
    }
    assert any(found.values()), (
        f"no corpus case passes the visible checks with a wrong model: {found}"
    )


@pytest.mark.notebooks
def test_hidden_part_explains_what_the_visible_part_missed():
    """Runs the first such case: the visible part passes, the hidden part fails with the
    message the corpus promises (a check's explanation, not a NameError or the like)."""
    lesson, (case, grade_id, message) = next(
        (lesson, found[0])
        for lesson in LESSONS
        if (found := visible_pass_hidden_fail_cases(lesson))
    )
    instructor = nbformat.read(lesson.source_notebook, as_version=4)
    learner = nbformat.read(lesson.release_notebook, as_version=4)
    submitted = case.notebook(learner, instructor)

    # The submission up to the test cell, then its visible part and its hidden part as two cells.
    index = next(i for i, c in enumerate(submitted.cells) if grade_id_of(c) == grade_id)
    run = copy.deepcopy(submitted)
    visible = cells_by_id(learner)[grade_id].source
    hidden = "\n".join(split_regions(cells_by_id(instructor)[grade_id].source, _HIDDEN)[1])
    run.cells = run.cells[:index] + [
        nbformat.v4.new_code_cell(visible),
        nbformat.v4.new_code_cell(hidden),
    ]
    for cell in run.cells:
        unmark(cell)
    client = NotebookClient(
        run,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(lesson.source_dir)}},
    )
    client.execute(env=tool_environment())

    def error(cell):
        return next((o for o in cell.outputs if o.output_type == "error"), None)

    earlier = [
        (i, error(c).ename)
        for i, c in enumerate(run.cells[:-2])
        if c.cell_type == "code" and error(c)
    ]
    assert not earlier, f"{case.name}: cells before the test failed: {earlier}"
    assert error(run.cells[-2]) is None, (
        f"{case.name}: the visible checks should pass: {error(run.cells[-2])}"
    )
    failure = error(run.cells[-1])
    assert failure is not None, f"{case.name} is a wrong model: the hidden checks must fail"
    assert failure.ename in ("CheckFailed", "AssertionError"), f"{failure.ename}: {failure.evalue}"
    assert message in failure.evalue, (
        f"{case.name}: hidden message {failure.evalue!r} lacks {message!r}"
    )
