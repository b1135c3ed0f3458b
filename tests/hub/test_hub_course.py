"""The whole course on a real JupyterHub: a grader and three learners, each with their own
account and token, every step over the hub's and the servers' HTTP APIs.

Learner ``right`` answers both exercises of lesson 00, ``partly`` only the first (the
second model is built wrong), ``untouched`` submits the lesson as fetched. They submit
at the same moment. The grader releases, collects, grades with ``course grade``, releases
feedback, exports and writes the class report. The module's fixture runs the flow once;
each test checks one part of it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import hubsys as system
import psutil
import pytest
from hubapi import Client, wait_until
from hubsys import COURSE_ID, LESSON, SERVICE_PREFIX, Hub

NOTEBOOK = f"{LESSON}/{LESSON}.ipynb"
FORMGRADER = f"{SERVICE_PREFIX}/formgrader/api"
# lesson 00: exercise 1 is worth 2 points, exercise 2 is worth 3.
EXPECTED_SCORE = {"right": 5.0, "partly": 2.0, "untouched": 0.0}


def _corpus():
    spec = importlib.util.spec_from_file_location(
        "corpus00", system.REPO / "tests" / "corpus" / f"{LESSON}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Flow:
    hub: Hub
    who: dict[str, system.Account]  # role in this test -> account
    spawn_seconds: dict[str, float] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)
    peak_total_mib: float = 0.0
    validate: dict = field(default_factory=dict)
    submits: dict[str, dict] = field(default_factory=dict)
    listings: dict[str, list] = field(default_factory=dict)
    grade_output: str = ""
    feedback: dict[str, dict[str, str]] = field(default_factory=dict)

    def learner(self, role: str) -> Client:
        return self.hub.client(self.who[role].name)

    def server(self, role: str) -> str:
        return f"/user/{self.who[role].name}"


def _answer(client: Client, server: str, answers: dict[str, str]) -> None:
    """Open the lesson as JupyterLab does (a checkpoint), put answers in, save it."""
    path = f"{server}/api/contents/{NOTEBOOK}"
    client.ok("POST", f"{path}/checkpoints")
    model = client.ok("GET", path)
    for cell in model["content"]["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    client.ok("PUT", path, data={"type": "notebook", "format": "json", "content": model["content"]})


def _spawn(hub: Hub, name: str) -> float:
    client = hub.client(name)
    start = time.monotonic()
    response = client.request("POST", f"/hub/api/users/{name}/server")
    assert response.status in (201, 202), response.body

    def ready() -> bool:
        server = client.ok("GET", f"/hub/api/users/{name}")["servers"].get("", {})
        return bool(server.get("ready"))

    wait_until(ready, 300, f"{name}'s server")
    return time.monotonic() - start


def _server_rss_mib(account: system.Account) -> float:
    total = 0
    for process in system.processes_of(account.uid):
        try:
            if "jupyterhub-singleuser" in " ".join(process.cmdline()):
                total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


@pytest.fixture(scope="module")
def flow(hub: Hub) -> Flow:
    roles = dict(zip(["right", "partly", "untouched"], hub.learners, strict=True))
    result = Flow(hub, roles)
    uids = [hub.grader.uid, *(a.uid for a in roles.values())]
    with system.MemorySampler(uids, hub.process.pid) as memory:
        _run_course(hub, result)
    result.peak_total_mib = memory.peak_total_mib
    result.peak_mib = {role: memory.peak_mib[a.uid] for role, a in roles.items()}
    result.peak_mib["grader"] = memory.peak_mib[hub.grader.uid]
    return result


def _run_course(hub: Hub, result: Flow) -> None:
    corpus = _corpus()
    roles = result.who
    grader = hub.client(hub.grader.name)

    # The grader: the roster, then the lesson into the exchange (the formgrader's buttons).
    for role, account in roles.items():
        grader.ok(
            "PUT",
            f"{FORMGRADER}/student/{account.name}",
            data={"first_name": role, "last_name": "Learner", "email": None, "lms_user_id": None},
        )
    assert grader.ok("POST", f"{FORMGRADER}/assignment/{LESSON}/assign")["success"]
    released = grader.ok("POST", f"{FORMGRADER}/assignment/{LESSON}/release")
    assert released["success"], released

    # The learners' servers, all at once.
    with ThreadPoolExecutor(len(roles)) as pool:
        spawns = {role: pool.submit(_spawn, hub, account.name) for role, account in roles.items()}
        result.spawn_seconds = {role: future.result() for role, future in spawns.items()}
    result.rss_mib = {role: _server_rss_mib(account) for role, account in roles.items()}

    answers = {
        "right": {corpus.EX1: corpus.counts(), corpus.EX2: corpus.news()},
        "partly": {corpus.EX1: corpus.counts(), corpus.EX2: corpus.news(reader="two")},
        "untouched": {},
    }
    for role in roles:
        client, server = result.learner(role), result.server(role)
        fetched = client.ok(
            "POST",
            f"{server}/assignments/fetch",
            form={"course_id": COURSE_ID, "assignment_id": LESSON},
        )
        assert fetched["success"], fetched
        fetched = fetched["value"]
        assert any(a["assignment_id"] == LESSON and a["status"] == "fetched" for a in fetched), (
            fetched
        )
        _answer(client, server, answers[role])
    result.validate = result.learner("right").ok(
        "POST", f"{result.server('right')}/assignments/validate", form={"path": NOTEBOOK}
    )

    # Everyone submits at the same moment.
    def submit(role: str) -> dict:
        return result.learner(role).ok(
            "POST",
            f"{result.server(role)}/assignments/submit",
            form={"course_id": COURSE_ID, "assignment_id": LESSON},
        )

    with ThreadPoolExecutor(len(roles)) as pool:
        result.submits = dict(zip(roles, pool.map(submit, roles), strict=True))

    collected = grader.ok("POST", f"{FORMGRADER}/assignment/{LESSON}/collect")
    assert collected["success"], collected
    # One worker: three learners do not need two warm TensorFlow kernels (memory).
    graded = hub.as_grader(f"{hub.env}/bin/course", "grade", "--verbose", "--workers", "1", LESSON)
    result.grade_output = graded.stdout + graded.stderr
    assert graded.returncode == 0, result.grade_output
    for step in ("generate_feedback", "release_feedback"):
        answer = grader.ok("POST", f"{FORMGRADER}/assignment/{LESSON}/{step}")
        assert answer["success"], answer

    for role in roles:
        client, server = result.learner(role), result.server(role)
        client.ok(
            "POST",
            f"{server}/assignments/fetch_feedback",
            form={"course_id": COURSE_ID, "assignment_id": LESSON},
        )
        result.listings[role] = client.ok("GET", f"{server}/assignments?course_id={COURSE_ID}")[
            "value"
        ]
        folder = client.ok("GET", f"{server}/api/contents/{LESSON}/feedback")
        result.feedback[role] = {}
        for stamp in folder["content"]:
            for item in client.ok("GET", f"{server}/api/contents/{stamp['path']}")["content"]:
                page = client.ok(
                    "GET", f"{server}/api/contents/{item['path']}?type=file&format=text"
                )
                result.feedback[role][item["name"]] = page["content"]


def test_every_server_spawns_as_its_own_user(flow: Flow) -> None:
    for account in flow.who.values():
        servers = [
            p
            for p in system.processes_of(account.uid)
            if "jupyterhub-singleuser" in " ".join(p.cmdline())
        ]
        assert servers, f"no server process runs as {account.name}"
    print(f"\nspawn seconds: { {r: round(s, 1) for r, s in flow.spawn_seconds.items()} }")
    print(f"server RSS MiB after spawn: { {r: round(m) for r, m in flow.rss_mib.items()} }")
    peaks = {r: round(m) for r, m in flow.peak_mib.items()}
    print(f"peak RSS MiB per account (server + kernels): {peaks}")
    print(f"peak RSS MiB of the whole hub: {flow.peak_total_mib:.0f}")


def test_the_hub_waited_for_the_formgrader(flow: Flow) -> None:
    """course.hub.wait_for_managed_services, called in jupyterhub_config.py, took part."""
    assert f"Waiting up to 300 s for service {COURSE_ID} to answer" in flow.hub.log.read_text()


def test_validate_passes_a_right_answer(flow: Flow) -> None:
    value = flow.validate
    assert value["success"], value
    details = json.loads(value["value"]) if isinstance(value["value"], str) else value["value"]
    assert not any(key in details for key in ("failed", "changed", "type_changed")), details


def test_simultaneous_submissions_all_arrive_without_checkpoints(flow: Flow) -> None:
    for role, answer in flow.submits.items():
        assert isinstance(answer, dict) and answer.get("success"), (role, answer)
    inbound = flow.hub.exchange / COURSE_ID / "inbound"
    names = sorted(p.name.split("+")[0] for p in inbound.iterdir())
    assert names == sorted(a.name for a in flow.who.values())
    assert not list(inbound.rglob(".ipynb_checkpoints")), "a submission holds .ipynb_checkpoints"
    log = flow.hub.log.read_text()
    assert "EXTRA" not in log, "a submission was reported with extra notebooks"


def test_course_grade_scores_each_learner(flow: Flow) -> None:
    assert "[nbgrader INFO]" in flow.grade_output  # nbgrader's log is in it ...
    assert "Attribute 'checksum'" not in flow.grade_output, (
        flow.grade_output
    )  # ... with no false alarm
    exported = flow.hub.as_grader(f"{flow.hub.env}/bin/nbgrader", "export", "--to", "grades.csv")
    assert exported.returncode == 0, exported.stderr
    rows = {
        row["student_id"]: row
        for row in csv.DictReader(io.StringIO((flow.hub.course_dir / "grades.csv").read_text()))
    }
    for role, account in flow.who.items():
        assert float(rows[account.name]["score"]) == EXPECTED_SCORE[role], (
            role,
            rows[account.name],
        )
        assert float(rows[account.name]["max_score"]) == 5.0


def test_each_learner_gets_only_their_own_feedback(flow: Flow) -> None:
    for role in flow.who:
        pages = flow.feedback[role]
        assert list(pages) == [f"{LESSON}.html"], (role, list(pages))
        page = pages[f"{LESSON}.html"]
        assert (
            f"Score: {EXPECTED_SCORE[role]:.1f} / 5.0" in page.replace("\n", " ")
            or f"{EXPECTED_SCORE[role]:.1f} / 5.0" in page
        ), role
        others = [a.name for r, a in flow.who.items() if r != role]
        assert not any(name in page for name in others), role
        submitted = [a for a in flow.listings[role] if a["status"] == "submitted"]
        assert submitted and all(a["student"] if "student" in a else True for a in submitted)


def test_learners_cannot_reach_each_other_or_the_formgrader(flow: Flow) -> None:
    right, partly = flow.learner("right"), flow.learner("partly")
    assert right.request("GET", f"{flow.server('partly')}/api/contents/{NOTEBOOK}").status == 403
    assert partly.request("GET", f"{flow.server('right')}/api/contents").status == 403
    assert right.request("GET", f"{FORMGRADER}/assignments").status == 403
    assert right.request("GET", f"{SERVICE_PREFIX}/api/contents").status == 403
    grader = flow.hub.client(flow.hub.grader.name)
    assert grader.request("GET", f"{FORMGRADER}/assignments").status == 200
    # Nor, as their own account, the other submissions in the exchange.
    inbound = flow.hub.exchange / COURSE_ID / "inbound"
    listing = subprocess.run(
        ["runuser", "-u", flow.who["right"].name, "--", "ls", str(inbound)],
        capture_output=True,
        text=True,
    )
    assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing


def test_course_report_as_the_grader(flow: Flow) -> None:
    report = flow.hub.as_grader(f"{flow.hub.env}/bin/course", "report", LESSON)
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads((flow.hub.course_dir / "reports" / "report.json").read_text())
    lesson = next(item for item in data["lessons"] if item["name"] == LESSON)
    assert lesson["submitted"] == 3
    text = json.dumps(lesson)
    # Learners appear behind the failure messages: the partly wrong and the untouched one.
    assert flow.who["partly"].name in text and flow.who["untouched"].name in text
    assert flow.who["right"].name not in text
