"""Checks that judge several models together: the variables two models have in common,
one layer shared by every model after a save and a load, and predictions of what each
model can train. Two models that call one layer object share its variables even though
neither model "contains" the other, so these checks compare variables by identity, never
by name, path or value.

Example:
    >>> import keras
    >>> base = keras.layers.Dense(3, name="base")
    >>> x = keras.Input((4,))
    >>> first = keras.Model(x, keras.layers.Dense(1, name="head")(base(x)), name="first")
    >>> x = keras.Input((4,))
    >>> second = keras.Model(x, keras.layers.Dense(2, name="head")(base(x)), name="second")
    >>> assert_shared_across([first, second], "base")       # one base: passes
    >>> assert_no_shared_variables(first, second)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 'first' and 'second' should share no variable, but 2 are one
    variable in both: base/kernel (4, 3), base/bias (3,).
    ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from ..calls import resolve_layer
from ..params import count_params
from ..variables import variable_id
from ._common import describe_variables, fail, graded, is_whole_number, type_name

__all__ = ["assert_no_shared_variables", "assert_shared_across", "assert_trainable_predictions"]


@graded
def assert_no_shared_variables(
    model: keras.layers.Layer, other: keras.layers.Layer, *, hint: str | None = None
) -> None:
    """``model`` and ``other`` (two models or layers) have no variable in common, so no
    training of one can change the other.

    >>> import keras
    >>> one, two = keras.layers.Dense(2, name="one"), keras.layers.Dense(2, name="two")
    >>> one.build((None, 3)); two.build((None, 3))
    >>> assert_no_shared_variables(one, two)              # two layers: passes
    """
    __tracebackhide__ = True
    theirs = {variable_id(v) for v in other.weights}
    common = [v for v in model.weights if variable_id(v) in theirs]
    if common:
        fail(
            f"{model.name!r} and {other.name!r} should share no variable, but "
            f"{len(common)} {'is' if len(common) == 1 else 'are'} one variable in both: "
            f"{describe_variables(common)}.\nTraining {other.name!r} would change "
            f"{model.name!r}: give {model.name!r} variables of its own (new layers, with the "
            "values copied in).",
            hint,
        )


@graded
def assert_shared_across(
    models: Sequence[keras.Model], layer: str, *, hint: str | None = None
) -> None:
    """Every model in ``models`` holds a layer named ``layer``, and it is one layer's
    variables in all of them (as when the models call one layer object), not copies.

    >>> import keras
    >>> def model_on(base):
    ...     x = keras.Input((4,))
    ...     return keras.Model(x, keras.layers.Dense(1)(base(x)))
    >>> base = keras.layers.Dense(3, name="base")
    >>> assert_shared_across([model_on(base), model_on(base)], "base")     # passes
    >>> assert_shared_across([model_on(base), model_on(keras.layers.Dense(3, name="base"))],
    ...                      "base")
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: The 2 models should share one 'base', but they hold 2
    different ones ...
    """
    __tracebackhide__ = True
    if len(models) < 2:
        fail(f"Give at least two models to compare; got {len(models)}.", hint)
    groups: dict[frozenset[int], list[str]] = {}
    sizes: dict[frozenset[int], int] = {}
    for model in models:
        try:
            found = resolve_layer(model, layer)
        except LookupError as error:
            fail(str(error), hint)
        key = frozenset(variable_id(v) for v in found.weights)
        groups.setdefault(key, []).append(model.name)
        sizes[key] = count_params(found)
    if len(groups) == 1:
        return
    listing = "\n".join(
        f"  - {', '.join(repr(n) for n in names)}: "
        f"{'its own' if len(names) == 1 else 'one'} {layer!r} of {sizes[key]:,} parameters"
        for key, names in groups.items()
    )
    fail(
        f"The {len(models)} models should share one {layer!r}, but they hold "
        f"{len(groups)} different ones (compared by variable identity, not by values):\n"
        f"{listing}\nTraining one of them would no longer change the others.",
        hint,
    )


@graded
def assert_trainable_predictions(
    models: Mapping[str, keras.Model],
    predictions: Mapping[str, int],
    *,
    hint: str | None = None,
) -> None:
    """Each prediction ``{name: number}`` is the number of parameters the model
    ``models[name]`` can train now (``count_params(model, trainable=True)``), for a
    "predict, then check" exercise about freezing: the truth is read from the models.

    >>> import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="probe")
    >>> model.trainable = False
    >>> assert_trainable_predictions({"probe": model}, {"probe": 0})     # right: passes
    >>> assert_trainable_predictions({"probe": model}, {"probe": 10})
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 1 of 1 predictions is wrong:
      - probe can train 0 parameters, not 10.
    """
    __tracebackhide__ = True
    if not isinstance(predictions, Mapping):
        fail(
            f"The predictions should be a dict {{model name: number}}, not a "
            f"{type_name(predictions)}.",
            hint,
        )
    if sorted(predictions) != sorted(models):
        fail(
            f"Give one number for each of {sorted(models)}; your dict has the keys "
            f"{sorted(predictions)}.",
            hint,
        )
    for name, value in predictions.items():
        if not is_whole_number(value):
            fail(f"The prediction for {name!r} should be a whole number, not {value!r}.", hint)
    wrong = []
    for name, model in models.items():
        actual = count_params(model, trainable=True)
        if predictions[name] != actual:
            wrong.append(f"{name} can train {actual:,} parameters, not {predictions[name]:,}.")
    if wrong:
        fail(
            f"{len(wrong)} of {len(predictions)} predictions {'is' if len(wrong) == 1 else 'are'} "
            "wrong:\n  - " + "\n  - ".join(wrong),
            hint,
        )
