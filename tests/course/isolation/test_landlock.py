"""course.isolation.landlock: which paths are readable, and a real sandboxed process (Landlock).

The process tests need Linux with Landlock (ABI 6 for signals); they are skipped elsewhere,
except in CI, where the grader's sandbox must really work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.isolation.landlock import Rules, course_rules, landlock_abi, readable_paths

REPO = Path(__file__).resolve().parents[3]
needs_landlock = pytest.mark.skipif(
    landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A course with solutions, a venv and a package inside, next to other folders."""
    for folder in (
        "course/solutions/01",
        "course/.venv/lib",
        "course/helpers",
        "course/notebooks",
        "other",
        "scratch",
    ):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "course" / "nbgrader_config.py").write_text("c = get_config()\n")
    (tmp_path / "course" / "solutions" / "01" / "01.ipynb").write_text("the answers")
    (tmp_path / "course" / "helpers" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "course" / "gradebook.db").write_text("grades")
    (tmp_path / "other" / "data.txt").write_text("public")
    (tmp_path / "top.txt").write_text("public")
    return tmp_path


def names(paths: list[Path], root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


def test_hidden_folder_is_cut_out_but_its_visible_parts_stay(tree):
    paths = readable_paths(
        [tree / "course"], [tree / "course" / ".venv", tree / "course" / "helpers"], root=tree
    )
    assert names(paths, tree) == ["course/.venv", "course/helpers", "other", "scratch", "top.txt"]


def test_nothing_hidden_grants_the_root_and_missing_paths_are_ignored(tree):
    assert readable_paths([tree / "nope"], [tree / "also-nope"], root=tree) == [tree.resolve()]


def test_two_hidden_folders_and_a_visible_one_inside_another_visible_one(tree):
    paths = readable_paths(
        [tree / "course" / "solutions", tree / "other"],
        [tree / "course" / "helpers", tree / "course" / "helpers"],
        root=tree,
    )
    assert names(paths, tree) == [
        "course/.venv",
        "course/gradebook.db",
        "course/helpers",
        "course/nbgrader_config.py",
        "course/notebooks",
        "scratch",
        "top.txt",
    ]


def test_symlinks_are_not_granted_their_targets_are(tree):
    (tree / "course" / "link").symlink_to(tree / "course" / "solutions")
    paths = readable_paths([tree / "course" / "solutions"], [], root=tree)
    assert "course/link" not in names(paths, tree)


def test_course_rules_hide_the_course_and_the_course_a_package_comes_from(tmp_path):
    servers = tmp_path / "servers"  # what course grade adds: the fork servers' token
    servers.mkdir()
    rules = course_rules(
        tmp_path / "course",
        ["helpers.checks", "numpy", "os", "no_such_module_xyz"],
        also_hide=[servers],
    )
    from jupyter_core.paths import jupyter_runtime_dir

    runtime = Path(jupyter_runtime_dir()).resolve()
    assert rules.hide == (
        (tmp_path / "course").resolve(),
        runtime,
        servers.resolve(),
        REPO,
    )  # helpers is installed from this repository
    assert REPO / "helpers" in rules.visible
    assert Path(sys.prefix).resolve() in rules.visible
    assert not any("numpy" in str(p) for p in rules.visible), (
        "site-packages is visible through the venv"
    )


def test_rules_become_command_line_options():
    rules = Rules(hide=(Path("/c"), Path("/d")), visible=(Path("/c/v"),), writable=(Path("/s"),))
    assert rules.arguments() == [
        "--hide",
        "/c",
        "--hide",
        "/d",
        "--visible",
        "/c/v",
        "--writable",
        "/s",
    ]


#: What every sandboxed script below does for each access it tries: print whether it worked.
ATTEMPT = """
def attempt(label, action):
    try:
        action()
        print(label, "done")
    except Exception as error:
        print(label, type(error).__name__)
"""

SCRIPT = (
    """
import os, signal, sys
course, scratch = sys.argv[1], sys.argv[2]
"""
    + ATTEMPT
    + """solution = os.path.join(course, "solutions", "01", "01.ipynb")
attempt("read-solutions", lambda: open(solution).read())
attempt("read-gradebook", lambda: open(os.path.join(course, "gradebook.db")).read())
attempt("list-solutions", lambda: os.listdir(os.path.join(course, "solutions")))
attempt("import-helpers", lambda: open(os.path.join(course, "helpers", "__init__.py")).read())
attempt("read-outside", lambda: open(os.path.join(course, "..", "other", "data.txt")).read())
attempt("write-scratch", lambda: open(os.path.join(scratch, "x.txt"), "w").write("x"))
attempt("mkdir-scratch", lambda: os.makedirs(os.path.join(scratch, "a", "b")))
attempt("write-course", lambda: open(os.path.join(course, "x.txt"), "w").write("x"))
attempt("overwrite-gradebook", lambda: open(os.path.join(course, "gradebook.db"), "w").write("x"))
attempt("delete-solutions", lambda: os.remove(os.path.join(course, "solutions", "01", "01.ipynb")))
attempt("write-beside", lambda: open(os.path.join(course, "..", "new.txt"), "w").write("x"))
attempt("dev-null", lambda: open(os.devnull, "w").write("x"))
attempt("dev-urandom", lambda: open("/dev/urandom", "rb").read(4))
attempt("write-shm", lambda: open("/dev/shm/course-sandbox-test", "w").write("x"))
attempt("create-in-dev", lambda: open("/dev/course-sandbox-test", "w").write("x"))
attempt("signal-parent", lambda: os.kill(os.getppid(), signal.SIGTERM))
attempt("child-reads-solutions", lambda: __import__("subprocess").run(
    ["cat", os.path.join(course, "solutions", "01", "01.ipynb")], check=True, capture_output=True))
"""
)


def run_sandboxed(rules: Rules, script: str, *args: str) -> dict[str, str]:
    """Run the Python ``script`` (with ``args``) under ``rules`` through the launcher; what it
    printed, one ``name outcome`` line per attempt, as a dict."""
    result = subprocess.run(
        [sys.executable, "-m", "course.isolation.launch", *rules.arguments(), "--"]
        + [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split() for line in result.stdout.splitlines())


@needs_landlock
def test_a_sandboxed_process_reads_and_writes_only_what_the_rules_allow(tree):
    course, scratch = tree / "course", tree / "scratch"
    rules = Rules(
        hide=(course,), visible=(course / ".venv", course / "helpers"), writable=(scratch,)
    )
    outcomes = run_sandboxed(rules, SCRIPT, str(course), str(scratch))
    assert outcomes == {
        "read-solutions": "PermissionError",
        "read-gradebook": "PermissionError",
        "list-solutions": "done",
        "import-helpers": "done",
        "read-outside": "done",
        "write-scratch": "done",
        "mkdir-scratch": "done",
        "write-course": "PermissionError",
        "overwrite-gradebook": "PermissionError",
        "delete-solutions": "PermissionError",
        "write-beside": "PermissionError",
        "dev-null": "done",
        "dev-urandom": "done",
        "write-shm": "PermissionError",
        "create-in-dev": "PermissionError",
        "signal-parent": "PermissionError",
        "child-reads-solutions": "CalledProcessError",  # `cat` exits 1: the rules bind children too
    }
    assert (course / "solutions" / "01" / "01.ipynb").read_text() == "the answers"
    assert (course / "gradebook.db").read_text() == "grades"
    assert not (course / "x.txt").exists() and not (tree / "new.txt").exists()


NETWORK = (
    """
import socket, sys
listening, allowed = int(sys.argv[1]), int(sys.argv[2])
"""
    + ATTEMPT
    + """def bind(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
attempt("connect-local", lambda: socket.create_connection(("127.0.0.1", listening), timeout=5))
attempt("bind-allowed", lambda: bind(allowed))
attempt("bind-other", lambda: bind(0))
"""
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    landlock_abi() < 4 and not os.environ.get("CI"), reason="needs Linux 6.7+ (Landlock ABI 4)"
)
def test_network_is_denied_but_the_allowed_ports_can_be_bound():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    allowed = _free_port()
    rules = Rules(deny_network=True, bind_ports=(allowed,))
    with server:
        outcomes = run_sandboxed(rules, NETWORK, str(server.getsockname()[1]), str(allowed))
    assert outcomes == {
        "connect-local": "PermissionError",
        "bind-allowed": "done",
        "bind-other": "PermissionError",
    }


def test_an_exchange_under_a_visible_prefix_stays_hidden(tree):
    (tree / "usr" / "local" / "share" / "nbgrader" / "exchange").mkdir(parents=True)
    (tree / "usr" / "lib").mkdir()
    paths = readable_paths(
        [tree / "usr" / "local" / "share" / "nbgrader" / "exchange"], [tree / "usr"], root=tree
    )
    assert names(paths, tree) == ["course", "other", "scratch", "top.txt", "usr/lib"]


def test_course_rules_hide_the_runtime_folder_and_deny_the_network(tmp_path):
    from jupyter_core.paths import jupyter_runtime_dir

    rules = course_rules(tmp_path)
    assert Path(jupyter_runtime_dir()).resolve() in rules.hide
    assert rules.deny_network


def test_the_command_line_needs_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "course.isolation.launch", "--hide", "/x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "no command given" in result.stderr
