"""Variable identity: which layer calls really use which variables.

Two layers *share* a variable when both read the very same variable object, not when
their variables merely have equal values or equal names. Keras variables are not
hashable and ``a == b`` compares values, so identity needs care; :func:`variable_id`
gives a safe key.

A layer's ``weights`` list only says which variables it *tracks*. To know which ones a
call really *uses* (a tied decoder reads its encoder's kernel; a wrapper may track a
layer it never calls), :func:`variable_uses` replays every call of the model on zeros
and records each variable read, without changing any variable.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)], name="siamese")
    >>> [(u.path, u.labels) for u in variable_uses(model)]
    [('encoder/kernel', ['encoder[1]', 'encoder[2]']),
     ('encoder/bias', ['encoder[1]', 'encoder[2]'])]
"""

from __future__ import annotations

import keras
import numpy as np

from .analysis import VariableUse, analyse, variable_size
from .calls import resolve_layer
from .tables import Table

__all__ = [
    "variable_id",
    "same_variable",
    "variable_size",
    "VariableUse",
    "variable_uses",
    "variables_used_by",
    "compare_weights",
]


def variable_id(variable: keras.Variable) -> int:
    """A key that is equal for two references to the same variable and different for
    two distinct variables, even when their values, names or paths are equal.

    >>> import keras
    >>> v = keras.Variable(1.0)
    >>> variable_id(v) == variable_id(v), variable_id(v) == variable_id(keras.Variable(1.0))
    (True, False)
    """
    return id(variable)


def same_variable(a: keras.Variable, b: keras.Variable) -> bool:
    """``True`` when ``a`` and ``b`` are one variable (not two variables with equal values)."""
    return a is b


def variable_uses(model: keras.Model) -> list[VariableUse]:
    """Every variable of the model, with the layer calls that read it.

    Variables come in the order of ``model.weights`` (variables a call reads that the model
    does not track come last). A variable used by two calls appears once, with both. A
    variable the model tracks but no call reads (a layer a wrapper holds but never calls)
    has no calls: Keras counts it, yet nothing trains it. A variable a call reads that the
    model does not track has ``owned=False``: Keras does not count it in this model.
    """
    return [VariableUse(use.variable, list(use.calls), use.owned) for use in analyse(model).uses]


def variables_used_by(
    model: keras.Model, layer: str | keras.layers.Layer, call: int | None = None
) -> list[keras.Variable]:
    """The variables that ``layer`` (all its calls, or only call number ``call``) reads,
    in its own code or in the calls it makes inside.

    >>> import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    >>> [v.path for v in variables_used_by(model, "d")]
    ['d/kernel', 'd/bias']
    """
    layer = resolve_layer(model, layer)
    found: dict[int, keras.Variable] = {}
    for use in variable_uses(model):
        for c in use.calls:
            if c.within(layer) and (call is None or c.top.number == call):
                found.setdefault(variable_id(use.variable), use.variable)
    return list(found.values())


def compare_weights(a: keras.layers.Layer, b: keras.layers.Layer) -> Table:
    """Pair the variables of two layers (or models) of one architecture, in order, and
    show for each pair whether it is ONE variable, whether the values are equal, and how
    far apart they are. Identity and equal values are different things: a copy made
    with ``set_weights`` has equal values today and separate variables for ever.

    >>> import keras
    >>> a, b = keras.layers.Dense(2, name="a"), keras.layers.Dense(2, name="b")
    >>> a.build((None, 3)); b.build((None, 3))
    >>> b.set_weights(a.get_weights())
    >>> print(compare_weights(a, b))
    Weights of 'a' and 'b'
    a         b         shape   same variable  equal values  max |a - b|
    --------  --------  ------  -------------  ------------  -----------
    a/kernel  b/kernel  (3, 2)  no             yes           0
    a/bias    b/bias    (2,)    no             yes           0
    0 of 2 pairs are one variable; 2 of 2 hold equal values.
    """
    for layer in (a, b):
        if not layer.weights:
            raise ValueError(
                f"{layer.name!r} has no variables yet: a layer creates them when it is built. "
                "Call it on an input (or a keras.Input) first, or call layer.build(input_shape)."
            )
    shapes_a = [tuple(w.shape) for w in a.weights]
    shapes_b = [tuple(w.shape) for w in b.weights]
    if shapes_a != shapes_b:
        raise ValueError(
            f"{a.name!r} and {b.name!r} do not have the same variables to compare: "
            f"{a.name!r} has shapes {shapes_a}, {b.name!r} has {shapes_b}."
        )
    rows = []
    for wa, wb in zip(a.weights, b.weights, strict=True):  # same shapes, checked above
        va, vb = np.asarray(wa.numpy()), np.asarray(wb.numpy())
        distance = float(np.max(np.abs(va - vb))) if va.size else 0.0
        rows.append(
            [
                wa.path,
                wb.path,
                tuple(wa.shape),
                "yes" if same_variable(wa, wb) else "no",
                "yes" if np.array_equal(va, vb) else "no",
                f"{distance:.3g}",
            ]
        )
    same = sum(r[3] == "yes" for r in rows)
    equal = sum(r[4] == "yes" for r in rows)
    return Table(
        [a.name, b.name, "shape", "same variable", "equal values", "max |a - b|"],
        rows,
        title=f"Weights of {a.name!r} and {b.name!r}",
        footer=[
            f"{same} of {len(rows)} pairs are one variable; "
            f"{equal} of {len(rows)} hold equal values."
        ],
    )
