"""The grader's side of the run-time integrity check (both graders, through ``Execute``).

The kit's ``Execute`` (:class:`course.grading.steps.restarting_execute.RestartingExecute`, used by
``nbgrader autograde`` with the kit's config and by ``course grade``) calls
:meth:`KernelGuard.install` before a notebook's first cell and :meth:`KernelGuard.check`
before each autograded test cell. Both are silent requests (no execution count, nothing in
the learner's namespace): the first sends :mod:`course.import_rule` (the warm Keras is
set aside until the notebook imports it: :func:`~course.import_rule.defer_warm_imports`)
and :mod:`course.grading.steps.guard_kernel` to the kernel, which fingerprints what the hidden
checks depend on and installs an audit hook; the second
asks the hook to compare. The hook answers in the request's own reply: every line since the
last check, numbered and signed with a key the kernel handed over before any learner code
ran (no file: a boxed kernel's files are copies the grader never sees). What
changed becomes a finding of kind ``runtime`` for the test cell (and the tests after it):
:class:`course.grading.steps.integrity.JudgeIntegrity` sends them to manual
grading with a note that says what changed.

Example::

    guard = KernelGuard()
    await guard.install(kernel_client)           # before the first cell
    found = await guard.check(kernel_client)     # before a test cell: [] when nothing changed
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

from course import import_rule
from course.grading.steps import guard_compare, guard_kernel, guard_snapshot

#: Seconds the kernel may take to install the guard or to answer a check.
ANSWER_TIMEOUT = 120.0
#: The guard's sources, in the order they run in one namespace of the kernel (each uses
#: names the ones before it define): the comparisons, the fingerprints, the hook.
SOURCES = tuple(
    Path(module.__file__).read_text(encoding="utf-8")
    for module in (guard_compare, guard_snapshot, guard_kernel)
)
_RULE = Path(import_rule.__file__).read_text(encoding="utf-8")


def run_sources(namespace: str = "ns") -> str:
    """A Python expression that runs the guard's :data:`SOURCES` in the dict named
    ``namespace``; then ``namespace["install"]()`` installs the guard.

    >>> ns = {}
    >>> _ = eval(run_sources("ns"))
    >>> callable(ns["install"]), "Snapshot" in ns
    (True, True)
    """
    runs = ", ".join(
        f"exec(compile({source!r}, '<course-guard>', 'exec'), {namespace})" for source in SOURCES
    )
    return f"({runs})"


#: One expression: the import rule sets the warm modules aside, then the guard installs.
_INSTALL = (
    f"(lambda rule, ns: (exec(compile({_RULE!r}, '<course-import-rule>', 'exec'), rule), "
    f"{run_sources('ns')}, "
    "ns['install'](rule['defer_warm_imports']()))[2])"
    "({'__name__': '_'}, {'__name__': '_'})"
)
#: The hook fills the list with its signed lines; the reply shows the list.
_CHECK = "(lambda answer: (__import__('sys').audit({event!r}, {nonce!r}, answer), answer)[1])([])"


class KernelGuard:
    """The run-time guard of one notebook's kernel, seen from the grader."""

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.failed: str | None = None  # why the guard could not be installed
        self.seconds = 0.0  # time spent installing and checking
        self.checks = 0
        self._count = 0  # the number of the last line the kernel handed over
        self._reported: set[str] = set()

    async def install(self, client: Any) -> None:
        """Install the guard in ``client``'s kernel (nbclient's NotebookClient)."""
        started = time.perf_counter()
        try:
            expression = _INSTALL
            content = await _silent(client, {"guard": expression})
            result = content.get("user_expressions", {}).get("guard", {})
            if result.get("status") != "ok":
                self.failed = f"{result.get('ename')}: {result.get('evalue')}"
                return
            self.key = bytes.fromhex(_literal(result["data"]["text/plain"]))
        except Exception as error:  # noqa: BLE001 - a kernel without a guard is still graded
            self.failed = f"{type(error).__name__}: {error}"
        finally:
            self.seconds += time.perf_counter() - started

    async def check(self, client: Any) -> list[str]:
        """What changed in the kernel since the guard was installed and was not reported
        yet, as plain sentences (empty when nothing did)."""
        if self.key is None:
            return []
        started = time.perf_counter()
        self.checks += 1
        nonce = secrets.token_hex(16)
        lines: list[str] = []
        try:
            content = await _silent(
                client, {"check": _CHECK.format(event=guard_kernel.CHECK_EVENT, nonce=nonce)}
            )
            result = content.get("user_expressions", {}).get("check", {})
            if result.get("status") == "ok":
                lines = _lines(result.get("data", {}).get("text/plain", ""))
        except Exception as error:  # noqa: BLE001 - no answer: reported below
            if not await _alive(client):
                return []  # the cell itself reports a dead kernel
            del error
        finally:
            self.seconds += time.perf_counter() - started
        findings, checked = self.read(lines)
        if not checked.get(nonce):
            findings.append(
                "the grader's integrity check got no answer from the kernel (the kernel's "
                "audit, import or execution machinery was changed)"
            )
        return self._new(findings)

    def read(self, lines: list[str]) -> tuple[list[str], dict[str, bool]]:
        """The findings among ``lines`` (what the kernel handed over at one check) and the
        nonces answered; a line not signed with the key, or a gap in the lines' numbers,
        is a finding too.

        >>> guard = KernelGuard()
        >>> guard.key = b"k"
        >>> guard.read([_signed(b"k", ["changed", 2, "x"])])
        (["the grader's log holds lines the grader did not write", 'x'], {})
        """
        findings: list[str] = []
        checked: dict[str, bool] = {}
        for line in lines:
            signature, _, body = line.partition(" ")
            expected = hmac.new(self.key or b"", body.encode(), hashlib.sha256).hexdigest()
            try:
                kind, count, text = json.loads(body)
            except (ValueError, TypeError):
                kind = count = text = None
            if not hmac.compare_digest(signature, expected) or not isinstance(text, str):
                findings.append("the grader's log holds lines the grader did not write")
                continue
            if count != self._count + 1:
                findings.append("the grader's log holds lines the grader did not write")
            self._count = count if isinstance(count, int) else self._count
            if kind == "checked":
                checked[text] = True
            else:
                findings.append(text)
        return findings, checked

    def _new(self, findings: list[str]) -> list[str]:
        new = [f for f in dict.fromkeys(findings) if f not in self._reported]
        self._reported.update(new)
        return new


def _signed(key: bytes, line: list) -> str:
    """A line as the kernel's hook writes it (for tests)."""
    body = json.dumps(line)
    return f"{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()} {body}"


def _lines(text: str) -> list[str]:
    """The list of lines a check's reply shows (its ``text/plain``); [] if it is not one."""
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        return []
    return value


def _literal(text: str) -> str:
    import ast

    value = ast.literal_eval(text)
    if not isinstance(value, str):
        raise ValueError("not a key")
    return value


async def _silent(client: Any, expressions: dict[str, str]) -> dict:
    """Run a silent request (no code, only user expressions) and return its reply content."""
    kc = client.kc
    msg_id = kc.execute("", silent=True, store_history=False, user_expressions=expressions)
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the kernel did not answer")
        try:
            msg = await kc.get_shell_msg(timeout=min(1.0, left))
        except Exception:  # noqa: BLE001 - queue.Empty: nothing yet; is the kernel alive?
            if not await _alive(client):
                raise RuntimeError("the kernel died") from None
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg["content"]


async def _alive(client: Any) -> bool:
    result = client.kc.is_alive()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


def runtime_finding(cell_index: int, grade_id: str | None, what: list[str]) -> dict[str, Any]:
    """A finding for :mod:`course.grading.steps.integrity` (kind ``runtime``).

    >>> runtime_finding(7, "test_ex1", ["`functools.wraps` was replaced"])["what"]
    '`functools.wraps` was replaced'
    """
    return {"cell": cell_index, "grade_id": grade_id, "kind": "runtime", "what": "; ".join(what)}


async def guard_cell(executor: Any, cell: Any, cell_index: int) -> None:
    """The kit's ``Execute`` calls this before each cell it runs: the guard is installed
    before the notebook's first code cell, and checked before each autograded test cell;
    what changed is added to the notebook's integrity findings (``nb.metadata``)."""
    from course.cells import grade_id_of, is_test
    from course.grading.steps.integrity import FINDINGS_KEY

    if cell.cell_type != "code" or executor.kc is None:
        return
    guard = getattr(executor, "kernel_guard", None)
    if guard is None:
        guard = executor.kernel_guard = KernelGuard()
        await guard.install(executor)
        if guard.failed:
            executor.log.warning("The run-time integrity guard was not installed: %s", guard.failed)
    if not is_test(cell):
        return
    found = await guard.check(executor)
    if found:
        data = executor.nb.metadata.setdefault(FINDINGS_KEY, {"cells": len(executor.nb.cells)})
        data.setdefault("findings", []).append(
            runtime_finding(cell_index, grade_id_of(cell), found)
        )


def forget_guard(executor: Any) -> None:
    """After a notebook: forget its guard (the next notebook gets its own)."""
    guard = getattr(executor, "kernel_guard", None)
    if guard is not None:
        executor.guard_seconds = getattr(executor, "guard_seconds", 0.0) + guard.seconds
    executor.kernel_guard = None
