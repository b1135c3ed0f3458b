"""helpers.plots: bar charts of parameter counts."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from helpers.params import block_params
from helpers.plots import NON_TRAINABLE_COLOR, TRAINABLE_COLOR, plot_params


def bars(fig: Figure) -> tuple[list[float], list[float]]:
    """(trainable heights, non-trainable heights): the two stacked bar series."""
    patches = fig.axes[0].patches
    half = len(patches) // 2
    return [p.get_height() for p in patches[:half]], [p.get_height() for p in patches[half:]]


def labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def totals(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_returns_a_closed_figure(siamese):
    fig = plot_params(siamese)
    assert isinstance(fig, Figure)
    assert fig.number not in plt.get_fignums()  # shown once, as the cell's value


def test_bar_heights_are_block_params(zoo):
    fig = plot_params(zoo)
    counts = block_params(zoo)
    trainable, frozen = bars(fig)
    assert labels(fig) == list(counts)
    assert trainable == [t for t, _ in counts.values()]
    assert frozen == [n for _, n in counts.values()]
    assert totals(fig) == [f"{t + n:,}" for t, n in counts.values()]
    assert fig.axes[0].get_title() == "zoo"
    assert fig.axes[0].get_yscale() == "linear"


def test_non_trainable_bars_are_stacked_on_trainable_ones(frozen_shared):
    fig = plot_params(frozen_shared)
    patches = fig.axes[0].patches
    trainable, frozen = bars(fig)
    assert trainable == [0, 4] and frozen == [15, 0]
    assert [p.get_y() for p in patches[2:]] == trainable  # bottom of each frozen bar
    assert matplotlib.colors.same_color(patches[0].get_facecolor(), TRAINABLE_COLOR)
    assert matplotlib.colors.same_color(patches[2].get_facecolor(), NON_TRAINABLE_COLOR)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["trainable", "non-trainable"]


def test_no_legend_without_frozen_parameters(siamese):
    assert plot_params(siamese).axes[0].get_legend() is None


def test_shared_layer_counted_once(siamese):
    trainable, _ = bars(plot_params(siamese))
    assert labels(plot_params(siamese)) == ["encoder", "score"]
    assert trainable == [15, 4]
    assert sum(trainable) == siamese.count_params()


def test_blocks_group_and_sum(zoo):
    groups = {"image": ["conv", "bn"], "text": ["embed", "lstm", "gru", "rnn", "conv1d"]}
    fig = plot_params(zoo, groups)
    per_layer = block_params(zoo)
    trainable, frozen = bars(fig)
    assert labels(fig) == ["image", "text", "head"]
    assert trainable[0] == per_layer["conv"][0] + per_layer["bn"][0]
    assert frozen[0] == per_layer["bn"][1]
    assert trainable[1] == sum(per_layer[n][0] for n in groups["text"])
    assert sum(trainable) + sum(frozen) == zoo.count_params()


def test_blocks_as_a_function(cloned_towers):
    fig = plot_params(cloned_towers, lambda name: name.split("_")[0])
    assert labels(fig) == ["first", "second"]
    assert bars(fig)[0] == [37, 37]


def test_log_scale_and_title(zoo):
    fig = plot_params(zoo, log=True, title="Where the parameters are")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "Where the parameters are"
    fig.canvas.draw()  # renders without error, zero-height bars included


def test_mapping_of_totals_or_pairs():
    fig = plot_params({"small": 10, "big": 10_000})
    assert bars(fig) == ([10, 10_000], [0, 0])
    assert totals(fig) == ["10", "10,000"]
    assert fig.axes[0].get_title() == ""
    fig = plot_params({"a": (6, 2), "b": (1, 0)}, title="pairs")
    assert bars(fig) == ([6, 1], [2, 0])
    assert totals(fig) == ["8", "1"]


def test_draws_into_given_axes(siamese, two_towers):
    fig, (left, right) = plt.subplots(1, 2)
    try:
        assert plot_params(siamese, ax=left) is fig
        assert plot_params(two_towers, ax=right) is fig
        assert left.get_title() == "siamese" and right.get_title() == "two_towers"
        assert [p.get_height() for p in right.patches[:2]] == [15, 15]
    finally:
        plt.close(fig)


def test_many_bars_get_rotated_labels(zoo):
    fig = plot_params(zoo)
    assert len(labels(fig)) > 4
    assert all(t.get_rotation() == 30 for t in fig.axes[0].get_xticklabels())


@pytest.mark.parametrize("bad", [[1, 2, 3], 42, "model"])
def test_bad_input_is_a_type_error_that_says_what_is_accepted(bad):
    with pytest.raises(TypeError) as info:
        plot_params(bad)
    message = str(info.value)
    assert "plot_params takes a Keras model or a mapping" in message
    assert f"not {type(bad).__name__}" in message


def deep_model(n_layers: int = 500):
    import keras
    from keras import layers

    x = h = keras.Input((4,))
    for i in range(n_layers):
        h = layers.Dense(4 if i % 50 else 40, name=f"dense_{i}")(h)
    return keras.Model(x, h, name="deep")


def test_a_500_layer_model_gets_the_largest_bars_and_one_for_the_rest():
    model = deep_model()
    fig = plot_params(model)
    counts = block_params(model)
    names = labels(fig)
    assert len(names) == 20 and names[-1] == "481 others"
    kept = names[:-1]
    assert kept == [n for n in counts if n in kept]  # in model order
    grouped = [sum(c) for n, c in counts.items() if n not in kept]
    assert min(sum(counts[n]) for n in kept) >= max(grouped)  # the largest are shown
    assert {f"dense_{i}" for i in range(0, 500, 50)} <= set(kept)  # the ten wide layers
    trainable, _ = bars(fig)
    assert sum(trainable) == sum(t for t, _ in counts.values())  # nothing lost
    assert trainable[-1] == sum(t for n, (t, _) in counts.items() if n not in names)
    assert fig.get_size_inches()[0] < 25  # readable, not hundreds of inches wide


def test_max_bars_can_be_set_and_small_models_are_untouched(zoo):
    assert len(labels(plot_params(zoo, max_bars=3))) == 3
    assert labels(plot_params(zoo)) == list(block_params(zoo))
    with pytest.raises(ValueError, match="at least 2 bars"):
        plot_params(zoo, max_bars=1)
