"""Reading a learner's code, in the grader's process, for ways to change how grading runs.

A learner's cells run in the same kernel as the hidden tests, before them. Code there can
replace the grader's functions (``helpers.grading.pristine = ...``, ``sys.modules[...]``,
builtins), install IPython hooks that change every later cell (AST or input transformers,
``set_custom_exc``, ``pre_run_cell`` events), or run code the grader cannot read
(``exec``, ``compile``, ``importlib``, ``ctypes``). None of that is needed to solve an
exercise of this kit. :func:`scan_code` reads a cell's source (IPython magics turned into
Python first) WITHOUT running it and names every such use; the grader then sends the tests
that run after that cell to manual grading (see :mod:`course.grading.integrity_preprocessors`).

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
from collections.abc import Iterable

from IPython.core.inputtransformer2 import TransformerManager

__all__ = ["scan_code", "SAFE_MAGICS"]

#: Magics an honest notebook uses; their code arguments are scanned too (``%timeit f()``).
SAFE_MAGICS = frozenset(
    {
        "time",
        "timeit",
        "capture",
        "matplotlib",
        "who",
        "whos",
        "who_ls",
        "pwd",
        "ls",
        "pinfo",
        "pinfo2",
        "pdoc",
        "pdef",
        "psource",
        "precision",
        "lsmagic",
        "magic",
        "quickref",
        "history",
        "page",
    }
)
#: Magics whose last argument is Python code to scan.
_CODE_MAGICS = frozenset({"time", "timeit", "capture"})

#: Attribute names that reach the grading machinery, whatever object they are read from.
_ATTRIBUTES = {
    "events": "IPython event hooks",
    "ast_transformers": "IPython's AST transformers, which rewrite every later cell",
    "input_transformers_post": "IPython's input transformers, which rewrite every later cell",
    "input_transformers_cleanup": "IPython's input transformers, which rewrite every later cell",
    "input_transformer_manager": "IPython's input transformers, which rewrite every later cell",
    "set_custom_exc": "IPython's error handler",
    "CustomTB": "IPython's error handler",
    "custom_exceptions": "IPython's error handler",
    "showtraceback": "IPython's error display",
    "_showtraceback": "IPython's error display",
    "showsyntaxerror": "IPython's error display",
    "run_cell": "how IPython runs cells",
    "run_cell_async": "how IPython runs cells",
    "run_ast_nodes": "how IPython runs cells",
    "run_code": "how IPython runs cells",
    "transform_cell": "how IPython runs cells",
    "displayhook": "how results are shown",
    "display_pub": "how results are shown",
    "excepthook": "how errors are shown",
    "set_hook": "IPython hooks",
    "register_magic_function": "IPython magics",
    "iopub_socket": "the kernel's messaging",
    "modules": "the table of imported modules",
    "meta_path": "how Python imports modules",
    "path_hooks": "how Python imports modules",
    "path_importer_cache": "how Python imports modules",
    "settrace": "a tracer that runs inside every later call",
    "setprofile": "a profiler that runs inside every later call",
    "addaudithook": "Python's audit hooks",
    "_getframe": "the grader's stack frames",
    "currentframe": "the grader's stack frames",
    "stack": None,  # only on inspect, see _MODULE_ATTRIBUTES
    "f_globals": "a stack frame's variables",
    "f_locals": "a stack frame's variables",
    "f_builtins": "a stack frame's variables",
    "f_back": "the caller's stack frame",
    "tb_frame": "a stack frame",
    "gi_frame": "a stack frame",
    "cr_frame": "a stack frame",
    "__builtins__": "Python's built-in functions",
    "__globals__": "a function's module variables",
    "__dict__": "an object's variables by computed names",
    "__code__": "a function's compiled code",
    "__closure__": "a function's variables",
    "__subclasses__": "every class in the process",
    "__bases__": "a class's bases",
    "__mro__": "a class's bases",
    "__base__": "a class's bases",
    "__module__": None,  # flagged only when assigned
    "__import__": "Python's import function",
    "__loader__": "how a module was loaded",
    "__spec__": "how a module was loaded",
    "pristine": "the grader's own checks",
    "grading": "the grader's own checks",
    "get_ipython": "the kernel that runs the grader",
}
#: Built-in functions that run code or reach objects by computed names.
_CALLS = {
    "exec": "runs code built at run time (`exec`)",
    "eval": "runs code built at run time (`eval`)",
    "compile": "compiles code at run time (`compile`)",
    "__import__": "imports modules by computed names (`__import__`)",
    "get_ipython": "uses `get_ipython()` (the kernel that runs the grader)",
    "globals": "reaches module variables by computed names (`globals()`)",
    "vars": "reaches object variables by computed names (`vars()`)",
    "breakpoint": "starts the debugger (`breakpoint`)",
}
#: Modules an exercise never needs: importing them is flagged.
_MODULES = {
    "builtins": "Python's built-in functions",
    "importlib": "imports modules by computed names",
    "imp": "imports modules by computed names",
    "runpy": "runs code from files",
    "code": "runs code built at run time",
    "codeop": "compiles code at run time",
    "ctypes": "writes into the process's memory",
    "cffi": "writes into the process's memory",
    "gc": "reaches every object in the process",
    "inspect": "reaches the grader's stack frames",
    "marshal": "loads compiled code",
    "pickle": "loads objects that can run code",
    "dill": "loads objects that can run code",
    "cloudpickle": "loads objects that can run code",
    "types": "builds functions, code and modules",
    "threading": "runs code in the background, during the tests",
    "_thread": "runs code in the background, during the tests",
    "multiprocessing": "starts processes",
    "subprocess": "starts processes",
    "pty": "starts processes",
    "atexit": "runs code when the kernel stops",
    "IPython": "the kernel that runs the grader",
    "ipykernel": "the kernel that runs the grader",
    "jupyter_client": "the kernel's messaging",
    "zmq": "the kernel's messaging",
    "pkgutil": "imports modules by computed names",
    "zipimport": "imports modules from archives",
    "site": "how Python finds modules",
}
#: Imports that are fine although their top-level package is flagged.
_ALLOWED_IMPORTS = ("IPython.display",)
#: ``os`` functions that run programs or replace the process.
_OS_PROGRAMS = frozenset(
    {
        "system",
        "popen",
        "fork",
        "forkpty",
        "execv",
        "execve",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execvp",
        "execvpe",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
    }
)
#: File names Python imports code from (a notebook that writes one can import it).
_MODULE_FILES = (".py", ".pyc", ".pyw", ".so", ".pyd", ".pth")
_TRANSFORMER = TransformerManager()


def scan_code(source: str) -> list[str]:
    """What ``source`` (a code cell or a ``.py`` file) does to the grading machinery, one
    plain sentence per kind of use, in order; empty for ordinary code.

    Code that Python cannot parse is not flagged: it cannot run either.

    >>> scan_code("import sys\\nsys.modules['helpers.grading'] = fake")
    ['uses `.modules` (the table of imported modules)']
    """
    try:
        python = _TRANSFORMER.transform_cell(source)
        tree = ast.parse(python)
    except (SyntaxError, ValueError, TypeError):
        return []
    found: dict[str, None] = {}
    for text in _Scanner(tree).findings():
        found.setdefault(text, None)
    return list(found)


class _Scanner(ast.NodeVisitor):
    """Collects the findings of one parsed cell (see :func:`scan_code`)."""

    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
        self.found: list[str] = []
        self.modules: set[str] = set()  # names bound to imported modules in this code

    def findings(self) -> list[str]:
        for node in ast.walk(self.tree):  # module names first, whatever their order
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
        self.visit(self.tree)
        return self.found

    # -- imports

    def _import(self, name: str) -> None:
        if any(name == allowed or name.startswith(allowed + ".") for allowed in _ALLOWED_IMPORTS):
            return
        top = name.split(".")[0]
        if top in _MODULES:
            self.found.append(f"imports `{top}` ({_MODULES[top]})")
        if name.startswith("helpers.grading"):
            self.found.append("imports `helpers.grading` (the grader's own checks)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._import(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            self._import(f"{module}.{alias.name}")
            if alias.name in _ATTRIBUTES and _ATTRIBUTES[alias.name]:
                self.found.append(f"imports `{alias.name}` ({_ATTRIBUTES[alias.name]})")
            if module == "os" and alias.name in _OS_PROGRAMS:
                self.found.append(f"imports `os.{alias.name}` (starts programs)")

    # -- names and attributes

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__import__", "__loader__", "__spec__"):
            self.found.append(f"uses `{node.id}` ({_ATTRIBUTES[node.id]})")
        elif node.id in _CALLS and node.id not in ("globals", "vars"):
            self.found.append(_CALLS[node.id])
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        why = _ATTRIBUTES.get(node.attr)
        base = _dotted(node.value)
        if node.attr == "stack" and base != "inspect":
            why = None
        if base == "os" and node.attr in _OS_PROGRAMS:
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
        self.generic_visit(node)

    def _assigned(self, target: ast.Attribute) -> None:
        dotted = _dotted(target)
        root = dotted.split(".")[0] if dotted else ""
        if root in self.modules:
            self.found.append(f"assigns to `{dotted}` (an attribute of an imported module)")
        elif target.attr == "__module__":
            self.found.append(f"assigns to `.{target.attr}` (disguises where code comes from)")

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in _CALLS:
            self.found.append(_CALLS[name])
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
            if literal in _ATTRIBUTES and _ATTRIBUTES[literal]:
                self.found.append(f"uses `.{literal}` ({_ATTRIBUTES[literal]})")
        magic = _magic_call(node)
        if magic is not None:
            kind, magic_name, code = magic
            magic_name = magic_name.lstrip("%")
            if magic_name not in SAFE_MAGICS:
                self.found.append(f"runs the magic `{'%' if kind == 'line' else '%%'}{magic_name}`")
            if magic_name in _CODE_MAGICS and code is not None:
                self.found.extend(scan_code(code))
            for arg in node.args:  # do not report the magic's own get_ipython() call
                self.generic_visit(arg)
            return
        if _is_get_ipython_system(node):
            self.found.append("runs a shell command (`!...`)")
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in _ATTRIBUTES and _ATTRIBUTES[node.value]:
            self.found.append(f"names `{node.value}` in a string ({_ATTRIBUTES[node.value]})")
        elif isinstance(node.value, str) and node.value.strip().endswith(_MODULE_FILES):
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
