"""Checks of an answer a learner worked out by reading a model (its calls per layer, its
number of variables or parameters, which layers share weights), compared with what the
model really does. The truth is read from the model, never typed in; a wrong answer gets
a message that shows how to count again, not the answer.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)], name="pair")
    >>> assert_call_counts(model, {"encoder": 2})      # one layer, called twice
    >>> assert_variable_count(model, 2)                # one kernel, one bias
    >>> assert_predicted_count(30, model)              # (4 + 1) x 3 = 15, counted once
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: your prediction is 30: not the parameter count of 'pair'.
    ...
"""

from __future__ import annotations

from collections.abc import Mapping

import keras

from ..calls import call_counts, layer_calls
from ..formulas import formula_for, rule_for
from ..params import count_params
from ..sharing import shares_weights
from ..variables import variable_uses
from ._common import LayerRef, fail, find_layer, graded, is_whole_number, plural, type_name

__all__ = [
    "assert_call_counts",
    "assert_variable_count",
    "assert_sharing_predictions",
    "assert_predicted_count",
]


@graded
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
    >>> added = keras.layers.Add(name="add")([encoder(a), encoder(b)])
    >>> model = keras.Model([a, b], added, name="pair")
    >>> assert_call_counts(model, {"encoder": 2, "add": 1})     # right: passes silently
    >>> assert_call_counts(model, {"encoder": 1})
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Your call counts do not match the model 'pair':
      - 'encoder': 1 is not its number of calls. Recount: every time the code
        applies 'encoder' to a tensor is one call (in functions and loops too).
      - Your answer leaves out 'add' (Add). It has no variables, but each use of it is
        still a call (a node of the graph).
    """
    __tracebackhide__ = True
    if not isinstance(answer, Mapping):
        fail(
            f"Give the call counts as a dict {{layer name: number of calls}}, e.g. "
            f"{{'encoder': 2}}; got a {type_name(answer)}.",
            hint,
        )
    calls = layer_calls(model)
    counts = call_counts(model)
    inputs = {layer.name for layer in model.layers if isinstance(layer, keras.layers.InputLayer)}
    by_layer: dict[str, list] = {}
    for call in calls:
        by_layer.setdefault(call.layer.name, []).append(call)

    problems = [
        problem
        for name, value in answer.items()
        if (problem := _count_problem(name, value, counts, inputs)) is not None
    ]
    problems += [_left_out(by_layer[name][0].layer) for name in counts if name not in answer]
    if problems:
        fail(
            f"Your call counts do not match the model {model.name!r}:\n  - "
            + "\n  - ".join(problems),
            hint,
        )


def _count_problem(
    name: str, value: object, counts: Mapping[str, int], inputs: set[str]
) -> str | None:
    """What is wrong with ``value`` as the number of calls of the layer ``name``, or None."""
    if not is_whole_number(value):
        return f"{name!r}: a number of calls is a whole number, not {value!r}."
    if name in inputs:
        return (
            f"{name!r} is an input (a placeholder for data), not a layer call: leave it out."
            if value
            else None
        )
    if name not in counts:
        return (
            f"The model calls no layer named {name!r}, so its count is 0, not {value}. "
            "A layer you create but never call on a tensor is not part of the model."
            if value
            else None
        )
    if value != counts[name]:
        return (
            f"{name!r}: {value} is not its number of calls. Recount: every time the code\n"
            f"    applies {name!r} to a tensor is one call (in functions and loops too)."
        )
    return None


def _left_out(layer: keras.layers.Layer) -> str:
    """The problem of an answer that leaves out ``layer``, a layer the model calls."""
    why = (
        ""
        if layer.weights
        else " It has no variables, but each use of it is still a call (a node of the graph)."
    )
    return f"Your answer leaves out {layer.name!r} ({type(layer).__name__}).{why}"


@graded
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
    >>> added = keras.layers.Add(name="add")([encoder(a), encoder(b)])
    >>> model = keras.Model([a, b], added, name="pair")
    >>> assert_variable_count(model, 2)      # one kernel, one bias: passes silently
    >>> assert_variable_count(model, 4)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 4 is not the number of variables of the model 'pair'.
    You counted each variable once per call. 'encoder' is called 2 times, but every call
    of a layer uses that layer's one set of variables: count them once.
    Recount: list each layer the model calls and the variables it creates
    (a kernel, a bias, ...), each layer once, however many calls it has.
    """
    __tracebackhide__ = True
    if not is_whole_number(answer):
        fail(f"Give the number of variables as a whole number (an int); got {answer!r}.", hint)
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
            f"{n!r} is called {plural(counts[n], 'time')}"
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
            f"\nYou left out the {plural(len(frozen), 'non-trainable variable')} "
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
    fail(message, hint)


@graded
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
        fail(
            f"The predictions should be a dict {{layer name: True or False}}, not a "
            f"{type(predictions).__name__}.",
            hint,
        )
    target = find_layer(model, reference)
    wrong = []
    for name, predicted in predictions.items():
        if not isinstance(predicted, bool):
            fail(f"The prediction for {name!r} should be True or False, not {predicted!r}.", hint)
        truth = shares_weights(model, target, find_layer(model, name))
        if truth != predicted:
            wrong.append(
                f"{name!r} does {'' if truth else 'NOT '}share weights with {target.name!r}, "
                f"but you predicted it does{'' if predicted else ' not'}."
            )
    if wrong:
        fail(
            f"{len(wrong)} of {len(predictions)} predictions {'is' if len(wrong) == 1 else 'are'} "
            "wrong:\n  - " + "\n  - ".join(wrong),
            hint,
        )


def _settings(layer: keras.layers.Layer) -> str:
    """``Dense(units=32)``, ``Conv2D(filters=8, kernel_size=(3, 3))``: what a layer was
    asked for."""
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


@graded
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
    if not is_whole_number(predicted):
        fail(
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
    fail(message, hint)
