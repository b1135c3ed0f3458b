"""On a JupyterHub, "Grade my work" is off (docs/jupyterhub.md): a hub learner has only the
released notebooks, and the hidden tests stay the teacher's until the feedback is released.

The hub environment is set up by ``course setup-hub`` (role ``hub-learner``): the learner's
server does not load the kit's grade extension, so it has no grade endpoint and writes no
progress page; neither does the grader's formgrader service (role ``grader``).
"""

from __future__ import annotations

from hubapi import Client, wait_until
from hubsys import SERVICE_PREFIX, Hub

ENDPOINTS = ["course-selfgrade/api/status", "course-selfgrade/feedback/00_layers_calls_variables"]


def _running_server(hub: Hub, name: str) -> Client:
    """``name``'s client, once their server runs (started here if it is not yet)."""
    client = hub.client(name)

    def ready() -> bool:
        return bool(client.ok("GET", f"/hub/api/users/{name}")["servers"].get("", {}).get("ready"))

    if not ready():
        response = client.request("POST", f"/hub/api/users/{name}/server")
        assert response.status in (201, 202, 400), response.body  # 400: already starting
        wait_until(ready, 300, f"{name}'s server")
    return client


def test_a_hub_learner_cannot_grade_their_own_work(hub: Hub) -> None:
    name = hub.learners[0].name
    client = _running_server(hub, name)
    server = f"/user/{name}"
    assert client.request("GET", f"{server}/api/status").status == 200  # the server answers
    for endpoint in ENDPOINTS:
        assert client.request("GET", f"{server}/{endpoint}").status == 404, endpoint
    assert client.request("POST", f"{server}/course-selfgrade/api/grade", data={}).status == 404
    assert client.request("GET", f"{server}/api/contents/progress.ipynb").status == 404


def test_the_grader_service_has_no_grade_endpoint(hub: Hub) -> None:
    client = hub.client(hub.grader.name)
    for endpoint in ENDPOINTS:
        assert client.request("GET", f"{SERVICE_PREFIX}/{endpoint}").status == 404, endpoint
