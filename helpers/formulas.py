"""Closed-form parameter counts for common layers, to check against what Keras reports.

Each function takes the numbers you choose when you design a layer and returns its
number of parameters (weights and biases). :func:`formula_for` reads those numbers off
a built layer and shows the arithmetic, so a notebook can put formula and Keras side by
side with :func:`formula_table`.

Example:
    >>> dense_params(64, 10)         # (64 inputs + 1 bias) x 10 units
    650
    >>> conv2d_params(3, 1, 32)      # (3 x 3 x 1 + 1) x 32 filters
    320
    >>> lstm_params(8, 16)           # 4 gates x (16 x (8 + 16) + 16)
    1600
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .calls import layer_calls
from .tables import Table

__all__ = [
    "dense_params",
    "conv2d_params",
    "conv1d_params",
    "embedding_params",
    "simple_rnn_params",
    "lstm_params",
    "gru_params",
    "batchnorm_params",
    "Formula",
    "formula_for",
    "formula_table",
    "rule_for",
]


def dense_params(inputs: int, units: int, use_bias: bool = True) -> int:
    """``Dense(units)`` on ``inputs`` features: ``(inputs + 1) * units`` (no ``+ 1``
    without bias)."""
    return (inputs + int(use_bias)) * units


def _pair(kernel_size: int | tuple[int, int]) -> tuple[int, int]:
    return (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)


def conv2d_params(
    kernel_size: int | tuple[int, int], in_channels: int, filters: int, use_bias: bool = True
) -> int:
    """``Conv2D(filters, kernel_size)`` on ``in_channels`` channels:
    ``(kh * kw * in_channels + 1) * filters``. The image size does not matter."""
    kh, kw = _pair(kernel_size)
    return (kh * kw * in_channels + int(use_bias)) * filters


def conv1d_params(kernel_size: int, in_channels: int, filters: int, use_bias: bool = True) -> int:
    """``Conv1D(filters, kernel_size)``: ``(k * in_channels + 1) * filters``."""
    return (kernel_size * in_channels + int(use_bias)) * filters


def embedding_params(vocab_size: int, dim: int) -> int:
    """``Embedding(vocab_size, dim)``: one ``dim``-vector per token, ``vocab_size * dim``."""
    return vocab_size * dim


def simple_rnn_params(input_dim: int, units: int, use_bias: bool = True) -> int:
    """``SimpleRNN(units)``: ``units * (input_dim + units) + units``."""
    return units * (input_dim + units) + units * int(use_bias)


def lstm_params(input_dim: int, units: int, use_bias: bool = True) -> int:
    """``LSTM(units)``: four gates, each ``units * (input_dim + units) + units``."""
    return 4 * simple_rnn_params(input_dim, units, use_bias)


def gru_params(input_dim: int, units: int, use_bias: bool = True, reset_after: bool = True) -> int:
    """``GRU(units)``: three gates, each ``units * (input_dim + units)`` plus ``2 * units``
    biases with ``reset_after=True`` (the Keras default), ``units`` without."""
    bias = (2 if reset_after else 1) * units * int(use_bias)
    return 3 * (units * (input_dim + units) + bias)


def batchnorm_params(
    channels: int, trainable_only: bool = False, *, center: bool = True, scale: bool = True
) -> int:
    """``BatchNormalization`` over ``channels``: ``4 * channels`` (gamma and beta are
    trained; the moving mean and variance are not), or ``2 * channels`` trainable.
    ``center=False`` drops beta and ``scale=False`` drops gamma."""
    trained = int(center) + int(scale)
    return (trained if trainable_only else trained + 2) * channels


@dataclass(frozen=True)
class Formula:
    """A parameter count with the arithmetic that produced it."""

    expression: str
    value: int

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return f"{self.expression} = {self.value:,}"


def formula_for(layer: keras.layers.Layer, input_shape: tuple | None = None) -> Formula | None:
    """The closed-form count for ``layer``, computed from its settings and the shape of
    its input (default: the input of its first call). ``None`` for kinds of layer this
    module has no formula for.

    >>> import keras
    >>> x = keras.Input((64,))
    >>> layer = keras.layers.Dense(10)
    >>> _ = layer(x)
    >>> print(formula_for(layer))
    (64 + 1) × 10 = 650
    """
    if input_shape is None:
        input_shape = tuple(layer.input.shape)
    last = input_shape[-1]
    config = layer.get_config()
    bias = config.get("use_bias", True)
    plus_bias = " + 1" if bias else ""
    # Convolutions and BatchNormalization read channels off axis 1 with channels_first;
    # grouped convolutions connect each filter to in_channels / groups channels only.
    channels = input_shape[1] if config.get("data_format") == "channels_first" else last
    groups = config.get("groups", 1)
    per_group = channels // groups
    cin = f"({channels}/{groups})" if groups > 1 else f"{channels}"
    L = keras.layers
    if isinstance(layer, L.Dense):
        units = config["units"]
        return Formula(f"({last}{plus_bias}) × {units}", dense_params(last, units, bias))
    if isinstance(layer, L.Conv2D):
        kh, kw = _pair(config["kernel_size"])
        f = config["filters"]
        return Formula(f"({kh}×{kw}×{cin}{plus_bias}) × {f}", conv2d_params((kh, kw), per_group, f, bias))
    if isinstance(layer, L.Conv1D):
        (k,) = tuple(config["kernel_size"]) if not isinstance(config["kernel_size"], int) else (config["kernel_size"],)
        f = config["filters"]
        return Formula(f"({k}×{cin}{plus_bias}) × {f}", conv1d_params(k, per_group, f, bias))
    if isinstance(layer, L.Embedding):
        v, d = config["input_dim"], config["output_dim"]
        return Formula(f"{v} × {d}", embedding_params(v, d))
    if isinstance(layer, L.LSTM):
        u = config["units"]
        b = f" + {u}" if bias else ""
        return Formula(f"4 × ({u}×({last} + {u}){b})", lstm_params(last, u, bias))
    if isinstance(layer, L.GRU):
        u, after = config["units"], config.get("reset_after", True)
        b = (f" + 2×{u}" if after else f" + {u}") if bias else ""
        return Formula(f"3 × ({u}×({last} + {u}){b})", gru_params(last, u, bias, after))
    if isinstance(layer, L.SimpleRNN):
        u = config["units"]
        b = f" + {u}" if bias else ""
        return Formula(f"{u}×({last} + {u}){b}", simple_rnn_params(last, u, bias))
    if isinstance(layer, L.BatchNormalization):
        axis = config["axis"]
        axis = axis[0] if isinstance(axis, (list, tuple)) else axis
        c = input_shape[axis]
        center, scale = config.get("center", True), config.get("scale", True)
        return Formula(f"{int(center) + int(scale) + 2} × {c}",
                       batchnorm_params(c, center=center, scale=scale))
    return None


def formula_table(model: keras.Model) -> Table:
    """One row per layer of ``model`` that has a formula: the formula, its value, what
    Keras counts (``layer.count_params()``) and whether they agree."""
    rows = []
    seen: set[int] = set()
    for call in layer_calls(model):
        if id(call.layer) in seen or not call.input_shapes:
            continue
        seen.add(id(call.layer))
        formula = formula_for(call.layer, call.input_shapes[0])
        if formula is None:
            continue
        keras_count = call.layer.count_params()
        rows.append([call.layer.name, type(call.layer).__name__, formula.expression,
                     formula.value, keras_count, formula.value == keras_count])
    return Table(["layer", "kind", "formula", "by formula", "Keras", "match"], rows,
                 title=f"Formula vs Keras for {model.name!r}")


# The general rule behind each formula, in words a learner can fill in. Most specific
# classes first: LSTM and GRU are not subclasses of SimpleRNN, but keep the order anyway.
_RULES: list[tuple[type, str, str]] = [
    (keras.layers.Dense, "(inputs + 1) × units", "inputs × units"),
    (keras.layers.Conv2D, "(kernel_h × kernel_w × in_channels + 1) × filters",
     "kernel_h × kernel_w × in_channels × filters"),
    (keras.layers.Conv1D, "(kernel × in_channels + 1) × filters", "kernel × in_channels × filters"),
    (keras.layers.Embedding, "vocabulary × dim", "vocabulary × dim"),
    (keras.layers.LSTM, "4 × (units × (inputs + units) + units)", "4 × units × (inputs + units)"),
    (keras.layers.GRU, "3 × (units × (inputs + units) + 2 × units)", "3 × units × (inputs + units)"),
    (keras.layers.SimpleRNN, "units × (inputs + units) + units", "units × (inputs + units)"),
    (keras.layers.BatchNormalization, "4 × channels (2 × channels trainable)",
     "4 × channels (2 × channels trainable)"),
]


def rule_for(layer: keras.layers.Layer) -> str | None:
    """The general counting rule for ``layer``'s kind, in words (``None`` if this module
    has no formula for it). Unlike :func:`formula_for` it does not fill in the numbers,
    so it can tell a learner *how* to count without giving the answer away.

    >>> import keras
    >>> rule_for(keras.layers.Dense(10))
    '(inputs + 1) × units'
    >>> rule_for(keras.layers.Conv2D(8, 3, use_bias=False))
    'kernel_h × kernel_w × in_channels × filters'
    """
    bias = layer.get_config().get("use_bias", True)
    if isinstance(layer, keras.layers.GRU) and not layer.get_config().get("reset_after", True) and bias:
        return "3 × (units × (inputs + units) + units)"
    for kind, with_bias, without_bias in _RULES:
        if isinstance(layer, kind):
            return with_bias if bias else without_bias
    return None
