"""What a child forked from the warm parent does to become the kernel it was asked for.

Only two kinds of command can be run in-process (anything else starts the usual way):

* ``PYTHON -m ipykernel_launcher ARGS...`` (every kit kernel spec, nbval's current env);
* ``PYTHON -m course.isolation.launch OPTIONS -- PYTHON -m ipykernel_launcher ARGS...`` (a
  grading kernel, of either grader): the isolation is applied in-process
  (:func:`course.isolation.launch.apply`: the box, its limits), exactly as that module does
  before it execs. With a box, this process stays outside as the box's keeper, and the
  kernel runs in a child of it, the box's first process.

where ``PYTHON`` is the warm parent's own interpreter. :func:`become_kernel` then makes the
forked process look like a freshly started one: a new session, the caller's stdin, stdout
and stderr, working folder, umask and whole environment, ``sys.path[0]`` and ``sys.argv``
as ``python -m`` sets them, new random state, default signal handlers; then it runs
``ipykernel_launcher`` with :mod:`runpy` and exits with the kernel's exit code. A working
folder with a module of its own named like one already imported (a fresh kernel would
import that one instead) makes the child exec the command instead: a usual start.

Example::

    >>> command = kernel_command(["/venv/bin/python", "-m", "ipykernel_launcher", "-f", "k.json"],
    ...                          python="/venv/bin/python")
    >>> command.arguments, command.sandbox is None
    (('-f', 'k.json'), True)
    >>> kernel_command(["/venv/bin/python", "-c", "pass"], python="/venv/bin/python") is None
    True
"""

from __future__ import annotations

import atexit
import contextlib
import os
import runpy
import signal
import sys
import tempfile
import traceback
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from course.isolation.launch import MODULE as SANDBOX_MODULE
from course.isolation.launch import Launch, apply, parse_launch

KERNEL_MODULE = "ipykernel_launcher"


@dataclass(frozen=True)
class KernelCommand:
    """A kernel command that a forked child can run in-process."""

    arguments: tuple[str, ...]  # after ``-m ipykernel_launcher``
    sandbox: Launch | None = None  # the ``course.isolation.launch`` wrapping, if any


def _same_python(path: str, python: str) -> bool:
    return os.path.abspath(path) == os.path.abspath(python)


def kernel_command(argv: Sequence[str], python: str = sys.executable) -> KernelCommand | None:
    """The in-process form of ``argv``, or None when it must be started the usual way."""
    argv = list(argv)
    if len(argv) < 3 or not _same_python(argv[0], python) or argv[1] != "-m":
        return None
    if argv[2] == KERNEL_MODULE:
        return KernelCommand(tuple(argv[3:]))
    if argv[2] != SANDBOX_MODULE:
        return None
    try:
        launch = parse_launch(argv[3:])
    except SystemExit:
        return None
    inner = kernel_command(launch.command, python)
    if inner is None or inner.sandbox is not None:
        return None
    return KernelCommand(inner.arguments, launch)


def shadowed(folder: str) -> str | None:
    """A module this process has imported whose top-level name a fresh kernel in ``folder``
    would import from there instead (a ``helpers.py`` of the learner's own), if any.

    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> shadowed(folder) is None
    True
    >>> open(os.path.join(folder, "json.py"), "w").close()
    >>> shadowed(folder)
    'json'
    """
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        local = [os.path.join(folder, f"{name}.py"), os.path.join(folder, name, "__init__.py")]
        found = next((path for path in local if os.path.exists(path)), None)
        if found is None:
            continue
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if not origin or not os.path.isabs(origin):
            continue  # built-in or frozen: imported before the folder is on sys.path
        if os.path.realpath(origin) != os.path.realpath(found):
            return name
    return None


def _reseed() -> None:
    """New random state: two children must not draw the same numbers. (Python's ``random``
    reseeds itself after a fork; NumPy's global generator does not.)"""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _matplotlib_backend() -> None:
    """matplotlib reads ``MPLBACKEND`` when it is imported, which the warm parent did with
    its own environment; apply the kernel's as a fresh import would."""
    matplotlib = sys.modules.get("matplotlib")
    backend = os.environ.get("MPLBACKEND")
    if matplotlib is not None and backend:
        with contextlib.suppress(Exception):
            matplotlib.rcParams["backend"] = backend


def _backend_at_first_use() -> None:
    """A fresh ``import matplotlib`` reads ``MPLBACKEND``, which a notebook may set first;
    the warm parent imported matplotlib already. So the kernel's matplotlib reads the
    variable when its backend is first asked for (the first plot, ``get_backend()``)
    instead, then behaves as usual."""
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is None:
        return
    rc = matplotlib.rcParams
    usual = type(rc)

    class BackendFromEnvironment(usual):
        def _get(self, key):
            if key == "backend":
                self.__class__ = usual  # once
                if os.environ.get("MPLBACKEND"):
                    with contextlib.suppress(Exception):
                        self["backend"] = os.environ["MPLBACKEND"]
            return usual._get(self, key)

    rc.__class__ = BackendFromEnvironment


#: Variables a notebook may set before its first import of these warm modules; a fresh
#: kernel would then import them with the new value (another Keras backend, or an error).
RELOADED_BY = {"KERAS_BACKEND": ("keras", "helpers"), "KERAS_HOME": ("keras", "helpers")}


def _names(code: types.CodeType) -> set[str]:
    """The names and string constants of ``code`` and the code objects nested in it."""
    found = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, str):
            found.add(constant)
        elif isinstance(constant, types.CodeType):
            found |= _names(constant)
    return found


def _fresh_imports_when_cells_set_them() -> None:
    """Until the kernel's code first mentions a module of :data:`RELOADED_BY`, a cell that
    names one of its variables (``os.environ["KERAS_BACKEND"] = ...``) makes those warm
    modules be imported again, by that cell, with the value it sets: what a fresh kernel
    would import. (An audit hook on ``exec``, which runs each cell's code; it changes no
    built-in the grading checks look at.)"""
    modules = {name for names in RELOADED_BY.values() for name in names}
    state = {"done": not any(name in sys.modules for name in modules)}

    def hook(event: str, args: tuple) -> None:
        if state["done"] or event != "exec" or not isinstance(args[0], types.CodeType):
            return
        names = _names(args[0])
        variables = names & RELOADED_BY.keys()
        if variables:
            reload = {top for variable in variables for top in RELOADED_BY[variable]}
            for name in list(sys.modules):
                if name.partition(".")[0] in reload:
                    del sys.modules[name]
            state["done"] = True
        elif names & modules:
            state["done"] = True

    sys.addaudithook(hook)


def _kernel_app_reads_environment() -> None:
    """ipykernel reads ``JPY_PARENT_PID`` (and, on Windows, ``JPY_INTERRUPT_EVENT``) into
    its application's defaults when ``ipykernel.kernelapp`` is imported, which the warm
    parent did with its own environment. Read them from the kernel's instead, as a fresh
    import would: the kernel then watches its parent and does not print the "Ctrl-C will
    not work" note meant for a kernel started by hand. (Created here, the application is
    the one ``ipykernel_launcher`` uses; its command line and config still win.)"""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None:
        return
    values = {
        "parent_handle": int(os.environ.get("JPY_PARENT_PID") or 0),
        "interrupt": int(os.environ.get("JPY_INTERRUPT_EVENT") or 0),
    }
    kernelapp.IPKernelApp.instance(**{name: value for name, value in values.items() if value})


def become_kernel(
    command: KernelCommand,
    request: dict[str, Any],
    stdio: Sequence[int],
    close: Sequence[int] = (),
) -> None:
    """Turn this freshly forked process into the kernel; never returns.

    ``request`` gives ``argv`` (for ``sys.argv[0]``), ``env``, ``cwd`` and ``umask``;
    ``stdio`` the three descriptors for fd 0, 1 and 2; ``close`` the parent's descriptors
    (its socket, the other kernels' connections)."""
    code: Any = 1
    try:
        os.setsid()
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        for fd in set(stdio) - {0, 1, 2}:
            os.close(fd)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.umask(int(request["umask"]))
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # the parent's cached folder: read TMPDIR again, as a new kernel
        os.chdir(request["cwd"])
        if not sys.flags.safe_path and sys.path:
            sys.path[0] = os.getcwd()  # what ``python -m`` puts first
        if shadowed(os.getcwd()):  # a fresh kernel would import another module: be one
            os.execv(request["argv"][0], request["argv"])
        _reseed()
        if "matplotlib" in sys.modules:  # what ipykernel sets before a fresh import
            os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        _matplotlib_backend()
        _backend_at_first_use()
        _fresh_imports_when_cells_set_them()
        _kernel_app_reads_environment()
        if command.sandbox is not None:
            try:
                apply(command.sandbox)
            except OSError as error:
                print(f"{SANDBOX_MODULE}: {error}", file=sys.stderr, flush=True)
                code = 126
                return
        sys.argv = [request["argv"][0], *command.arguments]
        code = 0
        runpy.run_module(KERNEL_MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
    except BaseException:  # noqa: BLE001 - the forked kernel must end in _exit, never return
        traceback.print_exc()
        code = 1
    finally:
        _exit(code)


def _stop_control_thread(timeout: float = 10.0) -> None:
    """Stop ipykernel's control thread, and wait for it, before the atexit handlers run.

    After answering ``shutdown_request``, the control thread flushes the kernel's output
    through the IOPub thread. The atexit handler ``IPKernelApp.close`` stops the IOPub thread
    first and joins the control thread after it: a flush that comes too late then waits for
    the IOPub thread, the handler for the flush, until the kernel's manager terminates the
    kernel (2.5 s later with jupyter_client's default ``shutdown_wait_time``). A forked kernel
    reaches its atexit handlers fast enough to lose this race about one time in four; with
    the control thread stopped first, it never does. (``timeout`` is ipykernel's own
    ``OutStream.flush_timeout``.)"""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return
    thread = getattr(kernelapp.IPKernelApp.instance(), "control_thread", None)
    if thread is not None and thread.is_alive():
        thread.stop()
        thread.join(timeout)


def _exit(code: Any) -> None:
    """End the process as the interpreter would at exit (atexit handlers, flushed output),
    ipykernel's control thread stopped first (:func:`_stop_control_thread`)."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        print(code, file=sys.stderr)
        status = 1
    with contextlib.suppress(BaseException):
        _stop_control_thread()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(status)
