"""The run-time guard, as it runs INSIDE a grading kernel (its source is sent to the kernel).

:mod:`course.grading.steps.runtime_guard` sends this file's source to a new kernel before the
learner's first cell, silently, and calls :func:`install` there. Nothing of it is left in
the learner's namespace; what it keeps lives in the closure of an audit hook (PEP 578),
which Python code cannot remove. It:

* **takes fingerprints** of what the hidden checks depend on: every entry of
  ``sys.modules``; each module's functions, classes and submodules (all of its names for
  the ``helpers`` package and the standard library modules the checks use: ``functools``,
  ``importlib``, ``types``, ...); the methods and descriptors of every class those modules
  define; the built-ins; ``sys``'s hooks (``meta_path``, ``path_hooks``, the importer
  cache, ``displayhook``, ``excepthook``); IPython's transformers, event callbacks, error
  handler and the shell's and kernel's own methods; the ``helpers`` files on disk and the
  bytecode of ``helpers.grading.pristine``. Modules imported later are fingerprinted when
  the grader next asks (see the limits in ``docs/teachers.md``);
* **watches**, through the audit hook, what no honest notebook does and what would reach
  the guard itself: ``sys.settrace``/``setprofile``, ``sys._current_frames``,
  ``gc.get_objects``/``get_referrers``/``get_referents`` (refused), ``ctypes`` calls,
  ``compile``/``exec`` of code built at run time and a function's ``__code__`` replaced,
  by the learner's own cells;
* **reports** to the grader in the answer to each check the grader asks for
  (``sys.audit("course.integrity.check", nonce, answer)``, ``answer`` a new list the
  grader's request returns): every line since the last check, a line per finding kept the
  moment it happened, then the check's own line, each numbered and signed with a key only
  the grader and the hook know (HMAC). A forged, unsigned or missing line (a gap in the
  numbers) is itself a finding. Nothing is written to a file: a kernel in a box
  (:mod:`course.isolation`) writes only to copies the grader never reads.

Everything is plain standard library, so the file runs in any Python 3.11 kernel. The
fingerprints are :mod:`.guard_snapshot`'s and the comparisons :mod:`.guard_compare`'s: their
sources run first, in the same namespace (:func:`.runtime_guard.run_sources`).

Example (what the grader sends; the result is the key, hex)::

    (lambda ns: (run_sources("ns"), ns["install"]())[1])({})   # run_sources: the expression
"""

from __future__ import annotations

CHECK_EVENT = "course.integrity.check"
#: Pseudo file names of code a cell runs through IPython's magics or ``exec``.
LEARNER_PSEUDO_FILES = ("<timed exec>", "<timed eval>", "<magic-timeit>", "<string>")

#: Audit events no honest notebook raises, refused (the cell gets a PermissionError).
REFUSED = {
    "sys.settrace": "installed a tracer that runs inside every call (`sys.settrace`)",
    "sys.setprofile": "installed a profiler that runs inside every call (`sys.setprofile`)",
    "sys._current_frames": "read the stack frames of every thread (`sys._current_frames`)",
    "gc.get_objects": "listed every object in the process (`gc.get_objects`)",
    "gc.get_referrers": "searched the objects that refer to an object (`gc.get_referrers`)",
    "gc.get_referents": "searched the objects an object refers to (`gc.get_referents`)",
}

# Sent to a kernel, the sources of guard_compare.py and guard_snapshot.py have run in this
# namespace first (runtime_guard); imported as a module (tests, the benchmark), they are imported.
if "Snapshot" not in globals():
    from course.grading.steps.guard_compare import MAX_FINDINGS
    from course.grading.steps.guard_snapshot import Snapshot


def install(parked: dict | None = None) -> str:
    """Install the guard in this process; return the signing key (hex) for the grader.

    ``parked``: warm modules set aside until the notebook imports them
    (:func:`course.import_rule.defer_warm_imports`); they are fingerprinted now too.
    Everything it keeps lives in the closures of the functions built here, reachable only
    from the audit hook."""
    import builtins
    import gc
    import os
    import sys
    import sysconfig

    key = os.urandom(32)
    shell = _shell()
    state = {"count": 0, "busy": False, "said": set()}
    pending: list[str] = []  # signed lines not handed to the grader yet
    say = _sayer(key, state, pending)
    is_learner, learner_caller = _learner_frames(
        _cell_prefix(shell), sysconfig.get_paths()["stdlib"] + os.sep, sys._getframe
    )
    snapshot = Snapshot(
        sys.modules,
        type(sys),
        type(install),
        type.__dict__["__dict__"].__get__,
        builtins,
        shell,
        parked or {},
    )
    check = _checker(snapshot.compare, say, state, pending)
    sys.addaudithook(_hook(_watcher(say, is_learner, learner_caller, check, state), say))
    del gc  # imported so that its audit events exist before learner code runs
    return key.hex()


def _sayer(key: bytes, state: dict, pending: list[str]):
    """``say(kind, text)``: keep one signed, numbered line for the grader (at most once per
    text, at most a few times :data:`MAX_FINDINGS` lines)."""
    import hashlib
    import hmac
    import json

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def say(kind: str, text: str) -> None:
        if text in state["said"] or len(state["said"]) > 4 * MAX_FINDINGS:
            return
        state["said"].add(text)
        state["count"] += 1
        body = json.dumps([kind, state["count"], text])
        pending.append(f"{sign(body)} {body}")

    return say


def _learner_frames(cell_prefix: str, stdlib: str, getframe):
    """``is_learner(filename)`` and ``learner_caller()``: the learner's cell that caused an
    audit event (directly, or through the standard library), or None."""

    def is_learner(filename: str) -> bool:
        return filename.startswith(cell_prefix) or filename in LEARNER_PSEUDO_FILES

    def learner_caller(depth: int = 3, through_stdlib: bool = True) -> str | None:
        """Frames: this one, ``watch``, ``hook``, then the event's."""
        try:
            frame = getframe(depth)
        except ValueError:
            return None
        while frame is not None:
            filename = frame.f_code.co_filename
            if is_learner(filename):
                return filename
            if not (through_stdlib and filename.startswith(stdlib)):
                return None
            frame = frame.f_back
        return None

    return is_learner, learner_caller


def _checker(compare, say, state: dict, pending: list[str]):
    """``check(args)``: the grader's check event; compare, then hand over every line."""

    def check(args: tuple) -> None:
        if state["busy"] or len(args) != 2 or type(args[0]) is not str:
            return
        state["busy"] = True
        try:
            for text in compare():
                say("changed", text)
            say("checked", args[0])
            if type(args[1]) is list:
                args[1].extend(pending)
                pending.clear()
        finally:
            state["busy"] = False

    return check


def _watcher(say, is_learner, learner_caller, check, state: dict):
    """``watch(event, args)``: what the audit hook does with each event."""

    def watch(event: str, args: tuple) -> None:
        if event == CHECK_EVENT:
            check(args)
            return
        if event in REFUSED:
            say("refused", REFUSED[event])
            raise PermissionError(f"not allowed while grading: {event}")
        if event.startswith("ctypes.") and event != "ctypes.dlopen":
            if learner_caller():
                say("hatch", f"used `ctypes` (`{event}`), which writes into the process's memory")
        elif event == "object.__setattr__" and args[1:2] in (("__code__",), ("__globals__",)):
            if learner_caller():
                name = getattr(args[0], "__qualname__", "?")
                say("hatch", f"replaced the code of the function `{name}` (`{args[1]}`)")
        elif event in ("compile", "exec") and not state["busy"]:
            if event == "exec" and is_learner(getattr(args[0], "co_filename", "")):
                return  # a cell (or code it compiled, reported at `compile`)
            if learner_caller(through_stdlib=False):
                say("hatch", "ran code built from a string at run time (`exec`/`compile`)")

    return watch


def _hook(watch, say):
    """The audit hook: ``watch`` each event; a fault of the guard never stops a cell."""

    def hook(event: str, args: tuple) -> None:
        try:
            watch(event, args)
        except PermissionError:
            raise
        except Exception as error:  # noqa: BLE001 - a fault of the guard never stops a cell
            say("fault", f"the guard failed on `{event}`: {type(error).__name__}")

    return hook


def _shell():
    ipython = __import__("sys").modules.get("IPython")
    try:
        return ipython.get_ipython() if ipython is not None else None
    except Exception:  # noqa: BLE001
        return None


def _cell_prefix(shell) -> str:
    """What the file names of the learner's cells start with (ipykernel: a temp folder)."""
    import os

    try:
        name = shell.compile.get_code_name("pass", "pass", 1)
    except Exception:  # noqa: BLE001 - not ipykernel's compiler
        return "<ipython-input-"
    return os.path.dirname(name) + os.sep if os.sep in name else "<ipython-input-"
