"""course.isolation: the box a grading kernel runs in keeps its promises.

Each test starts a real process through the launcher (``python -m course.isolation.launch``,
what both graders start their kernels with) or a real grading kernel, and looks from
inside: the file system holds only the allow-list, no socket of the host can be reached,
nothing the box starts outlives it, its memory and processes are capped. Skipped, with the
reason, where the system allows no user namespaces (the Landlock fallback is tested in
test_sandbox.py) or, for the memory cap, where no cgroup can be made (not root).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from jupyter_core.utils import run_sync
from traitlets.config import Config

from course.isolation import box as boxes
from course.isolation import cgroups
from course.isolation.kernels import box_available
from course.isolation.landlock import Rules
from course.isolation.launch import MODULE, Launch, parse_launch

pytestmark = pytest.mark.skipif(
    not box_available(), reason="this system allows no unprivileged user namespaces: no box"
)


def boxed(
    tmp_path: Path,
    script: str,
    *,
    memory: int | None = None,
    processes: int | None = None,
    cgroup: tuple[Path, ...] = (),
    user: str | None = None,
) -> subprocess.CompletedProcess:
    """Run ``script`` in a box whose scratch folder is ``tmp_path / "work"`` (its cwd)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    launch = Launch(
        (sys.executable, "-c", textwrap.dedent(script)),
        boxes.Box(scratch=(work,), size=64 * 2**20),
        Rules(deny_network=True, filesystem=False),
        cgroup,
        memory=memory,
        processes=processes,
    )
    command = launch.command_line()
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(
        command, cwd=work, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_box_holds_only_the_allow_list(tmp_path):
    (tmp_path / "work" / "mine.txt").parent.mkdir()
    (tmp_path / "work" / "mine.txt").write_text("my own file")
    (tmp_path / "secret.txt").write_text("next to the scratch folder")
    result = boxed(
        tmp_path,
        """
        import json, os
        def ls(path):
            try:
                return sorted(os.listdir(path))
            except OSError as error:
                return type(error).__name__
        print(json.dumps({
            "root": ls("/"), "home": ls("/home"), "tmp": ls("/tmp"), "proc": ls("/proc"),
            "dev": ls("/dev"), "etc": ls("/etc"), "run": ls("/run"), "cwd": ls("."),
            "beside": ls(".."), "pid": os.getpid(),
            "passwd": open("/etc/passwd").read().count("\\n"),
        }))
        """,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    shown = boxes.allow_list(boxes.Box(scratch=(tmp_path / "work",)))
    allowed = {p.parts[1] for p in shown}
    box_own = {"tmp", "dev", "proc", "etc", ".scratch"}
    assert set(seen["root"]) <= allowed | box_own | {tmp_path.parts[1]}, seen["root"]
    # No home folder; where the environment itself lives in one (a clone in a user's
    # home), /home holds only the way to it.
    in_homes = sorted({p.parts[2] for p in shown if p.parts[1] == "home"})
    if in_homes:
        assert seen["home"] == in_homes, seen["home"]
    else:
        assert "home" not in seen["root"] and seen["home"] == "FileNotFoundError"
    assert seen["run"] == "FileNotFoundError"
    # /tmp holds only the ways to the scratch folder and to the environment, where they lie
    # below the host's /tmp (a clone in /tmp, as a throwaway CI checkout may be).
    below_tmp = {p.parts[2] for p in [*shown, tmp_path] if p.parts[1] == "tmp"}
    assert set(seen["tmp"]) <= below_tmp, seen["tmp"]
    assert seen["beside"] == ["work"]  # the host folder around the scratch: not there
    assert seen["cwd"] == ["mine.txt"]
    assert seen["pid"] == 1
    numbers = [entry for entry in seen["proc"] if entry.isdigit()]
    assert numbers == ["1"], numbers  # its own processes only
    assert sorted(seen["dev"]) == sorted([*boxes.DEVICES, "fd", "shm", "stdin", "stdout", "stderr"])
    assert set(seen["etc"]) <= {Path(p).name for p in boxes.ETC_PATHS} | {
        "passwd",
        "group",
        "hosts",
    }
    assert seen["passwd"] <= 2  # the box's user (and nobody), none of the host's


def test_what_the_box_writes_stays_in_it(tmp_path):
    result = boxed(
        tmp_path,
        """
        import os
        open("written.txt", "w").write("x")
        open("/tmp/course-box-test", "w").write("x")
        open("/dev/shm/course-box-test", "w").write("x")
        try:
            open("/usr/course-box-test", "w")
        except OSError as error:
            print("usr", error.strerror)
        try:
            open("big", "wb").write(bytes(100 * 2**20))
        except OSError as error:
            print("big", error.strerror)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "usr Read-only file system" in result.stdout
    assert "big No space left on device" in result.stdout  # the box's 64 MiB
    assert not (tmp_path / "work" / "written.txt").exists()
    assert not Path("/tmp/course-box-test").exists()
    assert not Path("/dev/shm/course-box-test").exists()


def test_no_socket_of_the_host_can_be_reached(tmp_path):
    path = tmp_path / "service.sock"  # a service the test runs, on the host
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(path))
    unix.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0course-box-test-{os.getpid()}")
    abstract.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    with unix, abstract, tcp:
        result = boxed(
            tmp_path,
            f"""
            import socket
            def attempt(label, family, address):
                try:
                    socket.socket(family).connect(address)
                    print(label, "connected")
                except OSError as error:
                    print(label, type(error).__name__)
            attempt("unix", socket.AF_UNIX, {str(path)!r})
            attempt("abstract", socket.AF_UNIX, "\\0course-box-test-{os.getpid()}")
            attempt("tcp", socket.AF_INET, ("127.0.0.1", {tcp.getsockname()[1]}))
            """,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == [
        "unix FileNotFoundError",
        "abstract PermissionError",  # Landlock's scope (ABI 6)
        "tcp PermissionError",  # Landlock's network rule (ABI 4)
    ], result.stdout


def test_the_box_ends_with_the_process_that_started_it(tmp_path):
    """A kernel outside a box ends when its parent does (ipykernel watches it); in a box it
    cannot see it (its parent pid is 0), so its keeper does: a grader killed mid-run leaves
    no kernel behind."""
    work = tmp_path / "work"
    work.mkdir()
    launch = Launch(
        (
            sys.executable,
            "-c",
            "import threading\nprint('ready', flush=True)\nthreading.Event().wait()",
        ),
        boxes.Box(scratch=(work,), size=64 * 2**20),
        None,
    )
    # The grader: starts the box, then waits for nothing in particular.
    grader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\nsubprocess.Popen(sys.argv[1:])\nsys.stdin.read()",
            *launch.command_line(),
        ],
        cwd=work,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert grader.stdout.readline() == "ready\n"
        boxed_processes = psutil.Process(grader.pid).children(recursive=True)
        assert len(boxed_processes) == 2  # the keeper and the box's first process
        grader.kill()
        grader.wait()
        _, alive = psutil.wait_procs(boxed_processes, timeout=120)
        assert not alive, alive
    finally:
        grader.kill()
        grader.stdin.close()
        grader.stdout.close()


def test_nothing_the_box_started_survives_it(tmp_path):
    marker = f"course-box-survivor-{os.getpid()}"
    result = boxed(
        tmp_path,
        f"""
        import os, subprocess, sys, time
        loop = "import time\\nwhile True: time.sleep(1)  # {marker}"
        subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", loop])
            os._exit(0)
        os.wait()
        print("started")
        """,
    )
    assert result.returncode == 0 and "started" in result.stdout, result.stderr
    survivors = [
        p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or ())
    ]
    for process in survivors:
        process.kill()
    assert survivors == []


def test_a_fork_bomb_meets_the_process_cap(tmp_path):
    """RLIMIT_NPROC counts per user namespace, but not for root's user id: as root, the cap
    is the pids cgroup (course.isolation.cgroups), as the graders make it."""
    limits = cgroups.Limits.create("course-box-test", None, 20)
    if os.geteuid() == 0 and limits.pids is None:
        pytest.skip("as root the process cap is a pids cgroup, and none can be made here")
    result = boxed(
        tmp_path,
        """
        import os
        children = 0
        try:
            while True:
                pid = os.fork()
                if pid == 0:
                    import time
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as error:
            print(type(error).__name__, children)
        """,
        processes=20,
        cgroup=tuple(p for p in (limits.pids,) if p),
    )
    limits.remove()
    assert result.returncode == 0, result.stderr
    name, children = result.stdout.split()
    assert name == "BlockingIOError" and int(children) < 20


def test_sysv_shared_memory_of_the_host_is_not_there(tmp_path):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    key = 0x5EC0000 + os.getpid() % 0xFFFF
    shmid = libc.shmget(key, 4096, 0o1600)  # IPC_CREAT | 0600
    assert shmid >= 0
    try:
        result = boxed(
            tmp_path,
            f"""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            print(libc.shmget({key}, 0, 0), ctypes.get_errno())
            """,
        )
    finally:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-1", "2"]  # ENOENT: its own IPC namespace


@pytest.mark.skipif(
    cgroups.controller_folder("memory") is None,
    reason="no memory cgroup can be made here (needs root or a delegated cgroup)",
)
def test_a_memfd_beyond_the_limit_ends_the_kernel_with_a_note(tmp_path):
    """Memory that RLIMIT_DATA does not count (an in-memory file) is counted by the cgroup:
    the kernel is ended, and the grader's note says it used too much memory."""
    import nbformat

    from course.grading.kernel import GradingKernel
    from course.grading.run_notebook import execute_in_kernel
    from course.grading.settings import KernelSettings
    from course.grading.warmup import WarmKernelPlan

    settings = KernelSettings(config=Config(), memory_limit=300 * 2**20, scratch_root=tmp_path)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                # Four in-memory files of 200 MiB, each under the file size limit (300 MiB):
                # only the memory cgroup counts them all.
                "import os\nfds = [os.memfd_create(f'hoard{i}') for i in range(4)]\n"
                "for fd in fds:\n    for _ in range(25):\n        os.write(fd, bytes(2**23))\n"
            ),
            nbformat.v4.new_code_cell("print('after')"),
        ]
    )

    async def scenario():
        kernel = await GradingKernel.start(WarmKernelPlan("python3", "lesson"), settings)
        try:
            return await execute_in_kernel(kernel, nb, {"metadata": {"path": str(kernel.cwd)}})
        finally:
            await kernel.shutdown()

    report = run_sync(scenario)()
    assert report.stopped_at == 0
    assert report.stop_reason.startswith("it used more than 300 MiB of memory"), report


def test_a_user_without_root_gets_the_same_box(tmp_path):
    if os.geteuid() != 0:
        user = None  # the suite itself runs without root: the tests above are that case
        pytest.skip("the suite runs without root already: every test above ran as this user")
    user = "nobody"
    probe = subprocess.run(
        ["runuser", "-u", user, "--", sys.executable, "-c", "import course.isolation"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shutil.which("runuser") is None or probe.returncode != 0:
        pytest.skip(
            f"{user} cannot run this Python or the kit ({sys.executable}, e.g. under /root): "
            "nothing to run the box with"
        )
    os.chmod(tmp_path, 0o777)
    result = boxed(tmp_path, "import os; print(os.getuid(), sorted(os.listdir('/')))", user=user)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] != "0"


def test_the_launcher_options_round_trip():
    launch = Launch(
        ("python", "-V"),
        boxes.Box((Path("/k.json"),), (Path("/s"),), 2**20),
        Rules(deny_network=True, bind_ports=(5,), filesystem=False),
        (Path("/sys/fs/cgroup/memory/x"),),
        memory=7,
        processes=9,
    )
    command = launch.command_line("/py")
    assert command[:3] == ["/py", "-m", MODULE]
    assert parse_launch(command[3:]) == launch
