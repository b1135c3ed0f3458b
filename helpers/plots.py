"""Bar charts of parameter counts.

Example:
    >>> import keras
    >>> x = keras.Input((8,))
    >>> body = keras.layers.Dense(16, name="body")(x)
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(body))
    >>> fig = plot_params(model, title="Where the parameters are")
    >>> [round(bar.get_height()) for bar in fig.axes[0].patches]   # trainable, then the rest
    [144, 34, 0, 0]
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .params import Blocks, block_params

__all__ = ["plot_params"]

TRAINABLE_COLOR = "#4C72B0"
NON_TRAINABLE_COLOR = "#DD8452"


def _counts(source, blocks: Blocks) -> dict[str, tuple[int, int]]:
    if isinstance(source, keras.Model):
        return block_params(source, blocks)
    if isinstance(source, Mapping):
        return {
            str(name): (value if isinstance(value, tuple) else (int(value), 0))
            for name, value in source.items()
        }
    raise TypeError(
        "plot_params takes a Keras model or a mapping {name: count} or "
        f"{{name: (trainable, non_trainable)}}, not {type(source).__name__}."
    )


MAX_BARS = 20
"""Default number of bars: beyond it, the smallest layers (or blocks) share one bar."""


def _keep_largest(counts: dict[str, tuple[int, int]], bars: int) -> dict[str, tuple[int, int]]:
    """The ``bars - 1`` largest entries in their order, and one bar for all the others."""
    if bars < 2:
        raise ValueError(f"plot_params needs room for at least 2 bars, not max_bars={bars}.")
    if len(counts) <= bars:
        return counts
    largest = set(sorted(counts, key=lambda n: -sum(counts[n]))[: bars - 1])
    kept = {name: value for name, value in counts.items() if name in largest}
    rest = [value for name, value in counts.items() if name not in largest]
    kept[f"{len(rest)} others"] = (sum(t for t, _ in rest), sum(n for _, n in rest))
    return kept


def plot_params(
    source: keras.Model | Mapping[str, int | tuple[int, int]],
    blocks: Blocks = None,
    *,
    log: bool = False,
    title: str | None = None,
    ax: plt.Axes | None = None,
    max_bars: int = MAX_BARS,
) -> Figure:
    """A bar per layer (or per block) with trainable and non-trainable parameters stacked,
    and the total written above each bar. Returns the Figure; a notebook cell that ends
    with the call shows it.

    Args:
        source: a model (counts from :func:`helpers.params.block_params`, a shared variable
            counted once) or a mapping ``{name: total}`` / ``{name: (trainable, non_trainable)}``.
        blocks: how to group layers into blocks, as in :func:`helpers.params.block_params`.
        log: use a logarithmic count axis (for blocks whose sizes differ by orders of magnitude).
        title: the chart title (default: the model's name).
        ax: draw into these axes instead of a new figure.
        max_bars: at most this many bars: the ``max_bars - 1`` largest layers (or blocks)
            in model order, then one bar ``"N others"`` for the rest, so a model with
            hundreds of layers stays readable (or pass ``blocks`` to group them yourself).
    """
    counts = _keep_largest(_counts(source, blocks), max_bars)
    names = list(counts)
    trainable = [counts[n][0] for n in names]
    frozen = [counts[n][1] for n in names]
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2), 3.6), layout="constrained")
        plt.close(fig)  # shown once, as the returned value, not again by the inline backend
    else:
        fig = ax.figure
    positions = range(len(names))
    ax.bar(positions, trainable, color=TRAINABLE_COLOR, label="trainable")
    ax.bar(positions, frozen, bottom=trainable, color=NON_TRAINABLE_COLOR, label="non-trainable")
    for x, t, n in zip(positions, trainable, frozen, strict=True):
        ax.annotate(
            f"{t + n:,}",
            (x, t + n),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(
        list(positions),
        names,
        rotation=30 if len(names) > 4 else 0,
        ha="right" if len(names) > 4 else "center",
    )
    ax.set_ylabel("parameters")
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, max([t + n for t, n in zip(trainable, frozen, strict=True)] + [1]) * 1.15)
    ax.set_title(
        title if title is not None else (source.name if isinstance(source, keras.Model) else "")
    )
    if any(frozen):
        ax.legend(frameon=False, fontsize=8)
    return fig
