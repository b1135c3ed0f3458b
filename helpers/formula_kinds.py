"""The worked formula for each kind of layer :mod:`helpers.formulas` knows.

Each reader takes a built (or buildable) layer and the shape of its input, reads the
layer's settings from its attributes (never ``get_config()``, which a custom layer may not
implement) and returns ``(expression, value)``. A dimension the formula needs but the
input shape leaves unknown (``None``) raises :class:`UnknownDimension`, which
:func:`helpers.formulas.formula_for` turns into a "not a closed form" answer.

Example:
    >>> import keras
    >>> reader_for(keras.layers.Dense(3))(keras.layers.Dense(3), (None, 8))
    ('(8 + 1) × 3', 27)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras

__all__ = ["UnknownDimension", "reader_for", "known"]

Shape = Sequence[int | None]
Reader = Callable[[keras.layers.Layer, Shape], tuple[str, int]]
L = keras.layers


class UnknownDimension(ValueError):
    """A dimension a formula needs is unknown (``None``) in the input shape."""


def known(dim: int | None, what: str) -> int:
    """``dim`` as an int, or :class:`UnknownDimension` naming ``what`` it is."""
    if dim is None:
        raise UnknownDimension(what)
    return int(dim)


def _bias(layer: keras.layers.Layer) -> bool:
    return bool(getattr(layer, "use_bias", True))


def _lora(
    layer: keras.layers.Layer, rows: int, cols: int, expression: str, value: int
) -> tuple[str, int]:
    """Adds LoRA's two low-rank factors (``rows × r`` and ``r × cols``) when enabled."""
    if not getattr(layer, "lora_enabled", False):
        return expression, value
    r = int(layer.lora_rank)
    return f"{expression} + {r}×({rows} + {cols})", value + r * (rows + cols)


def _channels(layer: keras.layers.Layer, shape: Shape) -> int:
    axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
    return known(shape[axis], "the number of input channels")


def _kernel(layer: keras.layers.Layer) -> tuple[int, ...]:
    size = layer.kernel_size
    return (size,) * getattr(layer, "rank", 1) if isinstance(size, int) else tuple(size)


def _dense(layer, shape):
    last = known(shape[-1], "the number of input features (last dimension)")
    units = int(layer.units)
    bias = _bias(layer)
    expression = f"({last}{' + 1' if bias else ''}) × {units}"
    return _lora(layer, last, units, expression, (last + int(bias)) * units)


def _conv(layer, shape):
    """Conv1D/2D/3D and their transposed versions: one kernel of ``k × cin/groups`` per filter."""
    cin = _channels(layer, shape)
    groups = int(getattr(layer, "groups", 1) or 1)
    kernel = _kernel(layer)
    f = int(layer.filters)
    bias = _bias(layer)
    cin_text = f"({cin}/{groups})" if groups > 1 else f"{cin}"
    expression = f"({'×'.join(map(str, kernel))}×{cin_text}{' + 1' if bias else ''}) × {f}"
    return expression, (math.prod(kernel) * (cin // groups) + int(bias)) * f


def _depthwise(layer, shape):
    cin = _channels(layer, shape)
    kernel = _kernel(layer)
    m = int(layer.depth_multiplier)
    k = "×".join(map(str, kernel))
    bias = _bias(layer)
    expression = f"({k}{' + 1' if bias else ''}) × {cin}×{m}"
    return expression, (math.prod(kernel) + int(bias)) * cin * m


def _separable(layer, shape):
    cin = _channels(layer, shape)
    kernel = _kernel(layer)
    m, f = int(layer.depth_multiplier), int(layer.filters)
    bias = _bias(layer)
    k = "×".join(map(str, kernel))
    expression = f"{k}×{cin}×{m} + ({cin}×{m}{' + 1' if bias else ''}) × {f}"
    return expression, math.prod(kernel) * cin * m + (cin * m + int(bias)) * f


def _embedding(layer, shape):
    v, d = int(layer.input_dim), int(layer.output_dim)
    expression, value = _lora(layer, v, d, f"{v} × {d}", v * d)
    if isinstance(layer, L.ReversibleEmbedding) and not layer.tie_weights:
        expression, value = f"{expression} + {d} × {v}", value + v * d  # the untied output matrix
    return expression, value


def _rnn_parts(layer, shape) -> tuple[int, int, bool]:
    cell = getattr(layer, "cell", layer)
    d = known(shape[-1], "the number of input features (last dimension)")
    return d, int(cell.units), bool(getattr(cell, "use_bias", True))


def _simple_rnn(layer, shape):
    d, u, bias = _rnn_parts(layer, shape)
    return f"{u}×({d} + {u}){f' + {u}' if bias else ''}", u * (d + u) + u * int(bias)


def _lstm(layer, shape):
    d, u, bias = _rnn_parts(layer, shape)
    return f"4 × ({u}×({d} + {u}){f' + {u}' if bias else ''})", 4 * (u * (d + u) + u * int(bias))


def _gru(layer, shape):
    d, u, bias = _rnn_parts(layer, shape)
    after = bool(getattr(getattr(layer, "cell", layer), "reset_after", True))
    b = (f" + 2×{u}" if after else f" + {u}") if bias else ""
    return f"3 × ({u}×({d} + {u}){b})", 3 * (u * (d + u) + (2 if after else 1) * u * int(bias))


def _axes_size(layer, shape, axis) -> tuple[str, int]:
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    dims = [known(shape[a], f"the size of axis {a}") for a in axes]
    return "×".join(map(str, dims)), math.prod(dims)


def _batchnorm(layer, shape):
    c_text, c = _axes_size(layer, shape, layer.axis)
    n = int(layer.center) + int(layer.scale) + 2
    return f"{n} × {c_text}", n * c


def _layernorm(layer, shape):
    c_text, c = _axes_size(layer, shape, layer.axis)
    rms = bool(getattr(layer, "rms_scaling", False))
    n = int(layer.scale or rms) + int(layer.center and not rms)
    return f"{n} × {c_text}", n * c


def _layernorm_groups(layer, shape):
    """GroupNormalization: a gamma and a beta per channel."""
    c = known(shape[layer.axis], "the number of channels")
    n = int(layer.scale) + int(layer.center)
    return f"{n} × {c}", n * c


def _rms_norm(layer, shape):
    c_text, c = _axes_size(layer, shape, layer.axis)
    return f"{c_text}", c


def _normalization(layer, shape):
    """The preprocessing ``Normalization``: a mean and a variance per kept axis, and a count
    (no variables at all when the mean and variance were given as constants)."""
    if getattr(layer, "input_mean", None) is not None:
        return "0 (mean and variance given)", 0
    c_text, c = _axes_size(layer, shape, layer.axis)
    return f"2 × {c_text} + 1", 2 * c + 1


def _einsum_dense(layer, shape):
    from keras.src.layers.core.einsum_dense import _analyze_einsum_string

    if any(dim is None for dim in shape[1:]):
        known(None, "a dimension of the input")
    kernel, bias, *_ = _analyze_einsum_string(
        layer.equation, layer.bias_axes, shape, layer.partial_output_shape
    )
    size = math.prod(kernel)
    expression = "×".join(map(str, kernel))
    if bias is not None:
        expression, size = f"{expression} + {'×'.join(map(str, bias))}", size + math.prod(bias)
    rows = math.prod(kernel[:-1])
    return _lora(layer, rows, int(kernel[-1]), expression, size)


def _attention(layer, shape):
    """MultiHeadAttention: query, key and value projections to ``heads × key_dim`` (values:
    ``value_dim``), an optional gate, and the output projection back to the query's width."""
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    query = shapes.get("query_shape") or shape
    value = shapes.get("value_shape") or query
    key = shapes.get("key_shape") or value
    dq = known(query[-1], "the query's last dimension")
    dv = known(value[-1], "the value's last dimension")
    dk = known(key[-1], "the key's last dimension")
    h, k, v = int(layer.num_heads), int(layer.key_dim), int(layer.value_dim or layer.key_dim)
    out = getattr(layer, "_output_shape", None)
    out = dq if out is None else math.prod(out if isinstance(out, (list, tuple)) else [out])
    b = " + 1" if _bias(layer) else ""
    terms = [f"{h}×{k}×({dq}{b})", f"{h}×{k}×({dk}{b})", f"{h}×{v}×({dv}{b})"]
    value_total = (
        h * k * (dq + int(_bias(layer)))
        + h * k * (dk + int(_bias(layer)))
        + h * v * (dv + int(_bias(layer)))
    )
    if getattr(layer, "_use_gate", False):
        terms.append(f"{h}×{v}×({dq}{b})")
        value_total += h * v * (dq + int(_bias(layer)))
    terms.append(f"({h}×{v}{b})×{out}")
    value_total += (h * v + int(_bias(layer))) * out
    return " + ".join(terms), value_total


def _layer_scale(layer, shape):
    """ConvNeXt's LayerScale: one scale per channel."""
    d = int(layer.projection_dim)
    return f"{d}", d


def _kinds() -> list[tuple[type, Reader]]:
    kinds: list[tuple[type, Reader]] = [
        (L.Dense, _dense),
        (L.EinsumDense, _einsum_dense),
        (L.Embedding, _embedding),
        (L.LSTM, _lstm),
        (L.GRU, _gru),
        (L.SimpleRNN, _simple_rnn),
        (L.BatchNormalization, _batchnorm),
        (L.LayerNormalization, _layernorm),
        (L.Normalization, _normalization),
        (L.RMSNormalization, _rms_norm),
        (L.GroupNormalization, _layernorm_groups),
        (L.MultiHeadAttention, _attention),
        (L.SeparableConv1D, _separable),
        (L.SeparableConv2D, _separable),
        (L.DepthwiseConv1D, _depthwise),
        (L.DepthwiseConv2D, _depthwise),
    ]
    for conv in (
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
    ):
        kinds.append((getattr(L, conv), _conv))
    try:
        from keras.src.applications.convnext import LayerScale

        kinds.append((LayerScale, _layer_scale))
    except ImportError:  # pragma: no cover - older Keras
        pass
    return kinds


KINDS = _kinds()


def reader_for(layer: keras.layers.Layer) -> Reader | None:
    """The formula reader for ``layer``'s kind (``None`` for kinds without a formula)."""
    for kind, reader in KINDS:
        if isinstance(layer, kind):
            return reader
    return None
