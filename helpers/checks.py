"""Checks for exercises: each ``assert_...`` function passes silently when the model is
right, and otherwise raises :class:`CheckFailed` with a message that says, in plain
words, what is wrong in *this* model (which layers, which variables) and what to change.

Use them to check yourself; the graders use the same functions.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> left, right = keras.layers.Dense(3, name="left"), keras.layers.Dense(3, name="right")
    >>> model = keras.Model([a, b], [left(a), right(b)])
    >>> assert_not_shared(model, "left", "right")      # passes: two layers, two sets of weights
    >>> assert_shared(model, "left", "right")
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layers 'left' and 'right' should share weights, but they use different variables.
    ...
"""

from __future__ import annotations

from typing import Mapping, Sequence

import keras

from .calls import call_counts, resolve_layer
from .evaluation import fraction_right, majority_rate, predict_outputs
from .params import count_params, param_table
from .sharing import same_architecture, shared_variables, sharing_groups
from .variables import variable_id, variables_used_by

__all__ = [
    "CheckFailed",
    "assert_calls",
    "assert_shared",
    "assert_not_shared",
    "assert_separate_copies",
    "assert_tied",
    "assert_sharing_map",
    "assert_param_count",
    "assert_param_budget",
    "assert_output_shape",
    "assert_io_names",
    "assert_accuracy",
]

LayerRef = str | keras.layers.Layer


class CheckFailed(AssertionError):
    """An exercise check that failed. The message explains what to change."""


def _fail(message: str, hint: str | None = None) -> None:
    __tracebackhide__ = True  # IPython and pytest show the message, not helper internals
    raise CheckFailed(message + (f"\nHint: {hint}" if hint else ""))


def _describe(variables: Sequence[keras.Variable]) -> str:
    if not variables:
        return "no variables"
    return ", ".join(f"{v.path} {tuple(v.shape)}" for v in variables)


def _layer(model: keras.Model, ref: LayerRef) -> keras.layers.Layer:
    __tracebackhide__ = True
    try:
        return resolve_layer(model, ref)
    except LookupError as error:
        _fail(str(error) + " Check the name= you gave each layer.")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def assert_calls(model: keras.Model, layer: LayerRef, expected: int, *, hint: str | None = None) -> None:
    """``layer`` is called exactly ``expected`` times in ``model``: one layer object (one
    set of weights) used on ``expected`` inputs."""
    __tracebackhide__ = True
    target = _layer(model, layer)
    counts = call_counts(model)
    actual = counts.get(target.name, 0)
    if actual == expected:
        return
    message = (
        f"Layer {target.name!r} should be called {_plural(expected, 'time')} (one layer object, "
        f"one set of weights, used on {expected} inputs), but your model calls it "
        f"{_plural(actual, 'time')}."
    )
    twins = [
        l.name for l in model.layers
        if l is not target and type(l) is type(target) and l.weights
        and [tuple(w.shape) for w in l.weights] == [tuple(w.shape) for w in target.weights]
    ]
    if actual < expected and twins:
        message += (
            f" Your model also has {', '.join(repr(n) for n in twins)} of the same kind and "
            "shape, with weights of its own: creating a new layer creates new variables. "
            "Create the layer once and call that same object on every input."
        )
    _fail(message, hint)


def assert_shared(model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None) -> None:
    """Layers ``a`` and ``b`` of ``model`` use at least one common variable (the very same
    variable object, not an equal copy)."""
    __tracebackhide__ = True
    layer_a, layer_b = _layer(model, a), _layer(model, b)
    if shared_variables(model, layer_a, layer_b):
        return
    if layer_a is layer_b:
        _fail(
            f"Layer {layer_a.name!r} should be used more than once so that its weights are "
            f"shared, but your model calls it only once.", hint)
    _fail(
        f"Layers {layer_a.name!r} and {layer_b.name!r} should share weights, but they use "
        f"different variables.\n"
        f"  {layer_a.name!r} uses {_describe(variables_used_by(model, layer_a))}\n"
        f"  {layer_b.name!r} uses {_describe(variables_used_by(model, layer_b))}\n"
        "Equal shapes are not enough: sharing means the very same variable objects. "
        "Call one layer object on both inputs instead of creating two layers.",
        hint,
    )


def assert_not_shared(model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None) -> None:
    """Layers ``a`` and ``b`` of ``model`` have no variable in common."""
    __tracebackhide__ = True
    layer_a, layer_b = _layer(model, a), _layer(model, b)
    if layer_a is layer_b:
        _fail(
            f"{a!r} and {b!r} should be two layers with separate weights, but they are one "
            f"layer object called {_plural(call_counts(model).get(layer_a.name, 0), 'time')}: "
            "every call uses the same variables. Create a new layer for each use "
            "(call your block-building function again).", hint)
    common = shared_variables(model, layer_a, layer_b)
    if common:
        _fail(
            f"Layers {layer_a.name!r} and {layer_b.name!r} should have separate weights, but "
            f"they use the same {_plural(len(common), 'variable')}: {_describe(common)}. "
            "Whatever trains one changes the other. Give each its own layers.",
            hint,
        )


def assert_separate_copies(model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None) -> None:
    """``a`` and ``b`` (layers or sub-models) have the same architecture and no variable
    in common: two independent copies of one design."""
    __tracebackhide__ = True
    layer_a, layer_b = _layer(model, a), _layer(model, b)
    assert_not_shared(model, layer_a, layer_b, hint=hint)
    if not same_architecture(layer_a, layer_b):
        _fail(
            f"{layer_a.name!r} and {layer_b.name!r} should be copies of one architecture, "
            f"but they differ: {layer_a.name!r} is a {type(layer_a).__name__} with "
            f"{count_params(layer_a):,} parameters in variables of shapes "
            f"{[tuple(w.shape) for w in layer_a.weights]}; {layer_b.name!r} is a "
            f"{type(layer_b).__name__} with {count_params(layer_b):,} parameters in variables "
            f"of shapes {[tuple(w.shape) for w in layer_b.weights]}. Build both with the "
            "same code and the same settings.",
            hint,
        )


def assert_tied(
    model: keras.Model, layer: LayerRef, to: LayerRef, variable: str = "kernel", *, hint: str | None = None
) -> None:
    """Layer ``layer`` reads the variable ``variable`` (e.g. ``"kernel"``) that belongs to
    layer ``to``: the two layers are tied through one variable."""
    __tracebackhide__ = True
    user, owner = _layer(model, layer), _layer(model, to)
    owned = [w for w in owner.weights if w.path.split("/")[-1] == variable]
    if not owned:
        _fail(
            f"Layer {owner.name!r} has no variable named {variable!r}; its variables are "
            f"{_describe(owner.weights)}.", hint)
    target = owned[0]
    used = variables_used_by(model, user)
    if any(variable_id(v) == variable_id(target) for v in used):
        return
    _fail(
        f"Layer {user.name!r} should be tied to {owner.name!r}: it should use "
        f"{target.path} {tuple(target.shape)} itself, but it does not read that variable.\n"
        f"  {user.name!r} uses {_describe(used)}\n"
        "A variable of its own, even of the right (transposed) shape, is not a tie: it "
        f"starts with other values and trains apart. Read {owner.name!r}'s variable in call().",
        hint,
    )


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
    with :func:`assert_tied`) are left out of the groups, so a broken tie does not also
    fail the sharing map.

    >>> # A shared trunk (called on two inputs) with separate heads:
    >>> # assert_sharing_map(model, calls={"trunk": 2, "head_a": 1, "head_b": 1})
    """
    __tracebackhide__ = True
    problems = []
    counts = call_counts(model)
    for name, expected in (calls or {}).items():
        _layer(model, name)
        if counts.get(name, 0) != expected:
            problems.append(
                f"{name!r} should be called {_plural(expected, 'time')}, "
                f"but it is called {_plural(counts.get(name, 0), 'time')}.")
    for name in ignore:
        _layer(model, name)
    actual = [set(g) for g in sharing_groups(model, ignore=ignore)]
    wanted = [set(g) for g in groups]
    for group in wanted:
        for name in group:
            _layer(model, name)
        if group not in actual:
            holding = [g for g in actual if g & group]
            problems.append(
                f"{sorted(group)} should share variables as one group, but the groups of layers "
                f"sharing variables are {[sorted(g) for g in holding]}.")
    for group in actual:
        if len(group) > 1 and group not in wanted:
            problems.append(
                f"{sorted(group)} share variables, but they should not: give each its own layer.")
    if problems:
        _fail("The model does not share weights as specified:\n  - " + "\n  - ".join(problems), hint)


def assert_param_count(
    source: keras.layers.Layer,
    expected: int,
    *,
    trainable: bool | None = None,
    hint: str | None = None,
) -> None:
    """``source`` (a model or layer) has exactly ``expected`` parameters, each distinct
    variable counted once (``trainable=True``/``False``: only those)."""
    __tracebackhide__ = True
    actual = count_params(source, trainable)
    if actual == expected:
        return
    kind = {None: "", True: "trainable ", False: "non-trainable "}[trainable]
    message = (f"{source.name!r} should have {expected:,} {kind}parameters, "
               f"but it has {actual:,} ({actual - expected:+,}).")
    if isinstance(source, keras.Model) and hasattr(source, "_nodes_by_depth"):
        message += "\nWhere they are:\n" + str(param_table(source))
    _fail(message, hint)


def assert_param_budget(
    model: keras.layers.Layer, maximum: int, minimum: int = 0, *, hint: str | None = None
) -> None:
    """``model`` has between ``minimum`` and ``maximum`` parameters (inclusive)."""
    __tracebackhide__ = True
    actual = count_params(model)
    if minimum <= actual <= maximum:
        return
    side = "over" if actual > maximum else "under"
    _fail(f"{model.name!r} has {actual:,} parameters, {side} the budget of "
          f"{minimum:,} to {maximum:,}.", hint)


def assert_output_shape(model: keras.Model, expected: tuple | list[tuple], *, hint: str | None = None) -> None:
    """The model's output shape (batch dimension ``None``) is ``expected``; for several
    outputs, a list of shapes."""
    __tracebackhide__ = True

    def norm(shape):
        if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
            return [tuple(s) for s in shape]  # several outputs
        return tuple(shape)

    actual = norm(model.output_shape)
    if actual == norm(expected):
        return
    _fail(f"{model.name!r} should output shape {norm(expected)}, but it outputs {actual}.", hint)


def assert_io_names(
    model: keras.Model,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    *,
    hint: str | None = None,
) -> None:
    """The model's inputs and outputs have exactly these names, in this order. Inputs take
    the ``name=`` of their ``keras.Input``; outputs the name of the layer that makes them.

    >>> import keras
    >>> x = keras.Input((3,), name="pixels")
    >>> model = keras.Model(x, keras.layers.Dense(1, name="score")(x))
    >>> assert_io_names(model, inputs=["pixels"], outputs=["score"])      # passes
    >>> assert_io_names(model, outputs=["label"])
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: The model's outputs should be named ['label'] (in this order), but they are ['score']. An output is named after the layer that produces it: give that layer name=.
    """
    __tracebackhide__ = True
    problems = []
    if inputs is not None:
        actual = [t.name for t in model.inputs]
        if actual != list(inputs):
            problems.append(
                f"The model's inputs should be named {list(inputs)} (in this order), but they are "
                f"{actual}. Give each keras.Input(...) its name= and pass them to keras.Model in "
                "that order.")
    if outputs is not None:
        actual = list(getattr(model, "output_names", None) or [])
        if actual != list(outputs):
            problems.append(
                f"The model's outputs should be named {list(outputs)} (in this order), but they are "
                f"{actual}. An output is named after the layer that produces it: give that "
                "layer name=.")
    if problems:
        _fail("\n".join(problems), hint)


def assert_accuracy(
    model: keras.Model,
    x,
    y,
    at_least: float | Mapping[str, float],
    *,
    hint: str | None = None,
) -> None:
    """Each output of ``model`` that ``y`` has targets for is right on at least
    ``at_least`` of the examples ``(x, y)`` (one floor for all outputs, or a dict of
    floors by output name). The accuracy is measured here, on the data given, with
    :func:`helpers.evaluation.accuracy`'s rules: one-unit outputs are probabilities (above 0.5
    means 1), wider outputs class scores (the largest wins).

    >>> import keras, numpy as np
    >>> x = keras.Input((2,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid", name="positive")(x))
    >>> model.set_weights([np.array([[1.0], [0.0]]), np.array([0.0])])   # positive when x[0] > 0
    >>> data, truth = np.array([[1.0, 5.0], [-1.0, 5.0], [2.0, 0.0], [-3.0, 0.0]]), np.array([1, 0, 1, 1])
    >>> assert_accuracy(model, data, truth, at_least=0.75)        # 3 of 4 right: passes
    >>> assert_accuracy(model, data, truth, at_least=0.9)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: The model is not accurate enough on these 4 examples:
      - output 'positive' is right on 75.0% of them; it should be at least 90.0% (always answering the most common value scores 75.0%).
    """
    __tracebackhide__ = True
    targets = dict(y) if isinstance(y, Mapping) else None
    predicted = predict_outputs(model, x)
    if targets is None:
        if len(predicted) != 1:
            _fail(f"{model.name!r} has {len(predicted)} outputs; the check needs targets for each "
                  "output by name.", hint)
        targets = {next(iter(predicted)): y}
    floors = dict(at_least) if isinstance(at_least, Mapping) else {name: float(at_least) for name in targets}
    unknown = [name for name in floors if name not in targets]
    if unknown:
        raise ValueError(f"no targets for {', '.join(repr(n) for n in unknown)} in y")  # a grader's mistake
    missing = [name for name in floors if name not in predicted]
    if missing:
        _fail(f"{model.name!r} has no output named {', '.join(repr(n) for n in missing)}; its outputs are "
              f"named {list(predicted)}. An output is named after the layer that produces it: give "
              "that layer name=.", hint)
    scores = {name: fraction_right(predicted[name], targets[name]) for name in floors}
    low = [name for name in floors if scores[name] < floors[name]]
    if not low:
        return
    count = len(next(iter(targets.values())))
    lines = [
        f"output {name!r} is right on {scores[name]:.1%} of them; it should be at least "
        f"{floors[name]:.1%} (always answering the most common value scores "
        f"{majority_rate(targets[name]):.1%})."
        for name in low
    ]
    _fail(f"The model is not accurate enough on these {count:,} examples:\n  - " + "\n  - ".join(lines), hint)
