"""What the inspection engine (:mod:`helpers.analysis`) reports: the layer calls of a model
(:class:`Call`), each variable with the calls that read it (:class:`VariableUse`), and
both together (:class:`Analysis`). :mod:`helpers.analysis` finds them; the names are
importable from there.

Example:
    >>> import keras
    >>> variable_size(keras.Variable(keras.ops.zeros((4, 3))))
    12
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .operations import is_operation
from .tracing import FILLER


def variable_size(variable: keras.Variable) -> int:
    """Number of scalar parameters in ``variable`` (the product of its shape).

    >>> variable_size(keras.Variable(keras.ops.zeros((3,))))
    3
    """
    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size


# ----------------------------------------------------------------------------- calls


@dataclass(frozen=True, eq=False)
class Call:
    """One call of a layer inside a model.

    Attributes:
        layer: the layer object that was called.
        number: 1 for the layer's first call, 2 for the second, ... counted in the model
            for the model's own calls, and inside the enclosing call for nested ones.
        of: how many times the layer is called there.
        parent: for a nested call (made while another layer's call ran), that call.
    """

    layer: keras.layers.Layer
    number: int
    of: int
    _node: Any = field(default=None, repr=False)
    parent: Call | None = field(default=None, repr=False)
    _args: tuple = field(default=(), repr=False)
    _kwargs: dict = field(default_factory=dict, repr=False)
    _outputs: tuple = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """``"encoder"`` for a layer called once, ``"encoder[2]"`` for its second call;
        a nested call adds its path: ``"pair/inner[2]"``."""
        own = self.layer.name if self.of == 1 else f"{self.layer.name}[{self.number}]"
        return own if self.parent is None else f"{self.parent.label}/{own}"

    @property
    def top(self) -> Call:
        """The model's own call this call belongs to (itself, unless it is nested)."""
        call = self
        while call.parent is not None:
            call = call.parent
        return call

    @property
    def is_operation(self) -> bool:
        """A graph operation that reads a variable (``ops.einsum(h, emb.embeddings)``),
        not a layer; its label is the operation's name (``"einsum"``)."""
        return is_operation(self.layer)

    @property
    def path(self) -> tuple:
        """The call's identity: ``(layer id, number)`` for it and each enclosing call, from
        the model's own call inwards (two nested calls of one inner layer made inside
        different outer calls have different paths)."""
        own = (id(self.layer), self.number)
        return own if self.parent is None else (*self.parent.path, *own)

    def within(self, layer: keras.layers.Layer) -> bool:
        """``True`` when this call is a call of ``layer`` or is made inside one."""
        call: Call | None = self
        while call is not None:
            if call.layer is layer:
                return True
            call = call.parent
        return False

    def _arguments(self) -> tuple[tuple, dict]:
        if self._node is not None:
            return tuple(self._node.arguments.args), dict(self._node.arguments.kwargs)
        return self._args, self._kwargs

    @property
    def input_shapes(self) -> list[tuple]:
        """Shapes of the tensors this call received (``None`` is the batch size)."""
        args, _ = self._arguments()
        return [
            tuple(t.shape) for t in keras.tree.flatten(args) if isinstance(t, keras.KerasTensor)
        ]

    @property
    def output_shapes(self) -> list[tuple]:
        """Shapes of the tensors this call returned."""
        outputs = self._node.output_tensors if self._node is not None else self._outputs
        return [tuple(t.shape) for t in outputs]

    def replay_arguments(self) -> tuple[tuple, dict]:
        """The call's positional and keyword arguments, with every symbolic tensor replaced
        by zeros of the same shape (unknown dimensions become 2). Flags such as
        ``reverse=True`` are kept, so replaying the call runs the same code path."""
        args, kwargs = self._arguments()
        return keras.tree.map_structure(zeros_like_spec, (args, kwargs))

    def __repr__(self) -> str:
        return f"Call({self.label})"


def zeros_like_spec(value: Any) -> Any:
    """Zeros for a symbolic tensor: NumPy's, which a layer converts itself (on JAX,
    ``keras.ops.zeros`` compiles a kernel for every new shape)."""
    if isinstance(value, keras.KerasTensor):
        shape = [FILLER if dim is None else dim for dim in value.shape]
        try:
            return np.zeros(shape, dtype=value.dtype)
        except TypeError:  # a dtype NumPy does not know (bfloat16)
            return keras.ops.zeros(shape, dtype=value.dtype)
    return value


# -------------------------------------------------------------------- variable uses


@dataclass(eq=False)
class VariableUse:
    """A variable of a model and the layer calls that read it. ``owned`` is ``False`` for
    a variable a call reads that the model does not track (a decoder holding its encoder
    untracked, in another model): Keras does not count it, and neither do the totals."""

    variable: keras.Variable
    calls: list[Call]
    owned: bool = True  # False: read by a call, but not one of the model's weights
    dims: tuple | None = field(default=None, repr=False)  # the shape, read once

    def __post_init__(self) -> None:
        if self.dims is None:
            self.dims = tuple(int(d) for d in self.variable.shape)

    @property
    def path(self) -> str:
        """The variable's path, e.g. ``"encoder/kernel"`` (its owner's name, then its own)."""
        return self.variable.path

    @property
    def shape(self) -> tuple:
        return self.dims

    @property
    def size(self) -> int:
        """Number of scalar parameters in the variable."""
        size = 1
        for dim in self.dims:
            size *= dim
        return size

    @property
    def trainable(self) -> bool:
        return bool(self.variable.trainable)

    @property
    def labels(self) -> list[str]:
        """The calls that use the variable, e.g. ``["encoder[1]", "encoder[2]"]``."""
        return [call.label for call in self.calls]

    @property
    def layers(self) -> list[str]:
        """Names of the model's layers whose calls use the variable (a nested call counts
        for the model's layer it is made in), in order of first use."""
        return list(dict.fromkeys(call.top.layer.name for call in self.calls))

    @property
    def is_shared(self) -> bool:
        """Used by more than one call (one layer called twice, or two tied layers)."""
        return len(self.calls) > 1


# ---------------------------------------------------------------------- the analysis


@dataclass(eq=False)
class Analysis:
    """What :func:`analyse` finds in a model.

    Attributes:
        calls: the model's own layer calls (graph nodes that are layers, or the calls its
            ``call`` makes), in the order data flows.
        nested: every call, the model's own and those made inside them, depth first.
        uses: every variable with the calls that read it, in the order of ``model.weights``.
        output_shapes: the shapes of the model's outputs (batch ``None``).
    """

    calls: list[Call]
    nested: list[Call]
    uses: list[VariableUse]
    output_shapes: list[tuple]
