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

import numbers
from typing import Mapping, Sequence

import keras

from .calls import call_counts, layer_calls, resolve_layer
from .formulas import formula_for, rule_for
from .params import Blocks, block_params, count_params, param_table
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
    "assert_predicted_count",
    "assert_capacity_ratio",
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
    hint: str | None = None,
) -> None:
    """The model shares exactly as specified: each layer in ``calls`` is called that many
    times; the layers in each of ``groups`` share variables with each other; and no other
    layers share any variable.

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
    actual = [set(g) for g in sharing_groups(model)]
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


def _settings(layer: keras.layers.Layer) -> str:
    """``Dense(units=32)``, ``Conv2D(filters=8, kernel_size=(3, 3))``: what a layer was asked for."""
    config = layer.get_config()
    keys = ("units", "filters", "kernel_size", "input_dim", "output_dim")
    chosen = ", ".join(f"{k}={tuple(config[k]) if isinstance(config[k], list) else config[k]}"
                       for k in keys if k in config)
    return f"{type(layer).__name__}({chosen})"


def _how_to_count(source: keras.layers.Layer, reveal: bool) -> list[str]:
    """One line per layer with parameters: its rule (``reveal=False``) or its worked formula."""
    if isinstance(source, keras.Model) and hasattr(source, "_nodes_by_depth"):
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
            lines.append(f"  - {layer.name!r}, {type(layer).__name__}: {count_params(layer):,} "
                         "(no formula for this kind of layer; count its variables' sizes)")
            values.append(count_params(layer))
        elif reveal:
            lines.append(f"  - {layer.name!r}, {_settings(layer)}: {formula}")
            values.append(formula.value)
        else:
            lines.append(f"  - {layer.name!r}, {_settings(layer)} on input {shape}: {rule_for(layer)}")
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
    helpers.checks.CheckFailed: head_count is 640, but 'probe' has 650 parameters (10 more than predicted).
    Count each layer with its rule, then add the counts up:
      - 'head', Dense(units=10) on input (None, 64): (inputs + 1) × units
    """
    __tracebackhide__ = True
    if isinstance(predicted, bool) or not isinstance(predicted, numbers.Integral):
        _fail(f"{name} should be a whole number such as 1234, not {predicted!r} "
              f"({type(predicted).__name__}). Write the number you worked out.", hint)
    actual = count_params(source)
    predicted = int(predicted)
    if predicted == actual:
        return
    difference = actual - predicted
    how_much = f"{abs(difference):,} {'more' if difference > 0 else 'fewer'} than predicted"
    message = f"{name} is {predicted:,}, but {source.name!r} has {actual:,} parameters ({how_much})."
    lines = _how_to_count(source, reveal)
    if lines:
        intro = "How Keras counts them:" if reveal else "Count each layer with its rule, then add the counts up:"
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
        verdict = "ok" if abs(off) <= tolerance else f"{abs(off):.0%} too {'many' if off > 0 else 'few'}"
        if abs(off) > tolerance:
            wrong.append(block)
        rows.append(f"  {block:<{max(map(len, names))}}  {counts[block]:>9,}  "
                    f"×{actual:.2f}  (wanted ×{_ratio_text(wanted)})  {verdict if block != reference else ''}".rstrip())
    if not wrong:
        return
    target = " : ".join(_ratio_text(ratio[b]) for b in names)
    _fail(
        f"The blocks of {model.name!r} should have parameters in the ratio {target} "
        f"(each within {tolerance:.0%}), but {', '.join(repr(b) for b in wrong)} "
        f"{'is' if len(wrong) == 1 else 'are'} off. Parameters per block, and as a multiple of {reference!r}:\n"
        + "\n".join(rows)
        + "\nA layer's parameters grow with its inputs × its outputs: doubling the filters of a "
        "layer whose input also doubled multiplies its count by about 4. Depth adds "
        "parameters linearly: to double a block, double its depth (or multiply its width "
        "by about 1.4).",
        hint,
    )
