"""Sharing: which layers of a model use the same variables, and a report that shows it.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> other = keras.layers.Dense(3, name="other")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b), other(a)], name="demo")
    >>> print(sharing_report(model))
    Sharing report for 'demo'
    variable        shape   params  trainable  used by                 shared
    --------------  ------  ------  ---------  ----------------------  ------
    encoder/kernel  (4, 3)      12  yes        encoder[1], encoder[2]  yes
    encoder/bias    (3,)         3  yes        encoder[1], encoder[2]  yes
    other/kernel    (4, 3)      12  yes        other
    other/bias      (3,)         3  yes        other
    4 variables, 30 parameters; 2 shared variables holding 15 parameters.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import keras

from .calls import resolve_layer
from .operations import frozen_copies
from .tables import Table
from .variables import VariableUse, variable_uses

__all__ = [
    "sharing_report",
    "shared_variables",
    "shares_weights",
    "sharing_groups",
    "same_architecture",
    "config_differences",
    "separate_copies",
]

LayerRef = str | keras.layers.Layer


def sharing_report(model: keras.Model) -> Table:
    """A table with one row per variable: its path, shape, size, whether it is trainable,
    the layer calls that use it (``(no call)`` for a variable the model tracks but never
    reads), and whether it is shared (used by more than one call).

    Every variable appears once, however many layers use it, so the ``params`` column
    adds up to ``model.count_params()``. A variable a call reads that the model does not
    track (``owned=False`` in :func:`helpers.variable_uses`) is listed, marked ``(not
    'model''s)``, and left out of the footer's totals, as Keras leaves it out.

    A constant in the graph that equals a variable (``ops.transpose(emb.embeddings)``
    computed once when the model was built) adds a ``Warning:`` line to the footer: it is
    a frozen copy, not a tie (see :func:`helpers.frozen_copies`).
    """
    everything = variable_uses(model)
    rows = [
        [
            u.path if u.owned else f"{u.path} (not {model.name!r}'s)",
            u.shape,
            u.size,
            u.trainable,
            ", ".join(u.labels) or "(no call)",
            u.is_shared,
        ]
        for u in everything
    ]
    uses = [u for u in everything if u.owned]
    shared = [u for u in uses if u.is_shared]
    footer = [
        f"{len(uses)} variables, {sum(u.size for u in uses):,} parameters; "
        f"{len(shared)} shared {'variable' if len(shared) == 1 else 'variables'} holding "
        f"{sum(u.size for u in shared):,} parameters."
    ]
    foreign = [u for u in everything if not u.owned]
    if foreign:
        footer.append(
            f"Not counted: {', '.join(f'{u.path} ({u.size:,})' for u in foreign)} "
            f"{'is' if len(foreign) == 1 else 'are'} read by {model.name!r} but not "
            f"{'one of its weights' if len(foreign) == 1 else 'among its weights'} "
            "(Keras counts a variable in the model that tracks it)."
        )
    footer += [f"Warning: {copy.message}" for copy in frozen_copies(model)]
    return Table(
        ["variable", "shape", "params", "trainable", "used by", "shared"],
        rows,
        title=f"Sharing report for {model.name!r}",
        footer=footer,
    )


def _calls_of(use: VariableUse, layer: keras.layers.Layer) -> list:
    """The calls of ``use`` that are calls of ``layer`` or made inside one."""
    return [c for c in use.calls if c.within(layer)]


def shared_variables(model: keras.Model, a: LayerRef, b: LayerRef) -> list[keras.Variable]:
    """The variables used both by layer ``a`` and by layer ``b`` of ``model``.

    With ``a`` and ``b`` the same layer, the variables it uses in more than one call
    (its own calls, or calls it makes inside, such as an inner layer applied twice).
    """
    layer_a, layer_b = resolve_layer(model, a), resolve_layer(model, b)
    uses = variable_uses(model)
    if layer_a is layer_b:
        return [u.variable for u in uses if len(_calls_of(u, layer_a)) > 1]
    return [u.variable for u in uses if _calls_of(u, layer_a) and _calls_of(u, layer_b)]


def shares_weights(model: keras.Model, a: LayerRef, b: LayerRef) -> bool:
    """``True`` when layers ``a`` and ``b`` use at least one common variable."""
    return bool(shared_variables(model, a, b))


def sharing_groups(model: keras.Model, ignore: Collection[str] = ()) -> list[list[str]]:
    """Layers that use variables, grouped so that layers sharing any variable (directly
    or through another layer) are in one group. A layer that shares nothing is a group of
    its own. Groups and the names in them are in order of first use.

    Layers named in ``ignore`` are left out, as if their calls were not in the model (so
    a tied layer does not join its owner's group).

    >>> import keras
    >>> x = keras.Input((4,))
    >>> d1, d2 = keras.layers.Dense(4, name="d1"), keras.layers.Dense(4, name="d2")
    >>> sharing_groups(keras.Model(x, d2(d1(d1(x)))))
    [['d1'], ['d2']]
    """
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for use in variable_uses(model):
        names = [name for name in use.layers if name not in ignore]
        for name in names:
            parent.setdefault(name, name)
        for name in names[1:]:
            parent[find(name)] = find(names[0])
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def _strip_names(config: Any) -> Any:
    """A layer config without the parts that differ between two copies of one
    architecture (names, trainable flags, build state)."""
    if isinstance(config, dict):
        return {
            k: _strip_names(v)
            for k, v in config.items()
            if k not in {"name", "trainable", "build_config", "compile_config"}
        }
    if isinstance(config, (list, tuple)):
        return [_strip_names(v) for v in config]
    return config


def _architecture(layer: keras.layers.Layer) -> Any:
    """What makes an architecture: the kind of each layer, its settings (not its name)
    and the shapes of its variables, recursively for models used as layers."""
    shapes = [tuple(w.shape) for w in layer.weights]
    inner = getattr(layer, "layers", None)
    if isinstance(layer, keras.Model) and inner is not None:
        return (type(layer).__name__, [_architecture(sub) for sub in inner], shapes)
    try:
        config = _strip_names(layer.get_config())
    except NotImplementedError:  # a custom layer without get_config
        config = None
    return (type(layer).__name__, config, shapes)


def same_architecture(a: keras.layers.Layer, b: keras.layers.Layer) -> bool:
    """``True`` when ``a`` and ``b`` are built the same way: same kinds of layers with the
    same settings and the same variable shapes. Names do not matter, and neither do the
    values of the weights, nor whether the weights are shared.

    >>> import keras
    >>> same_architecture(keras.layers.Dense(3), keras.layers.Dense(3))
    True
    >>> same_architecture(keras.layers.Dense(3), keras.layers.Dense(4))
    False
    """
    return _architecture(a) == _architecture(b)


def config_differences(a: keras.layers.Layer, b: keras.layers.Layer) -> dict[str, tuple[Any, Any]]:
    """The settings (``get_config()`` entries, names left aside) in which two layers
    differ: ``{setting: (value in a, value in b)}``. Empty when the settings agree, or when
    a layer has no ``get_config``. Sub-models are compared only by their own entries.

    >>> import keras
    >>> relu = keras.layers.Dense(4, activation="relu")
    >>> tanh = keras.layers.Dense(4, activation="tanh")
    >>> config_differences(relu, tanh)
    {'activation': ('relu', 'tanh')}
    """
    try:
        config_a, config_b = _strip_names(a.get_config()), _strip_names(b.get_config())
    except NotImplementedError:
        return {}
    keys = dict.fromkeys([*config_a, *config_b])
    return {
        k: (config_a.get(k), config_b.get(k)) for k in keys if config_a.get(k) != config_b.get(k)
    }


def separate_copies(model: keras.Model, a: LayerRef, b: LayerRef) -> bool:
    """``True`` when layers (or sub-models) ``a`` and ``b`` of ``model`` have the same
    architecture and no variable in common: two copies that learn independently."""
    layer_a, layer_b = resolve_layer(model, a), resolve_layer(model, b)
    return (
        layer_a is not layer_b
        and same_architecture(layer_a, layer_b)
        and not shares_weights(model, layer_a, layer_b)
    )
