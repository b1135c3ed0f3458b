"""Repository-wide pytest setup: notebook tests (nbval) and how `make test` splits the
suite over two pytest-xdist workers.

pyproject's addopts turn on ``--nbval --nbval-current-env`` and testpaths include
``solutions/``: every instructor notebook is executed in this environment and its stored
outputs are compared after the sanitizers in tests/notebooks/sanitize.cfg. Those tests carry
the ``notebooks`` marker (``pytest -m "not notebooks"`` skips them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Learner notebooks are generated, and their exercise stubs raise NotImplementedError by design.
collect_ignore = ["notebooks"]


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("nbval") and config.getoption("nbval_sanitize_with") is None:
        config.option.nbval_sanitize_with = str(ROOT / "tests" / "notebooks" / "sanitize.cfg")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)


def lesson_scope(nodeid: str) -> str | None:
    """The work unit of a pipeline test: its lesson, from the parameter id
    (``tests/pipeline/test_pipeline.py::test_points[01_shared_layers/correct]`` ->
    ``pipeline:01_shared_layers``), so each lesson is autograded once, on one worker."""
    path, _, rest = nodeid.partition("::")
    if not path.startswith("tests/pipeline/") or "[" not in rest:
        return None
    return "pipeline:" + rest[rest.index("[") + 1 : rest.rindex("]")].split("/")[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """``--dist loadscope`` (what `make test` uses), with pipeline tests grouped by lesson.

    loadscope keeps each notebook's nbval cells together (one kernel, in order) and each
    test module together. (``--dist loadgroup`` with xdist_group marks would say the same,
    but it silently stops grouping with pytest 9.2: pytest-xdist issue #1386.)
    """
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LessonScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lesson_scope(nodeid) or super()._split_scope(nodeid)

    return LessonScopeScheduling(config, log)
