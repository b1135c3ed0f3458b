"""Parameter counts per model, per layer and per block, counting a shared variable once.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)], name="siamese")
    >>> count_params(model)           # one kernel (4 x 3) and one bias (3), not two of each
    15
    >>> print(param_table(model))
    Parameters of 'siamese'
    layer    trainable  non-trainable  total  shared with
    -------  ---------  -------------  -----  -----------
    encoder         15              0     15  encoder[2]
    total           15              0     15
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import keras

from .tables import Table
from .variables import VariableUse, variable_id, variable_size, variable_uses

__all__ = ["count_params", "param_table", "block_params"]

Blocks = Mapping[str, Sequence[str]] | Callable[[str], str] | None


def count_params(
    source: keras.layers.Layer | Iterable[keras.Variable], trainable: bool | None = None
) -> int:
    """Number of parameters in a model, a layer or a list of variables, each distinct
    variable counted once. ``trainable=True`` counts only trainable ones, ``False`` only
    the others, ``None`` (default) all.

    >>> import keras
    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> count_params(layer), count_params(layer, trainable=False)
    (8, 0)
    """
    variables = source.weights if isinstance(source, keras.layers.Layer) else list(source)
    unique = {variable_id(v): v for v in variables}.values()
    return sum(
        variable_size(v) for v in unique if trainable is None or bool(v.trainable) == trainable
    )


def _block_of(name: str, blocks: Blocks) -> str:
    if blocks is None:
        return name
    if callable(blocks):
        return blocks(name)
    for block, members in blocks.items():
        if name in members:
            return block
    return name


def owners(model: keras.Model, uses: list[VariableUse]) -> list[tuple[str, VariableUse]]:
    """Each variable with the layer it is counted under: the model's layer whose call uses it
    first (for a variable no call reads, the first layer that tracks it)."""
    trackers: dict[int, str] = {}
    for layer in model.layers:
        for variable in layer.weights:
            trackers.setdefault(variable_id(variable), layer.name)
    return [
        (
            use.calls[0].top.layer.name
            if use.calls
            else trackers.get(variable_id(use.variable), model.name),
            use,
        )
        for use in uses
    ]


def block_params(model: keras.Model, blocks: Blocks = None) -> dict[str, tuple[int, int]]:
    """``{block: (trainable, non_trainable)}``. A block is a layer (default), a named group
    of layers (``{"encoder": ["conv1", "conv2"], ...}``) or whatever name a function gives
    each layer name. Each variable is counted once, under the first layer that uses it,
    so the counts add up to the model's total."""
    counts: dict[str, list[int]] = {}
    for owner, use in owners(model, [u for u in variable_uses(model) if u.owned]):
        slot = counts.setdefault(_block_of(owner, blocks), [0, 0])
        slot[0 if use.trainable else 1] += use.size
    return {block: (t, n) for block, (t, n) in counts.items()}


def param_table(model: keras.Model, blocks: Blocks = None) -> Table:
    """A table of trainable, non-trainable and total parameters per layer (or per block,
    see :func:`block_params`), with a total row. A variable used by several layer calls is
    counted once, under the first; the ``shared with`` column names the other calls."""
    everything = variable_uses(model)
    uses = [u for u in everything if u.owned]
    rows: dict[str, list] = {}
    for owner, use in owners(model, uses):
        block = _block_of(owner, blocks)
        row = rows.setdefault(block, [block, 0, 0, 0, []])
        row[1 if use.trainable else 2] += use.size
        row[3] += use.size
        for call in use.calls[1:]:
            first = use.calls[0]
            label = call.label
            if _block_of(call.top.layer.name, blocks) != block or call.top.layer is first.top.layer:
                if label not in row[4]:
                    row[4].append(label)
    body = [r[:4] + [", ".join(r[4])] for r in rows.values()]
    total = ["total", sum(r[1] for r in body), sum(r[2] for r in body), sum(r[3] for r in body), ""]
    foreign = [u for u in everything if not u.owned]
    footer = (
        [
            "Not counted (read, but not this model's weights): "
            + ", ".join(f"{u.path} ({u.size:,}, read by {', '.join(u.labels)})" for u in foreign)
            + "."
        ]
        if foreign
        else []
    )
    return Table(
        [
            "block" if blocks is not None else "layer",
            "trainable",
            "non-trainable",
            "total",
            "shared with",
        ],
        body + [total],
        title=f"Parameters of {model.name!r}",
        footer=footer,
    )
