"""Checks for tied layers: one layer reads a variable that another layer created (say, a
decoder using the encoder's kernel transposed), and owns only what it creates itself.

Example:
    >>> import keras
    >>> x = keras.Input((4,))
    >>> encoder = keras.layers.Dense(2, name="encoder")
    >>> decoder = keras.layers.Dense(4, name="decoder")
    >>> model = keras.Model(x, decoder(encoder(x)))
    >>> assert_owns(model.get_layer("decoder"), ["kernel", "bias"])   # its own, as any Dense
    >>> assert_tied(model, "decoder", "encoder")                       # but no tie
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layer 'decoder' should be tied to 'encoder': it should use
    encoder/kernel (4, 2) itself, but it does not read that variable.
    ...
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..operations import frozen_copies
from ..variables import variable_id, variable_uses, variables_used_by
from ._common import LayerRef, describe_variables, fail, find_layer, graded

__all__ = ["assert_tied", "assert_owns"]


@graded
def assert_tied(
    model: keras.Model,
    layer: LayerRef,
    to: LayerRef,
    variable: str = "kernel",
    *,
    hint: str | None = None,
) -> None:
    """Layer ``layer`` reads the variable ``variable`` (e.g. ``"kernel"``) that belongs to
    layer ``to``: the two layers are tied through one variable. ``layer`` can also name an
    operation of a functional graph (``"einsum"`` for ``ops.einsum(h, emb.embeddings)``).

    A frozen copy (``ops.matmul(h, ops.transpose(emb.embeddings))`` in a functional graph,
    computed once when the model was built) is not a tie: the check fails and says so.
    """
    __tracebackhide__ = True
    owner = find_layer(model, to)
    operation = _operation(model, layer)
    user = operation if operation is not None else find_layer(model, layer)
    owned = [w for w in owner.weights if w.path.split("/")[-1] == variable]
    if not owned:
        fail(
            f"Layer {owner.name!r} has no variable named {variable!r}; its variables are "
            f"{describe_variables(owner.weights)}.",
            hint,
        )
    target = owned[0]
    if operation is not None:
        used = [u.variable for u in variable_uses(model) if any(c.layer is user for c in u.calls)]
    else:
        used = variables_used_by(model, user)
    if any(variable_id(v) == variable_id(target) for v in used):
        return
    copies = [c for c in frozen_copies(model) if variable_id(c.variable) == variable_id(target)]
    if copies:
        fail(
            f"{user.name!r} should be tied to {owner.name!r}, but "
            + copies[0].message[0].lower()
            + copies[0].message[1:],
            hint,
        )
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
    fail(
        f"Layer {user.name!r} should be tied to {owner.name!r}: it should use "
        f"{target.path} {tuple(target.shape)} itself, but it does not read that variable.\n"
        f"  {user.name!r} uses {described}\n"
        "A variable of its own, even of the right (transposed) shape, is not a tie: it "
        f"starts with other values and trains apart. Read the variable of {owner.name!r} "
        "in call().",
        hint,
    )


def _operation(model: keras.Model, name: LayerRef):
    """The graph operation named ``name`` that reads a variable (not a layer), or ``None``."""
    if not isinstance(name, str) or any(layer.name == name for layer in model.layers):
        return None
    for use in variable_uses(model):
        for call in use.calls:
            if call.is_operation and call.layer.name == name:
                return call.layer
    for copy in frozen_copies(model):
        if copy.operation == name:
            return _Named(name)
    return None


class _Named:
    """A graph operation known only by name (it holds a frozen copy, reads no variable)."""

    def __init__(self, name: str) -> None:
        self.name = name


@graded
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
    helpers.checks.CheckFailed: Layer 'd' should own exactly ['bias'], but its weights are
    d/kernel (3, 2), d/bias (2,).
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
        f"{describe_variables(weights)}."
    )
    if foreign:
        owners = ", ".join(dict.fromkeys(repr(w.path.rsplit("/", 1)[0]) for w in foreign))
        message += (
            f"\n{describe_variables(foreign)} belong to {owners}: {layer.name!r} lists them as "
            f"its own because it keeps that layer in a normal attribute (self.x = other_layer), "
            "which Keras tracks as a sub-layer. Then summary() counts those parameters twice "
            f"and freezing {layer.name!r} freezes {owners} too. Keep the reference without "
            'tracking: object.__setattr__(self, "x", other_layer).'
        )
    fail(message, hint)
