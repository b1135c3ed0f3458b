"""What the integrity scan (:mod:`.code_scan`) flags: names, calls, modules and magics.

The rules are names, not intentions: they catch the grading-machinery tricks and every
generic way to build code or names at run time. A change of what is flagged goes here;
how a cell is read stays in :mod:`.code_scan`.

Example:
    >>> "ctypes" in MODULES, "timeit" in SAFE_MAGICS
    (True, True)
"""

from __future__ import annotations

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
CODE_MAGICS = frozenset({"time", "timeit", "capture"})

#: Attribute names that reach the grading machinery, whatever object they are read from.
ATTRIBUTES = {
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
CALLS = {
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
MODULES = {
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
ALLOWED_IMPORTS = ("IPython.display",)
#: ``os`` functions that run programs or replace the process.
OS_PROGRAMS = frozenset(
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
MODULE_FILES = (".py", ".pyc", ".pyw", ".so", ".pyd", ".pth")
