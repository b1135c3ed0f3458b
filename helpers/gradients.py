"""Gradients of a shared variable, split by the layer call that used it.

When one variable is used by two calls (a layer called on two inputs, or two tied
layers), the gradient of the loss with respect to it is the *sum* of what each use
contributes. :func:`gradients_by_call` measures each contribution separately, so a
notebook can show that the sum is exactly the gradient Keras applies.

It runs the model's forward pass call by call (in training mode, as ``fit()`` does,
with :func:`helpers.replay.run_calls`) and, during each layer call that
:func:`helpers.variable_uses` lists as a reader, hands that call a stand-in tensor of the
same value that belongs to that call only. The gradient with respect to a stand-in is that
call's contribution. Everything runs in a Keras ``StatelessScope``: no variable changes,
not the moving statistics of a BatchNormalization, not the state of a random seed. It
works on the TensorFlow, JAX and PyTorch backends (:mod:`helpers.autodiff`).

Example:
    >>> import keras, numpy as np
    >>> a, b = keras.Input((2,)), keras.Input((2,))
    >>> shared = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="shared")
    >>> model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    >>> x = [np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]])]
    >>> loss = lambda out: keras.ops.sum(out)
    >>> parts = gradients_by_call(model, shared.kernel, x, loss)
    >>> {k: v.ravel().tolist() for k, v in parts.items()}
    {'shared[1]': [1.0, 2.0], 'shared[2]': [10.0, 20.0]}
    >>> gradient(model, shared.kernel, x, loss).ravel().tolist()
    [11.0, 22.0]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import keras
import numpy as np

from .analysis import Call
from .autodiff import value_and_grads
from .replay import run_calls
from .variables import variable_id, variable_uses

__all__ = [
    "gradient",
    "gradients_by_call",
    "contributions_add_up",
    "split_mismatch",
    "OUTSIDE_CALLS",
]

Loss = Callable[..., object]

OUTSIDE_CALLS = "outside layer calls"
"""The label of a part read outside every layer call (a weight regularizer in the compiled loss)."""


# --- the forward pass with stand-ins --------------------------------------------------------


class _StandInScope(keras.StatelessScope):
    """A stateless scope that gives ``variable`` a value chosen per layer call: ``pick()``
    returns the key of the stand-in for a read made now, and ``reads`` records each key."""

    def __init__(self, variable: keras.Variable, pick: Callable, stand_ins: dict) -> None:
        super().__init__(collect_losses=True)
        self.variable, self.pick, self.stand_ins = variable, pick, stand_ins
        self.reads: list = []

    def get_current_value(self, variable):
        if variable is self.variable:
            key = self.pick()
            self.reads.append(key)
            if key in self.stand_ins:
                return self.stand_ins[key]
        value = super().get_current_value(variable)
        # Keras's regularization losses read every weight through the scope: give them
        # the variable's own (unchanged) value, as a scope holding all the state would.
        return variable._value if value is None else value


class _Where:
    """Which of the model's calls (as :func:`helpers.analysis.analyse` lists them) is
    running, and whether the model itself is (a read in its own ``call()``)."""

    def __init__(self) -> None:
        self.stack: list[Call] = []
        self.in_model = False

    @contextlib.contextmanager
    def around(self, call: Call) -> Iterator[None]:
        self.stack.append(call)
        try:
            yield
        finally:
            self.stack.pop()


def _loss_value(model: keras.Model, outputs, inputs, loss: Loss | None, targets, training: bool):
    if loss is not None:
        return loss(outputs)
    if (
        getattr(model, "compiled_loss", None) is None
        and getattr(model, "_compile_loss", None) is None
    ):
        raise ValueError(
            f"Pass a loss (a function of the model's outputs), or compile {model.name!r} first "
            "and pass targets=...: then the loss is the compiled one, as in fit()."
        )
    if targets is None:
        raise ValueError("With the compiled loss, pass the targets too: gradient(..., targets=y).")
    return model.compute_loss(x=inputs, y=targets, y_pred=outputs, training=training)


def _run(model, variable, inputs, loss, targets, training, pick, keys) -> tuple[list, list]:
    """One forward pass (call by call, :func:`helpers.replay.run_calls`) and the loss,
    under stand-ins (one per key in ``keys``, all of the variable's value); the stand-ins'
    gradients and the key of every read. ``pick(where)`` chooses the key of a read."""
    base = keras.ops.convert_to_numpy(variable.value)
    record: dict = {}

    def fn(tensors):
        where = _Where()
        scope = _StandInScope(variable, lambda: pick(where), dict(zip(keys, tensors, strict=True)))
        with scope:
            where.in_model = True
            outputs = run_calls(model, inputs, where.around, training=training)
            where.in_model = False
            value = _loss_value(model, outputs, inputs, loss, targets, training)
        record["reads"] = scope.reads
        return value

    _, grads = value_and_grads(fn, [base] * len(keys))
    return grads, record["reads"]


def _readers(model: keras.Model, variable: keras.Variable) -> list[Call]:
    for use in variable_uses(model):
        if variable_id(use.variable) == variable_id(variable):
            return list(use.calls)
    return []


def gradients_by_call(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    *,
    targets=None,
    training: bool = True,
) -> dict[str, np.ndarray]:
    """``{call label: gradient}``: how much each layer call that reads ``variable``
    contributes to the gradient of the loss. The labels are exactly the readers that
    :func:`helpers.variable_uses` lists (``"lam"`` for a ``Lambda`` that applies a layer,
    ``"rnn"`` for an RNN whose cell reads it, the model's name for a read in a subclassed
    model's own ``call()``), plus :data:`OUTSIDE_CALLS` for a read outside the model (a
    weight regularizer in the compiled loss). Their sum is :func:`gradient` of the same
    loss (exactly, up to rounding), in training mode as ``fit()`` runs the model.

    Args:
        model: a Keras model (functional, Sequential or subclassed).
        variable: one of the model's variables, e.g. ``model.get_layer("encoder").kernel``.
        inputs: what you would pass to ``model(...)``.
        loss: a function of the model's output(s) returning a scalar, e.g.
            ``lambda out: keras.ops.mean((out - y) ** 2)``; ``None`` for the compiled loss
            (then pass ``targets``).
        targets: the targets for the compiled loss.
        training: run the model in training mode (``fit()``) or not (``predict()``).
    """
    readers = _readers(model, variable)
    if not readers:
        raise ValueError(f"No layer call of {model.name!r} reads the variable {variable.path!r}.")
    labels = {id(call): call.label for call in readers}
    own = next((call.label for call in readers if call.layer is model), None)

    def pick(where: _Where) -> str:
        for call in reversed(where.stack):  # the innermost running call the engine lists
            if id(call) in labels:
                return labels[id(call)]
        if where.stack:  # a read the engine did not see: filed under the model's call
            return where.stack[0].label
        return own if where.in_model and own is not None else OUTSIDE_CALLS

    # Pass 1: where the variable is read (nothing is differentiated).
    _, reads = _run(model, variable, inputs, loss, targets, training, pick, [])
    keys = list(dict.fromkeys([call.label for call in readers] + list(reads)))
    # Pass 2: the same forward pass, each reading call with its own stand-in.
    grads, _ = _run(model, variable, inputs, loss, targets, training, pick, keys)
    return dict(zip(keys, grads, strict=True))


def gradient(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    *,
    targets=None,
    training: bool = True,
) -> np.ndarray:
    """The gradient of the loss with respect to ``variable``: what ``fit()`` applies (plain
    SGD moves the variable by ``-learning_rate * gradient``). By default the model runs
    in training mode, as in ``fit()``; with ``loss=None`` the loss is the compiled one
    (``model.compute_loss``, with regularization) on ``targets``."""
    grads, _ = _run(model, variable, inputs, loss, targets, training, lambda where: "all", ["all"])
    return grads[0]


def split_mismatch(parts: Mapping[str, object], total, atol: float = 1e-5) -> str | None:
    """``None`` when the ``parts`` (``{call label: gradient}``) add up to ``total``;
    otherwise a sentence saying by how much they miss it.

    >>> import numpy as np
    >>> split_mismatch({"a[1]": np.ones(2), "a[2]": np.ones(2)}, np.full(2, 2.0)) is None
    True
    >>> print(split_mismatch({"a[1]": np.ones(2)}, np.full(2, 2.0)))
    The gradient parts (a[1]) add up to something off by up to 1 from the whole gradient: a
    part is missing or wrong.
    """
    total = np.asarray(total, dtype=float)
    arrays = [np.asarray(p, dtype=float) for p in parts.values()]
    if any(a.shape != total.shape for a in arrays):
        return f"Every gradient part must have the variable's shape {total.shape}."
    summed = sum(arrays) if arrays else np.zeros_like(total)
    if np.allclose(summed, total, atol=atol):
        return None
    return (
        f"The gradient parts ({', '.join(parts)}) add up to something off by up to "
        f"{np.abs(summed - total).max():.3g} from the whole gradient: a part is missing or wrong."
    )


def contributions_add_up(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    atol: float = 1e-5,
    *,
    targets=None,
    training: bool = True,
) -> bool:
    """``True`` when the per-call contributions add up to the full gradient."""
    parts = gradients_by_call(model, variable, inputs, loss, targets=targets, training=training)
    whole = gradient(model, variable, inputs, loss, targets=targets, training=training)
    return split_mismatch(parts, whole, atol=atol) is None
