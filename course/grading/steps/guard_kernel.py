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

Everything is plain standard library, so the file runs in any Python 3.11 kernel.

Example (what the grader sends; the result is the key, hex)::

    (lambda ns: (exec(SOURCE, ns), ns["install"]())[1])({})
"""

from __future__ import annotations

CHECK_EVENT = "course.integrity.check"
#: Standard library modules whose every name the checks may rely on (not only functions).
STRICT_STDLIB = (
    "functools",
    "importlib",
    "importlib.util",
    "importlib.machinery",
    "importlib._bootstrap",
    "importlib._bootstrap_external",
    "types",
    "operator",
    "inspect",
    "itertools",
    "collections",
)
#: Pseudo file names of code a cell runs through IPython's magics or ``exec``.
LEARNER_PSEUDO_FILES = ("<timed exec>", "<timed eval>", "<magic-timeit>", "<string>")
#: Packages whose IPython event callbacks are the kernel's own.
OWN_CALLBACK_PACKAGES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets")
#: Shell and kernel methods a notebook could replace on the instance.
SHELL_METHODS = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "transform_cell",
    "user_expressions",
    "ev",
    "ex",
)
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "finish_metadata")
MAX_FINDINGS = 40


def install(parked: dict | None = None) -> str:
    """Install the guard in this process; return the signing key (hex) for the grader.

    ``parked``: warm modules set aside until the notebook imports them
    (:func:`course.import_rule.defer_warm_imports`); they are fingerprinted now too."""
    import builtins
    import gc
    import hashlib
    import hmac
    import json
    import os
    import sys
    import sysconfig

    getframe = sys._getframe
    modules = sys.modules
    module_type = type(sys)
    function_type = type(install)
    type_dict = type.__dict__["__dict__"].__get__
    key = os.urandom(32)
    stdlib = sysconfig.get_paths()["stdlib"] + os.sep
    shell = _shell()
    cell_prefix = _cell_prefix(shell)
    state = {"count": 0, "busy": False, "said": set()}
    pending: list[str] = []  # signed lines not handed to the grader yet

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def say(kind: str, text: str) -> None:
        """Keep one signed, numbered line for the grader (at most once per text)."""
        if text in state["said"] or len(state["said"]) > 4 * MAX_FINDINGS:
            return
        state["said"].add(text)
        state["count"] += 1
        body = json.dumps([kind, state["count"], text])
        pending.append(f"{sign(body)} {body}")

    def is_learner(filename: str) -> bool:
        return filename.startswith(cell_prefix) or filename in LEARNER_PSEUDO_FILES

    def learner_caller(depth: int = 3, through_stdlib: bool = True) -> str | None:
        """The learner's cell that caused this event (directly, or through the standard
        library), or None. Frames: this one, ``watch``, ``hook``, then the event's."""
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

    refused = {
        "sys.settrace": "installed a tracer that runs inside every call (`sys.settrace`)",
        "sys.setprofile": "installed a profiler that runs inside every call (`sys.setprofile`)",
        "sys._current_frames": "read the stack frames of every thread (`sys._current_frames`)",
        "gc.get_objects": "listed every object in the process (`gc.get_objects`)",
        "gc.get_referrers": "searched the objects that refer to an object (`gc.get_referrers`)",
        "gc.get_referents": "searched the objects an object refers to (`gc.get_referents`)",
    }

    def hook(event: str, args: tuple) -> None:
        try:
            watch(event, args)
        except PermissionError:
            raise
        except Exception as error:  # noqa: BLE001 - a fault of the guard never stops a cell
            say("fault", f"the guard failed on `{event}`: {type(error).__name__}")

    def watch(event: str, args: tuple) -> None:
        if event == CHECK_EVENT:
            if not state["busy"] and len(args) == 2 and type(args[0]) is str:
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
            return
        if event in refused:
            say("refused", refused[event])
            raise PermissionError(f"not allowed while grading: {event}")
        if event.startswith("ctypes.") and event != "ctypes.dlopen":
            where = learner_caller()
            if where:
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

    snapshot = _Snapshot(
        modules, module_type, function_type, type_dict, builtins, shell, parked or {}
    )

    def compare() -> list[str]:
        return snapshot.compare()

    sys.addaudithook(hook)
    del gc  # imported so that its audit events exist before learner code runs
    return key.hex()


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


class _Snapshot:
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
                        self.class_prefixes[value] = _prefix(self.classes[value])
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

    # -- comparing

    def compare(self) -> list[str]:
        """What changed since the fingerprints were taken (plain sentences)."""
        found: list[str] = []
        self._compare_sys(found)
        self._compare_modules(found)
        self._compare_classes(found)
        self._compare_builtins(found)
        self._compare_ipython(found)
        self._compare_helpers(found)
        self.take_new()
        return sorted(set(found))[:MAX_FINDINGS]  # the same note, whatever the order found

    def _compare_sys(self, found: list[str]) -> None:
        sys = self.sys
        now = self._sys_hooks()
        for name, before in self.sys_hooks.items():
            after = now[name]
            if name == "the importer cache":
                changed = [k for k, v in before.items() if after.get(k, v) is not v]
                if changed:
                    found.append(f"`sys.path_importer_cache[{changed[0]!r}]` was replaced")
            elif type(before) is list:
                # Entries may be added by libraries (an import adds its finder); an entry
                # removed or replaced, or one the notebook's own code made, is a change.
                kept = [entry for entry in after if any(entry is old for old in before)]
                if len(kept) != len(before) or not all(map(_is, before, kept)):
                    found.append(f"`{name}` was changed")
                elif any(
                    self._learners(entry)
                    for entry in after
                    if not any(entry is old for old in kept)
                ):
                    found.append(f"`{name}` was changed")
            elif after is not before:
                found.append(f"`{name}` was replaced")
        if sys.gettrace() is not None:
            found.append("a tracer runs inside every call (`sys.settrace`)")
        if sys.getprofile() is not None:
            found.append("a profiler runs inside every call (`sys.setprofile`)")
        for name, module in self.entries.items():
            current = self.modules.get(name)
            if current is not module:
                what = "removed from" if current is None else "replaced in"
                found.append(f"`{name}` was {what} `sys.modules`")

    def _compare_modules(self, found: list[str]) -> None:
        function_type = self.function_type
        for name, (namespace, before, strict) in self.dicts.items():
            if _same_prefix(namespace, self.prefixes[name]):
                continue
            if any(type(k) is not str for k in namespace):
                found.append(f"`{name}` got a name that is not a string")
                continue
            for key, value in before.items():
                current = namespace.get(key, _MISSING)
                if current is value:
                    continue
                kind = type(value)
                behaviour = (
                    kind is function_type
                    or kind is self.module_type
                    or issubclass(type(value), type)
                    or callable(value)
                )
                if strict or (behaviour and not self._from_library(current)):
                    what = "deleted" if current is _MISSING else "replaced"
                    found.append(f"`{name}.{key}` was {what}")
                    self.stdlib_changed |= name in STRICT_STDLIB
        codes = [f.__code__ for f in self.functions]
        if codes != self.codes:
            for function, before, after in zip(self.functions, self.codes, codes, strict=True):
                if before is not after:
                    found.append(
                        f"the code of `{function.__module__}.{function.__qualname__}` was replaced"
                    )

    def _compare_classes(self, found: list[str]) -> None:
        for cls, before in self.classes.items():
            namespace = self.type_dict(cls)
            if len(namespace) == len(before) and _same_prefix(namespace, self.class_prefixes[cls]):
                continue
            if any(type(k) is not str for k in namespace):
                found.append(f"the class `{cls.__module__}.{cls.__qualname__}` got a strange name")
                continue
            strict = cls in self.strict_classes
            for key, value in before.items():
                current = namespace.get(key, _MISSING)
                if (
                    current is not value
                    and (callable(value) or hasattr(type(value), "__get__"))
                    and (strict or not self._from_library(current))
                ):
                    found.append(f"`{cls.__module__}.{cls.__qualname__}.{key}` was replaced")
            for key in namespace:
                if (
                    key not in before
                    and self._behaviour(namespace[key])
                    and (strict or not self._from_library(namespace[key]))
                ):
                    where = f"{cls.__module__}.{cls.__qualname__}.{key}"
                    found.append(f"`{where}` was added to the class")

    def _from_library(self, value) -> bool:
        """Whether a new value comes from installed code, not from the notebook: a function
        whose code lives in the standard library or site-packages (matplotlib's pyplot
        rebinds ``draw_if_interactive``; jaxlib adds methods to its classes), a function
        written in C, or a class or module of a library. Found without running its code."""
        kind = type(value)
        for wrapper in (classmethod, staticmethod):
            if kind is wrapper:
                value = wrapper.__dict__["__func__"].__get__(value)
                kind = type(value)
        if kind is property:
            value = property.__dict__["fget"].__get__(value)
            kind = type(value)
        if kind is self.method_type:
            value = self.method_type.__dict__["__func__"].__get__(value)
            kind = type(value)
        if kind is self.function_type:
            return value.__code__.co_filename.startswith(self.library_dirs)
        if kind in self.c_types:
            return True
        if kind is self.module_type:
            origin = value.__dict__.get("__file__")
            return type(origin) is str and origin.startswith(self.library_dirs)
        if issubclass(kind, type):
            return self.type_dict(value).get("__module__") not in ("__main__", None)
        return False

    def _is_module(self, value) -> bool:
        """A module, or an instance of a subclass (``helpers.grading`` is read-only)."""
        return issubclass(type(value), self.module_type)

    def _learners(self, value) -> bool:
        """Whether an object (a finder, a hook) is an instance of a class the notebook
        defined, or such a class, or a function of the notebook's."""
        kind = type(value)
        if kind is self.function_type:
            return not self._from_library(value)
        cls = value if issubclass(kind, type) else kind
        return self.type_dict(cls).get("__module__") in ("__main__", None)

    def _behaviour(self, value) -> bool:
        """Whether a value added to a class changes what its instances do (a method, a
        property or another descriptor), found without running the value's own code."""
        if callable(value):
            return True
        mro = type.__dict__["__mro__"].__get__(type(value))
        return any("__get__" in self.type_dict(kind) for kind in mro)

    def _compare_builtins(self, found: list[str]) -> None:
        namespace = self.builtins
        for key, value in self.builtin_entries.items():
            if namespace.get(key, _MISSING) is not value and key not in ("_", "__", "___"):
                found.append(f"the built-in `{key}` was replaced")
        for key in namespace:
            if (
                key not in self.builtin_entries
                and key not in ("_", "__", "___")
                and callable(namespace[key])
                and not self._from_library(namespace[key])
            ):
                found.append(f"a built-in `{key}` was added")

    def _compare_ipython(self, found: list[str]) -> None:
        if not self.ipython:
            return
        shell = self.shell
        before = self.ipython
        now = self._ipython()
        names = {
            "ast": "an AST transformer rewrites every cell",
            "post": "an input transformer rewrites every cell",
            "cleanup": "an input transformer rewrites every cell",
        }
        for key, text in names.items():
            if len(now[key]) != len(before[key]) or not all(map(_is, now[key], before[key])):
                found.append(text)
        for key in ("manager", "customtb", "compile", "displayhook", "display_pub", "kernel"):
            if now[key] is not before[key]:
                found.append(f"IPython's `{key}` was replaced")
        if now["custom"] != before["custom"]:
            found.append("a custom error handler (`set_custom_exc`) is installed")
        for label, names_, key in (
            ("shell", SHELL_METHODS, "shell_dict"),
            ("kernel", KERNEL_METHODS, "kernel_dict"),
        ):
            for name in names_:
                if now[key].get(name) is not before[key].get(name):
                    found.append(f"the IPython {label}'s `{name}` was replaced")
        for event, callbacks in now["events"].items():
            old = before["events"].get(event, [])
            for callback in callbacks:
                if any(callback is c for c in old):
                    continue
                if not _own_callback(callback):
                    found.append(f"a `{event}` hook runs at every cell")
                    break
        del shell

    def _compare_helpers(self, found: list[str]) -> None:
        if self._helpers_files() != self.helpers_files:
            found.append("a file of the `helpers` package was changed on disk")
        self._compare_helpers_to_disk(found)
        grading = self.modules.get("helpers.grading")
        if grading is None or self.pristine_code is None:
            return
        namespace = self.module_dict(grading) if self._is_module(grading) else {}
        pristine = namespace.get("pristine")
        if (
            type(pristine) is not self.function_type
            or pristine.__globals__ is not namespace
            or pristine.__code__.co_code != self.pristine_code.co_code
        ):
            found.append("`helpers.grading.pristine` is not the grader's function")

    def _compare_helpers_to_disk(self, found: list[str]) -> None:
        """Once, when ``helpers`` is imported: its functions against a private copy loaded
        from its files (what ``pristine()`` loads), so a change made before the grader first
        saw the package is found too, in a warm kernel and in a fresh one alike."""
        if self.helpers_compared or not self.helpers_folder or self.stdlib_changed:
            return  # (a reference loaded with a changed `functools` would not be one)
        if not self._is_module(self.modules.get("helpers")):
            return
        self.helpers_compared = True
        function_type = self.function_type
        for name, reference in self._private_helpers().items():
            module = self.modules.get(name)
            if not self._is_module(module):
                continue
            namespace = self.module_dict(module)
            for key, value in reference.__dict__.items():
                if type(value) is not function_type:
                    continue
                current = namespace.get(key, _MISSING)
                if (
                    type(current) is not function_type
                    or current.__code__.co_code != value.__code__.co_code
                ):
                    found.append(f"`{name}.{key}` was replaced")

    def _private_helpers(self) -> dict:
        """``helpers`` and its submodules loaded again from disk under a private name
        (removed from ``sys.modules`` at once), by their public names."""
        import importlib.util
        import os

        private = "_course_guard_helpers"
        spec = importlib.util.spec_from_file_location(
            private,
            os.path.join(self.helpers_folder, "__init__.py"),
            submodule_search_locations=[self.helpers_folder],
        )
        module = importlib.util.module_from_spec(spec)
        self.modules[private] = module
        loaded: dict = {}
        try:
            spec.loader.exec_module(module)
        except Exception:  # noqa: BLE001 - no reference: nothing to compare
            return {}
        finally:
            for name in [k for k in self.modules if k == private or k.startswith(private + ".")]:
                loaded["helpers" + name[len(private) :]] = self.modules.pop(name)
        return loaded


def _own_callback(callback) -> bool:
    """Whether an IPython event callback's code lives in the kernel's own packages."""
    import os

    function = getattr(callback, "__func__", callback)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    parts = code.co_filename.split(os.sep)
    return any(package in parts for package in OWN_CALLBACK_PACKAGES) and "site-packages" in parts


def _prefix(namespace: dict) -> tuple:
    return tuple(namespace), tuple(namespace.values())


def _same_prefix(namespace, before: tuple) -> bool:
    """Whether ``namespace`` starts with exactly the keys and values ``before`` holds (by
    identity, in C: no code of the notebook's runs). Names added after them are fine."""
    keys, values = before
    return (
        len(namespace) >= len(keys)
        and all(map(_is, keys, namespace))
        and all(map(_is, values, namespace.values()))
    )


_MISSING = object()
_is = __import__("operator").is_
