"""A small HTTP client for the hub's and the servers' REST APIs, one token per user."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """Requests to ``base`` (``http://127.0.0.1:PORT``) as the owner of ``token``."""

    base: str
    token: str

    def request(
        self,
        method: str,
        path: str,
        data: Any = None,
        form: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> Response:
        headers = {"Authorization": f"token {self.token}"}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        route, _, query = path.partition("?")
        url = self.base + urllib.parse.quote(route, safe="/%") + (f"?{query}" if query else "")
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Response(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read())

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request that must succeed (2xx), else an error naming it."""
        response = self.request(method, path, **kwargs)
        assert 200 <= response.status < 300, (
            f"{method} {path}: HTTP {response.status}: {response.body[:2000]!r}"
        )
        return response.json() if response.body else None


def wait_until(check, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
