"""What ``course grade`` prints: a line per submission, the closing summary, safely.

Notes, error messages and even student ids printed by ``course grade`` can carry what a
learner wrote (an exception message, a kernel's last words, a cell id). A terminal obeys
the control characters in such text: ``ESC [2J`` clears the screen, ``ESC ]52`` writes the
clipboard, a carriage return overwrites the line with a fake one. :func:`printable`
escapes them, so the teacher reads them as text. :class:`Progress` prints one line per
graded submission, :func:`print_summary` the closing report.

Example::

    >>> printable("done\\x1b[2J\\rall good")
    'done\\\\x1b[2J\\\\rall good'
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from course.grading.records import Result, Summary

if TYPE_CHECKING:
    from course.grading.autograder import Autograder

# C0 controls (tab and newline included: one result is one line), DEL, C1 controls, and
# the Unicode bidirectional overrides that reorder what the terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``str(text)`` with every control character written as an escape (``\\x1b``, ``\\n``).

    >>> printable("a\\tb\\u202ec"), printable(3)
    ('a\\\\tb\\\\u202ec', '3')
    """

    def escape(match: re.Match) -> str:
        char = match.group()
        if char in _NAMED:
            return _NAMED[char]
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _CONTROL.sub(escape, str(text))


def plural(count: int, noun: str) -> str:
    """``plural(1, "worker")`` -> ``'1 worker'``, ``plural(2, "worker")`` -> ``'2 workers'``."""
    return f"{count} {noun}{'s' * (count != 1)}"


class Progress:
    """One line per finished submission: count, score or error, notes."""

    def __init__(self, total: int, stream=None) -> None:  # noqa: ANN001
        self.total = total
        self.done = 0
        self.errors = 0
        self.stream = stream
        self.width = len(str(total))

    def __call__(self, result: Result) -> None:
        self.done += 1
        self.errors += result.error is not None
        counts = f"[{self.done:>{self.width}}/{self.total}"
        counts += f", {self.errors} error{'s' * (self.errors != 1)}]" if self.errors else "]"
        label = printable(result.job.label)
        if result.error:
            line = (
                f"{counts} {label}  NOT GRADED ({result.seconds:.1f} s): {printable(result.error)}"
            )
        else:
            line = (
                f"{counts} {label}  {result.score:g}/{result.max_score:g}  ({result.seconds:.1f} s)"
            )
            if result.notes:
                line += "  ! " + " | ".join(printable(note) for note in result.notes)
        print(line, file=self.stream or sys.stdout, flush=True)


def print_summary(
    summary: Summary, autograder: Autograder, assignments: Sequence[str], workers: int, stream=None
) -> None:  # noqa: ANN001
    """The closing report: counts, wall time, class mean per assignment, notes, errors."""
    stream = stream or sys.stdout
    graded, errors = summary.graded, summary.errors
    notebooks = sum(len(r.job.notebooks) for r in summary.results)
    per = f", {summary.seconds / notebooks:.1f} s per notebook" if notebooks else ""
    print(
        f"\ncourse grade: {len(graded)} graded, {len(errors)} error{'s' * (len(errors) != 1)}, "
        f"{summary.skipped} already graded (skipped) in {summary.seconds:.1f} s "
        f"({plural(workers, 'worker')}, {plural(summary.kernels_started, 'kernel')}{per})",
        file=stream,
    )
    if graded:
        print(
            f"  per submission: {statistics.fmean(r.seconds for r in graded):.1f} s, of which "
            f"{statistics.fmean(r.executed for r in graded):.1f} s running cells and "
            f"{statistics.fmean(r.waited for r in graded):.1f} s waiting for a kernel",
            file=stream,
        )
    for assignment in assignments:
        scores, maximum = autograder.assignment_scores(assignment)
        if scores:
            mean = statistics.fmean(scores)
            share = f" ({100 * mean / maximum:.0f}%)" if maximum else ""
            print(
                f"  {assignment}: mean {mean:.2f} / {maximum:g}{share} over {len(scores)} graded "
                "learners",
                file=stream,
            )
    for folder, failures in summary.warmup_failures.items():
        print(
            f"  note: grading kernels for {folder} could not preload "
            f"{printable('; '.join(failures))}",
            file=stream,
        )
    noted = [r for r in graded if r.notes]
    if noted:
        print(f"Learners with notes in their feedback ({len(noted)}):", file=stream)
        for r in noted:
            print(
                f"  {printable(r.job.label)}: " + " | ".join(printable(note) for note in r.notes),
                file=stream,
            )
    if errors:
        print(
            f"NOT graded, nothing recorded ({len(errors)}); fix the cause and run again:",
            file=stream,
        )
        for r in errors:
            print(f"  {printable(r.job.label)}: {printable(r.error)}", file=stream)
