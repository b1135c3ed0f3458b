"""One rule for import-time settings, for every grader and every warm kernel.

Some environment variables and config files change what importing a module does: Keras
picks its backend (``KERAS_BACKEND``) and reads ``keras.json`` (``KERAS_HOME``) when it is
first imported, matplotlib its backend (``MPLBACKEND``), TensorFlow its threads and logs. A
*warm* kernel (forked from a parent that imported Keras already, or warmed up by ``course
grade``) must therefore give the same grade as a fresh one, whatever the notebook does
before its first ``import keras``.

The rule, in this one place:

* **Which warm kernel** (the forking provisioner's server key, :func:`import_settings`):
  only a parent whose import-time settings equal the new kernel's may fork it.
* **What the notebook does first** (:func:`defer_warm_imports`, run in the kernel before the
  learner's first cell, by both graders' ``Execute``): the warm ``keras`` and ``helpers``
  modules are set aside, and put back *when the notebook first imports one of them*, if the
  settings they read (:data:`READ_AT_IMPORT`) are still the ones they were imported with.
  If the notebook changed one before (``os.environ.update(KERAS_BACKEND="jax")``, a
  ``%env``, a helper function, any spelling), they are imported again, fresh, with the new
  value: exactly what a fresh kernel does. The decision is made at the import, not by
  reading code. ``course grade`` therefore always uses a warm kernel
  (:func:`course.grading.warmup.warm_kernel_fits`).

This file uses the standard library only: its source is sent to the kernel.

Example::

    >>> import_settings({"HOME": "/nowhere", "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"})
    {'KERAS_BACKEND': 'jax', 'TF_CPP_MIN_LOG_LEVEL': '3', 'keras.json': '', 'matplotlibrc': ''}
    >>> affects_imports("KERAS_BACKEND"), affects_imports("HOME")
    (True, False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: Variables that change what importing the warm modules does (exact names and prefixes).
#: (Not ``MPLCONFIGDIR``: ``course grade`` gives each run its own, holding only a font cache;
#: the ``matplotlibrc`` read there is compared by content, :func:`import_settings`.)
IMPORT_VARS = (
    "KERAS_BACKEND",
    "KERAS_HOME",
    "MPLBACKEND",
    "CUDA_VISIBLE_DEVICES",
    "XLA_FLAGS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "VIRTUAL_ENV",
)
IMPORT_PREFIXES = ("PYTHON", "TF_", "JAX_", "KIT_FORK_")
#: The settings a notebook may change before its first import of the warm packages, and
#: those packages (imported again, fresh, when the value differs from the warm one).
READ_AT_IMPORT = ("KERAS_BACKEND", "KERAS_HOME")
DEFERRED_PACKAGES = ("keras", "helpers")


def affects_imports(name: str) -> bool:
    """Whether the environment variable ``name`` changes what the warm imports do."""
    return name in IMPORT_VARS or name.startswith(IMPORT_PREFIXES)


def _config_file(env: Mapping[str, str], folder_var: str, default: str, name: str) -> str:
    """The contents of a config file an import reads (empty if there is none)."""
    folder = env.get(folder_var) or os.path.join(env.get("HOME", "/nonexistent"), default)
    try:
        return Path(folder, name).read_text(errors="replace")
    except OSError:
        return ""


def import_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a kernel's environment that changes what the warm imports do, plus the
    Keras config (``keras.json``) and matplotlib config (``matplotlibrc``) it would read."""
    settings = {name: value for name, value in sorted(env.items()) if affects_imports(name)}
    settings["keras.json"] = _config_file(env, "KERAS_HOME", ".keras", "keras.json")
    settings["matplotlibrc"] = _config_file(
        env, "MPLCONFIGDIR", ".config/matplotlib", "matplotlibrc"
    )
    return settings


def defer_warm_imports(
    packages: tuple[str, ...] = DEFERRED_PACKAGES, read: tuple[str, ...] = READ_AT_IMPORT
) -> dict:
    """In a kernel, before the learner's first cell: set the warm ``packages`` aside until
    the notebook first imports one; then put them back if the settings ``read`` are
    unchanged, or let them be imported fresh. Returns the modules set aside (empty in a
    kernel that had not imported them: nothing to decide)."""
    import importlib.machinery
    import sys

    parked = {
        name: module
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] in packages
    }
    if not parked:
        return {}
    for name in parked:
        del sys.modules[name]
    warm = {name: os.environ.get(name) for name in read}
    state = {"decided": False}

    class _Loaded:
        """A loader for a module that is loaded already (put back as it was)."""

        def __init__(self, module) -> None:
            self.module = module
            self.spec = getattr(module, "__spec__", None)

        def create_module(self, spec):
            return self.module

        def exec_module(self, module) -> None:
            module.__spec__ = self.spec  # the import system set ours: the original goes back

    class WarmModules:
        """A finder first in ``sys.meta_path``: decides at the first import of a package."""

        @staticmethod
        def find_spec(name, path=None, target=None):
            if state["decided"] or name.partition(".")[0] not in packages:
                return None
            state["decided"] = True
            if {key: os.environ.get(key) for key in warm} != warm:
                return None  # imported fresh, with the notebook's settings
            for key, module in parked.items():
                if key != name:  # `name` itself: the import system puts it back
                    sys.modules.setdefault(key, module)
            module = parked.get(name)
            if module is None:
                return None
            spec = getattr(module, "__spec__", None)
            origin = getattr(spec, "origin", None)
            return importlib.machinery.ModuleSpec(name, _Loaded(module), origin=origin)

    sys.meta_path.insert(0, WarmModules)
    return parked
