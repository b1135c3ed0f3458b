"""Checks that layers share weights: one layer object called on several inputs, layers
that read the same variables, and a whole model's map of who shares with whom.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)])
    >>> assert_calls(model, "encoder", 2)                # one layer, called on both inputs
    >>> assert_sharing_map(model, calls={"encoder": 2})  # and no other layers share
    >>> assert_calls(model, "encoder", 3)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layer 'encoder' should be called 3 times (one layer object,
    one set of weights, used on 3 inputs), but your model calls it 2 times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from ..calls import call_counts, resolve_layer
from ..sharing import shared_variables, sharing_groups
from ..variables import variable_id, variables_used_by
from ._common import (
    NAME_ADVICE,
    LayerRef,
    describe_variables,
    fail,
    find_layer,
    graded,
    plural,
    weight_shapes,
)

__all__ = ["assert_calls", "assert_shared", "assert_sharing_map"]


@graded
def assert_calls(
    model: keras.Model, layer: LayerRef, expected: int, *, hint: str | None = None
) -> None:
    """``layer`` is called exactly ``expected`` times in ``model``: one layer object (one
    set of weights) used on ``expected`` inputs."""
    __tracebackhide__ = True
    target = find_layer(model, layer)
    counts = call_counts(model)
    actual = counts.get(target.name, 0)
    if actual == expected:
        return
    message = (
        f"Layer {target.name!r} should be called {plural(expected, 'time')} (one layer object, "
        f"one set of weights, used on {expected} inputs), but your model calls it "
        f"{plural(actual, 'time')}."
    )
    own = {variable_id(w) for w in target.weights}
    twins = [
        other.name
        for other in model.layers
        if other is not target
        and type(other) is type(target)
        and other.weights
        and weight_shapes(other) == weight_shapes(target)
        and not any(variable_id(w) in own for w in other.weights)  # an alias shares: no twin
    ]
    if actual < expected and twins:
        message += (
            f" Your model also has {', '.join(repr(n) for n in twins)} of the same kind and "
            "shape, with weights of its own: creating a new layer creates new variables. "
            "Create the layer once and call that same object on every input."
        )
    fail(message, hint)


@graded
def assert_shared(model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None) -> None:
    """Layers ``a`` and ``b`` of ``model`` use at least one common variable (the very same
    variable object, not an equal copy)."""
    __tracebackhide__ = True
    layer_a, layer_b = find_layer(model, a), find_layer(model, b)
    if shared_variables(model, layer_a, layer_b):
        return
    if layer_a is layer_b:
        fail(
            f"Layer {layer_a.name!r} should be used more than once so that its weights are "
            f"shared, but your model calls it only once.",
            hint,
        )
    fail(
        f"Layers {layer_a.name!r} and {layer_b.name!r} should share weights, but they use "
        f"different variables.\n"
        f"  {layer_a.name!r} uses {describe_variables(variables_used_by(model, layer_a))}\n"
        f"  {layer_b.name!r} uses {describe_variables(variables_used_by(model, layer_b))}\n"
        "Equal shapes are not enough: sharing means the very same variable objects. "
        "Call one layer object on both inputs instead of creating two layers.",
        hint,
    )


def _group_problems(
    actual: list[set[str]], wanted: list[set[str]], asked: list[set[str]]
) -> list[str]:
    """The sharing groups ``wanted`` (those of the ``asked`` groups whose layers exist) that
    the model does not have, and the groups it has that were not ``asked`` for."""
    problems = [
        f"{sorted(group)} should share variables as one group, but the groups of layers "
        f"sharing variables are {[sorted(g) for g in actual if g & group]}."
        for group in wanted
        if group not in actual
    ]
    problems += [
        f"{sorted(group)} share variables, but they should not: give each its own layer."
        for group in actual
        if len(group) > 1 and group not in asked
    ]
    return problems


@graded
def assert_sharing_map(
    model: keras.Model,
    *,
    calls: Mapping[str, int] | None = None,
    groups: Sequence[Sequence[str]] = (),
    ignore: Sequence[str] = (),
    hint: str | None = None,
) -> None:
    """The model shares exactly as specified: each layer in ``calls`` is called that many
    times; the layers in each of ``groups`` share variables with each other; and no other
    layers share any variable. Layers in ``ignore`` (say, a tied layer checked on its own
    with :func:`~helpers.checks.assert_tied`) are left out of the groups, so a broken tie
    does not also fail the sharing map.

    >>> # A shared trunk (called on two inputs) with separate heads:
    >>> # assert_sharing_map(model, calls={"trunk": 2, "head_a": 1, "head_b": 1})
    """
    __tracebackhide__ = True
    problems = []
    counts = call_counts(model)
    missing: list[str] = []

    def exists(name: str) -> bool:
        # A missing layer is one problem among the others, not the end of the check: a
        # model that shares one head where two were asked for lacks the second head's
        # name AND calls the first one twice, and the learner should read both.
        try:
            resolve_layer(model, name)
        except LookupError as error:
            if name not in missing:
                missing.append(name)
                problems.append(f"{error} {NAME_ADVICE}")
            return False
        return True

    for name, expected in (calls or {}).items():
        if exists(name) and counts.get(name, 0) != expected:
            problems.append(
                f"{name!r} should be called {plural(expected, 'time')}, "
                f"but it is called {plural(counts.get(name, 0), 'time')}."
            )
    for name in ignore:
        find_layer(model, name)
    actual = [set(g) for g in sharing_groups(model, ignore=ignore)]
    wanted = [set(g) for g in groups if all([exists(name) for name in sorted(g)])]
    problems += _group_problems(actual, wanted, [set(g) for g in groups])
    if problems:
        fail("The model does not share weights as specified:\n  - " + "\n  - ".join(problems), hint)
