"""A pristine copy of the helpers for hidden tests.

A learner's code runs in the same kernel as the grader's hidden tests, before them. If it
replaces a check (``helpers.assert_shared = lambda *a, **k: None``, or a function of the
same name in the notebook), a hidden test that used the imported names would pass a wrong
model. Hidden tests therefore call the checks of :func:`pristine`: a fresh copy of the
package loaded from its files on disk, untouched by anything the notebook did to the
modules already imported.

The entry point itself is guarded: this module refuses new values for its names
(``helpers.grading.pristine = ...`` raises ``AttributeError``), and :func:`pristine` first
looks for what a notebook could have done to the kernel that runs the tests (IPython hooks
and transformers, an error handler, a replaced import function or module). It then prints
``GRADING MACHINERY CHANGED: ...`` and raises, so the test scores 0 and the grader (which
looks for that line, outside the kernel) sends the notebook to manual grading. What the
grader reads in the learner's code before running it is in ``course/grading/steps/code_scan.py``.

Example (what a hidden test cell does):
    >>> from helpers.grading import pristine
    >>> grader = pristine()
    >>> grader.assert_calls is not __import__("helpers").assert_calls
    True
"""

from __future__ import annotations

import builtins
import importlib.util
import itertools
import sys
import types
from pathlib import Path
from types import ModuleType

__all__ = ["GradingMachineryChanged", "kernel_changes", "pristine"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_counter = itertools.count()
_MARKER = "GRADING MACHINERY CHANGED"
#: Modules whose event callbacks are the kernel's own (matplotlib's inline backend, ...).
_OWN_CALLBACKS = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "comm")


class GradingMachineryChanged(RuntimeError):
    """The kernel that runs the hidden tests was changed by the notebook's code."""


def kernel_changes() -> list[str]:
    """What the notebook's code changed in the kernel the hidden tests run in (empty when
    nothing): IPython hooks and transformers, its error handler, the import machinery.

    >>> kernel_changes()  # outside IPython: only the import machinery is checked
    []
    """
    changes = _python_changes()
    shell = _shell()
    return changes if shell is None else changes + _shell_changes(shell)


def _python_changes() -> list[str]:
    """Built-ins replaced, a tracer installed, ``sys.modules`` entries that are not the kit's."""
    changes: list[str] = []
    if not isinstance(builtins.__import__, types.BuiltinFunctionType):
        changes.append("the built-in `__import__` was replaced")
    for name in ("isinstance", "getattr", "print", "len", "type"):
        if not isinstance(getattr(builtins, name, None), (types.BuiltinFunctionType, type)):
            changes.append(f"the built-in `{name}` was replaced")
    tracer = sys.gettrace()
    if tracer is not None and "coverage" not in type(tracer).__module__ + repr(tracer):
        changes.append("a tracer runs inside every call (`sys.settrace`)")
    for name in ("helpers", __name__):
        module = sys.modules.get(name)
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or getattr(
            module, "__file__", None
        )
        if module is not None and (origin is None or Path(origin).resolve().parent != _PACKAGE_DIR):
            changes.append(f"`sys.modules[{name!r}]` is not the kit's module")
    return changes


def _shell():
    """The IPython shell running this code, or None."""
    try:
        return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    except Exception:  # noqa: BLE001
        return None


#: Shell methods a notebook could replace on the instance to change how cells run.
_SHELL_METHODS = (
    "showtraceback",
    "_showtraceback",
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "showsyntaxerror",
)


def _shell_changes(shell) -> list[str]:
    """IPython's transformers, error handler, replaced methods and foreign event hooks."""
    changes: list[str] = []
    if shell.ast_transformers:
        changes.append("an AST transformer rewrites every cell")
    if shell.input_transformers_post:
        changes.append("an input transformer rewrites every cell")
    if shell.custom_exceptions:
        changes.append("a custom error handler (`set_custom_exc`) is installed")
    for name in _SHELL_METHODS:
        own = vars(shell).get(name)  # ipykernel keeps its own bound `_showtraceback` there
        if own is not None and getattr(own, "__func__", None) is not getattr(
            type(shell), name, None
        ):
            changes.append(f"the IPython shell's `{name}` was replaced")
    for event, callbacks in getattr(shell.events, "callbacks", {}).items():
        foreign = (getattr(c, "__module__", None) or "" for c in callbacks)
        if any(module.split(".")[0] not in _OWN_CALLBACKS for module in foreign):
            changes.append(f"a `{event}` hook runs at every cell")
    return changes


def pristine() -> ModuleType:
    """A fresh, private copy of the ``helpers`` package with all its public functions.

    Each call loads the package's source files again under a private name, so changes a
    notebook made to ``helpers`` (or to names it imported from it) do not reach it.
    Raises :class:`GradingMachineryChanged` (after printing it) when :func:`kernel_changes`
    finds the kernel tampered with.
    """
    changes = kernel_changes()
    if changes:
        message = f"{_MARKER}: " + "; ".join(changes)
        print(message, file=sys.stderr, flush=True)
        raise GradingMachineryChanged(message)
    name = f"_helpers_pristine_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(
        name, _PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(_PACKAGE_DIR)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # relative imports inside the copy resolve to the copy
    try:
        spec.loader.exec_module(module)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]  # leave no trace a notebook could find and patch
    return module


class _GuardedModule(types.ModuleType):
    """This module's type: its names cannot be given new values or deleted."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"helpers.grading is read-only: {name} cannot be replaced")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"helpers.grading is read-only: {name} cannot be deleted")


sys.modules[__name__].__class__ = _GuardedModule
