"""Repository-wide pytest setup: notebook tests (nbval) and how `make test` splits the
suite over two pytest-xdist workers.

pyproject's addopts turn on ``--nbval --nbval-current-env`` and testpaths include
``solutions/``: every instructor notebook is executed in this environment and its stored
outputs are compared after the sanitizers in tests/notebooks/sanitize.cfg. Those tests carry
the ``notebooks`` marker (``pytest -m "not notebooks"`` skips them).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
#: The packages whose docstring examples run as tests.
PACKAGES = (ROOT / "helpers", ROOT / "course")

# Learner notebooks are generated, and their exercise stubs raise NotImplementedError by design.
collect_ignore = ["notebooks"]


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("nbval") and config.getoption("nbval_sanitize_with") is None:
        config.option.nbval_sanitize_with = str(ROOT / "tests" / "notebooks" / "sanitize.cfg")
    _fork_servers_of_the_session(config)
    if config.pluginmanager.hasplugin("nbval") and config.getoption("nbval_current_env"):
        # nbval builds this environment's kernel spec from ipykernel's, without the kit's
        # provisioner; the environment's own python3 spec is the same kernel, forked.
        from course.forking.kernelspec import spec_file, uses_provisioner

        if uses_provisioner(spec_file()):
            config.option.nbval_current_env = False
            config.option.nbval_kernel_name = "python3"


def _fork_servers_of_the_session(config: pytest.Config) -> None:
    """The fork servers the tests start live in a folder of this run's own
    (``KIT_FORK_DIR``, shared with pytest-xdist's workers) and are stopped at the end."""
    if os.environ.get("KIT_FORK_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="kit-fork-")
    os.environ["KIT_FORK_DIR"] = folder
    # They live as long as this run, not as the nbgrader command that happened to start one.
    os.environ["KIT_FORK_OWNER"] = str(os.getpid())
    config.add_cleanup(lambda: _stop_fork_servers(Path(folder)))


def _stop_fork_servers(folder: Path) -> None:
    from course.forking.client import stop_server

    for server in folder.iterdir() if folder.is_dir() else ():
        stop_server(server)
    os.environ.pop("KIT_FORK_DIR", None)
    os.environ.pop("KIT_FORK_OWNER", None)
    shutil.rmtree(folder, ignore_errors=True)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """The docstring examples of the kit's packages (helpers/ and course/) run as tests, like
    --doctest-modules but for those two only: test and fixture files are not modules to
    doctest. Each example runs once, here; no test file runs them again."""
    if file_path.suffix == ".py" and any(package in file_path.parents for package in PACKAGES):
        return DoctestModule.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
    items[:] = longest_units_first(items)


def longest_units_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The lessons' pipeline units first, the largest corpus first, then everything else in
    its usual order (each unit's tests keep theirs). A lesson's unit grades its whole
    corpus with both graders, minutes of work that cannot be split; started last, one of
    them would leave the other pytest-xdist worker idle at the end of the run."""
    units = [work_unit(item.nodeid) or "" for item in items]
    size = Counter(units)

    def key(index: int) -> tuple[int, int, str]:
        unit = units[index]
        if unit.startswith("pipeline:"):
            return (0, -size[unit], unit)
        return (1, 0, "")

    return [items[i] for i in sorted(range(len(items)), key=key)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection imported (TensorFlow, Keras, the kit) out of the garbage
    collector's sight, as the kit's warm kernel parent does: every full collection in the
    tests (``keras.backend.clear_session()`` runs one, and Python starts them as objects
    pile up) then walks only what the tests made, not 450,000 objects (0.2 s each time)."""
    gc.collect()
    gc.freeze()


def work_unit(nodeid: str) -> str | None:
    """The tests that must run on one pytest-xdist worker, in order, or None for a free test.

    * nbval: a notebook's cells share one kernel (``solutions/x/x.ipynb::Cell 3`` -> the notebook);
    * pipeline: a lesson's tests share one nbgrader run, named by the parameter id
      (``tests/pipeline/test_pipeline.py::test_points[01_shared_layers/correct]`` ->
      ``pipeline:01_shared_layers``), so each lesson is autograded once; the other pipeline
      tests (a class graded once per module, the busy machine) are a unit per module, so
      they start early too (:func:`longest_units_first`) and build their fixture once;
    * hub: the hub suite starts one JupyterHub for all its tests;
    * browser: the browser suite starts one ``course lab`` per role, one Chromium and one
      graded formgrader course for all its tests (spread over two workers, each started
      them).
    """
    path, _, rest = nodeid.partition("::")
    if path.endswith(".ipynb"):
        return path
    if path.startswith("tests/hub/"):
        return "hub"  # one JupyterHub, one course flow, shared by the module's tests
    if path.startswith("tests/browser/"):
        return "browser"
    if path.startswith("tests/pipeline/"):
        if "[" in rest:
            return "pipeline:" + rest[rest.index("[") + 1 : rest.rindex("]")].split("/")[0]
        return "pipeline:" + path
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``-n 2`` (``--dist load``, what `make test` uses) and ``--dist loadscope``, but keeping
    each :func:`work_unit` on one worker. Other tests are spread one by one (load) or by
    module (loadscope) as usual.

    (Marking the tests with ``xdist_group`` and ``--dist loadgroup`` would say the same, but
    loadgroup silently stops grouping with pytest 9.2: pytest-xdist issue #1386.)
    """
    dist = config.getoption("dist")
    if dist not in ("load", "loadscope"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class KitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            unit = work_unit(nodeid)
            if unit is not None:
                return unit
            return super()._split_scope(nodeid) if dist == "loadscope" else nodeid

    return KitScheduling(config, log)
