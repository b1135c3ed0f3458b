"""A pristine copy of the helpers for hidden tests.

A learner's code runs in the same kernel as the grader's hidden tests, before them. If it
replaces a check (``helpers.assert_shared = lambda *a, **k: None``, or a function of the
same name in the notebook), a hidden test that used the imported names would pass a wrong
model. Hidden tests therefore call the checks of :func:`pristine`: a fresh copy of the
package loaded from its files on disk, untouched by anything the notebook did to the
modules already imported.

Example (what a hidden test cell does):
    >>> from helpers.grading import pristine
    >>> grader = pristine()
    >>> grader.assert_calls is not __import__("helpers").assert_calls
    True
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["pristine"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_counter = itertools.count()


def pristine() -> ModuleType:
    """A fresh, private copy of the ``helpers`` package with all its public functions.

    Each call loads the package's source files again under a private name, so changes a
    notebook made to ``helpers`` (or to names it imported from it) do not reach it.
    """
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
