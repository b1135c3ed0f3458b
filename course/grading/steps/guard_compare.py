"""The run-time guard's comparisons, as they run INSIDE a grading kernel.

:class:`Comparisons` compares the fingerprints :class:`.guard_snapshot.Snapshot` took
with what the kernel holds now, by identity only. Its source is the first of the guard's
three sent to the kernel, into one namespace (:mod:`.runtime_guard`); like the others it is
plain standard library and imports nothing of the kit.

Example (in a kernel, after the three sources ran in ``ns``)::

    ns["Snapshot"](sys.modules, ...).compare()   # [] when nothing changed
"""

from __future__ import annotations

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


class Comparisons:
    """What changed since the fingerprints were taken: :class:`.guard_snapshot.Snapshot`
    takes them (its attributes are the references these methods compare)."""

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
        _compare_methods(before, now, found)
        _compare_events(before, now, found)
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


def _compare_methods(before: dict, now: dict, found: list[str]) -> None:
    """The shell's and the kernel's methods a notebook could replace on the instance."""
    for label, names, key in (
        ("shell", SHELL_METHODS, "shell_dict"),
        ("kernel", KERNEL_METHODS, "kernel_dict"),
    ):
        for name in names:
            if now[key].get(name) is not before[key].get(name):
                found.append(f"the IPython {label}'s `{name}` was replaced")


def _compare_events(before: dict, now: dict, found: list[str]) -> None:
    """IPython event callbacks added since install that are not the kernel's own."""
    for event, callbacks in now["events"].items():
        old = before["events"].get(event, [])
        new = [c for c in callbacks if not any(c is o for o in old)]
        if not all(_own_callback(c) for c in new):
            found.append(f"a `{event}` hook runs at every cell")


def _own_callback(callback) -> bool:
    """Whether an IPython event callback's code lives in the kernel's own packages."""
    import os

    function = getattr(callback, "__func__", callback)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    parts = code.co_filename.split(os.sep)
    return any(package in parts for package in OWN_CALLBACK_PACKAGES) and "site-packages" in parts


def namespace_prefix(namespace: dict) -> tuple:
    """The keys and values of ``namespace`` as they are now (compared by identity later)."""
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
