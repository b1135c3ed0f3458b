"""Operation nodes of a functional graph that read variables, and constants that only look
like a tie.

A functional graph can hold operations that are not layers: ``keras.ops.einsum``,
``keras.ops.matmul``, ``a - b``. When one of them is given a *variable*
(``ops.einsum("btd,vd->btv", h, emb.embeddings)``), Keras keeps the variable itself in the
node: the operation reads its current value every time the model runs, ``fit()`` trains it
through that path, and the operation is one of the variable's readers, like a layer call.

Given a *tensor computed from* a variable (``ops.transpose(emb.embeddings)``), it is
different on TensorFlow and JAX: the tensor is computed once, when the graph is built, and
the node keeps that value as a constant. The model never reads the variable there again,
so training moves the variable but not the copy, and no gradient reaches the variable
through that path: a **frozen copy**, not a tie. (On PyTorch the same tensor is a *view* of
the variable's storage, so the copy follows the variable and the tie is live: it is then
reported as a reader.) :func:`frozen_copies` finds such constants: a tensor in the graph
whose value equals a variable's (or its transpose).

Example:
    >>> import keras
    >>> from keras import layers, ops
    >>> tokens = keras.Input((5,), dtype="int32")
    >>> emb = layers.Embedding(11, 4, name="emb")
    >>> h = layers.Dense(4, name="mix")(emb(tokens))
    >>> model = keras.Model(tokens, ops.matmul(h, ops.transpose(emb.embeddings)))
    >>> [(c.operation, c.path, c.transposed) for c in frozen_copies(model)]  # doctest: +SKIP
    [('matmul', 'emb/embeddings', True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

__all__ = ["FrozenCopy", "frozen_copies"]


def is_operation(op: Any) -> bool:
    """An operation of a graph that is not a layer (``Matmul``, ``Einsum``, ``Subtract``)."""
    return not isinstance(op, keras.layers.Layer)


def graph_of(model: keras.Model):
    """The functional graph of a model (a Sequential model's inner one), or ``None``."""
    graph = getattr(model, "_functional", None) or model
    return graph if getattr(graph, "_nodes_by_depth", None) is not None else None


def graph_nodes(graph) -> list:
    """The nodes of a functional graph, inputs left out, in data-flow order."""
    ordered = sorted(graph._nodes_by_depth.items(), reverse=True)
    return [n for _, nodes in ordered for n in nodes if not n.is_input]


def _leaves(node) -> list:
    return keras.tree.flatten((node.arguments.args, node.arguments.kwargs))


def _torch_base(value: Any) -> int | None:
    """On PyTorch, the storage address of a tensor (a view shares its base's storage)."""
    try:
        return value.untyped_storage().data_ptr()
    except (AttributeError, RuntimeError):
        return None


def node_variables(node, variables: list[keras.Variable]) -> list[keras.Variable]:
    """The variables an operation node reads each time the graph runs: variables kept in
    its arguments, and (PyTorch) tensors that are views of a variable's storage."""
    found: dict[int, keras.Variable] = {}
    storages = None
    for leaf in _leaves(node):
        if isinstance(leaf, keras.Variable):
            found.setdefault(id(leaf), leaf)
        elif keras.backend.backend() == "torch" and _is_constant(leaf):
            if storages is None:
                storages = {_torch_base(v.value): v for v in variables}
            owner = storages.get(_torch_base(leaf))
            if owner is not None:
                found.setdefault(id(owner), owner)
    return list(found.values())


def _is_constant(leaf: Any) -> bool:
    return (
        not isinstance(leaf, (keras.KerasTensor, keras.Variable))
        and keras.ops.is_tensor(leaf)
        and len(getattr(leaf, "shape", ())) >= 1
    )


def node_constants(node) -> list:
    """The tensors stored in an operation node's arguments (not symbolic, not variables)."""
    return [leaf for leaf in _leaves(node) if _is_constant(leaf)]


@dataclass(frozen=True, eq=False)
class FrozenCopy:
    """A constant in a model's graph whose value equals a variable's: a copy made once
    when the graph was built, which training never updates.

    Attributes:
        variable: the variable copied.
        operation: the name of the graph node that holds the copy (``"matmul"``).
        transposed: the copy is the variable transposed (``ops.transpose(v)``).
        model: the name of the model (or sub-model) whose graph holds it.
    """

    variable: keras.Variable
    operation: str
    transposed: bool
    model: str

    @property
    def path(self) -> str:
        """The copied variable's path, e.g. ``"emb/embeddings"``."""
        return self.variable.path

    @property
    def message(self) -> str:
        """What the copy is and how to write a real tie, in plain words."""
        owner = self.path.rsplit("/", 1)
        attr = f"{owner[0].rsplit('/', 1)[-1]}.{owner[-1]}" if len(owner) == 2 else self.path
        made = f"ops.transpose({attr})" if self.transposed else attr
        return (
            f"{self.operation!r} in {self.model!r} uses a frozen copy of {self.path}, not a "
            f"tie: {made} was computed once, when the model was built, and its value was "
            "stored in the graph as a constant. Training changes "
            f"{self.path} but never this copy, and no gradient reaches {self.path} through "
            f"{self.operation!r}. To tie, read the variable each time the model runs: in a "
            f"layer whose call() computes it (ops.matmul(x, ops.transpose(self.tied_to."
            f"{owner[-1]}))), or by passing the variable itself to the operation "
            f'(ops.einsum("btd,vd->btv", h, {attr}) reads it live).'
        )


def _as_numpy(value: Any) -> np.ndarray | None:
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001 - a tensor we cannot read is not a copy we can name
        return None


def _copied(constant: np.ndarray, values: dict[int, tuple], by_size: dict) -> list[tuple]:
    """``(variable, transposed)`` for each variable whose value the constant equals."""
    found = []
    for key in by_size.get(constant.size, ()):
        variable, value = values[key]
        if value.shape == constant.shape and np.array_equal(value, constant):
            found.append((variable, False))
        elif (
            value.ndim == 2
            and value.T.shape == constant.shape
            and np.array_equal(value.T, constant)
        ):
            found.append((variable, True))
    return found


def frozen_copies(model: keras.Model) -> list[FrozenCopy]:
    """Constants in ``model``'s graph (and its sub-models' graphs) whose value equals one
    of its variables, or that variable transposed: each is a frozen copy, not a tie.

    Only functional and Sequential graphs hold such constants; a subclassed model reads
    its variables each time ``call`` runs. A constant that is a live view of a variable
    (PyTorch) is not a copy: it is reported as a reader by :func:`helpers.variable_uses`.
    A variable of all zeros or ones (a fresh bias) is left out: a constant of zeros equals
    it by chance.

    >>> import keras
    >>> from keras import layers, ops
    >>> x = keras.Input((3,))
    >>> d = layers.Dense(3, name="d")
    >>> h = d(x)
    >>> live = keras.Model(x, ops.matmul(h, d.kernel))   # the variable itself: a live tie
    >>> frozen_copies(live)
    []
    """
    variables = {id(v): v for v in model.weights}
    values: dict[int, tuple] = {}
    by_size: dict[int, list[int]] = {}
    found: list[FrozenCopy] = []
    for sub in model._flatten_layers(include_self=True, recursive=True):
        graph = graph_of(sub) if isinstance(sub, keras.Model) else None
        if graph is None:
            continue
        for node in graph_nodes(graph):
            constants = node_constants(node)
            if not constants:
                continue
            if not values:
                for key, variable in variables.items():
                    value = _as_numpy(variable.value)
                    if value is None or value.size < 2 or np.all(value == value.flat[0]):
                        continue  # constant-valued: equal to a constant by chance
                    values[key] = (variable, value)
                    by_size.setdefault(value.size, []).append(key)
            live = {id(v) for v in node_variables(node, list(variables.values()))}
            for constant in constants:
                array = _as_numpy(constant)
                if array is None:
                    continue
                for variable, transposed in _copied(array, values, by_size):
                    if id(variable) not in live:
                        found.append(
                            FrozenCopy(variable, node.operation.name, transposed, sub.name)
                        )
    return found
