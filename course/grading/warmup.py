"""What a warm grading kernel does before the notebook, and when it may be used.

``course grade`` starts kernels ahead of time (:mod:`course.grading.kernel`) and warms them up:
the literal ``os.environ[...] = "..."`` assignments of the
assignment's setup cells, the modules they import (:func:`warmup_plan`, :func:`warmup_code`).
A notebook whose editable cells change the environment before those imports would run
differently in a warm kernel than in a fresh one (``KERAS_BACKEND`` set before ``import
keras``); :func:`warm_kernel_fits` says when a fresh kernel is needed.

Example::

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy")])
    >>> plan = WarmKernelPlan("python3", "01_x", *warmup_plan(nb))
    >>> plan.preload, warm_kernel_fits(nb, plan)
    (('numpy',), True)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nbformat import NotebookNode

from course.cells import is_locked, is_solution


@dataclass(frozen=True)
class WarmKernelPlan:
    """What a warm kernel for one assignment notebook needs: kernel name, working folder
    name, the environment variables to set and the modules to import before its first cell.

    >>> WarmKernelPlan("python3", "00_fixture", preload=("numpy",)).preload
    ('numpy',)
    """

    kernel_name: str
    folder: str
    env: tuple[tuple[str, str], ...] = ()
    preload: tuple[str, ...] = ()


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes as ``pass`` so the cell parses as Python."""
    return "\n".join(
        "pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def warmup_plan(nb: NotebookNode) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The literal environment assignments and the modules imported at the top level of the
    notebook's code cells, solution cells excluded (they differ between learners).

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> setup = 'import os\\nos.environ["KERAS_BACKEND"] = "jax"\\nimport numpy as np'
    >>> nb = new_notebook(cells=[new_code_cell(setup + "\\nfrom keras import layers")])
    >>> warmup_plan(nb)
    ((('KERAS_BACKEND', 'jax'),), ('os', 'numpy', 'keras'))
    """
    env: dict[str, str] = {}
    modules: dict[str, None] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or is_solution(cell):
            continue
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules.update((alias.name, None) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules[node.module] = None
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Subscript)
                and _is_os_environ(node.targets[0].value)
                and isinstance(node.targets[0].slice, ast.Constant)
                and isinstance(node.targets[0].slice.value, str)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                env[node.targets[0].slice.value] = node.value.value
    return tuple(env.items()), tuple(modules)


_ENV_METHODS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
_ENV_MAGIC = re.compile(r"^\s*%\s*(set_)?env\b", re.MULTILINE)


def _names_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _changes_environment(tree: ast.AST, allowed: dict[str, str]) -> bool:
    """Whether code changes the process environment other than by literal
    ``os.environ["NAME"] = "value"`` assignments found in ``allowed``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript) and _names_environ(t.value) for t in node.targets
        ):
            target = node.targets[0]
            literal = (
                len(node.targets) == 1
                and isinstance(target, ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and isinstance(node.value, ast.Constant)
            )
            if not (literal and allowed.get(target.slice.value, None) == node.value.value):
                return True
        elif (
            isinstance(node, (ast.AugAssign, ast.AnnAssign))
            and isinstance(node.target, ast.Subscript)
            and _names_environ(node.target.value)
        ):
            return True
        elif isinstance(node, ast.Delete) and any(
            isinstance(t, ast.Subscript) and _names_environ(t.value) for t in node.targets
        ):
            return True
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _ENV_METHODS
                and _names_environ(func.value)
            ):
                return True
            if (isinstance(func, ast.Attribute) and func.attr in ("putenv", "unsetenv")) or (
                isinstance(func, ast.Name) and func.id in ("putenv", "unsetenv")
            ):
                return True
        elif isinstance(node, (ast.Assign, ast.NamedExpr)) and _names_environ(node.value):
            return True  # an alias of os.environ: what it does next cannot be followed
    return False


def warm_kernel_fits(nb: NotebookNode, plan: WarmKernelPlan) -> bool:
    """Whether a kernel warmed up for ``plan`` runs ``nb`` exactly like a fresh kernel:
    the cells the learner can edit (all but nbgrader's locked ones) change no environment
    variable except by the same literal assignments the warm-up replayed. A learner who
    sets ``KERAS_BACKEND`` before importing Keras needs a fresh kernel: the warm one has
    imported Keras already.

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> env = (("TF_CPP_MIN_LOG_LEVEL", "3"),)
    >>> plan = WarmKernelPlan("python3", "a", env=env, preload=("keras",))
    >>> def notebook(source):
    ...     return new_notebook(cells=[new_code_cell("import os\\n" + source)])
    >>> warm_kernel_fits(notebook('os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"'), plan)
    True
    >>> warm_kernel_fits(notebook('os.environ["KERAS_BACKEND"] = "jax"'), plan)
    False
    """
    if not plan.preload and not plan.env:
        return True
    allowed = dict(plan.env)
    for cell in nb.cells:
        if cell.cell_type != "code" or is_locked(cell):
            continue
        if _ENV_MAGIC.search(cell.source):
            return False
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            if "environ" in cell.source or "putenv" in cell.source:
                return False
            continue
        if _changes_environment(tree, allowed):
            return False
    return True


_WARMUP = """
def _warm_up(env, modules):
    import importlib, os, sys
    os.environ.update(env)
    failed = []
    for module in modules:
        try:
            importlib.import_module(module)
        except BaseException as error:  # a module that fails here fails in the notebook too
            failed.append(module + ": " + type(error).__name__ + ": " + str(error))
    sys._course_grade_warmup = {"pid": os.getpid(), "failed": failed}
"""


def warmup_code(plan: WarmKernelPlan) -> str:
    """Code a new kernel runs silently before the notebook. It runs in a namespace of its
    own (``exec`` with a fresh dict), so the learner's namespace stays empty; its result is
    read back with a user expression. (The resource limits are set before the kernel
    starts: :mod:`course.isolation.launch`.)

    >>> "import_module" in warmup_code(WarmKernelPlan("python3", "a", preload=("numpy",)))
    True
    """
    body = _WARMUP + f"_warm_up({dict(plan.env)!r}, {list(plan.preload)!r})\n"
    return f"exec({body!r}, {{'__name__': '__course_grade_warmup__'}})"
