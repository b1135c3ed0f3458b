"""Reading a learner's code, in the grader's process, for ways to change how grading runs.

A learner's cells run in the same kernel as the hidden tests, before them. Code there can
replace the grader's functions (``helpers.grading.pristine = ...``, ``sys.modules[...]``,
builtins), install IPython hooks that change every later cell (AST or input transformers,
``set_custom_exc``, ``pre_run_cell`` events), or run code the grader cannot read
(``exec``, ``compile``, ``importlib``, ``ctypes``). None of that is needed to solve an
exercise of this kit. :func:`scan_code` reads a cell's source (IPython magics turned into
Python first) WITHOUT running it and names every such use; the grader then sends the tests
that run after that cell to manual grading (see :mod:`course.grading.steps.integrity`).

The scan is bounded: linear in the size of a cell (a cell with many magics is rewritten line
by line rather than by IPython's transformers, the tree is walked without recursion), within
a CPU-time budget (:data:`SCAN_BUDGET`); any failure reports the cell as unreadable (flagged),
and the notebook is still graded. It is the first, cheap signal: the defence is the run-time
guard (:mod:`course.grading.steps.runtime_guard`), which checks what the code did.

The rules are names, not intentions: they catch the grading-machinery tricks and every
generic way to build code or names at run time; a learner can still write code these rules
do not recognise only by using one of the flagged escape hatches, which is itself flagged.

Example:
    >>> scan_code("helpers.grading.pristine = lambda: helpers")  # doctest: +NORMALIZE_WHITESPACE
    ["uses `.pristine` (the grader's own checks)",
     'assigns to `helpers.grading.pristine` (an attribute of an imported module)',
     "uses `.grading` (the grader's own checks)"]
    >>> hook = "ip = get_ipython()\\nip.events.register('pre_run_cell', f)"
    >>> scan_code(hook)  # doctest: +NORMALIZE_WHITESPACE
    ['uses `get_ipython()` (the kernel that runs the grader)',
     'uses `.events` (IPython event hooks)']
    >>> scan_code("model = keras.Sequential([layers.Dense(3)])\\n%timeit model(x)")
    []
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable

from IPython.core.inputtransformer2 import TransformerManager

from course.grading.steps.scan_rules import (
    ALLOWED_IMPORTS,
    ATTRIBUTES,
    CALLS,
    CODE_MAGICS,
    MODULE_FILES,
    MODULES,
    OS_PROGRAMS,
    SAFE_MAGICS,
)

__all__ = ["SAFE_MAGICS", "SCAN_BUDGET", "UNREADABLE", "scan_code"]

_TRANSFORMER = TransformerManager()


#: CPU seconds the scan of one cell (or file) may take; past it, the cell is reported
#: unreadable. CPU time of the scanning thread, so a busy machine does not change the verdict.
SCAN_BUDGET = 10.0
#: Characters of a cell the scan reads at most (Python's parser cannot be stopped midway).
MAX_SCAN_CHARS = 8 * 1024 * 1024
#: Cells above these sizes are turned into Python by a linear rewrite of magic lines, not by
#: IPython's transformers (whose time grows faster than the cell).
_SMALL_CELL = 64 * 1024
_SMALL_MAGICS = 50
#: The sentence of a cell the scan could not read (flagged: it goes to the teacher).
UNREADABLE = "could not be read by the grader's integrity scan ({why})"


class ScanBudgetSpent(RuntimeError):
    """The scan of one cell took longer than its budget."""


def scan_code(source: str, budget: float | None = None) -> list[str]:
    """What ``source`` (a code cell or a ``.py`` file) does to the grading machinery, one
    plain sentence per kind of use, in order; empty for ordinary code.

    Code that Python cannot parse is not flagged: it cannot run either. The scan is linear
    in the size of the cell and stops after ``budget`` CPU seconds (:data:`SCAN_BUDGET`); a
    cell it cannot finish reading, for any reason, is reported as unreadable, never raised.

    >>> scan_code("import sys\\nsys.modules['helpers.grading'] = fake")
    ['uses `.modules` (the table of imported modules)']
    >>> scan_code("total = " + " + ".join(["1"] * 1000))
    []
    """
    deadline = time.thread_time() + (SCAN_BUDGET if budget is None else budget)
    if len(source) > MAX_SCAN_CHARS:
        return [UNREADABLE.format(why=f"it is longer than {MAX_SCAN_CHARS // 2**20} MB")]
    try:
        python = _python_of(source, deadline)
        try:
            tree = ast.parse(python)
        except (SyntaxError, ValueError, TypeError):
            return []
        found: dict[str, None] = {}
        for text in _Scanner(tree, deadline).findings():
            found.setdefault(text, None)
        return list(found)
    except ScanBudgetSpent:
        return [UNREADABLE.format(why=f"it took longer than {SCAN_BUDGET:g} s")]
    except RecursionError:
        return [UNREADABLE.format(why="it nests too deeply")]
    except MemoryError:
        return [UNREADABLE.format(why="it needs too much memory")]
    except Exception as error:  # noqa: BLE001 - the scan never stops grading
        return [UNREADABLE.format(why=type(error).__name__)]


def _python_of(source: str, deadline: float) -> str:
    """The cell as Python, IPython's magics and shell escapes turned into calls."""
    lines = source.splitlines()
    magics = sum(1 for line in lines if line.lstrip().startswith(("%", "!")))
    if len(source) <= _SMALL_CELL and magics <= _SMALL_MAGICS:
        return _TRANSFORMER.transform_cell(source)
    return _linear_python(lines, deadline)


def _linear_python(lines: list[str], deadline: float) -> str:
    """A linear rewrite of a large cell: a leading ``%%magic`` becomes ``run_cell_magic``,
    each ``%magic`` line ``run_line_magic`` and each ``!command`` line ``system``.

    >>> _linear_python(["%time 0", "  !ls", "x = 1"], time.thread_time() + 5)
    "get_ipython().run_line_magic('time', '0')\\n  get_ipython().system('ls')\\nx = 1"
    """
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name, _, args = lines[first].strip()[2:].partition(" ")
        body = "\n".join(lines[first + 1 :])
        return f"get_ipython().run_cell_magic({name!r}, {args!r}, {body!r})"
    out = []
    for number, line in enumerate(lines):
        if number % 4096 == 0 and time.thread_time() > deadline:
            raise ScanBudgetSpent
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("%"):
            name, _, args = stripped[1:].partition(" ")
            out.append(f"{indent}get_ipython().run_line_magic({name!r}, {args!r})")
        elif stripped.startswith("!"):
            out.append(f"{indent}get_ipython().system({stripped[1:]!r})")
        else:
            out.append(line)
    return "\n".join(out)


class _Scanner:
    """Collects the findings of one parsed cell (see :func:`scan_code`): one pass over the
    tree with an explicit stack (no recursion, whatever the nesting), checking the budget."""

    def __init__(self, tree: ast.AST, deadline: float) -> None:
        self.tree = tree
        self.deadline = deadline
        self.found: list[str] = []
        self.modules: set[str] = set()  # names bound to imported modules in this code

    def findings(self) -> list[str]:
        for count, node in enumerate(ast.walk(self.tree)):  # module names first
            if count % 1024 == 0 and time.thread_time() > self.deadline:
                raise ScanBudgetSpent
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.modules.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    # `from helpers import grading` (or `from helpers.checks import
                    # _common`) binds a module; `from helpers import Table` a class.
                    if alias.name.lstrip("_")[:1].islower():
                        self.modules.add(alias.asname or alias.name)
        self.modules |= {
            "helpers",
            "sys",
            "builtins",
            "keras",
            "tf",
            "np",
            "os",
            "IPython",
            "layers",
        }
        stack: list[ast.AST] = [self.tree]
        count = 0
        while stack:
            node = stack.pop()
            count += 1
            if count % 1024 == 0 and time.thread_time() > self.deadline:
                raise ScanBudgetSpent
            visit = getattr(self, "visit_" + type(node).__name__, None)
            children = visit(node) if visit is not None else None
            if children is None:
                children = list(ast.iter_child_nodes(node))
            stack.extend(reversed(children))
        return self.found

    # -- imports

    def _import(self, name: str) -> None:
        if any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_IMPORTS):
            return
        top = name.split(".")[0]
        if top in MODULES:
            self.found.append(f"imports `{top}` ({MODULES[top]})")
        if name.startswith("helpers.grading"):
            self.found.append("imports `helpers.grading` (the grader's own checks)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._import(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            self._import(f"{module}.{alias.name}")
            if alias.name in ATTRIBUTES and ATTRIBUTES[alias.name]:
                self.found.append(f"imports `{alias.name}` ({ATTRIBUTES[alias.name]})")
            if module == "os" and alias.name in OS_PROGRAMS:
                self.found.append(f"imports `os.{alias.name}` (starts programs)")

    # -- names and attributes

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__import__", "__loader__", "__spec__"):
            self.found.append(f"uses `{node.id}` ({ATTRIBUTES[node.id]})")
        elif node.id in CALLS and node.id not in ("globals", "vars"):
            self.found.append(CALLS[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        why = ATTRIBUTES.get(node.attr)
        base = _dotted(node.value)
        if node.attr == "stack" and base != "inspect":
            why = None
        if base == "os" and node.attr in OS_PROGRAMS:
            self.found.append(f"calls `os.{node.attr}` (starts programs)")
        if why:
            self.found.append(f"uses `.{node.attr}` ({why})")
        if (
            base == "sys"
            and node.attr == "path"
            and not isinstance(getattr(node, "parent_load", None), bool)
        ):
            self.found.append("uses `sys.path` (where Python finds modules)")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._assigned(node)

    def _assigned(self, target: ast.Attribute) -> None:
        dotted = _dotted(target)
        root = dotted.split(".")[0] if dotted else ""
        if root in self.modules:
            self.found.append(f"assigns to `{dotted}` (an attribute of an imported module)")
        elif target.attr == "__module__":
            self.found.append(f"assigns to `.{target.attr}` (disguises where code comes from)")

    def visit_Call(self, node: ast.Call) -> list[ast.AST] | None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in CALLS:
            self.found.append(CALLS[name])
        if name in ("setattr", "delattr", "getattr") and node.args:
            target = _dotted(node.args[0]) or ""
            attr = node.args[1] if len(node.args) > 1 else None
            literal = (
                attr.value
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str)
                else None
            )
            if target.split(".")[0] in self.modules and (name != "getattr" or literal is None):
                self.found.append(f"calls `{name}` on the module `{target}`")
            if literal in ATTRIBUTES and ATTRIBUTES[literal]:
                self.found.append(f"uses `.{literal}` ({ATTRIBUTES[literal]})")
        magic = _magic_call(node)
        if magic is not None:
            kind, magic_name, code = magic
            magic_name = magic_name.lstrip("%")
            if magic_name not in SAFE_MAGICS:
                self.found.append(f"runs the magic `{'%' if kind == 'line' else '%%'}{magic_name}`")
            if magic_name in CODE_MAGICS and code is not None:
                left = self.deadline - time.thread_time()
                if left <= 0:
                    raise ScanBudgetSpent
                self.found.extend(scan_code(code, left))
            # do not report the magic's own get_ipython() call
            return [child for arg in node.args for child in ast.iter_child_nodes(arg)]
        if _is_get_ipython_system(node):
            self.found.append("runs a shell command (`!...`)")
            return []
        return None

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in ATTRIBUTES and ATTRIBUTES[node.value]:
            self.found.append(f"names `{node.value}` in a string ({ATTRIBUTES[node.value]})")
        elif isinstance(node.value, str) and node.value.strip().endswith(MODULE_FILES):
            self.found.append(
                f"names the Python file `{node.value.strip()[-40:]}` (code the grader cannot read)"
            )


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes; ``get_ipython()`` for that call."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        parts.append(f"{node.func.id}()")
    elif isinstance(node, ast.Subscript):
        inner = _dotted(node.value)
        if inner is None:
            return None
        parts.append(f"{inner}[...]")
    else:
        return None
    return ".".join(reversed(parts))


def _is_get_ipython_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "get_ipython"
    )


def _magic_call(node: ast.Call) -> tuple[str, str, str | None] | None:
    """(``line``/``cell``, magic name, code argument) for ``get_ipython().run_*_magic(...)``."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and _is_get_ipython_call(func.value)):
        return None
    if func.attr not in ("run_line_magic", "run_cell_magic") or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    last = node.args[-1] if len(node.args) > 1 else None
    code = last.value if isinstance(last, ast.Constant) and isinstance(last.value, str) else None
    return ("line" if func.attr == "run_line_magic" else "cell"), first.value, code


def _is_get_ipython_system(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and _is_get_ipython_call(func.value)
        and func.attr in ("system", "getoutput")
    )


def describe(findings: Iterable[str]) -> str:
    """One sentence from a cell's findings.

    >>> describe(["imports `ctypes` (writes into the process's memory)", "calls `os.kill` (x)"])
    "imports `ctypes` (writes into the process's memory); calls `os.kill` (x)"
    """
    return "; ".join(findings)
