"""``course setup-hub``: the settings every account of a JupyterHub shares, and a patient
start for the formgrader service.

On a hub, learners and the grader are separate accounts that hand notebooks over through
nbgrader's *exchange*, a folder everyone can write. ``course setup-hub`` (run once, as
root, with the environment every account runs) writes the hub-wide nbgrader settings into
that environment's config folder (``<env>/etc/jupyter/nbgrader_config.py``, read by every
server and ``nbgrader`` command of that environment; ``--config-dir /etc/jupyter`` for
all environments), creates the exchange, and sets the environment's learner role
(``course setup-lab --role hub-learner``: Validate and the Assignment List):

- ``c.Exchange.root``: the exchange folder (default ``/usr/local/share/nbgrader/exchange``);
- ``c.CourseDirectory.course_id``: ``keras-layer-reuse``;
- ``c.Execute.timeout``: the course's time limit per cell, for Validate (nbgrader's
  default of 30 s fails the setup cell on a busy hub);
- ``c.ExchangeFactory.submit``: :class:`course.exchange.KitExchangeSubmit` (no false
  "extra notebook" for ``.ipynb_checkpoints``).

In ``jupyterhub_config.py``, :func:`wait_for_managed_services` gives a managed service
(the formgrader) time to start: JupyterHub 5 tries ten times for one second, then exits
with "Cannot connect to managed service" (and leaves the proxy and the service running),
which a busy machine reaches. See docs/jupyterhub.md.

Example::

    $ sudo /opt/keras-layer-reuse/bin/course setup-hub
    Hub settings in /opt/keras-layer-reuse/etc/jupyter/nbgrader_config.py
    Exchange: /usr/local/share/nbgrader/exchange (everyone can write)
    Configured JupyterLab for hub learners in /opt/keras-layer-reuse/etc/jupyter: ...
"""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

from course import setup_lab
from course.config import CELL_TIMEOUT, default_exchange_root

COURSE_ID = "keras-layer-reuse"
MARK = "# Written by `course setup-hub`"


def hub_nbgrader_config(exchange: Path, course_id: str = COURSE_ID) -> str:
    """The text of the hub-wide ``nbgrader_config.py``.

    >>> "c.Exchange.root = '/x'" in hub_nbgrader_config(Path("/x"))
    True
    """
    return "\n".join(
        [
            f"{MARK}: the settings every account of the hub shares (docs/jupyterhub.md).",
            "c = get_config()  # noqa: F821",
            f"c.Exchange.root = {str(exchange)!r}",
            f"c.CourseDirectory.course_id = {course_id!r}",
            "# Validate runs the lesson with the course's time limit per cell.",
            # A learner's server reads only the hub-wide config, where nbgrader's default
            # (30 s) would make Validate fail on a busy hub while TensorFlow imports.
            f"c.Execute.timeout = {CELL_TIMEOUT}",
            f"c.ExecutePreprocessor.timeout = {CELL_TIMEOUT}",
            "# Submissions are checked without .ipynb_checkpoints (course/exchange.py).",
            "try:",
            "    import course.exchange",
            "except ImportError:",
            "    pass",
            "else:",
            "    c.ExchangeFactory.submit = 'course.exchange.KitExchangeSubmit'",
            "",
        ]
    )


def make_exchange(exchange: Path) -> None:
    """Create the exchange folder, writable by every account (nbgrader's own instructions:
    ``chmod ugo+rw``; the sticky bit keeps one account from deleting another's folder)."""
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777 | stat.S_ISVTX)


def write_hub_config(config_dir: Path, exchange: Path, course_id: str = COURSE_ID) -> Path:
    """Write the hub-wide ``nbgrader_config.py`` into ``config_dir`` (replacing an earlier one
    this command wrote; refusing to overwrite someone else's) and return its path."""
    path = config_dir / "nbgrader_config.py"
    if path.is_file() and not path.read_text(encoding="utf-8").startswith(MARK):
        raise FileExistsError(
            f"{path} exists and was not written by course setup-hub: merge by hand"
        )
    config_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(hub_nbgrader_config(exchange, course_id), encoding="utf-8")
    path.chmod(0o644)
    return path


async def _wait_until_answering(service: Any, timeout: float) -> None:
    """Wait until the managed ``service`` answers HTTP, exits or ``timeout`` seconds pass."""
    from jupyterhub.objects import Server
    from jupyterhub.utils import AnyTimeoutError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await service.spawner.poll() is not None:
            return  # JupyterHub reports "Service ... exited with status ..."
        try:
            await Server.from_orm(service.orm.server).wait_up(http=True, timeout=2)
            return
        except AnyTimeoutError:
            await asyncio.sleep(0)


def wait_for_managed_services(timeout: float = 120.0) -> None:
    """Make JupyterHub wait up to ``timeout`` s for each managed service it starts.

    Call it in ``jupyterhub_config.py``. JupyterHub 5's ``start_service`` waits about ten
    seconds (ten tries of one second, not configurable) and then exits; this wraps
    ``Service.start`` so that the service is answering (or has exited) when those tries
    begin. Services the hub does not start are not affected.
    """
    from jupyterhub.services.service import Service

    if getattr(Service.start, "_course_patient", False):
        return
    original = Service.start

    async def start(self: Any) -> Any:
        result = await original(self)
        if self.url:
            self.log.info("Waiting up to %.0f s for service %s to answer", timeout, self.name)
            await _wait_until_answering(self, timeout)
        return result

    start._course_patient = True  # type: ignore[attr-defined]
    Service.start = start  # type: ignore[method-assign]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exchange",
        type=Path,
        default=default_exchange_root(),
        help=f"the exchange folder every account writes (default {default_exchange_root()})",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="where the hub-wide nbgrader_config.py goes (default: this environment's "
        "<env>/etc/jupyter; /etc/jupyter for every environment)",
    )
    parser.add_argument(
        "--course-id", default=COURSE_ID, help=f"nbgrader course id (default {COURSE_ID})"
    )


def run(args: argparse.Namespace) -> int:
    config_dir = args.config_dir or setup_lab.environment_config_dir()
    try:
        make_exchange(args.exchange)
        path = write_hub_config(config_dir, args.exchange.resolve(), args.course_id)
    except (OSError, FileExistsError) as error:
        print(f"course setup-hub: {error}", file=sys.stderr)
        return 1
    print(f"Hub settings in {path}")
    print(f"Exchange: {args.exchange} (everyone can write)")
    env_dir = setup_lab.environment_config_dir()
    changes = setup_lab.configure(env_dir, "hub-learner")
    print(
        f"JupyterLab in {env_dir} is set up for hub learners"
        + (f": {', '.join(changes)}" if changes else ".")
    )
    if os.access(sys.executable, os.X_OK) and str(Path(sys.prefix)).startswith(str(Path.home())):
        print(
            f"Warning: this environment lies in {Path.home()}; other accounts may not reach it "
            "(make hub-env makes one under /opt).",
            file=sys.stderr,
        )
    return 0
