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

import functools
import numbers
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from typing import Any

import keras
import numpy as np

from .analysis import InspectionError, analyse, graph_of
from .calls import call_counts, layer_calls, resolve_layer
from .evaluation import fraction_right, majority_rate, predict_outputs
from .formulas import formula_for, rule_for
from .gradients import gradient, gradients_by_call, split_mismatch
from .params import Blocks, block_params, count_params, param_table
from .sharing import (
    config_differences,
    same_architecture,
    shared_variables,
    shares_weights,
    sharing_groups,
)
from .variables import variable_id, variable_uses, variables_used_by

__all__ = [
    "CheckFailed",
    "assert_calls",
    "assert_call_counts",
    "assert_variable_count",
    "assert_shared",
    "assert_not_shared",
    "assert_separate_copies",
    "assert_tied",
    "assert_owns",
    "assert_gradient_split",
    "assert_sharing_map",
    "assert_param_count",
    "assert_param_budget",
    "assert_output_shape",
    "assert_sharing_predictions",
    "assert_predicted_count",
    "assert_capacity_ratio",
    "assert_io_names",
    "assert_accuracy",
]

LayerRef = str | keras.layers.Layer


class CheckFailed(AssertionError):
    """An exercise check that failed. The message explains what to change.

    In a notebook it shows as ``CheckFailed: <message>`` alone: the lines of helper code
    that raised it would only distract from what to change in the model.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom tracebacks
        return [f"{type(self).__name__}: {self}"]


def _fail(message: str, hint: str | None = None) -> None:
    __tracebackhide__ = True  # IPython and pytest show the message, not helper internals
    raise CheckFailed(message + (f"\nHint: {hint}" if hint else ""))


def _graded(check: Callable) -> Callable:
    """``check`` with the helpers' own failures (a layer they cannot run, a model never
    built) turned into a failed check that says so, instead of a traceback."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return check(*args, **kwargs)
        except InspectionError as error:
            hint = kwargs.get("hint")
            raise CheckFailed(str(error) + (f"\nHint: {hint}" if hint else "")) from None

    return run


def _describe(variables: Sequence[keras.Variable]) -> str:
    if not variables:
        return "no variables"
    return ", ".join(f"{v.path} {tuple(v.shape)}" for v in variables)


def _layer(model: keras.Model, ref: LayerRef) -> keras.layers.Layer:
    __tracebackhide__ = True
    try:
        return resolve_layer(model, ref)
    except LookupError as error:
        message = str(error) + " Check the name= you gave each layer."
        reused = {name: n for name, n in call_counts(model).items() if n > 1}
        if reused:
            message += (
                " Note: "
                + "; ".join(
                    f"{name!r} is called {n} times (one layer object, one set of weights, used on "
                    f"{n} inputs)"
                    for name, n in reused.items()
                )
                + "."
            )
        _fail(message)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def assert_calls(
    model: keras.Model, layer: LayerRef, expected: int, *, hint: str | None = None
) -> None:
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
    own = {variable_id(w) for w in target.weights}
    twins = [
        l.name
        for l in model.layers
        if l is not target
        and type(l) is type(target)
        and l.weights
        and [tuple(w.shape) for w in l.weights] == [tuple(w.shape) for w in target.weights]
        and not any(variable_id(w) in own for w in l.weights)  # an alias shares, it is no twin
    ]
    if actual < expected and twins:
        message += (
            f" Your model also has {', '.join(repr(n) for n in twins)} of the same kind and "
            "shape, with weights of its own: creating a new layer creates new variables. "
            "Create the layer once and call that same object on every input."
        )
    _fail(message, hint)


def _is_count(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def assert_call_counts(
    model: keras.Model, answer: Mapping[str, int], *, hint: str | None = None
) -> None:
    """``answer`` gives, for every layer of ``model``, how many times the model calls it
    (``{layer name: calls}``, what :func:`~helpers.calls.call_counts` reports). Inputs
    are not calls; a layer the model never calls may be left out or given 0.

    Use it to check a count you made by reading a model's code. The message says which
    layers are off, and lists each of their calls so the count can be redone.

    >>> import keras
    >>> a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], keras.layers.Add(name="add")([encoder(a), encoder(b)]), name="pair")
    >>> assert_call_counts(model, {"encoder": 2, "add": 1})     # right: passes silently
    >>> assert_call_counts(model, {"encoder": 1})
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Your call counts do not match the model 'pair':
      - 'encoder': 1 is not its number of calls. Recount: every time the code
        applies 'encoder' to a tensor is one call (in functions and loops too).
      - Your answer leaves out 'add' (Add). It has no variables, but each use of it is still a call (a node of the graph).
    """
    __tracebackhide__ = True
    if not isinstance(answer, Mapping):
        _fail(
            f"Give the call counts as a dict {{layer name: number of calls}}, e.g. "
            f"{{'encoder': 2}}; got a {_type_name(answer)}.",
            hint,
        )
    calls = layer_calls(model)
    counts = call_counts(model)
    inputs = {l.name for l in model.layers if isinstance(l, keras.layers.InputLayer)}
    by_layer: dict[str, list] = {}
    for call in calls:
        by_layer.setdefault(call.layer.name, []).append(call)

    problems = []
    for name, value in answer.items():
        if not _is_count(value):
            problems.append(f"{name!r}: a number of calls is a whole number, not {value!r}.")
        elif name in inputs:
            if value:
                problems.append(
                    f"{name!r} is an input (a placeholder for data), not a layer call: leave it out."
                )
        elif name not in counts:
            if value:
                problems.append(
                    f"The model calls no layer named {name!r}, so its count is 0, not {value}. "
                    "A layer you create but never call on a tensor is not part of the model."
                )
        elif value != counts[name]:
            problems.append(
                f"{name!r}: {value} is not its number of calls. Recount: every time the code\n"
                f"    applies {name!r} to a tensor is one call (in functions and loops too)."
            )
    for name, n in counts.items():
        if name not in answer:
            layer = by_layer[name][0].layer
            why = (
                ""
                if layer.weights
                else " It has no variables, but each use of it is still a call (a node of the graph)."
            )
            problems.append(f"Your answer leaves out {name!r} ({type(layer).__name__}).{why}")
    if problems:
        _fail(
            f"Your call counts do not match the model {model.name!r}:\n  - "
            + "\n  - ".join(problems),
            hint,
        )


def assert_variable_count(model: keras.Model, answer: int, *, hint: str | None = None) -> None:
    """``answer`` is the number of distinct variables ``model`` uses, each counted once
    however many calls use it (the rows of :func:`~helpers.sharing.sharing_report`; for
    a model without ties, ``len(model.weights)``). Trainable or not, a variable counts.

    When the answer is off, the message names the usual reason (a variable counted once
    per call, the non-trainable ones left out, parameters counted instead of variables)
    and lists how many variables each layer has.

    >>> import keras
    >>> a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], keras.layers.Add(name="add")([encoder(a), encoder(b)]), name="pair")
    >>> assert_variable_count(model, 2)      # one kernel, one bias: passes silently
    >>> assert_variable_count(model, 4)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 4 is not the number of variables of the model 'pair'.
    You counted each variable once per call. 'encoder' is called 2 times, but every call of a layer uses that layer's one set of variables: count them once.
    Recount: list each layer the model calls and the variables it creates
    (a kernel, a bias, ...), each layer once, however many calls it has.
    """
    __tracebackhide__ = True
    if not _is_count(answer):
        _fail(f"Give the number of variables as a whole number (an int); got {answer!r}.", hint)
    uses = variable_uses(model)
    actual = len(uses)
    if answer == actual:
        return
    message = f"{answer} is not the number of variables of the model {model.name!r}."
    per_call = sum(len(u.calls) for u in uses)
    frozen = [u for u in uses if not u.trainable]
    params = sum(u.size for u in uses)
    if answer == per_call and per_call != actual:
        repeated = list(dict.fromkeys(name for u in uses if u.is_shared for name in u.layers))
        counts = call_counts(model)
        listing = " and ".join(
            f"{n!r} is called {_plural(counts[n], 'time')}"
            if counts.get(n, 1) > 1
            else f"{n!r} calls a layer inside it more than once"
            for n in repeated
        )
        message += (
            f"\nYou counted each variable once per call. {listing}, "
            "but every call of a layer uses that layer's one set of variables: count them once."
        )
    elif frozen and answer == actual - len(frozen):
        message += (
            f"\nYou left out the {_plural(len(frozen), 'non-trainable variable')} "
            f"({', '.join(u.path for u in frozen)}). Training does not change them, but "
            "they are variables of the model all the same: model.weights lists them."
        )
    elif answer == params:
        message += (
            f"\n{answer:,} is the number of parameters (single numbers). A variable is a "
            "whole tensor, such as a kernel or a bias."
        )
    message += (
        "\nRecount: list each layer the model calls and the variables it creates\n"
        "(a kernel, a bias, ...), each layer once, however many calls it has."
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
            f"shared, but your model calls it only once.",
            hint,
        )
    _fail(
        f"Layers {layer_a.name!r} and {layer_b.name!r} should share weights, but they use "
        f"different variables.\n"
        f"  {layer_a.name!r} uses {_describe(variables_used_by(model, layer_a))}\n"
        f"  {layer_b.name!r} uses {_describe(variables_used_by(model, layer_b))}\n"
        "Equal shapes are not enough: sharing means the very same variable objects. "
        "Call one layer object on both inputs instead of creating two layers.",
        hint,
    )


def assert_not_shared(
    model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None
) -> None:
    """Layers ``a`` and ``b`` of ``model`` have no variable in common."""
    __tracebackhide__ = True
    layer_a, layer_b = _layer(model, a), _layer(model, b)
    if layer_a is layer_b:
        _fail(
            f"{layer_a.name!r} and {layer_b.name!r} should be two layers with separate weights, "
            "but they are one "
            f"layer object called {_plural(call_counts(model).get(layer_a.name, 0), 'time')}: "
            "every call uses the same variables. Create a new layer for each use "
            "(call your block-building function again).",
            hint,
        )
    common = shared_variables(model, layer_a, layer_b)
    if common:
        _fail(
            f"Layers {layer_a.name!r} and {layer_b.name!r} should have separate weights, but "
            f"they use the same {_plural(len(common), 'variable')}: {_describe(common)}. "
            "Whatever trains one changes the other. Give each its own layers.",
            hint,
        )


def assert_separate_copies(
    model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None
) -> None:
    """``a`` and ``b`` (layers or sub-models) have the same architecture and no variable
    in common: two independent copies of one design."""
    __tracebackhide__ = True
    layer_a, layer_b = _layer(model, a), _layer(model, b)
    assert_not_shared(model, layer_a, layer_b, hint=hint)
    if same_architecture(layer_a, layer_b):
        return
    settings = config_differences(layer_a, layer_b)
    same_shapes = [tuple(w.shape) for w in layer_a.weights] == [
        tuple(w.shape) for w in layer_b.weights
    ]
    if type(layer_a) is type(layer_b) and same_shapes and settings:
        # Same kind, same variables: only settings such as the activation tell them apart.
        _fail(
            f"{layer_a.name!r} and {layer_b.name!r} should be copies of one architecture, "
            f"but their settings differ: "
            + "; ".join(
                f"{key} is {va!r} in {layer_a.name!r} and {vb!r} in {layer_b.name!r}"
                for key, (va, vb) in settings.items()
            )
            + ". Build both with the same code and the same settings.",
            hint,
        )
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
    model: keras.Model,
    layer: LayerRef,
    to: LayerRef,
    variable: str = "kernel",
    *,
    hint: str | None = None,
) -> None:
    """Layer ``layer`` reads the variable ``variable`` (e.g. ``"kernel"``) that belongs to
    layer ``to``: the two layers are tied through one variable."""
    __tracebackhide__ = True
    user, owner = _layer(model, layer), _layer(model, to)
    owned = [w for w in owner.weights if w.path.split("/")[-1] == variable]
    if not owned:
        _fail(
            f"Layer {owner.name!r} has no variable named {variable!r}; its variables are "
            f"{_describe(owner.weights)}.",
            hint,
        )
    target = owned[0]
    used = variables_used_by(model, user)
    if any(variable_id(v) == variable_id(target) for v in used):
        return
    described = (
        ", ".join(
            f"{v.path} {tuple(v.shape)}"
            + (
                " (NOT the model's: another variable with the same name)"
                if v.path == target.path
                else ""
            )
            for v in used
        )
        or "no variables"
    )
    _fail(
        f"Layer {user.name!r} should be tied to {owner.name!r}: it should use "
        f"{target.path} {tuple(target.shape)} itself, but it does not read that variable.\n"
        f"  {user.name!r} uses {described}\n"
        "A variable of its own, even of the right (transposed) shape, is not a tie: it "
        f"starts with other values and trains apart. Read the variable of {owner.name!r} in call().",
        hint,
    )


def assert_owns(
    layer: keras.layers.Layer, expected: Sequence[str], *, hint: str | None = None
) -> None:
    """``layer.weights`` are exactly the variables named ``expected`` (the last part of
    each path, e.g. ``["bias"]``), all created by ``layer`` itself.

    ``weights`` is what Keras treats as the layer's own: its row in ``summary()``, what
    ``trainable = False`` freezes. A tied layer should own only what it creates; the
    variable it borrows stays with the layer that created it.

    >>> import keras
    >>> dense = keras.layers.Dense(2, name="d")
    >>> dense.build((None, 3))
    >>> assert_owns(dense, ["kernel", "bias"])      # passes silently
    >>> assert_owns(dense, ["bias"])
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layer 'd' should own exactly ['bias'], but its weights are d/kernel (3, 2), d/bias (2,).
    """
    __tracebackhide__ = True
    weights = layer.weights
    prefix = layer.path + "/"
    foreign = [w for w in weights if not w.path.startswith(prefix)]
    own = sorted(w.path.split("/")[-1] for w in weights if w.path.startswith(prefix))
    if not foreign and own == sorted(expected):
        return
    message = (
        f"Layer {layer.name!r} should own exactly {list(expected)}, but its weights are "
        f"{_describe(weights)}."
    )
    if foreign:
        owners = ", ".join(dict.fromkeys(repr(w.path.rsplit("/", 1)[0]) for w in foreign))
        message += (
            f"\n{_describe(foreign)} belong to {owners}: {layer.name!r} lists them as its own "
            f"because it keeps that layer in a normal attribute (self.x = other_layer), which "
            "Keras tracks as a sub-layer. Then summary() counts those parameters twice and "
            f"freezing {layer.name!r} freezes {owners} too. Keep the reference without "
            'tracking: object.__setattr__(self, "x", other_layer).'
        )
    _fail(message, hint)


def assert_gradient_split(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Callable,
    parts,
    total=None,
    *,
    atol: float = 1e-5,
    hint: str | None = None,
) -> None:
    """``parts`` is the gradient of ``loss`` with respect to ``variable`` split by layer
    call (``{call label: array}``, as :func:`~helpers.gradients.gradients_by_call` gives
    it) and ``total``, if given, the whole gradient (:func:`~helpers.gradients.gradient`).

    >>> import keras, numpy as np
    >>> x = keras.Input((2,))
    >>> shared = keras.layers.Dense(2, use_bias=False, name="shared")
    >>> model = keras.Model(x, shared(shared(x)))
    >>> data, loss = np.ones((1, 2)), lambda out: keras.ops.sum(out)
    >>> parts = {"shared[1]": np.zeros((2, 2)), "shared[2]": np.zeros((2, 2))}
    >>> assert_gradient_split(model, shared.kernel, data, loss, parts)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Your gradient part for 'shared[1]' is off by up to ...
    """
    __tracebackhide__ = True
    expected = gradients_by_call(model, variable, inputs, loss)
    if not isinstance(parts, Mapping):
        _fail(
            f"The gradient parts should be a dict {{call label: gradient}} as "
            f"helpers.gradients_by_call returns it, not a {type(parts).__name__}.",
            hint,
        )
    if sorted(parts) != sorted(expected):
        _fail(
            f"There should be one gradient part per call that reads {variable.path}: "
            f"{sorted(expected)}; yours are for {sorted(parts)}. Did you pass the right variable?",
            hint,
        )
    for label, want in expected.items():
        got = np.asarray(parts[label], dtype=float)
        if got.shape != want.shape:
            _fail(
                f"Your gradient part for {label!r} has shape {got.shape}; the variable "
                f"{variable.path} has shape {want.shape}.",
                hint,
            )
        if not np.allclose(got, want, atol=atol):
            _fail(
                f"Your gradient part for {label!r} is off by up to {np.abs(got - want).max():.3g}. "
                "Compute it for the same variable, inputs and loss.",
                hint,
            )
    whole = gradient(model, variable, inputs, loss)
    problem = split_mismatch(parts, whole, atol=atol)  # the parts must add up to the whole gradient
    if problem is not None:
        _fail(problem, hint)
    if total is not None:
        want = whole
        got = np.asarray(total, dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, atol=atol):
            off = (
                f"off by up to {np.abs(got - want).max():.3g}"
                if got.shape == want.shape
                else f"of shape {got.shape}"
            )
            _fail(
                f"Your total gradient for {variable.path} is {off}. It is the gradient of the "
                "whole loss with respect to the variable (helpers.gradient).",
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
                problems.append(f"{error} Check the name= you gave each layer.")
            return False
        return True

    for name, expected in (calls or {}).items():
        if exists(name) and counts.get(name, 0) != expected:
            problems.append(
                f"{name!r} should be called {_plural(expected, 'time')}, "
                f"but it is called {_plural(counts.get(name, 0), 'time')}."
            )
    for name in ignore:
        _layer(model, name)
    actual = [set(g) for g in sharing_groups(model, ignore=ignore)]
    wanted = [set(g) for g in groups]
    for group in wanted:
        if not all([exists(name) for name in sorted(group)]):
            continue
        if group not in actual:
            holding = [g for g in actual if g & group]
            problems.append(
                f"{sorted(group)} should share variables as one group, but the groups of layers "
                f"sharing variables are {[sorted(g) for g in holding]}."
            )
    for group in actual:
        if len(group) > 1 and group not in wanted:
            problems.append(
                f"{sorted(group)} share variables, but they should not: give each its own layer."
            )
    if problems:
        _fail(
            "The model does not share weights as specified:\n  - " + "\n  - ".join(problems), hint
        )


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
    message = (
        f"{source.name!r} should have {expected:,} {kind}parameters, "
        f"but it has {actual:,} ({actual - expected:+,})."
    )
    if isinstance(source, keras.Model):
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
    _fail(
        f"{model.name!r} has {actual:,} parameters, {side} the budget of "
        f"{minimum:,} to {maximum:,}.",
        hint,
    )


def assert_output_shape(
    model: keras.Model, expected: tuple | list[tuple], *, hint: str | None = None
) -> None:
    """The model's output shape (batch dimension ``None``) is ``expected``; for several
    outputs, a list of shapes."""
    __tracebackhide__ = True

    def norm(shape):
        if (
            isinstance(shape, (list, tuple))
            and shape
            and all(isinstance(s, (list, tuple)) for s in shape)
        ):
            return [tuple(s) for s in shape]  # several outputs
        return tuple(shape)

    if graph_of(model) is not None:
        actual = norm(model.output_shape)
    else:  # a subclassed model: the shapes its traced call returned
        shapes = analyse(model).output_shapes
        actual = norm(shapes if len(shapes) > 1 else shapes[0])
    if actual == norm(expected):
        return
    _fail(f"{model.name!r} should output shape {norm(expected)}, but it outputs {actual}.", hint)


def assert_sharing_predictions(
    model: keras.Model,
    reference: LayerRef,
    predictions: Mapping[str, bool],
    *,
    hint: str | None = None,
) -> None:
    """Each prediction ``{layer name: True/False}`` says correctly whether that layer of
    ``model`` shares weights with ``reference`` (uses at least one of the same variables).

    For "predict, then check" exercises: the truth is read from the model, never typed in.

    >>> import keras
    >>> x = keras.Input((4,))
    >>> first = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="first")
    >>> clone = keras.models.clone_model(first); clone.name = "clone"
    >>> model = keras.Model(x, [first(x), clone(x)])
    >>> assert_sharing_predictions(model, "first", {"clone": False})   # right: passes
    >>> assert_sharing_predictions(model, "first", {"clone": True})
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 1 of 1 predictions is wrong:
      - 'clone' does NOT share weights with 'first', but you predicted it does.
    """
    __tracebackhide__ = True
    if not isinstance(predictions, Mapping):
        _fail(
            f"The predictions should be a dict {{layer name: True or False}}, not a "
            f"{type(predictions).__name__}.",
            hint,
        )
    target = _layer(model, reference)
    wrong = []
    for name, predicted in predictions.items():
        if not isinstance(predicted, bool):
            _fail(f"The prediction for {name!r} should be True or False, not {predicted!r}.", hint)
        truth = shares_weights(model, target, _layer(model, name))
        if truth != predicted:
            wrong.append(
                f"{name!r} does {'' if truth else 'NOT '}share weights with {target.name!r}, "
                f"but you predicted it does{'' if predicted else ' not'}."
            )
    if wrong:
        _fail(
            f"{len(wrong)} of {len(predictions)} predictions {'is' if len(wrong) == 1 else 'are'} "
            "wrong:\n  - " + "\n  - ".join(wrong),
            hint,
        )


def _settings(layer: keras.layers.Layer) -> str:
    """``Dense(units=32)``, ``Conv2D(filters=8, kernel_size=(3, 3))``: what a layer was asked for."""
    config = layer.get_config()
    keys = ("units", "filters", "kernel_size", "input_dim", "output_dim")
    chosen = ", ".join(
        f"{k}={tuple(config[k]) if isinstance(config[k], list) else config[k]}"
        for k in keys
        if k in config
    )
    return f"{type(layer).__name__}({chosen})"


def _how_to_count(source: keras.layers.Layer, reveal: bool) -> list[str]:
    """One line per layer with parameters: its rule (``reveal=False``) or its worked formula."""
    if isinstance(source, keras.Model):
        first_calls, seen = [], set()
        for call in layer_calls(source):
            if id(call.layer) not in seen and call.input_shapes:
                seen.add(id(call.layer))
                first_calls.append((call.layer, call.input_shapes[0]))
    else:
        try:
            first_calls = [(source, tuple(source.input.shape))]
        except (AttributeError, ValueError):
            return []
    lines, values = [], []
    for layer, shape in first_calls:
        if not layer.weights:
            continue
        formula = formula_for(layer, shape)
        if formula is None:
            lines.append(
                f"  - {layer.name!r}, {type(layer).__name__}: {count_params(layer):,} "
                "(no formula for this kind of layer; count its variables' sizes)"
            )
            values.append(count_params(layer))
        elif reveal:
            lines.append(f"  - {layer.name!r}, {_settings(layer)}: {formula}")
            values.append(formula.value)
        else:
            lines.append(
                f"  - {layer.name!r}, {_settings(layer)} on input {shape}:\n      {rule_for(layer)}"
            )
    if reveal and len(values) > 1:
        lines.append(f"  total: {' + '.join(f'{v:,}' for v in values)} = {sum(values):,}")
    return lines


def assert_predicted_count(
    predicted: int,
    source: keras.layers.Layer,
    *,
    name: str = "your prediction",
    reveal: bool = False,
    hint: str | None = None,
) -> None:
    """``predicted`` (a whole number a learner worked out) is the number of parameters of
    ``source`` (a model or a layer that has been called), each variable counted once.

    When it is wrong, the message lists each layer with parameters and the rule to count
    it (``reveal=False``), or the rule with the numbers filled in and the total
    (``reveal=True``, for feedback after grading).

    >>> import keras
    >>> x = keras.Input((64,))
    >>> model = keras.Model(x, keras.layers.Dense(10, name="head")(x), name="probe")
    >>> assert_predicted_count(650, model)            # (64 + 1) x 10: passes
    >>> assert_predicted_count(640, model, name="head_count")
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: head_count is 640: not the parameter count of 'probe'.
    Count each layer with its rule, then add the counts up:
      - 'head', Dense(units=10) on input (None, 64):
          (inputs + 1) × units
    """
    __tracebackhide__ = True
    if isinstance(predicted, bool) or not isinstance(predicted, numbers.Integral):
        _fail(
            f"{name} should be a whole number such as 1234, not {predicted!r} "
            f"({type(predicted).__name__}). Write the number you worked out.",
            hint,
        )
    actual = count_params(source)
    predicted = int(predicted)
    if predicted == actual:
        return
    difference = actual - predicted
    how_much = f"{abs(difference):,} {'more' if difference > 0 else 'fewer'} than predicted"
    message = (
        f"{name} is {predicted:,}, but {source.name!r} has {actual:,} parameters ({how_much})."
        if reveal
        else f"{name} is {predicted:,}: not the parameter count of {source.name!r}."
    )
    lines = _how_to_count(source, reveal)
    if lines:
        intro = (
            "How Keras counts them:"
            if reveal
            else "Count each layer with its rule, then add the counts up:"
        )
        message += "\n" + intro + "\n" + "\n".join(lines)
    _fail(message, hint)


def _prefix_blocks(names: Sequence[str]):
    """Layer name -> block: ``stage1`` holds the layer ``stage1`` and every ``stage1_...``."""
    ordered = sorted(names, key=len, reverse=True)  # "stage10" before "stage1"

    def block_of(layer_name: str) -> str:
        for block in ordered:
            if layer_name == block or layer_name.startswith(block + "_"):
                return block
        return layer_name

    return block_of


def _ratio_text(value: float) -> str:
    return f"{value:g}"


def assert_capacity_ratio(
    model: keras.Model,
    ratio: Mapping[str, float],
    blocks: Blocks = None,
    *,
    tolerance: float = 0.1,
    hint: str | None = None,
) -> None:
    """The blocks named in ``ratio`` have parameter counts in that ratio, each within
    ``tolerance`` (0.1 = 10 %) of its target, measured against the first block.

    A block is, by default, the layer with the block's name and every layer whose name
    starts with it and ``_`` (``stage1`` holds ``stage1_conv1``, ``stage1_conv2``, ...);
    pass ``blocks`` (as for :func:`helpers.params.block_params`) to group layers otherwise.
    A variable shared by several blocks counts in the first block that uses it.

    >>> # stage2 twice the parameters of stage1, stage3 four times:
    >>> # assert_capacity_ratio(model, {"stage1": 1, "stage2": 2, "stage3": 4})
    """
    __tracebackhide__ = True
    if len(ratio) < 2 or any(r <= 0 for r in ratio.values()):
        raise ValueError("ratio needs at least two blocks, each with a positive share")
    grouping = blocks if blocks is not None else _prefix_blocks(list(ratio))
    counts = {block: t + n for block, (t, n) in block_params(model, grouping).items()}
    empty = [block for block in ratio if not counts.get(block)]
    if empty:
        layer_names = ", ".join(repr(l.name) for l in model.layers)
        _fail(
            f"{model.name!r} has no parameters in block(s) {', '.join(repr(b) for b in empty)}. "
            f"A block holds the layers named after it ('{empty[0]}_conv1', '{empty[0]}_dense1', ...); "
            f"the layers of your model are {layer_names}. Name each block's layers after the block.",
            hint,
        )
    names = list(ratio)
    reference = names[0]
    rows, wrong = [], []
    for block in names:
        wanted = ratio[block] / ratio[reference]
        actual = counts[block] / counts[reference]
        off = actual / wanted - 1
        verdict = (
            "ok" if abs(off) <= tolerance else f"{abs(off):.0%} too {'many' if off > 0 else 'few'}"
        )
        if abs(off) > tolerance:
            wrong.append(block)
        rows.append(
            f"  {block:<{max(map(len, names))}}  {counts[block]:>9,}  "
            f"×{actual:.2f}  (wanted ×{_ratio_text(wanted)})  {verdict if block != reference else ''}".rstrip()
        )
    if not wrong:
        return
    target = " : ".join(_ratio_text(ratio[b]) for b in names)
    _fail(
        f"The blocks of {model.name!r} should have parameters in the ratio {target} "
        f"(each within {tolerance:.0%}), but {', '.join(repr(b) for b in wrong)} "
        f"{'is' if len(wrong) == 1 else 'are'} off. Parameters per block, and as a multiple of {reference!r}:\n"
        + "\n".join(rows)
        + "\nA layer's parameters grow with its inputs × its outputs: doubling the filters of a\n"
        "layer whose input also doubled multiplies its count by about 4. Depth adds\n"
        "parameters linearly when the layers are alike: to double a block,\n"
        "double its depth (or multiply its width by about 1.4).",
        hint,
    )


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
    if graph_of(model) is None:
        _fail(
            f"{model.name!r} is a subclassed model: its inputs and outputs have no names. Build "
            "it as a functional model, keras.Model(inputs, outputs), with named keras.Input(...) "
            "and named output layers.",
            hint,
        )
    if inputs is not None:
        actual = [t.name for t in model.inputs]
        if actual != list(inputs):
            problems.append(
                f"The model's inputs should be named {list(inputs)} (in this order), but they are "
                f"{actual}. Give each keras.Input(...) its name= and pass them to keras.Model in "
                "that order."
            )
    if outputs is not None:
        actual = list(getattr(model, "output_names", None) or [])
        if actual != list(outputs):
            problems.append(
                f"The model's outputs should be named {list(outputs)} (in this order), but they are "
                f"{actual}. An output is named after the layer that produces it: give that "
                "layer name=."
            )
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
            _fail(
                f"{model.name!r} has {len(predicted)} outputs; the check needs targets for each "
                "output by name.",
                hint,
            )
        targets = {next(iter(predicted)): y}
    floors = (
        dict(at_least)
        if isinstance(at_least, Mapping)
        else {name: float(at_least) for name in targets}
    )
    unknown = [name for name in floors if name not in targets]
    if unknown:
        raise ValueError(
            f"no targets for {', '.join(repr(n) for n in unknown)} in y"
        )  # a grader's mistake
    missing = [name for name in floors if name not in predicted]
    if missing:
        _fail(
            f"{model.name!r} has no output named {', '.join(repr(n) for n in missing)}; its outputs are "
            f"named {list(predicted)}. An output is named after the layer that produces it: give "
            "that layer name=.",
            hint,
        )
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
    _fail(
        f"The model is not accurate enough on these {count:,} examples:\n  - "
        + "\n  - ".join(lines),
        hint,
    )


for _name in __all__:
    if _name.startswith("assert_"):
        globals()[_name] = _graded(globals()[_name])
