"""helpers.grading: hidden tests get checks that a notebook cannot have tampered with."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

import helpers
import helpers.checks
import helpers.sharing
import helpers.variables
from helpers.grading import pristine

CHECKS = [name for name in helpers.checks.__all__ if name.startswith("assert_")]


def always_pass(*args, **kwargs) -> None:
    return None


#: The modules of the helpers.checks package, where the checks are defined.
CHECK_MODULES = [
    module
    for name, module in sorted(sys.modules.items())
    if name.startswith("helpers.checks.") and module is not None
]
#: What the checks rely on, faked so that every model passes.
FAKES = {
    "shared_variables": lambda *a: ["fake"],
    "call_counts": lambda model: {},
    "CheckFailed": Exception,
}


@pytest.fixture
def tampered(monkeypatch):
    """What a learner's cell could do: make every check, and what the checks rely on,
    pass whatever the model (undone after the test), in the package and in the module that
    defines each check."""
    for name in CHECKS:
        monkeypatch.setattr(helpers, name, always_pass)
        monkeypatch.setattr(helpers.checks, name, always_pass)
    for module in CHECK_MODULES:
        for name in getattr(module, "__all__", []):
            if name.startswith("assert_"):
                monkeypatch.setattr(module, name, always_pass)
        for name, fake in FAKES.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake)
    monkeypatch.setattr(helpers.checks, "CheckFailed", Exception)
    monkeypatch.setattr(helpers.sharing, "variable_uses", lambda model: [])
    monkeypatch.setattr(helpers.variables, "variable_uses", lambda model: [])


def test_the_tampering_reaches_every_module_of_the_checks():
    """The fixture above fakes each check where it is defined, not only where it is
    re-exported: a check module the package gains is tampered with (and tested) too."""
    defined = {n for m in CHECK_MODULES for n in getattr(m, "__all__", []) if n in CHECKS}
    assert defined == set(CHECKS)
    assert len(CHECK_MODULES) > 1


def test_pristine_has_every_public_name():
    grader = pristine()
    for name in helpers.__all__:
        assert hasattr(grader, name), name
    assert grader is not helpers
    assert grader.assert_shared is not helpers.assert_shared


def test_pristine_checks_work_after_the_package_was_tampered_with(
    tampered, two_towers, siamese, untied_autoencoder
):
    # The tampered package now lets a wrong model through...
    helpers.assert_shared(two_towers, "tower_a", "tower_b")
    helpers.checks.assert_calls(two_towers, "tower_a", 2)
    helpers.checks.sharing.assert_calls(two_towers, "tower_a", 2)
    helpers.checks.separation.assert_separate_copies(two_towers, "tower_a", "tower_a")
    helpers.assert_tied(untied_autoencoder, "decoder", "encoder")
    # ...the pristine copy does not.
    grader = pristine()
    with pytest.raises(AssertionError, match="should share weights"):
        grader.assert_shared(two_towers, "tower_a", "tower_b")
    with pytest.raises(AssertionError, match="should be called 2 times"):
        grader.assert_calls(two_towers, "tower_a", 2)
    with pytest.raises(AssertionError, match="should be tied to 'encoder'"):
        grader.assert_tied(untied_autoencoder, "decoder", "encoder")
    with pytest.raises(AssertionError, match="over the budget"):
        grader.assert_param_budget(siamese, 10)
    with pytest.raises(AssertionError, match="two layers with separate weights"):
        grader.checks.separation.assert_separate_copies(two_towers, "tower_a", "tower_a")
    # and still passes the right model
    grader.assert_shared(siamese, "encoder", "encoder")
    grader.assert_calls(siamese, "encoder", 2)
    assert grader.count_params(siamese) == 19


def test_pristine_check_failures_are_assertion_errors_with_the_same_message(two_towers):
    grader = pristine()
    with pytest.raises(grader.CheckFailed) as info:
        grader.assert_shared(two_towers, "tower_a", "tower_b")
    assert isinstance(info.value, AssertionError)
    with pytest.raises(helpers.CheckFailed) as original:
        helpers.assert_shared(two_towers, "tower_a", "tower_b")
    assert str(info.value) == str(original.value)


def test_pristine_leaves_nothing_in_sys_modules():
    before = set(sys.modules)
    grader = pristine()
    assert set(sys.modules) - before == set()
    assert not [name for name in sys.modules if name.startswith("_helpers_pristine")]
    # The copy is complete even though it is not registered anywhere.
    assert grader.checks.assert_shared is grader.assert_shared
    assert grader.sharing.variable_uses is grader.variables.variable_uses


def test_each_pristine_is_a_fresh_copy():
    first, second = pristine(), pristine()
    assert first is not second
    assert first.assert_calls is not second.assert_calls
    first.assert_calls = always_pass  # tampering with one copy...
    assert second.assert_calls is not always_pass  # ...does not reach another


def test_pristine_copy_runs_the_heavier_helpers(tied_autoencoder):
    grader = pristine()
    report = grader.sharing_report(tied_autoencoder)
    assert report.rows[0][4] == "encoder, decoder"
    kernel = tied_autoencoder.get_layer("encoder").kernel
    x = np.ones((2, 6), "float32")
    assert grader.contributions_add_up(
        tied_autoencoder, kernel, x, lambda out: keras.ops.sum(out**2)
    )
    assert grader.formula_for(tied_autoencoder.get_layer("encoder")).value == 21
