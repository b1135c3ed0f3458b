"""How a block's capacity changes with its width and depth: a grid of counts, a growth
chart, and an interactive explorer with sliders.

Each function takes ``build_block(width, depth) -> keras.Model``, a function you write
that builds one model for a width (units or filters) and a depth (number of layers).
Give its layers and the model explicit names, and leave ``keras.backend.clear_session()``
out of it: the explorer calls it on every slider move, and names stay stable anyway.

Example:
    >>> import keras
    >>> def mlp(width, depth):
    ...     x = keras.Input((64,), name="features")
    ...     h = x
    ...     for i in range(1, depth + 1):
    ...         h = keras.layers.Dense(width, name=f"dense{i}")(h)
    ...     return keras.Model(x, h, name="mlp")
    >>> growth = capacity_growth(mlp, widths=[16, 32], depths=[1, 2])
    >>> growth[32, 2]                  # (64 + 1) x 32 + (32 + 1) x 32
    3136
    >>> explorer = capacity_explorer(mlp, width=(8, 64, 8, 32), depth=(1, 4, 1, 2))
    >>> explorer.count_label.value
    'Parameters: <b>3,136</b>'
    >>> explorer.width_slider.value = 16
    >>> explorer.count_label.value
    'Parameters: <b>1,312</b>'
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import keras
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .params import Blocks, count_params
from .plots import plot_params
from .tables import Table

__all__ = ["Growth", "capacity_growth", "CapacityExplorer", "capacity_explorer"]

BuildBlock = Callable[[int, int], keras.Model]
#: ``(min, max, step, start value)`` of a slider.
SliderRange = tuple[int, int, int, int]


@dataclass(frozen=True)
class Growth:
    """Parameter counts of ``build_block(width, depth)`` over a grid of widths and depths.

    ``growth[width, depth]`` is one count; :meth:`table` and :meth:`plot` show them all.
    In a notebook a ``Growth`` shows itself as its table.
    """

    name: str
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    counts: dict[tuple[int, int], int]

    def __getitem__(self, width_depth: tuple[int, int]) -> int:
        return self.counts[width_depth]

    def table(self) -> Table:
        """One row per depth, one column per width."""
        rows = [[depth] + [self.counts[w, depth] for w in self.widths] for depth in self.depths]
        return Table(
            ["depth"] + [f"width {w}" for w in self.widths],
            rows,
            title=f"Parameters of {self.name!r} by width and depth",
        )

    def plot(self) -> Figure:
        """Two panels: parameters against width (a line per depth) and against depth (a
        line per width). A curve bending upwards grows faster than linearly."""
        fig, (by_width, by_depth) = plt.subplots(1, 2, figsize=(8.5, 3.4), layout="constrained")
        plt.close(fig)  # shown once, as the returned value
        for depth in self.depths:
            by_width.plot(
                self.widths,
                [self.counts[w, depth] for w in self.widths],
                marker="o",
                label=f"depth {depth}",
            )
        for width in self.widths:
            by_depth.plot(
                self.depths,
                [self.counts[width, d] for d in self.depths],
                marker="o",
                label=f"width {width}",
            )
        for ax, label, ticks in (
            (by_width, "width", self.widths),
            (by_depth, "depth", self.depths),
        ):
            ax.set_xlabel(label)
            ax.set_xticks(list(ticks))
            ax.set_ylabel("parameters")
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
            ax.legend(frameon=False, fontsize=8)
        by_width.set_title("against width")
        by_depth.set_title("against depth")
        fig.suptitle(f"Parameters of {self.name!r}")
        return fig

    def __str__(self) -> str:
        return str(self.table())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def capacity_growth(
    build_block: BuildBlock, widths: Sequence[int], depths: Sequence[int]
) -> Growth:
    """Build ``build_block(width, depth)`` for every width and depth and count its
    parameters (each variable once).

    >>> # growth = capacity_growth(mlp, widths=[16, 32, 64], depths=[1, 2, 4])
    >>> # growth.table(), growth.plot(), growth[64, 2]
    """
    counts, name = {}, "block"
    for depth in depths:
        for width in widths:
            model = build_block(width, depth)
            counts[width, depth] = count_params(model)
            name = model.name
    return Growth(name, tuple(widths), tuple(depths), counts)


_MODEL_ID_NAMESPACE = uuid.UUID("5f0c1d2e-4b7a-4c3e-9a61-0d4b0c4a0e04")


def _stable_model_id() -> str:
    """A widget model id that is the same in every fresh kernel and unique within one.

    A notebook stores the id of a displayed widget in the cell's output. ipywidgets makes
    it random, so every re-run of a lesson would change the saved file. The explorer
    numbers its ids instead: the n-th explorer of a kernel gets ``uuid5(namespace, n)``,
    skipping ids of widgets still alive in this process (so copies of this module, such
    as :func:`helpers.grading.pristine`, never hand out an id twice).
    """
    from ipywidgets.widgets import widget as widget_module

    alive = getattr(widget_module, "_instances", {})  # ipywidgets' registry of open widgets
    for number in itertools.count(1):
        candidate = uuid.uuid5(_MODEL_ID_NAMESPACE, f"helpers.explorer/{number}").hex
        if candidate not in alive:
            return candidate
    raise AssertionError("unreachable")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class CapacityExplorer(widgets.VBox):
    """Sliders for width and depth, the parameter count, and a bar chart per layer (or
    per block) that redraw whenever a slider moves.

    Parts, for tests and for reuse:
        width_slider, depth_slider: the ``IntSlider`` s (descriptions ``width``, ``depth``).
        count_label: an ``HTML`` widget showing ``Parameters: 12,345``.
        chart: an ``Output`` widget holding the chart as a PNG image.
        model: the model built for the current slider values (``None`` if building failed).
    """

    def __init__(
        self,
        build_block: BuildBlock,
        width: SliderRange = (4, 64, 4, 16),
        depth: SliderRange = (1, 6, 1, 2),
        *,
        blocks: Blocks = None,
        log: bool = False,
    ) -> None:
        # (not self.log: ipywidgets uses that name for its logger)
        self._build_block, self._blocks, self._log_scale = build_block, blocks, log
        self.model: keras.Model | None = None
        self.width_slider = self._slider("width", width)
        self.depth_slider = self._slider("depth", depth)
        self.count_label = widgets.HTML()
        self.chart = widgets.Output()
        super().__init__(
            [widgets.HBox([self.width_slider, self.depth_slider]), self.count_label, self.chart],
            model_id=_stable_model_id(),
        )
        self.width_slider.observe(self._redraw, names="value")
        self.depth_slider.observe(self._redraw, names="value")
        self._redraw()

    @staticmethod
    def _slider(description: str, values: SliderRange) -> widgets.IntSlider:
        low, high, step, value = values
        if not low <= value <= high:
            raise ValueError(f"{description}: start value {value} is outside {low}..{high}")
        # Redraw when the slider is released, not on every pixel of a drag: building a
        # model takes a moment.
        return widgets.IntSlider(
            value=value,
            min=low,
            max=high,
            step=step,
            description=description,
            continuous_update=False,
        )

    def _redraw(self, change: dict | None = None) -> None:
        width, depth = self.width_slider.value, self.depth_slider.value
        try:
            model = self._build_block(width, depth)
        except Exception as error:  # noqa: BLE001 - show the learner's error by the sliders
            self.model = None
            self.count_label.value = (
                f"Parameters: ? <span style='color:#b00'>(building width={width}, "
                f"depth={depth} failed: {html.escape(f'{type(error).__name__}: {error}')})</span>"
            )
            self.chart.outputs = ()
            return
        self.model = model
        total = count_params(model)
        fig = plot_params(
            model,
            self._blocks,
            log=self._log_scale,
            title=f"{model.name}: width {width}, depth {depth}, {total:,} parameters",
        )
        # Set the Output's content directly (rather than `with self.chart: display(...)`):
        # it works the same inside and outside a kernel and replaces the old chart at once.
        self.chart.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "image/png": _png(fig),
                    "text/plain": f"<chart of {model.name}: {total:,} parameters>",
                },
                "metadata": {},
            },
        )
        # The count last: whoever waits for the new count finds the new chart already sent.
        self.count_label.value = f"Parameters: <b>{total:,}</b>"

    @property
    def count(self) -> int | None:
        """The parameter count shown now (``None`` if building failed)."""
        return None if self.model is None else count_params(self.model)

    def __repr__(self) -> str:
        # Stable text (no widget ids, no image data): what a saved notebook shows and
        # what nbval compares.
        count = "?" if self.count is None else f"{self.count:,}"
        return (
            f"CapacityExplorer(width={self.width_slider.value}, depth={self.depth_slider.value}, "
            f"parameters={count})"
        )


def capacity_explorer(
    build_block: BuildBlock,
    width: SliderRange = (4, 64, 4, 16),
    depth: SliderRange = (1, 6, 1, 2),
    *,
    blocks: Blocks = None,
    log: bool = False,
) -> CapacityExplorer:
    """An interactive explorer of ``build_block(width, depth)``: a cell that ends with it
    shows two sliders (``width``, ``depth``; each given as ``(min, max, step, start)``),
    the parameter count and a bar chart per layer (or per block, see
    :func:`helpers.params.block_params`), redrawn whenever a slider is released.

    >>> # capacity_explorer(digits_cnn, width=(4, 64, 4, 16), depth=(1, 6, 1, 2))
    """
    return CapacityExplorer(build_block, width, depth, blocks=blocks, log=log)
