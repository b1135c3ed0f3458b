"""How every grading kernel of a ``course grade`` run is started: environment, limits, sizes.

A grading kernel gets only the allow-listed part of the grader's environment
(:data:`PASSED_ENV`) plus :data:`KERNEL_ENV`; :class:`KernelSettings` holds what a run
decides once for all its kernels (the course config, the memory limit, the sandbox rules).

Example::

    settings = KernelSettings(config=config, memory_limit=parse_bytes("2G"))
    format_bytes(settings.watchdog_limit)   # '2.5 GiB'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from course.config import QUIET_ENV
from course.isolation.kernels import DEFAULT_PROCESSES
from course.isolation.landlock import Rules

GiB = 2**30
MiB = 2**20

#: The grader's environment variables a grading kernel gets (names, or prefixes ending
#: in ``*``); nothing else is passed on, so tokens such as ``JUPYTERHUB_API_TOKEN`` stay out.
PASSED_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONWARNINGS",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "KERAS_BACKEND",
    "KERAS_HOME",
    "TF_*",
    "CUDA_VISIBLE_DEVICES",
    "XLA_FLAGS",
    "JAX_*",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MPLBACKEND",
    "JUPYTER_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "IPYTHONDIR",
    "LD_LIBRARY_PATH",
    "NBGRADER_*",
)


def passed_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of ``environ`` (default: the grader's) listed in :data:`PASSED_ENV`.

    >>> passed_environment({"PATH": "/bin", "LC_ALL": "C", "JUPYTERHUB_API_TOKEN": "secret"})
    {'PATH': '/bin', 'LC_ALL': 'C'}
    """
    environ = os.environ if environ is None else environ
    names = {n for n in PASSED_ENV if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in PASSED_ENV if n.endswith("*"))
    return {k: v for k, v in environ.items() if k in names or k.startswith(prefixes)}


#: Environment of every grading kernel, on top of the passed part of the grader's.
KERNEL_ENV = {
    **QUIET_ENV,
    # nbgrader sets this while it autogrades; notebooks and helpers may look at it.
    "NBGRADER_EXECUTION": "autograde",
}
#: Scratch folders are named course-grade-<grader pid>-<random>.
SCRATCH_PREFIX = "course-grade-"


@dataclass(frozen=True)
class KernelSettings:
    """How every grading kernel of a run is started.

    ``config`` is the course's nbgrader config (``Execute.*`` traits apply).
    ``memory_limit`` in bytes (None: no limit, no watchdog); it also caps what a box may
    write. ``scratch_root``: where the scratch folders go (default: the system's temporary
    folder). ``isolate``: start every kernel isolated (:mod:`course.isolation`: a box where
    the system allows, else ``sandbox``'s Landlock rules, :func:`course.isolation.landlock.
    course_rules`, None: none); False: as usual (``--no-sandbox``). ``read_only``: paths
    a box shows besides the system and Python (the packages the notebooks import, the
    matplotlib cache). ``processes``: per kernel. ``use_cgroup``: kill a kernel's
    processes through a cgroup of its own where possible (:mod:`course.isolation.contain`).
    """

    config: Config
    memory_limit: int | None = 2 * GiB
    scratch_root: Path | None = None
    shared_env: dict[str, str] = field(default_factory=dict)
    sandbox: Rules | None = None
    use_cgroup: bool = True
    isolate: bool = True
    read_only: tuple[Path, ...] = ()
    processes: int | None = DEFAULT_PROCESSES

    @property
    def watchdog_limit(self) -> int | None:
        """Resident memory of a kernel's process tree at which the watchdog kills it."""
        return None if not self.memory_limit else self.memory_limit * 5 // 4


def format_bytes(n: int | None) -> str:
    """1.5 GiB, 300 MiB.

    >>> format_bytes(3 * 2**29), format_bytes(300 * 2**20)
    ('1.5 GiB', '300 MiB')
    """
    if n is None:
        return "unlimited"
    if n >= GiB:
        return f"{n / GiB:.3g} GiB"
    return f"{n / MiB:.3g} MiB"


def parse_bytes(text: str) -> int | None:
    """``2G``, ``512M``, ``1.5GiB``, ``0``/``none`` (no limit) -> bytes.

    >>> parse_bytes("2G"), parse_bytes("512MiB"), parse_bytes("none")
    (2147483648, 536870912, None)
    """
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    if value in ("", "0", "none", "off", "unlimited"):
        return None
    units = {"k": 2**10, "m": MiB, "g": GiB, "t": 2**40}
    scale = units.get(value[-1], 1)
    number = value[:-1] if value[-1] in units else value
    try:
        result = int(float(number) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 2G or 512M)") from None
    if result <= 0:
        raise ValueError(f"not a size: {text!r}")
    return result
