"""Checks of what training does with a model: the gradient a shared (or tied) variable
gets, split by the layer call that used it, and how often the trained model is right.

Example:
    >>> import keras, numpy as np
    >>> x = keras.Input((2,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid", name="positive")(x))
    >>> model.set_weights([np.array([[1.0], [0.0]]), np.array([0.0])])   # positive when x[0] > 0
    >>> data, truth = np.array([[1.0, 5.0], [-1.0, 5.0]]), np.array([1, 0])
    >>> assert_accuracy(model, data, truth, at_least=0.9)               # 2 of 2 right
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import numpy as np

from ..evaluation import fraction_right, majority_rate, predict_outputs
from ..gradients import gradient, gradients_by_call, split_mismatch
from ._common import fail, graded

__all__ = ["assert_gradient_split", "assert_accuracy"]


@graded
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
        fail(
            f"The gradient parts should be a dict {{call label: gradient}} as "
            f"helpers.gradients_by_call returns it, not a {type(parts).__name__}.",
            hint,
        )
    if sorted(parts) != sorted(expected):
        fail(
            f"There should be one gradient part per call that reads {variable.path}: "
            f"{sorted(expected)}; yours are for {sorted(parts)}. Did you pass the right "
            "variable?",
            hint,
        )
    for label, want in expected.items():
        got = np.asarray(parts[label], dtype=float)
        if got.shape != want.shape:
            fail(
                f"Your gradient part for {label!r} has shape {got.shape}; the variable "
                f"{variable.path} has shape {want.shape}.",
                hint,
            )
        if not np.allclose(got, want, atol=atol):
            fail(
                f"Your gradient part for {label!r} is off by up to "
                f"{np.abs(got - want).max():.3g}. Compute it for the same variable, inputs "
                "and loss.",
                hint,
            )
    whole = gradient(model, variable, inputs, loss)
    problem = split_mismatch(parts, whole, atol=atol)  # the parts must add up to the whole
    if problem is not None:
        fail(problem, hint)
    if total is not None:
        want = whole
        got = np.asarray(total, dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, atol=atol):
            off = (
                f"off by up to {np.abs(got - want).max():.3g}"
                if got.shape == want.shape
                else f"of shape {got.shape}"
            )
            fail(
                f"Your total gradient for {variable.path} is {off}. It is the gradient of the "
                "whole loss with respect to the variable (helpers.gradient).",
                hint,
            )


@graded
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
    >>> data = np.array([[1.0, 5.0], [-1.0, 5.0], [2.0, 0.0], [-3.0, 0.0]])
    >>> truth = np.array([1, 0, 1, 1])
    >>> assert_accuracy(model, data, truth, at_least=0.75)        # 3 of 4 right: passes
    >>> assert_accuracy(model, data, truth, at_least=0.9)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: The model is not accurate enough on these 4 examples:
      - output 'positive' is right on 75.0% of them; it should be at least 90.0% (always
        answering the most common value scores 75.0%).
    """
    __tracebackhide__ = True
    targets = dict(y) if isinstance(y, Mapping) else None
    predicted = predict_outputs(model, x)
    if targets is None:
        if len(predicted) != 1:
            fail(
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
        # A grader's mistake, not the learner's: no CheckFailed.
        raise ValueError(f"no targets for {', '.join(repr(n) for n in unknown)} in y")
    missing = [name for name in floors if name not in predicted]
    if missing:
        fail(
            f"{model.name!r} has no output named {', '.join(repr(n) for n in missing)}; its "
            f"outputs are named {list(predicted)}. An output is named after the layer that "
            "produces it: give that layer name=.",
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
    fail(
        f"The model is not accurate enough on these {count:,} examples:\n  - "
        + "\n  - ".join(lines),
        hint,
    )
