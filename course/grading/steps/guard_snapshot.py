"""The run-time guard's fingerprints, as they are taken INSIDE a grading kernel.

:class:`Snapshot` takes references to every entry of ``sys.modules`` and the names of each
module, the methods of the classes they define, the built-ins, ``sys``'s hooks, IPython's
transformers, event callbacks and methods, and the ``helpers`` files and functions (see
:mod:`.guard_kernel` for why); :class:`.guard_compare.Comparisons` compares them. Its source
is sent to the kernel after :mod:`.guard_compare`'s and before :mod:`.guard_kernel`'s, into
one namespace (:mod:`.runtime_guard`).

Example (in a kernel, at install)::

    snapshot = ns["Snapshot"](sys.modules, type(sys), ...)
"""

from __future__ import annotations

# Sent to a kernel, guard_compare.py's source has run in this namespace first (runtime_guard);
# imported as a module (tests, the benchmark), it is imported.
if "Comparisons" not in globals():
    from course.grading.steps.guard_compare import STRICT_STDLIB, Comparisons, namespace_prefix


class Snapshot(Comparisons):
    """References taken at install, compared by identity only (no code of the notebook's
    runs while comparing: no ``==`` on its objects, no attribute lookups on them)."""

    def __init__(
        self, modules, module_type, function_type, type_dict, builtins, shell, parked
    ) -> None:
        import os
        import sys

        self.sys = sys
        self.modules = modules
        self.module_type = module_type
        self.function_type = function_type
        self.type_dict = type_dict
        self.builtins = vars(builtins)
        self.shell = shell
        self.entries = dict(modules)  # name -> module
        self.dicts: dict[str, tuple[dict, dict, bool]] = {}
        self.prefixes: dict[str, tuple] = {}
        self.class_prefixes: dict[type, tuple] = {}
        self.strict_classes: set[type] = set()
        self.method_type = type(self._sys_hooks)
        self.c_types = (
            type(len),  # builtin_function_or_method
            type(str.join),  # method_descriptor
            type(object.__init__),  # wrapper_descriptor
            type(type.__dict__["__dict__"]),  # getset_descriptor
            type(type.__dict__["__dictoffset__"]),  # member_descriptor
            type(dict.__dict__["fromkeys"]),  # classmethod_descriptor
        )
        import sysconfig

        paths = sysconfig.get_paths()
        self.library_dirs = tuple(
            {paths[key] + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        )
        self.classes: dict[type, dict] = {}
        self.functions: list = []
        self.codes: list = []
        self.taken: set[str] = set()
        self.helpers_compared = False
        self.module_dict = module_type.__dict__["__dict__"].__get__
        self.parked = parked
        self.stdlib_changed = False
        # (The warm modules set aside are fingerprinted when they are back, as in a fresh
        # kernel: both graders then find the same.)
        self.take_new()
        self.builtin_entries = dict(self.builtins)
        self.sys_hooks = self._sys_hooks()
        self.ipython = self._ipython()
        helpers = modules.get("helpers") or parked.get("helpers")
        folder = None
        if helpers is not None and getattr(helpers, "__file__", None):
            folder = os.path.dirname(helpers.__file__)
        else:
            for finder in sys.meta_path:  # where it would come from, without importing it
                if getattr(finder, "__name__", "") == "WarmModules":
                    continue  # course.import_rule's: asking it would decide the import
                try:
                    spec = finder.find_spec("helpers", None)
                except Exception:  # noqa: BLE001 - a finder that cannot answer
                    continue
                if spec is not None and spec.origin:
                    folder = os.path.dirname(spec.origin)
                    break
        self.helpers_folder = folder
        self.helpers_files = self._helpers_files()
        self.pristine_code = self._pristine_code()

    # -- taking

    def take_new(self, parked: dict | None = None) -> None:
        """Fingerprint the modules not fingerprinted yet (of ``sys.modules``, or the warm
        modules set aside: those join the table's entries when they are back in it)."""
        strict_names = set(STRICT_STDLIB)
        for name, module in list((self.modules if parked is None else parked).items()):
            if name == "builtins":
                continue  # compared on its own: _compare_builtins
            if name in self.taken:
                if parked is None and self.parked.get(name) is module:
                    self.entries.setdefault(name, module)  # put back, as it was
                continue
            if not self._is_module(module):
                continue
            self.taken.add(name)
            if parked is None:
                self.entries.setdefault(name, module)
            namespace = self.module_dict(module)
            strict = name in strict_names or name == "helpers" or name.startswith("helpers.")
            self.dicts[name] = (namespace, dict(namespace), strict)
            self.prefixes[name] = (tuple(namespace), tuple(namespace.values()))
            for value in list(namespace.values()):
                kind = type(value)
                if kind is self.function_type and strict:
                    self.functions.append(value)
                elif issubclass(type(value), type) and value.__module__ == name:
                    if value not in self.classes:
                        self.classes[value] = dict(self.type_dict(value))
                        if strict:
                            self.strict_classes.add(value)
                        self.class_prefixes[value] = namespace_prefix(self.classes[value])
        self.codes = [f.__code__ for f in self.functions]

    def _sys_hooks(self) -> dict:
        sys = self.sys
        return {
            "sys.meta_path": list(sys.meta_path),
            "sys.path_hooks": list(sys.path_hooks),
            "sys.displayhook": sys.displayhook,
            "sys.excepthook": sys.excepthook,
            "sys.breakpointhook": sys.breakpointhook,
            "sys.unraisablehook": sys.unraisablehook,
            "sys.modules": sys.modules,
            "the importer cache": dict(sys.path_importer_cache),
        }

    def _ipython(self) -> dict:
        shell = self.shell
        if shell is None:
            return {}
        kernel = getattr(shell, "kernel", None)
        return {
            "ast": list(shell.ast_transformers),
            "post": list(shell.input_transformers_post),
            "cleanup": list(shell.input_transformers_cleanup),
            "manager": shell.input_transformer_manager,
            "custom": shell.custom_exceptions,
            "customtb": shell.CustomTB,
            "compile": shell.compile,
            "displayhook": shell.displayhook,
            "display_pub": shell.display_pub,
            "shell_dict": dict(vars(shell)),
            "kernel": kernel,
            "kernel_dict": dict(vars(kernel)) if kernel is not None else {},
            "events": {k: list(v) for k, v in shell.events.callbacks.items()},
        }

    def _helpers_files(self) -> dict[str, str]:
        import hashlib
        import os

        found: dict[str, str] = {}
        if not self.helpers_folder:
            return found
        for root, _dirs, files in os.walk(self.helpers_folder):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    try:
                        with open(path, "rb") as file:
                            found[path] = hashlib.sha256(file.read()).hexdigest()
                    except OSError:
                        found[path] = ""
        return found

    def _pristine_code(self):
        import os

        if not self.helpers_folder:
            return None
        path = os.path.join(self.helpers_folder, "grading.py")
        try:
            with open(path, encoding="utf-8") as file:
                code = compile(file.read(), path, "exec")
        except (OSError, SyntaxError):
            return None
        for constant in code.co_consts:
            if type(constant) is type(code) and constant.co_name == "pristine":
                return constant
        return None
