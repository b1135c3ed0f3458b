"""The capacity grid and the slider explorer, driven from Python as a learner's slider moves
would."""

from __future__ import annotations

import base64

import ipywidgets as widgets
import keras
import pytest
from keras import layers

from helpers import (
    CapacityExplorer,
    capacity_explorer,
    capacity_growth,
    conv2d_params,
    dense_params,
)
from helpers.grading import pristine


def mlp(width: int, depth: int) -> keras.Model:
    """``depth`` Dense layers of ``width`` units on 64 features."""
    x = keras.Input((64,), name="features")
    h = x
    for i in range(1, depth + 1):
        h = layers.Dense(width, name=f"dense{i}")(h)
    return keras.Model(x, h, name="mlp")


def mlp_count(width: int, depth: int) -> int:
    return dense_params(64, width) + (depth - 1) * dense_params(width, width)


def cnn(width: int, depth: int) -> keras.Model:
    x = keras.Input((8, 8, 1), name="image")
    h = x
    for i in range(1, depth + 1):
        h = layers.Conv2D(width, 3, padding="same", name=f"features_conv{i}")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    return keras.Model(x, layers.Dense(10, name="head")(h), name="cnn")


def png_of(explorer: CapacityExplorer) -> bytes:
    (output,) = explorer.chart.outputs
    return base64.b64decode(output["data"]["image/png"])


# ------------------------------------------------------------------------ growth


def test_growth_counts_match_the_dense_formula():
    growth = capacity_growth(mlp, widths=[8, 16, 32], depths=[1, 3])
    for width in (8, 16, 32):
        for depth in (1, 3):
            assert growth[width, depth] == mlp_count(width, depth)


def test_growth_is_quadratic_in_width_and_linear_in_depth():
    growth = capacity_growth(mlp, widths=[32, 64], depths=[2, 3, 4])
    # Linear in depth: every extra layer adds the same (w + 1) * w.
    assert growth[64, 3] - growth[64, 2] == growth[64, 4] - growth[64, 3] == dense_params(64, 64)
    # Quadratic in width: the hidden-to-hidden part grows 4x when the width doubles.
    hidden = lambda w, d: growth[w, d] - dense_params(64, w)  # noqa: E731
    assert hidden(64, 4) / hidden(32, 4) == pytest.approx(4, rel=0.05)


def test_growth_table_has_a_row_per_depth_and_a_column_per_width():
    growth = capacity_growth(mlp, widths=[8, 16], depths=[1, 2, 4])
    table = growth.table()
    assert table.columns == ["depth", "width 8", "width 16"]
    assert table.column("depth") == [1, 2, 4]
    assert table.column("width 16") == [mlp_count(16, d) for d in (1, 2, 4)]
    assert "'mlp'" in table.title
    assert str(growth) == str(table)


def test_growth_plot_draws_a_line_per_depth_and_per_width():
    growth = capacity_growth(mlp, widths=[8, 16, 32], depths=[1, 2])
    fig = growth.plot()
    by_width, by_depth = fig.axes
    assert len(by_width.lines) == 2 and len(by_depth.lines) == 3
    assert list(by_width.lines[1].get_ydata()) == [mlp_count(w, 2) for w in (8, 16, 32)]
    assert list(by_depth.lines[0].get_ydata()) == [mlp_count(8, d) for d in (1, 2)]


# ---------------------------------------------------------------------- explorer


def test_explorer_has_the_parts_the_browser_test_looks_for():
    explorer = capacity_explorer(mlp, width=(8, 64, 8, 32), depth=(1, 4, 1, 2))
    assert isinstance(explorer, widgets.VBox)
    sliders = [w for w in explorer.children[0].children if isinstance(w, widgets.IntSlider)]
    assert [s.description for s in sliders] == ["width", "depth"]
    assert (explorer.width_slider.min, explorer.width_slider.max, explorer.width_slider.step) == (
        8,
        64,
        8,
    )
    assert (
        isinstance(explorer.count_label, widgets.HTML) and explorer.count_label in explorer.children
    )
    assert isinstance(explorer.chart, widgets.Output) and explorer.chart in explorer.children
    assert png_of(explorer).startswith(b"\x89PNG")


def test_explorer_shows_the_count_with_thousands_separators():
    explorer = capacity_explorer(mlp, width=(8, 128, 8, 64), depth=(1, 4, 1, 2))
    assert mlp_count(64, 2) == 8_320
    assert explorer.count_label.value == "Parameters: <b>8,320</b>"
    assert explorer.count == 8_320


def test_moving_the_width_slider_updates_count_and_chart():
    explorer = capacity_explorer(mlp, width=(8, 64, 8, 32), depth=(1, 4, 1, 2))
    before = png_of(explorer)
    explorer.width_slider.value = 16
    assert explorer.count_label.value == f"Parameters: <b>{mlp_count(16, 2):,}</b>"
    assert explorer.model.get_layer("dense1").units == 16
    assert png_of(explorer) != before


def test_moving_the_depth_slider_updates_count_and_chart():
    explorer = capacity_explorer(cnn, width=(4, 32, 4, 8), depth=(1, 4, 1, 1))
    before = png_of(explorer)
    explorer.depth_slider.value = 3
    expected = conv2d_params(3, 1, 8) + 2 * conv2d_params(3, 8, 8) + dense_params(8, 10)
    assert explorer.count_label.value == f"Parameters: <b>{expected:,}</b>"
    assert len(explorer.chart.outputs) == 1  # the old chart is replaced, not appended to
    assert png_of(explorer) != before


def test_chart_groups_layers_into_blocks_when_asked():
    explorer = capacity_explorer(
        cnn, width=(4, 32, 4, 8), depth=(1, 4, 1, 2), blocks=lambda name: name.split("_")[0]
    )
    assert "<b>" in explorer.count_label.value
    # Same count as without blocks; only the bars differ.
    plain = capacity_explorer(cnn, width=(4, 32, 4, 8), depth=(1, 4, 1, 2))
    assert explorer.count == plain.count
    assert png_of(explorer) != png_of(plain)


def test_a_failing_build_shows_the_error_and_recovers():
    def fragile(width, depth):
        if depth > 2:
            raise ValueError("too deep for this demo")
        return mlp(width, depth)

    explorer = capacity_explorer(fragile, width=(8, 64, 8, 16), depth=(1, 4, 1, 1))
    explorer.depth_slider.value = 3
    assert "too deep for this demo" in explorer.count_label.value
    assert explorer.model is None and explorer.count is None and explorer.chart.outputs == ()
    explorer.depth_slider.value = 2
    assert explorer.count_label.value == f"Parameters: <b>{mlp_count(16, 2):,}</b>"


def test_repr_is_stable_text_for_saved_notebooks():
    explorer = capacity_explorer(mlp, width=(8, 64, 8, 32), depth=(1, 4, 1, 2))
    assert repr(explorer) == "CapacityExplorer(width=32, depth=2, parameters=3,136)"
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == repr(explorer)


def test_start_value_outside_the_range_is_refused():
    with pytest.raises(ValueError, match="outside 8..64"):
        capacity_explorer(mlp, width=(8, 64, 8, 100))


def test_pristine_copy_has_the_explorer():
    grader = pristine()
    assert grader.capacity_explorer(
        mlp, width=(8, 16, 8, 8), depth=(1, 2, 1, 1)
    ).count == mlp_count(8, 1)


def test_model_ids_are_numbered_not_random():
    # A saved notebook stores the displayed widget's model id: it must not change between
    # runs, yet two explorers alive in one kernel must never share one.
    from ipywidgets.widgets.widget import _instances

    from helpers.explorer import _stable_model_id

    first = capacity_explorer(mlp, width=(8, 16, 8, 8), depth=(1, 2, 1, 1))
    second = pristine().capacity_explorer(mlp, width=(8, 16, 8, 8), depth=(1, 2, 1, 1))
    assert first.model_id != second.model_id
    assert first.model_id in _instances and second.model_id in _instances
    first.close()
    assert (
        _stable_model_id() != second.model_id
    )  # a closed explorer's id may come back, a live one's never
    second.close()


def test_chart_is_replaced_before_the_count_changes():
    # A browser test (or a learner) that waits for the new count must find the new chart.
    explorer = capacity_explorer(mlp, width=(8, 64, 8, 32), depth=(1, 4, 1, 2))
    seen = []
    explorer.count_label.observe(
        lambda change: seen.append(explorer.chart.outputs[0]["data"]["text/plain"]), names="value"
    )
    explorer.depth_slider.value = 3
    assert seen == [f"<chart of mlp: {mlp_count(32, 3):,} parameters>"]
