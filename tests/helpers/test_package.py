"""helpers/__init__.py: everything a lesson needs is importable from ``helpers``."""

from __future__ import annotations

import helpers
from helpers import (
    calls,
    checks,
    diagram,
    formulas,
    gradients,
    operations,
    params,
    plots,
    sharing,
    tables,
    variables,
)

MODULES = [
    calls,
    variables,
    sharing,
    params,
    formulas,
    plots,
    diagram,
    gradients,
    operations,
    checks,
    tables,
]


def test_every_public_name_of_every_module_is_exported():
    missing = {name for module in MODULES for name in module.__all__} - set(helpers.__all__)
    assert not missing


def test_exported_names_exist_and_are_listed_once():
    assert len(helpers.__all__) == len(set(helpers.__all__)), "duplicates in helpers.__all__"
    for name in helpers.__all__:
        assert getattr(helpers, name) is not None, name


def test_exported_names_are_the_module_objects():
    assert helpers.assert_shared is checks.assert_shared
    assert helpers.sharing_report is sharing.sharing_report
    assert helpers.Table is tables.Table


def test_each_check_is_defined_once_and_re_exported_by_helpers_checks():
    """helpers.checks is a package of one module per idea; its ``__all__`` is exactly the
    checks its modules define (plus CheckFailed), the very same objects."""
    modules = [
        checks.capacity,
        checks.outputs,
        checks.predictions,
        checks.separation,
        checks.sharing,
        checks.training,
        checks.tying,
    ]
    defined = [name for module in modules for name in module.__all__]
    assert len(defined) == len(set(defined)), "a check is defined in two modules"
    assert set(checks.__all__) == set(defined) | {"CheckFailed"}
    for module in modules:
        for name in module.__all__:
            assert getattr(checks, name) is getattr(module, name), name
            assert getattr(module, name).__module__ == module.__name__, name
    assert checks.CheckFailed.__module__ == "helpers.checks"  # what tracebacks show
