"""Kernels forked from a warm parent (course.forking): really forked, isolated from each
other, restartable, protected from sandboxed kernels, and started the usual way when the
parent cannot be used. The kernels start through the environment's ``python3`` kernel spec,
as JupyterLab, nbgrader and nbval start theirs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import nbformat
import psutil
import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import (
    AsyncKernelManager,
    KernelManager,
    _ShutdownStatus,
    start_new_kernel,
)
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from course.forking import client, protocol
from course.forking import provisioner as provisioning
from course.forking.kernelspec import spec_file, uses_provisioner
from course.grading.kernel import IsolatedKernelManager
from course.isolation.kernels import MODE_VAR, KernelRoom, box_available
from course.isolation.landlock import Rules, landlock_abi

pytestmark = pytest.mark.skipif(
    not uses_provisioner(spec_file()),
    reason="this environment's python3 kernel spec does not use the forking provisioner "
    "(run `course setup-lab`)",
)


@pytest.fixture(autouse=True)
def forking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about forked kernels, also in a run with them off (``course bench
    --suite`` times the suite with ``KIT_FORK_KERNELS=0`` too)."""
    monkeypatch.setenv(protocol.ENABLE_VAR, "1")


def run(kc, code: str) -> str:
    """Execute ``code`` in the kernel; its printed output (errors raise AssertionError)."""
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.fixture
def kernels() -> Iterator[list]:
    """Start kernels with ``kernels.append(start_new_kernel(...))``; all are shut down."""
    started: list = []
    yield started
    for km, kc in started:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def start(kernels: list, **kwargs) -> tuple[KernelManager, object]:
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=180, **kwargs)
    kernels.append((km, kc))
    return km, kc


def fork_folder(km: KernelManager) -> Path:
    """The folder of the server that forked ``km``'s kernel."""
    (folder,) = [f for f in protocol.base_folder().iterdir() if client.server_pid(f) == _parent(km)]
    return folder


def _parent(km: KernelManager) -> int:
    with open(f"/proc/{km.provisioner.pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


LOOK = (
    "import sys, os, json; print(json.dumps([sys.path, os.getcwd(), sys.argv[0], "
    "os.environ.get('JPY_PARENT_PID'), os.environ.get('KIT_TEST_VAR'), oct(os.umask(0o22))]))"
)


def test_kernels_are_forked_by_the_warm_parent(
    kernels: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "KIT_TEST_VAR": "only in this kernel"}
    km, kc = start(kernels, cwd=str(tmp_path), env=env)
    assert isinstance(km.provisioner, provisioning.ForkingProvisioner)
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    pid, parent = json.loads(
        run(kc, "import os, json; print(json.dumps([os.getpid(), os.getppid()]))")
    )
    assert pid == km.provisioner.pid
    server = client.server_pid(fork_folder(km))
    assert parent == server != os.getpid()
    # What the kernel sees is what a kernel started the usual way sees.
    forked = json.loads(run(kc, LOOK))
    monkeypatch.setenv(protocol.ENABLE_VAR, "0")
    km_usual, kc_usual = start(kernels, cwd=str(tmp_path), env=env)
    assert km_usual.provisioner.forked is None
    usual = json.loads(run(kc_usual, LOOK))
    assert forked == usual
    assert forked[1] == str(tmp_path) and forked[4] == "only in this kernel"
    # The parent's imports are frozen out of the collector's sight: a kernel's gc.collect()
    # (every keras.backend.clear_session()) walks only what the kernel made.
    frozen = "import gc; print(gc.get_freeze_count())"
    assert int(run(kc, frozen)) > 100_000
    assert int(run(kc_usual, frozen)) == 0


def test_a_relative_working_folder_is_the_callers(
    kernels: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``jupyter nbconvert --execute lesson/nb.ipynb`` asks for the folder ``lesson``,
    relative to where it runs: the kernel starts there, not in the warm parent's folder."""
    (tmp_path / "lesson").mkdir()
    monkeypatch.chdir(tmp_path)
    km, kc = start(kernels, cwd="lesson")
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    assert run(kc, "import os; print(os.getcwd())").strip() == str(tmp_path / "lesson")


def test_a_kernel_changes_nothing_for_the_next(kernels: list) -> None:
    """Notebook A changes module globals and monkeypatches Keras; notebook B, forked from
    the same parent after A, sees none of it, and draws other random numbers."""
    km_a, kc_a = start(kernels)
    draws_a = run(kc_a, "import numpy as np, random; print(np.random.rand(), random.random())")
    run(
        kc_a,
        "import helpers, keras, numpy as np\n"
        "helpers.some_attr = 1\n"
        "keras.layers.Dense = None\n"
        "np.random.seed(0)\n"
        "import sklearn.datasets; sklearn.datasets.load_digits = None",
    )
    km_b, kc_b = start(kernels)
    assert _parent(km_a) == _parent(km_b)
    seen = run(
        kc_b,
        "import helpers, keras, sklearn.datasets, numpy as np, random\n"
        "print(hasattr(helpers, 'some_attr'), keras.layers.Dense is None,\n"
        "      sklearn.datasets.load_digits is None)\n"
        "print(np.random.rand(), random.random())",
    )
    flags, draws_b = seen.splitlines()
    assert flags == "False False False"
    assert draws_b != draws_a
    assert draws_b.split()[0] != str(__import__("numpy").random.RandomState(0).rand())


def test_output_goes_where_the_caller_asked(kernels: list, tmp_path: Path) -> None:
    log = tmp_path / "kernel-output.txt"
    with open(log, "wb") as out:
        km, kc = start(kernels, stdout=out, stderr=out)
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    run(kc, "import os; os.write(2, b'straight to fd 2\\n'); os.write(1, b'and fd 1\\n')")
    text = log.read_text()
    assert "straight to fd 2" in text and "and fd 1" in text
    # ipykernel read its parent from the kernel's environment, as a fresh import does: it
    # watches its parent and prints no note meant for a kernel started by hand.
    parent, poller = run(
        kc,
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance(); print(app.parent_handle, type(app.poller).__name__)",
    ).split()
    assert (int(parent), poller) == (os.getpid(), "ParentPollerUnix")
    assert "Ctrl-C will not work" not in text and "--existing" not in text


def _debug_request(kc, seq: int, command: str, **arguments) -> dict:
    content = {"type": "request", "seq": seq, "command": command, "arguments": arguments}
    kc.control_channel.send(kc.session.msg("debug_request", content))
    return kc.control_channel.get_msg(timeout=60)["content"]


def test_jupyterlab_s_debugger_attaches_to_a_forked_kernel(kernels: list) -> None:
    """The warm parent imported debugpy (ipykernel's debugger); the kernel still starts it
    and attaches, as JupyterLab's debugger panel asks."""
    km, kc = start(kernels)
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    hello = {"clientID": "test", "adapterID": "", "pathFormat": "path", "linesStartAt1": True}
    assert _debug_request(kc, 1, "initialize", **hello)["success"]
    assert _debug_request(kc, 2, "attach")["success"]


def test_restart_and_kill_are_fast_and_report_the_exit(kernels: list) -> None:
    km, kc = start(kernels)
    first = km.provisioner.pid
    run(kc, "x = 1")
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=60)
    assert km.provisioner.forked is not None and km.provisioner.pid != first
    assert run(kc, "print('x' in dir())").strip() == "False"
    os.kill(km.provisioner.pid, signal.SIGKILL)
    # The server, its real parent, reports how it ended; the manager sees it as usual.
    assert run_sync(km.provisioner.wait)() == -signal.SIGKILL
    assert not km.is_alive()


class _RecordingManager(AsyncKernelManager):
    """nbclient's kernel manager, noting how each shutdown went."""

    shutdowns: ClassVar[list[tuple[bool, _ShutdownStatus]]] = []

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        forked = self.provisioner is not None and self.provisioner.forked is not None
        await super().shutdown_kernel(now=now, restart=restart)
        self.shutdowns.append((forked, self._shutdown_status))


def test_asked_to_shut_down_a_kernel_ends_by_itself() -> None:
    """nbclient (so nbgrader and nbval) shuts its kernel down gracefully: the forked kernel
    exits on its own, as a usual one does. Its manager does not have to terminate it, which
    it does after waiting half of ``shutdown_wait_time`` (2.5 s). (ipykernel's control thread
    and its atexit handler used to wait for each other in one such shutdown of four.)"""
    _RecordingManager.shutdowns.clear()
    for _ in range(12):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('bye')")])
        NotebookClient(
            notebook, kernel_name="python3", kernel_manager_class=_RecordingManager
        ).execute()
        assert notebook.cells[0].outputs[0]["text"] == "bye\n"
    assert _RecordingManager.shutdowns == [(True, _ShutdownStatus.ShutdownRequest)] * 12


def test_forking_can_be_switched_off(
    kernels: list, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(protocol.ENABLE_VAR, "0")
    km, kc = start(kernels)
    assert km.provisioner.forked is None
    assert km.provisioner.process is not None  # a child of this process, as usual
    assert run(kc, "import os; print(os.getppid())").strip() == str(os.getpid())
    assert "usual way" not in caplog.text


@pytest.fixture
def own_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fork-server folder of this test's own (its servers are stopped afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="kit-fork-test-"))
    monkeypatch.setenv(protocol.DIR_VAR, str(folder))
    monkeypatch.setattr(provisioning, "_warned", False)
    yield folder
    for server in folder.iterdir():
        client.stop_server(server)


def test_a_dead_parent_means_the_usual_start_once_said(
    kernels: list, own_servers: Path, caplog: pytest.LogCaptureFixture
) -> None:
    km, kc = start(kernels)
    folder = fork_folder(km)
    server = client.server_pid(folder)
    os.kill(server, signal.SIGKILL)
    client._started[folder].wait(10)  # this process started it: gone when reaped
    caplog.set_level(logging.WARNING, "course.forking")
    km2, kc2 = start(kernels)
    assert km2.provisioner.forked is None
    assert "died" in km2.provisioner.fallback_reason
    assert run(kc2, "print(6 * 7)").strip() == "42"
    # The next kernel gets a new parent; the warning is not repeated.
    km3, kc3 = start(kernels)
    assert km3.provisioner.forked is not None
    assert client.server_pid(folder) not in (None, server)
    warnings = [r for r in caplog.records if "usual way" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


def test_a_server_without_kernels_ends_with_the_process_that_started_it(
    own_servers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A learner's warm parent goes with their Jupyter server (here: a process that starts
    a server and ends at once), instead of holding its memory for the idle timeout."""
    monkeypatch.delenv(protocol.OWNER_VAR, raising=False)
    folder = protocol.private_folder(own_servers / "owned")
    starter = (
        "import sys\nfrom pathlib import Path\nfrom course.forking import client\n"
        "client.start_server(Path(sys.argv[1]), sys.executable, {})\n"
        "print(client._started[Path(sys.argv[1])].pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter, str(folder)], capture_output=True, text=True, check=True
    )
    server = psutil.Process(int(done.stdout))
    server.wait(timeout=120)  # not our child: psutil waits for it to be gone
    log = (folder / "server.log").read_text()
    assert "the process that started this server ended" in log, log
    assert not (folder / "socket").exists()


@pytest.mark.parametrize("mode", ["box", "landlock"])
def test_an_isolated_kernel_cannot_ask_for_an_unisolated_one(
    kernels: list, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A boxed kernel cannot reach the servers' folder at all: neither the token nor the
    socket exists in its box. Under the Landlock fallback the folder is hidden: the token
    cannot be read, and a request without it is refused, though the socket can be reached."""
    if mode == "box" and not box_available():
        pytest.skip("this system allows no user namespaces: no box")
    if mode == "landlock":
        if landlock_abi() < 1:
            pytest.skip("Landlock is not available here")
        monkeypatch.setenv(MODE_VAR, "landlock")
    km = IsolatedKernelManager(kernel_name="python3")  # what course grade starts
    rules = Rules(hide=(protocol.base_folder(),), writable=(tmp_path,))
    km.room = KernelRoom(scratch=(tmp_path,), fallback=rules)
    run_sync(km.start_kernel)(cwd=str(tmp_path))
    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    kc.wait_for_ready(timeout=180)
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    folder = fork_folder(km)
    code = f"""
import socket, os, json, struct
folder = {str(folder)!r}
try:
    open(os.path.join(folder, "token")).read()
    print("token read")
except OSError as error:
    print("token unreadable", type(error).__name__)
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(os.path.join(folder, "socket"))
except OSError as error:
    print(json.dumps({{"socket": type(error).__name__}}))
else:
    request = json.dumps({{"token": "guess", "argv": ["python", "-m", "ipykernel_launcher"],
                          "env": {{}}, "cwd": "/", "umask": 0}}).encode()
    socket.send_fds(sock, [struct.pack(">I", len(request)) + request], [0, 1, 2])
    answer = sock.recv(65536)
    print(answer[4:].decode())
"""
    try:
        lines = run(kc, code).splitlines()
    finally:
        kc.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)
    if mode == "box":
        assert lines == ["token unreadable FileNotFoundError", '{"socket": "FileNotFoundError"}']
    else:
        assert lines[0] == "token unreadable PermissionError"
        assert json.loads(lines[1]) == {"error": "refused: wrong token"}


async def _execute(kc, code: str) -> str:
    msg_id = kc.execute(code)
    out: list[str] = []
    while True:
        msg = await kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(msg["content"]["ename"] + "\n")
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def test_course_grade_kernels_are_forked_sandboxed_and_limited(tmp_path: Path) -> None:
    """A grading kernel as ``course grade`` starts it (boxed, else sandboxed where Landlock
    exists; contained; 400 MiB memory limit) is forked, and its limits hold."""
    from traitlets.config import Config

    from course.config import find_root
    from course.grading.kernel import GradingKernel
    from course.grading.settings import KernelSettings
    from course.grading.warmup import WarmKernelPlan
    from course.isolation.landlock import course_rules

    root = find_root(Path(__file__).parent)
    sandbox = course_rules(root, ["helpers"]) if landlock_abi() >= 1 else None
    settings = KernelSettings(
        config=Config(), memory_limit=400 * 2**20, scratch_root=tmp_path, sandbox=sandbox
    )

    async def scenario() -> tuple[object, int, str]:
        kernel = await GradingKernel.start(
            WarmKernelPlan("python3", "lesson", preload=("numpy",)), settings
        )
        try:
            forked = kernel.client.km.provisioner.forked
            code = (
                "import os\n"
                "print(os.getpid())\n"
                f"try:\n    open({str(root / 'nbgrader_config.py')!r}).read(); print('read')\n"
                "except OSError as error: print(type(error).__name__)\n"
                "block = bytearray(600 * 2**20)\n"
            )
            return forked, kernel.pid, await _execute(kernel.client.kc, code)
        finally:
            await kernel.shutdown()

    forked, pid, out = run_sync(scenario)()
    assert forked is not None and forked.pid == pid
    inside, readable, allocation = out.splitlines()
    # The kernel's (outer) process is the warm parent's child; in a box, the kernel itself is
    # the first process of its own PID namespace, a child of that one.
    if box_available():
        assert int(inside) == 1
        assert readable == "FileNotFoundError"
    else:
        assert int(inside) == pid
        assert readable == ("PermissionError" if sandbox else "read")
    assert allocation == "MemoryError"


def test_no_request_stops_the_server_or_touches_its_kernels(kernels: list) -> None:
    """Requests that are too deep, too big, malformed or that trickle in byte by byte are
    refused one by one, while the server keeps serving: the kernel it forked before lives
    on, and the next kernel is forked by the same server."""
    import socket
    import struct

    km, kc = start(kernels)
    assert km.provisioner.forked is not None, km.provisioner.fallback_reason
    folder = fork_folder(km)
    server = client.server_pid(folder)
    token = (folder / "token").read_text().strip()

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(folder / "socket"))
        return sock

    def message(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    # A slow trickle: half a header now, the rest never. The server reads it as it comes.
    trickle = connect()
    trickle.sendall(b"\0\0")
    deep, big, wrong, broken = connect(), connect(), connect(), connect()
    deep.sendall(message(b'{"token": ' + b"[" * 100000 + b"]" * 100000 + b"}"))
    big.sendall(struct.pack(">I", 2**30))
    wrong.sendall(message(json.dumps({"token": token, "argv": "python", "env": []}).encode()))
    broken.sendall(message(b'{"token": "\xff'))
    answers = []
    for sock in (deep, big, wrong, broken):
        with sock:
            data = sock.recv(65536)
            answers.append(json.loads(data[4:]) if data else None)
    # Refused without an answer (closed) or with one saying why; nothing was forked.
    assert answers[:2] == [None, None]
    assert answers[2] == {"error": "refused: argv must be a list of strings"}
    assert answers[3] is None
    # Meanwhile, the trickle still open, the first kernel works and a new one is forked.
    assert run(kc, "print(6 * 7)").strip() == "42"
    km2, kc2 = start(kernels)
    assert km2.provisioner.forked is not None, km2.provisioner.fallback_reason
    assert fork_folder(km2) == folder and client.server_pid(folder) == server
    trickle.close()
    assert run(kc, "print(6 * 7)").strip() == "42"
