"""The course's configuration: where it is read, its defaults, and the kernels' environment.

Every command reads the course configuration the way nbgrader itself does when it runs in
the course folder (:func:`load_course_config`: each ``nbgrader_config.py`` on Jupyter's
config path, then the course's own, which wins). Defaults that nbgrader has are read from
nbgrader (:func:`default_exchange_root`); the kit's own defaults are here, once.

Every Jupyter kernel and nbgrader command the kit starts gets :data:`QUIET_ENV` (TensorFlow's
start-up chatter off) and this environment's ``bin`` first on ``PATH`` (the kernel spec runs
``python``; nbgrader runs ``alembic`` when it creates a gradebook): :func:`tool_environment`.

Example::

    >>> config = load_course_config(find_root(Path(__file__).parent))
    >>> cell_timeout(config) == CELL_TIMEOUT
    True
    >>> tool_environment({"PATH": "/bin"})["TF_CPP_MIN_LOG_LEVEL"]
    '3'
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader
from traitlets.config.loader import ConfigFileNotFound

#: The course configuration file, in the course folder (and on Jupyter's config path).
CONFIG_FILE = "nbgrader_config.py"

#: The course's time limit per cell in seconds, as ``nbgrader_config.py`` sets it
#: (``Execute.timeout``; a test checks that the two agree). ``course setup-hub`` writes it
#: into the hub-wide config, which is all a learner's server reads.
CELL_TIMEOUT = 120
#: Time limit per cell when a configuration sets no limit (``course build``, ``course bench``).
FALLBACK_CELL_TIMEOUT = 300

#: TensorFlow quiet: no C++ log lines, no oneDNN notice, in every kernel the kit starts.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def find_root(start: Path | None = None) -> Path:
    """The course folder: the nearest folder at or above ``start`` (default: the current
    folder) holding ``nbgrader_config.py``. FileNotFoundError with a hint if there is none.

    >>> (find_root(Path(__file__).parent) / CONFIG_FILE).is_file()
    True
    """
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(
        f"No {CONFIG_FILE} in {start} or above: "
        "run this from the course repository or pass --course-dir."
    )


def load_course_config(course_dir: Path) -> Config:
    """The config nbgrader run in ``course_dir`` would use: every ``nbgrader_config.py`` on
    Jupyter's config path, then the course's own (it wins); ``CourseDirectory.root`` is
    ``course_dir``. FileNotFoundError if the course has no ``nbgrader_config.py``.

    >>> load_course_config(find_root(Path(__file__).parent)).CourseDirectory.course_id
    'keras-layer-reuse'
    """
    from jupyter_core.paths import jupyter_config_path

    course_dir = Path(course_dir).resolve()
    if not (course_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{course_dir / CONFIG_FILE} does not exist")
    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course_dir)]:
        with contextlib.suppress(ConfigFileNotFound):
            config.merge(PyFileConfigLoader(CONFIG_FILE, path=folder).load_config())
    config.CourseDirectory.root = str(course_dir)
    return config


def cell_timeout(config: Config, default: int = FALLBACK_CELL_TIMEOUT) -> int:
    """The time limit per cell nbgrader's ``Execute`` step applies with ``config``
    (``Execute.timeout``, else ``ExecutePreprocessor.timeout``, else nbgrader's own default);
    ``default`` when that is no limit at all (None or 0).

    >>> cell_timeout(Config({"ExecutePreprocessor": {"timeout": 60}})), cell_timeout(Config())
    (60, 30)
    >>> cell_timeout(Config({"Execute": {"timeout": None}}))
    300
    """
    # Imported here: nbgrader is heavy, and only the commands that run cells need it.
    from nbgrader.preprocessors import Execute

    return Execute(config=config).timeout or default


def set_cell_timeout(course_dir: Path, seconds: int) -> None:
    """Make the course in ``course_dir`` give each cell ``seconds``: appended to its
    ``nbgrader_config.py``, for both names nbgrader reads (``Execute.timeout`` and
    ``ExecutePreprocessor.timeout``), so both graders see it.

    >>> import shutil, tempfile
    >>> course = Path(tempfile.mkdtemp())
    >>> _ = (course / CONFIG_FILE).write_text("c = get_config()\\n")
    >>> set_cell_timeout(course, 20)
    >>> cell_timeout(load_course_config(course))
    20
    >>> shutil.rmtree(course)
    """
    with open(Path(course_dir) / CONFIG_FILE, "a", encoding="utf-8") as config:
        config.write(f"\nc.Execute.timeout = c.ExecutePreprocessor.timeout = {seconds}\n")


def default_exchange_root() -> Path:
    """nbgrader's own default exchange folder (its ``Exchange.root`` trait).

    >>> default_exchange_root().name
    'exchange'
    """
    from nbgrader.exchange.default.exchange import Exchange

    return Path(Exchange.class_traits()["root"].default_value)


def exchange_root(config: Config) -> Path | None:
    """The exchange folder nbgrader uses with ``config``: ``Exchange.root`` if set, else the
    default of the exchange class the config selects; None for an exchange without a folder.

    >>> str(exchange_root(Config({"Exchange": {"root": "/srv/exchange"}})))
    '/srv/exchange'
    """
    from nbgrader.exchange import ExchangeFactory

    try:
        exchange = ExchangeFactory(config=config).exchange(config=config)
    except Exception:  # noqa: BLE001 - a custom exchange that cannot be built here
        return None
    root = getattr(exchange, "root", None)
    return Path(root) if isinstance(root, str) and root else None


def bin_dir() -> str:
    """This environment's ``bin`` folder (``python``, ``nbgrader``, ``alembic``, ``jupyter``)."""
    return str(Path(sys.executable).parent)


def with_bin_first(path: str) -> str:
    """``path`` (a ``PATH`` value) with this environment's ``bin`` in front.

    >>> with_bin_first("/usr/bin").split(os.pathsep) == [bin_dir(), "/usr/bin"]
    True
    """
    return os.pathsep.join([bin_dir(), path]) if path else bin_dir()


@contextlib.contextmanager
def environment(name: str, value: str | None) -> Iterator[None]:
    """Set (or, with None, leave as it is) the environment variable ``name`` for this
    process and what it starts, until the block ends.

    >>> with environment("KIT_EXAMPLE", "1"):
    ...     os.environ["KIT_EXAMPLE"]
    '1'
    >>> "KIT_EXAMPLE" in os.environ
    False
    """
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def tool_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with TensorFlow quiet and this
    environment's ``bin`` first on ``PATH``: for the kernels and nbgrader commands the kit
    starts.

    >>> env = tool_environment({"PATH": "/usr/bin", "TF_CPP_MIN_LOG_LEVEL": "0"})
    >>> env["TF_CPP_MIN_LOG_LEVEL"], env["PATH"].split(os.pathsep)[0] == bin_dir()
    ('3', True)
    """
    base = os.environ if base is None else base
    return {**base, **QUIET_ENV, "PATH": with_bin_first(base.get("PATH", ""))}


def put_bin_on_path() -> None:
    """Put this environment's ``bin`` on this process's ``PATH`` unless it is there (nbgrader
    runs ``alembic`` when it creates a gradebook)."""
    path = os.environ.get("PATH", "")
    if bin_dir() not in path.split(os.pathsep):
        os.environ["PATH"] = with_bin_first(path)
