"""What a warm grading kernel does before the notebook, and when it may be used.

``course grade`` starts kernels ahead of time (:mod:`course.grading.kernel`) and warms them up:
the literal ``os.environ[...] = "..."`` assignments of the
assignment's setup cells, the modules they import (:func:`warmup_plan`, :func:`warmup_code`).
A notebook whose cells change an import-time setting before those imports (``KERAS_BACKEND``
set before ``import keras``) gets the fresh imports a fresh kernel would do, decided at run
time by the kit's one rule (:mod:`course.import_rule`); :func:`warm_kernel_fits` says so.

Example::

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy")])
    >>> plan = WarmKernelPlan("python3", "01_x", *warmup_plan(nb))
    >>> plan.preload, warm_kernel_fits(nb, plan)
    (('numpy',), True)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nbformat import NotebookNode

from course.cells import is_solution


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


def warm_kernel_fits(nb: NotebookNode, plan: WarmKernelPlan) -> bool:
    """Whether a kernel warmed up for ``plan`` runs ``nb`` exactly like a fresh kernel:
    always, since the kit's one rule for import-time settings decides at run time
    (:func:`course.import_rule.defer_warm_imports`, which both graders' ``Execute`` runs
    before the first cell): the warm Keras is set aside until the notebook first imports it,
    and imported again, fresh, if the notebook changed ``KERAS_BACKEND`` or ``KERAS_HOME``
    before that (however it did it). Kept as the one place ``course grade`` asks.

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> nb = new_notebook(cells=[new_code_cell('os.environ.update(KERAS_BACKEND="jax")')])
    >>> warm_kernel_fits(nb, WarmKernelPlan("python3", "a", preload=("keras",)))
    True
    """
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
