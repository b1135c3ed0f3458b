"""Where a fork server lives, which one a kernel needs, and how to talk to it.

**Place.** Every fork server of a user lives below one private folder (mode 0700, owned by
the user): ``$KIT_FORK_DIR`` if set (tests use their own), else
``$XDG_RUNTIME_DIR/course-forking``, else ``/tmp/course-forking-<uid>``. A grading kernel's
box does not hold that folder (:mod:`course.isolation`); the Landlock fallback hides it.
A grading run uses a folder of its own (:func:`course.forking.client.private_servers`).

**Which server.** A warm parent has imported the heavy modules with *its* environment, so a
kernel may be forked from it only when the settings that change what those imports do are
the same: the Python executable and :func:`import_settings` (``KERAS_BACKEND``,
``PYTHONPATH``, ``TF_*``, ... and the Keras and matplotlib config files). :func:`server_key`
hashes them; each key gets a folder of its own (:func:`server_folder`) holding ``socket``
(the server's UNIX socket), ``token`` (the secret a request must carry), ``lock`` (held by
the running server) and ``server.log``.

**Messages.** Length-prefixed JSON (4 bytes, big-endian) on a UNIX stream socket; the
request carries the kernel's stdin, stdout and stderr as file descriptors (SCM_RIGHTS).
One connection per kernel: request, then the server answers ``{"pid": N}`` (or
``{"error": "..."}``) and later ``{"exit": code}`` when the kernel has exited.

Example::

    >>> key = server_key("/venv/bin/python", {"KERAS_BACKEND": "jax", "HOME": "/nowhere"})
    >>> key == server_key("/venv/bin/python", {"KERAS_BACKEND": "jax", "HOME": "/elsewhere"})
    True
    >>> key == server_key("/venv/bin/python", {"KERAS_BACKEND": "tensorflow"})
    False
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course import import_rule

#: Environment variable: ``0`` starts every kernel the usual way (no fork server).
ENABLE_VAR = "KIT_FORK_KERNELS"
#: Environment variable: the private folder of the fork servers (default: see module doc).
DIR_VAR = "KIT_FORK_DIR"
#: Environment variable: seconds a server without kernels waits before it exits.
IDLE_VAR = "KIT_FORK_IDLE"
DEFAULT_IDLE = 600.0
#: Environment variable: the pid whose end lets a server without kernels exit (default: the
#: process that starts the server; the test suite names pytest's main process).
OWNER_VAR = "KIT_FORK_OWNER"

#: Variables that change what importing the warm modules does: the kit's one rule
#: (:mod:`course.import_rule`).
IMPORT_VARS = import_rule.IMPORT_VARS
IMPORT_PREFIXES = import_rule.IMPORT_PREFIXES

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 16 * 2**20


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether kernels may be forked (``KIT_FORK_KERNELS`` is not 0/false/no/off).

    >>> enabled({}), enabled({"KIT_FORK_KERNELS": "0"})
    (True, False)
    """
    value = (os.environ if environ is None else environ).get(ENABLE_VAR, "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def import_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a kernel's environment that changes what the warm imports do, plus
    the Keras config (``keras.json``) and matplotlib config (``matplotlibrc``) it would read
    (:func:`course.import_rule.import_settings`, the rule ``course grade`` applies too).

    >>> import_settings({"HOME": "/nowhere", "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"})
    {'KERAS_BACKEND': 'jax', 'TF_CPP_MIN_LOG_LEVEL': '3', 'keras.json': '', 'matplotlibrc': ''}
    """
    return import_rule.import_settings(env)


def server_key(python: str, env: Mapping[str, str]) -> str:
    """A short name for the server that may fork kernels of ``python`` with ``env``."""
    data = json.dumps([os.path.abspath(python), import_settings(env)], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def base_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The user's private folder of fork servers (not created here).

    >>> str(base_folder({"KIT_FORK_DIR": "/tmp/mine"}))
    '/tmp/mine'
    """
    environ = os.environ if environ is None else environ
    if environ.get(DIR_VAR):
        return Path(environ[DIR_VAR])
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "course-forking"
    return Path(tempfile.gettempdir()) / f"course-forking-{os.getuid()}"


class UnsafeFolder(OSError):
    """The private folder exists but is not private (another owner, or readable by others)."""


def private_folder(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 if needed; raise UnsafeFolder if it is
    not a folder owned by this user that nobody else may enter.

    >>> folder = private_folder(Path(tempfile.mkdtemp()) / "servers")
    >>> oct(folder.stat().st_mode & 0o777)
    '0o700'
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeFolder(f"{path} is not a private folder of user {os.getuid()}")
    return path


def server_folder(key: str, environ: Mapping[str, str] | None = None) -> Path:
    """The private folder of the server ``key`` (created, checked)."""
    return private_folder(private_folder(base_folder(environ)) / key)


def token_hash(token: bytes | bytearray) -> str:
    """What the server keeps of its token (it never keeps the token itself).

    >>> token_hash(b"x" * 64)[:12]
    '7ce100971f64'
    """
    return hashlib.sha256(token).hexdigest()


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message (and file descriptors with it)."""
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [payload], fds)
        payload = payload[sent:]
    if payload:
        sock.sendall(payload)


class Closed(ConnectionError):
    """The other side closed the connection."""


#: A request is at most this big and this deeply nested (checked before it is parsed).
MAX_REQUEST = 2**20
MAX_DEPTH = 8


def nesting_depth(data: bytes) -> int:
    """How deeply the arrays and objects of JSON text ``data`` nest (strings skipped), read
    without parsing it: a message too deep for Python's parser is refused before it is
    parsed.

    >>> nesting_depth(b'{"a": [1, {"b": "[[["}]}'), nesting_depth(b"[" * 5)
    (3, 5)
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def decode(data: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """One message's JSON object (ValueError when it is not one, or nests too deeply).

    >>> decode(b'{"op": "stop"}')
    {'op': 'stop'}
    >>> decode(b"[" * 100000)
    Traceback (most recent call last):
    ValueError: message nested more than 8 levels deep
    """
    if nesting_depth(data) > max_depth:
        raise ValueError(f"message nested more than {max_depth} levels deep")
    try:
        message = json.loads(data)
    except (RecursionError, UnicodeDecodeError) as error:
        raise ValueError(f"not a message: {type(error).__name__}") from None
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


class Reader:
    """Reads one message from a non-blocking socket as its bytes arrive, however slowly:
    :meth:`feed` whenever the socket is readable; the size is checked as soon as the
    header is in, the nesting before the message is parsed."""

    def __init__(
        self, max_size: int = MAX_REQUEST, max_fds: int = 0, max_depth: int = MAX_DEPTH
    ) -> None:
        self.max_size, self.max_fds, self.max_depth = max_size, max_fds, max_depth
        self.buffer = bytearray()
        self.fds: list[int] = []
        self.need: int | None = None

    def feed(self, sock: socket.socket) -> dict[str, Any] | None:
        """The message once it is complete, else None (raises Closed, ValueError)."""
        while True:
            want = (self.need or _HEADER.size) - len(self.buffer)
            try:
                if self.max_fds and not self.fds:
                    chunk, fds, _flags, _addr = socket.recv_fds(sock, want, self.max_fds)
                    self.fds.extend(fds)
                else:
                    chunk = sock.recv(want)
            except (BlockingIOError, InterruptedError):
                return None
            if not chunk:
                raise Closed("connection closed")
            self.buffer += chunk
            if self.need is None and len(self.buffer) == _HEADER.size:
                (length,) = _HEADER.unpack(self.buffer)
                if length > self.max_size:
                    raise ValueError(f"message of {length} bytes (at most {self.max_size})")
                self.need = _HEADER.size + length
            if self.need is not None and len(self.buffer) == self.need:
                return decode(bytes(self.buffer[_HEADER.size :]), self.max_depth)

    def close(self) -> None:
        """Close the descriptors received and not taken."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """Receive one message and the file descriptors sent with it, blocking (raises Closed
    at EOF, ValueError on a malformed message)."""
    buffer = b""
    fds: list[int] = []
    need = _HEADER.size
    while len(buffer) < need:
        if max_fds and not fds:
            chunk, got, _flags, _addr = socket.recv_fds(sock, need - len(buffer), max_fds)
            fds.extend(got)
        else:
            chunk = sock.recv(need - len(buffer))
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise Closed("connection closed")
        buffer += chunk
        if len(buffer) == _HEADER.size and need == _HEADER.size:
            (length,) = _HEADER.unpack(buffer)
            if length > MAX_MESSAGE:
                raise ValueError("message too long")
            need += length
    return decode(buffer[_HEADER.size :]), fds
