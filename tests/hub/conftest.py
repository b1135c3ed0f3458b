"""A real JupyterHub for the hub suite: accounts, a shared environment, the hub itself.

Runs only as root with ``useradd`` (the hub starts each user's server as that user);
elsewhere every test here is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import hubsys as system
import pytest
from hubapi import Client, wait_until
from hubsys import COURSE_ID, LESSON, Hub, SharedEnv

from course.config import QUIET_ENV, with_bin_first


def _why_not() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the hub suite runs as root (the hub starts each user's server as that user)"
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"the hub suite needs {tool} to make and remove test accounts"
    try:
        import configurable_http_proxy  # noqa: F401
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub or configurable-http-proxy is not installed (make venv installs them)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _why_not()
    for item in items:
        if "tests/hub/" in item.nodeid:
            item.add_marker(pytest.mark.hub)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def workdir() -> Path:
    # Next to nothing private: every account must reach the shared environment inside it.
    folder = Path(tempfile.mkdtemp(prefix="kit-hub-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def accounts(workdir: Path, request: pytest.FixtureRequest) -> dict[str, list[system.Account]]:
    homes = workdir / "home"
    homes.mkdir(mode=0o755)
    made: list[system.Account] = []
    request.addfinalizer(lambda: [system.remove_account(a) for a in made])
    made.append(system.make_account("kitgr", homes))
    for _ in range(3):
        made.append(system.make_account("kitln", homes))
    return {"grader": made[:1], "learners": made[1:]}


@pytest.fixture(scope="session")
def shared_env(workdir: Path) -> SharedEnv:
    python, variables = system.public_interpreter(workdir / "python")
    prefix = system.shared_environment(workdir / "env", python, variables)
    env = SharedEnv(prefix, {**variables, **QUIET_ENV})
    result = subprocess.run(
        [str(prefix / "bin" / "course"), "setup-hub", "--exchange", str(workdir / "exchange")],
        capture_output=True,
        text=True,
        env={**os.environ, **env.environ()},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def _hub_config(
    path: Path,
    *,
    port: int,
    hub_port: int,
    api_port: int,
    service_port: int,
    env: Path,
    grader: system.Account,
    learners: list[system.Account],
    admin_token: str,
    workdir: Path,
    env_vars: dict[str, str],
) -> None:
    names = [a.name for a in learners] + [grader.name]
    path.write_text(f"""
# The hub of docs/jupyterhub.md, on free localhost ports, with test accounts.
from course.hub import wait_for_managed_services

wait_for_managed_services(timeout=300)

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
# Validate runs the whole lesson before it answers: longer than the proxy's 20 s default.
c.ConfigurableHTTPProxy.command = [{str(Path(sys.executable).parent / "configurable-http-proxy")!r},
                                   "--timeout=600000", "--proxy-timeout=600000"]
c.ConfigurableHTTPProxy.pid_file = {str(workdir / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{workdir / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(workdir / "cookie_secret")!r}

c.Authenticator.allowed_users = {set(names)!r}
c.Spawner.cmd = [{str(env / "bin" / "jupyterhub-singleuser")!r}]
c.Spawner.environment = {env_vars!r}
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
c.Spawner.default_url = "/lab"

c.JupyterHub.services = [
    {{
        "name": {COURSE_ID!r},
        "url": "http://127.0.0.1:{service_port}",
        "command": [{str(env / "bin" / "jupyterhub-singleuser")!r}],
        "user": {grader.name!r},
        "cwd": {str(grader.home)!r},
        "environment": {env_vars!r},
        "oauth_no_confirm": True,
    }},
    {{"name": "kit-test-admin", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_groups = {{"formgrade-{COURSE_ID}": {{"users": [{grader.name!r}]}}}}
c.JupyterHub.load_roles = [
    {{"name": "formgrade-{COURSE_ID}", "groups": ["formgrade-{COURSE_ID}"],
      "scopes": ["access:services!service={COURSE_ID}"]}},
    {{"name": "kit-test-admin", "services": ["kit-test-admin"],
      "scopes": ["admin:users", "tokens", "admin:servers", "list:users"]}},
]
""")


@pytest.fixture(scope="session")
def hub(
    workdir: Path,
    accounts: dict[str, list[system.Account]],
    shared_env: SharedEnv,
    request: pytest.FixtureRequest,
) -> Hub:
    grader, learners = accounts["grader"][0], accounts["learners"]
    exchange = workdir / "exchange"
    course = grader.home / COURSE_ID
    (course / "solutions").mkdir(parents=True)
    shutil.copy(system.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(
        system.REPO / "solutions" / LESSON,
        course / "solutions" / LESSON,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    subprocess.run(["chown", "-R", f"{grader.name}:{grader.name}", str(grader.home)], check=True)
    setup = subprocess.run(
        [
            "runuser",
            "-u",
            grader.name,
            "--",
            "env",
            f"HOME={grader.home}",
            *[f"{k}={v}" for k, v in shared_env.environ().items()],
            f"{shared_env.prefix}/bin/course",
            "setup-lab",
            "--role",
            "grader",
            "--course-dir",
            str(course),
        ],
        capture_output=True,
        text=True,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr

    admin_token = secrets.token_hex(32)
    config = workdir / "jupyterhub_config.py"
    port = free_port()
    _hub_config(
        config,
        port=port,
        hub_port=free_port(),
        api_port=free_port(),
        service_port=free_port(),
        env=shared_env.prefix,
        grader=grader,
        learners=learners,
        admin_token=admin_token,
        workdir=workdir,
        env_vars=shared_env.environ(),
    )
    log = workdir / "jupyterhub.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={
                **os.environ,
                "PATH": with_bin_first(os.environ.get("PATH", "")),
            },
        )

    def stop() -> None:
        graceful = system.stop_process_group(process)
        left_in_hub = system.session_members(process.pid)  # the proxy, a service
        if graceful:
            for account in [grader, *learners]:
                system.settle(account.uid)
        left_as_users = {a.name: system.kill_uid(a.uid) for a in [grader, *learners]}
        artifacts = system.REPO / "artifacts" / "hub"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, artifacts / "jupyterhub.log")
        for pid in left_in_hub:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        assert not left_in_hub, f"still running after the hub stopped: {left_in_hub}"
        if graceful:  # a hub that stopped cleanly stopped every server it started
            assert not any(left_as_users.values()), (
                f"still running as the test accounts: {left_as_users}"
            )

    request.addfinalizer(stop)
    base = f"http://127.0.0.1:{port}"
    admin = Client(base, admin_token)

    def up() -> bool:
        assert process.poll() is None, (
            f"the hub exited ({process.returncode}):\n{log.read_text()[-4000:]}"
        )
        try:
            return admin.request("GET", "/hub/api/", timeout=5).status == 200
        except OSError:
            return False

    wait_until(up, 300, "the hub to answer")
    result = Hub(base, admin, shared_env, exchange, grader, learners, log, process)
    for account in [grader, *learners]:
        admin.request(
            "POST", f"/hub/api/users/{account.name}"
        )  # 201, or 409 when allowed_users made it
        answer = admin.ok(
            "POST", f"/hub/api/users/{account.name}/tokens", data={"note": "hub suite"}
        )
        result.tokens[account.name] = answer["token"]
    return result
