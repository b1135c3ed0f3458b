"""The failure message of a graded cell, and similar messages grouped across learners.

Example:
    >>> normalise("expected 3 layers, got 4") == normalise("expected 5 layers, got 2")
    True
"""

from __future__ import annotations

import re
from collections import defaultdict

from nbformat import NotebookNode

from course.cells import cells_by_id, exercises
from course.report.results import NO_ERROR, NOT_ATTEMPTED, FailureGroup

_HEX = re.compile(r"0x[0-9a-fA-F]+")
# A number on its own (not part of a name like tower_1 or a version like v1.2).
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, whitespace collapsed.

    >>> first_line("\\n  Layer 'a'  should be called 2 times.\\nHint: ...")
    "Layer 'a' should be called 2 times."
    """
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def normalise(message: str) -> str:
    """The grouping key of a failure message: whitespace collapsed, numbers and addresses blanked.

    >>> normalise("'news' should have 203 parameters, but it has 371 (+168).")
    "'news' should have # parameters, but it has # (#)."
    >>> normalise("'tower_1' is called 2 times")
    "'tower_1' is called # times"
    """
    return _NUMBER.sub("#", _HEX.sub("0x#", " ".join(message.split())))


def merge_messages(messages: list[str]) -> str:
    """One message for a group with one key: the numbers all members agree on are kept,
    the others shown as "…".

    >>> merge_messages(["'news' should have 203 parameters, but it has 371 (+168).",
    ...                 "'news' should have 203 parameters, but it has 99 (-104)."])
    "'news' should have 203 parameters, but it has … (…)."
    """
    splits = [_NUMBER.split(_HEX.sub("0x…", " ".join(m.split()))) for m in messages]
    numbers = [_NUMBER.findall(_HEX.sub("0x…", " ".join(m.split()))) for m in messages]
    texts = splits[0]
    merged = [texts[0]]
    for i, value in enumerate(numbers[0]):
        same = all(len(n) > i and n[i] == value for n in numbers)
        merged.append(value if same else "…")
        merged.append(texts[i + 1])
    return "".join(merged)


def _error(cell: NotebookNode) -> NotebookNode | None:
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def _describe(error: NotebookNode) -> str:
    message = first_line(error.get("evalue", ""))
    if error.ename in ("CheckFailed", "AssertionError"):
        return message or f"{error.ename} (no message)"
    return f"{error.ename}: {message}" if message else error.ename


def failure_message(notebook: NotebookNode, grade_id: str) -> str:
    """Why graded cell ``grade_id`` of an autograded notebook lost points, in one line.

    The first line of the cell's error; when the exercise's answer cell (the solution cell
    before it) failed, that error instead, since the test then only fails as a consequence.
    A stub left in place reads as :data:`NOT_ATTEMPTED`.
    """
    cells = cells_by_id(notebook)
    if grade_id not in cells:
        return f"no cell {grade_id!r} in the autograded notebook"
    answer_ids = [sid for sid, tests in exercises(notebook).items() if grade_id in tests]
    answer_error = _error(cells[answer_ids[0]]) if answer_ids else None
    error = answer_error or _error(cells[grade_id])
    if error is None:
        return NO_ERROR
    if error.ename == "NotImplementedError" and not first_line(error.get("evalue", "")):
        return NOT_ATTEMPTED
    return f"the answer cell fails: {_describe(error)}" if answer_error else _describe(error)


def group_failures(messages: dict[str, str]) -> list[FailureGroup]:
    """student -> message, grouped by :func:`normalise`; most common first, then by message.

    >>> [(g.message, g.students) for g in group_failures({"a": "x is 1", "b": "x is 2", "c": "y"})]
    [('x is …', ['a', 'b']), ('y', ['c'])]
    """
    by_key: dict[str, list[str]] = defaultdict(list)
    for student in sorted(messages):
        by_key[normalise(messages[student])].append(student)
    groups = [
        FailureGroup(merge_messages([messages[s] for s in students]), key, students)
        for key, students in by_key.items()
    ]
    return sorted(groups, key=lambda g: (-g.count, g.message))
