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
from .formula_kinds import UnknownDimension, reader_for
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
    "formula_total",
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
    """A parameter count with the arithmetic that produced it. ``value`` is ``None`` when
    the count is not a closed form of what is known (``note`` says which dimension is
    missing, e.g. a ``Dense`` whose input width is only known at run time)."""

    expression: str
    value: int | None
    note: str = ""

    @property
    def closed_form(self) -> bool:
        """``True`` when the formula gives a number."""
        return self.value is not None

    def __int__(self) -> int:
        if self.value is None:
            raise ValueError(f"{self.expression}: not a closed form ({self.note}).")
        return self.value

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.expression}: not a closed form ({self.note})"
        return f"{self.expression} = {self.value:,}"


def _input_shape(layer: keras.layers.Layer) -> tuple | None:
    """The shape of the input ``layer`` was first called (or built) on, ``None`` if unknown."""
    try:
        inputs = layer.input
        first = keras.tree.flatten(inputs)[0]
        return tuple(first.shape)
    except (AttributeError, ValueError, IndexError, TypeError, RuntimeError):
        pass
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    for shape in shapes.values():
        if shape is not None:
            first = shape if not shape or not isinstance(shape[0], (list, tuple)) else shape[0]
            return tuple(first)
    return None


def _model_formula(model: keras.Model) -> Formula | None:
    """A model used as a layer: the sum of its layers' formulas (``None`` if one has none)."""
    try:
        total, missing = formula_total(model)
    except TypeError:  # a model without a layer graph
        return None
    if total is None:
        return None
    terms = sum(1 for layer in model.layers if getattr(layer, "weights", None))
    return Formula(f"the sum of its {terms} layers' formulas", total)


def formula_for(layer: keras.layers.Layer, input_shape: tuple | None = None) -> Formula | None:
    """The closed-form count for ``layer``, computed from its settings and the shape of
    its input (default: the input of its first call). ``None`` for kinds of layer this
    module has no formula for (custom layers among them). When a dimension the formula
    needs is unknown (``None``), the answer is a :class:`Formula` with no value that says
    which dimension is missing.

    >>> import keras
    >>> x = keras.Input((64,))
    >>> layer = keras.layers.Dense(10)
    >>> _ = layer(x)
    >>> print(formula_for(layer))
    (64 + 1) × 10 = 650
    >>> print(formula_for(keras.layers.Dense(10), (None, None)))
    (inputs + 1) × units: not a closed form (the number of input features (last dimension)
    is unknown)
    """
    if isinstance(layer, keras.Model):
        return _model_formula(layer)
    reader = reader_for(layer)
    if reader is None:
        return None
    if input_shape is None:
        input_shape = _input_shape(layer)
    if input_shape is None:
        return Formula(
            rule_for(layer) or type(layer).__name__,
            None,
            f"{layer.name!r} has not been called or built yet, so its input shape is unknown",
        )
    try:
        expression, value = reader(layer, tuple(input_shape))
    except UnknownDimension as missing:
        return Formula(rule_for(layer) or type(layer).__name__, None, f"{missing} is unknown")
    return Formula(expression, value)


def _first_calls(model: keras.Model) -> list[tuple[keras.layers.Layer, tuple | None]]:
    """Each layer of ``model`` once, with the input shape of its first call."""
    found: list[tuple[keras.layers.Layer, tuple | None]] = []
    seen: set[int] = set()
    for call in layer_calls(model):
        if id(call.layer) in seen or not isinstance(call.layer, keras.layers.Layer):
            continue  # a layer called before, or an operation such as `a - b` (no variables)
        seen.add(id(call.layer))
        shapes = getattr(call, "input_shapes", None)
        found.append((call.layer, tuple(shapes[0]) if shapes else _input_shape(call.layer)))
    return found


def formula_table(model: keras.Model) -> Table:
    """One row per layer of ``model`` that has a formula: the formula, its value, what
    Keras counts (``layer.count_params()``) and whether they agree. Layers with
    parameters but no formula (custom layers) are named below the table.

    >>> import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="tiny")
    >>> print(formula_table(model))
    Formula vs Keras for 'tiny'
    layer  kind   formula      by formula  Keras  match
    -----  -----  -----------  ----------  -----  -----
    head   Dense  (4 + 1) × 2          10     10  yes
    """
    rows, unknown, open_form = [], [], []
    for layer, shape in _first_calls(model):
        formula = formula_for(layer, shape)
        if formula is None:
            if layer.weights:
                unknown.append(f"{layer.name!r} ({type(layer).__name__})")
            continue
        keras_count = layer.count_params()
        if formula.value is None:
            open_form.append(f"{layer.name!r}: {formula.note}")
            rows.append(
                [
                    layer.name,
                    type(layer).__name__,
                    formula.expression,
                    "not a closed form",
                    keras_count,
                    "?",
                ]
            )
            continue
        rows.append(
            [
                layer.name,
                type(layer).__name__,
                formula.expression,
                formula.value,
                keras_count,
                formula.value == keras_count,
            ]
        )
    footer = [f"Not a closed form for {item}." for item in open_form]
    if unknown:
        footer.append(f"No formula for {', '.join(unknown)}: count their variables' sizes.")
    return Table(
        ["layer", "kind", "formula", "by formula", "Keras", "match"],
        rows,
        title=f"Formula vs Keras for {model.name!r}",
        footer=footer,
    )


def formula_total(model: keras.Model) -> tuple[int | None, list[str]]:
    """The model's parameter count added up from the formulas, and the names of the layers
    with parameters that no closed form covers (then the total is ``None``). Each layer
    is counted once, however often it is called.

    >>> import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Dense(3)(x)))
    >>> formula_total(model), model.count_params()
    ((23, []), 23)
    """
    total, missing = 0, []
    counted: set[int] = set()
    for layer, shape in _first_calls(model):
        weights = {id(v) for v in layer.weights}
        if not weights or weights & counted:
            continue  # no parameters, or counted with a model it belongs to
        counted |= weights
        formula = formula_for(layer, shape)
        if formula is None or formula.value is None:
            missing.append(layer.name)
        else:
            total += formula.value
    return (None if missing else total), missing


# The general rule behind each formula, in words a learner can fill in, with and without
# bias. Most specific classes first (ReversibleEmbedding before Embedding).
L = keras.layers
_RULES: list[tuple[type, str, str]] = [
    (L.Dense, "(inputs + 1) × units", "inputs × units"),
    (
        L.EinsumDense,
        "product of the kernel's dimensions + product of the bias's",
        "product of the kernel's dimensions",
    ),
    (
        L.SeparableConv1D,
        "kernel × in_channels × multiplier + (in_channels × multiplier + 1) × filters",
        "kernel × in_channels × multiplier + in_channels × multiplier × filters",
    ),
    (
        L.SeparableConv2D,
        "kernel_h × kernel_w × in_channels × multiplier + (in_channels × multiplier + 1) × filters",
        "kernel_h × kernel_w × in_channels × multiplier + in_channels × multiplier × filters",
    ),
    (
        L.DepthwiseConv1D,
        "(kernel + 1) × in_channels × multiplier",
        "kernel × in_channels × multiplier",
    ),
    (
        L.DepthwiseConv2D,
        "(kernel_h × kernel_w + 1) × in_channels × multiplier",
        "kernel_h × kernel_w × in_channels × multiplier",
    ),
    (
        L.Conv2D,
        "(kernel_h × kernel_w × in_channels + 1) × filters",
        "kernel_h × kernel_w × in_channels × filters",
    ),
    (L.Conv1D, "(kernel × in_channels + 1) × filters", "kernel × in_channels × filters"),
    (
        L.Conv3D,
        "(kernel_d × kernel_h × kernel_w × in_channels + 1) × filters",
        "kernel_d × kernel_h × kernel_w × in_channels × filters",
    ),
    (L.Conv1DTranspose, "(kernel × in_channels + 1) × filters", "kernel × in_channels × filters"),
    (
        L.Conv2DTranspose,
        "(kernel_h × kernel_w × in_channels + 1) × filters",
        "kernel_h × kernel_w × in_channels × filters",
    ),
    (
        L.Conv3DTranspose,
        "(kernel_d × kernel_h × kernel_w × in_channels + 1) × filters",
        "kernel_d × kernel_h × kernel_w × in_channels × filters",
    ),
    (L.Embedding, "vocabulary × dim", "vocabulary × dim"),
    (L.LSTM, "4 × (units × (inputs + units) + units)", "4 × units × (inputs + units)"),
    (L.GRU, "3 × (units × (inputs + units) + 2 × units)", "3 × units × (inputs + units)"),
    (L.SimpleRNN, "units × (inputs + units) + units", "units × (inputs + units)"),
    (
        L.BatchNormalization,
        "4 × channels (2 × channels trainable)",
        "4 × channels (2 × channels trainable)",
    ),
    (L.LayerNormalization, "2 × features (gamma and beta)", "2 × features (gamma and beta)"),
    (L.RMSNormalization, "features (one scale each)", "features (one scale each)"),
    (L.GroupNormalization, "2 × channels (gamma and beta)", "2 × channels (gamma and beta)"),
    (
        L.Normalization,
        "2 × features + 1 (mean, variance, count)",
        "2 × features + 1 (mean, variance, count)",
    ),
    (
        L.MultiHeadAttention,
        "heads × key_dim × (query + 1) + heads × key_dim × (key + 1)"
        " + heads × value_dim × (value + 1) + (heads × value_dim + 1) × output",
        "heads × (key_dim × (query + key) + value_dim × value + value_dim × output)",
    ),
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
    cell = getattr(layer, "cell", layer)
    bias = bool(getattr(cell, "use_bias", True))
    if isinstance(layer, L.EinsumDense):
        bias = getattr(layer, "bias_axes", None) is not None
    if isinstance(layer, L.GRU) and not getattr(cell, "reset_after", True) and bias:
        return "3 × (units × (inputs + units) + units)"
    for kind, with_bias, without_bias in _RULES:
        if isinstance(layer, kind):
            rule = with_bias if bias else without_bias
            if isinstance(layer, L.ReversibleEmbedding) and not layer.tie_weights:
                rule += " + dim × vocabulary (the untied output matrix)"
            if getattr(layer, "lora_enabled", False):
                rule += " + rank × (rows + columns) (LoRA)"
            return rule
    return None
