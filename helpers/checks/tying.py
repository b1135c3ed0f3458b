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

from ..variables import variable_id, variables_used_by
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
    layer ``to``: the two layers are tied through one variable."""
    __tracebackhide__ = True
    user, owner = find_layer(model, layer), find_layer(model, to)
    owned = [w for w in owner.weights if w.path.split("/")[-1] == variable]
    if not owned:
        fail(
            f"Layer {owner.name!r} has no variable named {variable!r}; its variables are "
            f"{describe_variables(owner.weights)}.",
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
    fail(
        f"Layer {user.name!r} should be tied to {owner.name!r}: it should use "
        f"{target.path} {tuple(target.shape)} itself, but it does not read that variable.\n"
        f"  {user.name!r} uses {described}\n"
        "A variable of its own, even of the right (transposed) shape, is not a tie: it "
        f"starts with other values and trains apart. Read the variable of {owner.name!r} "
        "in call().",
        hint,
    )


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
