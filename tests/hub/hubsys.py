"""Accounts, processes and a shared environment for the hub suite (root only).

Every account is made with ``useradd`` under a random name and removed with ``userdel``
after every process running as it was killed (by uid), whatever the test did.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from hubapi import Client

REPO = Path(__file__).resolve().parents[2]
COURSE_ID = "keras-layer-reuse"
LESSON = "00_layers_calls_variables"
SERVICE_PREFIX = f"/services/{COURSE_ID}"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    home: Path


def make_account(prefix: str, homes: Path) -> Account:
    """A new local account ``<prefix><6 hex>`` with a home folder under ``homes``."""
    name = f"{prefix}{secrets.token_hex(3)}"
    home = homes / name
    subprocess.run(
        [
            "useradd",
            "--create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/bin/bash",
            "--user-group",
            name,
        ],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, home)


def processes_of(uid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["uids"]):
        uids = process.info["uids"]
        if uids is not None and uid in (uids.real, uids.effective):
            found.append(process)
    return found


def settle(uid: int, timeout: float = 10.0) -> None:
    """Give the processes of ``uid`` up to ``timeout`` seconds to end by themselves (a
    learner's warm kernel parent ends once the server that started it has ended)."""
    psutil.wait_procs(processes_of(uid), timeout=timeout)


def kill_uid(uid: int, timeout: float = 10.0) -> list[int]:
    """Kill every process of ``uid`` (SIGKILL, repeated until none is left); their pids."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while (left := processes_of(uid)) and time.monotonic() < deadline:
        for process in left:
            try:
                process.kill()
                killed.append(process.pid)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=2)
    return killed


def remove_account(account: Account) -> None:
    kill_uid(account.uid)
    subprocess.run(["userdel", "--remove", "--force", account.name], capture_output=True)
    shutil.rmtree(account.home, ignore_errors=True)


def stop_process_group(process: subprocess.Popen, timeout: float = 60.0) -> bool:
    """SIGTERM the process group that ``process`` leads (the hub and its proxy), then SIGKILL.

    True when the hub exited by itself after SIGTERM (then it stopped its servers).
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return False  # it had already exited
    try:
        process.wait(timeout)
        graceful = True
    except subprocess.TimeoutExpired:
        graceful = False
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    return graceful


def _everyone_can_run(path: Path) -> bool:
    path = path.resolve()
    return (
        all(p.stat().st_mode & 0o001 for p in [path, *path.parents])
        and path.stat().st_mode & 0o005 == 0o005
    )


def public_interpreter(dest: Path) -> tuple[Path, dict[str, str]]:
    """This environment's Python build, runnable by every account, and the variables it needs.

    The kit's ``.venv`` is often made from a pyenv build under ``/root`` that other
    accounts cannot even start (``Permission denied``). Then the build is copied (hard
    links) to ``dest``, with ``LD_LIBRARY_PATH`` pointing at its ``libpython``: its
    RUNPATH still names the private folder. The same build, not just the same minor
    version: packages pinned for one patch release can fail on another (soupsieve 4.1.2,
    which nbgrader's feedback needs, fails on Debian 12's Python 3.11.2).
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix)
    if _everyone_can_run(base / "bin" / version):
        return base / "bin" / version, {}
    _link_tree(base, dest)
    dest.chmod(0o755)
    return dest / "bin" / version, {"LD_LIBRARY_PATH": str(dest / "lib")}


CONSOLE_SCRIPTS = (
    "jupyterhub-singleuser",
    "jupyter",
    "jupyter-server",
    "jupyter-lab",
    "nbgrader",
    "alembic",
    "course",
)


def shared_environment(dest: Path, python: Path, variables: dict[str, str]) -> Path:
    """A copy of this environment at ``dest`` that every account can run, without a second install.

    A new venv on ``python`` gets this environment's packages as hard links (same
    filesystem; copied otherwise), its Jupyter config as a copy (setup commands rewrite
    those files), this checkout's ``helpers`` and ``course`` as plain packages (the
    editable install points into the checkout; its metadata, with the entry points, stays),
    and the console scripts the hub runs.
    ``make hub-env`` is the real install this stands in for.
    """
    subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(dest)],
        check=True,
        env={**os.environ, **variables},
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    source_site = Path(sysconfig.get_paths()["purelib"])
    site = dest / "lib" / version / "site-packages"
    shutil.rmtree(site)
    _link_tree(source_site, site)
    for leftover in site.glob("__editable__*keras_layer_reuse_kit*"):
        leftover.unlink()
    # The kit's dist-info stays: its entry points name the kernel provisioner that the
    # environment's python3 kernel spec selects (docs/fast-kernels.md).
    for package in ("helpers", "course"):
        shutil.copytree(
            REPO / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    if (Path(sys.prefix) / "share").is_dir():
        _link_tree(Path(sys.prefix) / "share", dest / "share")
    if (Path(sys.prefix) / "etc").is_dir():
        shutil.copytree(Path(sys.prefix) / "etc", dest / "etc", dirs_exist_ok=True)
    entry_points = {
        ep.name: ep.value
        for dist in __import__("importlib.metadata").metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "console_scripts"
    }
    entry_points["course"] = "course.cli:main"
    for name in CONSOLE_SCRIPTS:
        module, _, func = entry_points[name].partition(":")
        script = dest / "bin" / name
        script.write_text(
            f"#!{dest}/bin/python\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        )
        script.chmod(0o755)
    dest.chmod(0o755)
    return dest


def _link_tree(source: Path, dest: Path) -> None:
    try:
        subprocess.run(["cp", "-al", f"{source}/.", str(dest)], check=True, capture_output=True)
    except subprocess.CalledProcessError:  # another filesystem: copy
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)


def session_members(sid: int) -> list[int]:
    """Pids of the processes in session ``sid`` (the hub runs in a session of its own)."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                members.append(pid)
        except OSError:
            pass
    return members


class MemorySampler:
    """Samples, in a thread, the resident memory of every process of some uids and a session.

    ``peak_total_mib`` is the largest sum seen (the whole hub: proxy, hub, servers, kernels,
    grading); ``peak_mib[uid]`` the largest per account.
    """

    def __init__(self, uids: list[int], sid: int, interval: float = 0.5) -> None:
        import threading

        self.uids, self.sid, self.interval = set(uids), sid, interval
        self.peak_total_mib = 0.0
        self.peak_mib = {uid: 0.0 for uid in uids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total, per_uid = 0, {uid: 0 for uid in self.uids}
        for process in psutil.process_iter(["uids", "memory_info"]):
            try:
                uid = process.info["uids"].real
                if uid in self.uids or os.getsid(process.pid) == self.sid:
                    rss = process.info["memory_info"].rss
                    total += rss
                    if uid in per_uid:
                        per_uid[uid] += rss
            except (OSError, AttributeError, psutil.Error):
                pass
        self.peak_total_mib = max(self.peak_total_mib, total / 2**20)
        for uid, rss in per_uid.items():
            self.peak_mib[uid] = max(self.peak_mib[uid], rss / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class SharedEnv:
    prefix: Path
    variables: dict[str, str]  # what its interpreter needs (LD_LIBRARY_PATH), plus quiet TensorFlow

    def environ(self) -> dict[str, str]:
        return {"PATH": f"{self.prefix}/bin:/usr/bin:/bin", **self.variables}


@dataclass
class Hub:
    base: str
    admin: Client
    shared: SharedEnv
    exchange: Path
    grader: Account
    learners: list[Account]
    log: Path
    process: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, name: str) -> Client:
        return Client(self.base, self.tokens[name])

    @property
    def env(self) -> Path:
        return self.shared.prefix

    @property
    def course_dir(self) -> Path:
        return self.grader.home / COURSE_ID

    def as_grader(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a command as the grader account in its course folder, with the shared environment."""
        return subprocess.run(
            [
                "runuser",
                "-u",
                self.grader.name,
                "--",
                "env",
                f"HOME={self.grader.home}",
                *[f"{k}={v}" for k, v in self.shared.environ().items()],
                *command,
            ],
            cwd=self.course_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
