"""Gradients of a shared variable, split by the layer call that used it.

When one variable is used by two calls (a layer called on two inputs, or two tied
layers), the gradient of the loss with respect to it is the *sum* of what each use
contributes. :func:`gradients_by_call` measures each contribution separately, so a
notebook can show that the sum is exactly the gradient Keras applies.

It runs the model's own forward pass (in training mode, as ``fit()`` does) and, during
each layer call that reads the variable, hands that call a stand-in tensor of the same
value that belongs to that call only. The gradient with respect to a stand-in is that
call's contribution. Everything runs in a Keras ``StatelessScope``: no variable changes,
not the moving statistics of a BatchNormalization, not the state of a random seed. It
works on the TensorFlow, JAX and PyTorch backends (:mod:`helpers.autodiff`).

Example:
    >>> import keras, numpy as np
    >>> a, b = keras.Input((2,)), keras.Input((2,))
    >>> shared = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="shared")
    >>> model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    >>> x = [np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]])]
    >>> loss = lambda out: keras.ops.sum(out)
    >>> parts = gradients_by_call(model, shared.kernel, x, loss)
    >>> {k: v.ravel().tolist() for k, v in parts.items()}
    {'shared[1]': [1.0, 2.0], 'shared[2]': [10.0, 20.0]}
    >>> gradient(model, shared.kernel, x, loss).ravel().tolist()
    [11.0, 22.0]
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping

import keras
import numpy as np
from keras.src.backend.common.stateless_scope import StatelessScope
from keras.src.layers.layer import Layer

from .analysis import graph_of
from .autodiff import value_and_grads
from .variables import variable_id, variable_uses

__all__ = [
    "gradient",
    "gradients_by_call",
    "contributions_add_up",
    "split_mismatch",
    "OUTSIDE_CALLS",
]

Loss = Callable[..., object]

OUTSIDE_CALLS = "outside layer calls"
"""The label of a part read outside every layer call (a weight regularizer in the compiled loss)."""


# --- which layer call is running ------------------------------------------------------------


class _Invocation:
    """One run of a layer's ``__call__`` during a forward pass."""

    def __init__(self, index: int, layer: Layer, parent: _Invocation | None) -> None:
        self.index, self.layer, self.parent = index, layer, parent
        self.children: list[_Invocation] = []
        self.label = layer.name

    def chain(self) -> list[_Invocation]:
        """This invocation and its parents, innermost first (the model itself left out)."""
        found, node = [], self
        while node is not None and node.parent is not None:
            found.append(node)
            node = node.parent
        return found


class _Tracer:
    """Keeps the stack of running layer calls while a forward pass runs."""

    def __init__(self) -> None:
        self.stack: list[_Invocation] = []
        self.all: list[_Invocation] = []

    def enter(self, layer: Layer) -> None:
        parent = self.stack[-1] if self.stack else None
        invocation = _Invocation(len(self.all), layer, parent)
        if parent is not None:
            parent.children.append(invocation)
        self.all.append(invocation)
        self.stack.append(invocation)

    def leave(self) -> None:
        self.stack.pop()

    @property
    def current(self) -> _Invocation | None:
        return self.stack[-1] if self.stack else None


@contextlib.contextmanager
def _tracing(tracer: _Tracer) -> Iterator[None]:
    """Every ``Layer.__call__`` reports to ``tracer`` while the block runs."""
    original = Layer.__call__

    @functools.wraps(original)
    def traced(self, *args, **kwargs):
        tracer.enter(self)
        try:
            return original(self, *args, **kwargs)
        finally:
            tracer.leave()

    Layer.__call__ = traced
    try:
        yield
    finally:
        Layer.__call__ = original


def _graph_numbers(model: keras.Model) -> dict[int, list[tuple[int, int]]] | None:
    """For a functional (or Sequential) model: ``{id(layer): [(number, of), ...]}`` with one
    entry per call in the order the graph runs them, numbered in the order the calls were
    made (as :func:`helpers.calls.layer_calls` numbers them)."""
    graph = graph_of(model)
    if graph is None:
        return None
    by_depth = graph._nodes_by_depth
    nodes: dict[int, list] = {}
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if not node.is_input and isinstance(node.operation, Layer):
                nodes.setdefault(id(node.operation), []).append(node)
    numbers = {}
    for key, run in nodes.items():
        made = sorted(run, key=lambda n: n.operation._inbound_nodes.index(n))
        numbers[key] = [(made.index(n) + 1, len(run)) for n in run]
    return numbers


def _label(root: _Invocation, model: keras.Model) -> None:
    """Labels like ``encoder[2]`` (second call) and ``pair/inner[1]`` (a call inside a call)."""
    numbers = _graph_numbers(model)

    def visit(parent: _Invocation, prefix: str, graph: dict | None) -> None:
        runs: dict[int, list[_Invocation]] = {}
        for child in parent.children:
            runs.setdefault(id(child.layer), []).append(child)
        for run in runs.values():
            planned = graph.get(id(run[0].layer)) if graph else None
            for k, child in enumerate(run):
                number, of = (
                    planned[k] if planned and len(planned) == len(run) else (k + 1, len(run))
                )
                name = child.layer.name if of == 1 else f"{child.layer.name}[{number}]"
                child.label = prefix + name
                visit(child, child.label + "/", None)

    visit(root, "", numbers)


# --- the forward pass with stand-ins --------------------------------------------------------


class _StandInScope(StatelessScope):
    """A stateless scope that gives ``variable`` a value chosen per layer call: ``pick(chain)``
    returns the key of the stand-in for a read made while ``chain`` (innermost first) runs,
    and ``reads`` records every chain that read it."""

    def __init__(
        self, variable: keras.Variable, tracer: _Tracer, pick: Callable, stand_ins: dict
    ) -> None:
        super().__init__(collect_losses=True)
        self.variable, self.tracer, self.pick, self.stand_ins = variable, tracer, pick, stand_ins
        self.reads: list[_Invocation | None] = []

    def get_current_value(self, variable):
        if variable is self.variable:
            current = self.tracer.current
            self.reads.append(current)
            key = self.pick(current)
            if key in self.stand_ins:
                return self.stand_ins[key]
        value = super().get_current_value(variable)
        # Keras's regularization losses read every weight through the scope: give them
        # the variable's own (unchanged) value, as a scope holding all the state would.
        return variable._value if value is None else value


def _loss_value(model: keras.Model, inputs, loss: Loss | None, targets, training: bool):
    outputs = model(inputs, training=training)
    if loss is not None:
        return loss(outputs)
    if (
        getattr(model, "compiled_loss", None) is None
        and getattr(model, "_compile_loss", None) is None
    ):
        raise ValueError(
            f"Pass a loss (a function of the model's outputs), or compile {model.name!r} first "
            "and pass targets=...: then the loss is the compiled one, as in fit()."
        )
    if targets is None:
        raise ValueError("With the compiled loss, pass the targets too: gradient(..., targets=y).")
    return model.compute_loss(x=inputs, y=targets, y_pred=outputs, training=training)


def _run(
    model, variable, inputs, loss, targets, training, pick, keys
) -> tuple[list[np.ndarray], _Tracer, list]:
    """One forward pass and loss under stand-ins (one per key in ``keys``, all of the
    variable's value); their gradients, the tracer and the reads."""
    base = keras.ops.convert_to_numpy(variable.value)
    record: dict = {}

    def fn(tensors):
        tracer = _Tracer()
        scope = _StandInScope(variable, tracer, pick, dict(zip(keys, tensors, strict=True)))
        with scope, _tracing(tracer):
            value = _loss_value(model, inputs, loss, targets, training)
        record["tracer"], record["reads"] = tracer, scope.reads
        return value

    _, grads = value_and_grads(fn, [base] * len(keys))
    return grads, record["tracer"], record["reads"]


def _readers(model: keras.Model, variable: keras.Variable) -> list:
    for use in variable_uses(model):
        if variable_id(use.variable) == variable_id(variable):
            return list(use.calls)
    return []


def _match(chains: list[_Invocation | None], readers: list) -> dict[int, str]:
    """``{invocation index: part label}`` for the invocations that read the variable: the
    innermost running call of a layer the inspection engine lists as a reader, under the
    engine's label for it (by label, else by order among that layer's calls)."""
    reader_layers = {id(c.layer) for c in readers}
    labels = {c.label for c in readers}
    chosen: list[_Invocation] = []
    for current in chains:
        if current is None:
            continue
        chain = current.chain()
        target = next(
            (inv for inv in chain if id(inv.layer) in reader_layers), chain[0] if chain else None
        )
        if target is not None and target not in chosen:
            chosen.append(target)
    mapping: dict[int, str] = {}
    free = {id(c): c for c in readers if c.label not in {inv.label for inv in chosen}}
    for inv in chosen:
        if inv.label in labels:
            mapping[inv.index] = inv.label
            continue
        same = [c for c in readers if id(c) in free and c.layer is inv.layer]
        if same:
            mapping[inv.index] = same[0].label
            del free[id(same[0])]
        else:
            mapping[inv.index] = inv.label  # a use the engine did not list: keep it, labelled
    return mapping


def gradients_by_call(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    *,
    targets=None,
    training: bool = True,
) -> dict[str, np.ndarray]:
    """``{call label: gradient}``: how much each layer call that reads ``variable``
    contributes to the gradient of the loss. Their sum is :func:`gradient` of the same
    loss (exactly, up to rounding), in training mode as ``fit()`` runs the model.

    Args:
        model: a Keras model (functional, Sequential or subclassed).
        variable: one of the model's variables, e.g. ``model.get_layer("encoder").kernel``.
        inputs: what you would pass to ``model(...)``.
        loss: a function of the model's output(s) returning a scalar, e.g.
            ``lambda out: keras.ops.mean((out - y) ** 2)``; ``None`` for the compiled loss
            (then pass ``targets``).
        targets: the targets for the compiled loss.
        training: run the model in training mode (``fit()``) or not (``predict()``).
    """
    readers = _readers(model, variable)
    if not readers:
        raise ValueError(f"No layer call of {model.name!r} reads the variable {variable.path!r}.")
    # Pass 1: which running calls read the variable (nothing is differentiated).
    _, tracer, reads = _run(
        model, variable, inputs, loss, targets, training, lambda current: None, []
    )
    _label(tracer.all[0], model) if tracer.all else None
    mapping = _match(reads, readers)
    has_outside = any(current is None or not current.chain() for current in reads)

    def pick(current: _Invocation | None):
        if current is None or not current.chain():
            return OUTSIDE_CALLS
        for inv in current.chain():
            if inv.index in mapping:
                return mapping[inv.index]
        return None

    keys = list(
        dict.fromkeys(
            list(mapping.values())
            + [c.label for c in readers]
            + ([OUTSIDE_CALLS] if has_outside else [])
        )
    )
    # Pass 2: the same forward pass, each reading call with its own stand-in.
    grads, _, _ = _run(model, variable, inputs, loss, targets, training, pick, keys)
    parts = dict(zip(keys, grads, strict=True))
    order = [c.label for c in readers]
    return {
        label: parts[label]
        for label in sorted(parts, key=lambda key: order.index(key) if key in order else len(order))
    }


def gradient(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    *,
    targets=None,
    training: bool = True,
) -> np.ndarray:
    """The gradient of the loss with respect to ``variable``: what ``fit()`` applies (plain
    SGD moves the variable by ``-learning_rate * gradient``). By default the model runs
    in training mode, as in ``fit()``; with ``loss=None`` the loss is the compiled one
    (``model.compute_loss``, with regularization) on ``targets``."""
    grads, _, _ = _run(
        model, variable, inputs, loss, targets, training, lambda current: "all", ["all"]
    )
    return grads[0]


def split_mismatch(parts: Mapping[str, object], total, atol: float = 1e-5) -> str | None:
    """``None`` when the ``parts`` (``{call label: gradient}``) add up to ``total``;
    otherwise a sentence saying by how much they miss it.

    >>> import numpy as np
    >>> split_mismatch({"a[1]": np.ones(2), "a[2]": np.ones(2)}, np.full(2, 2.0)) is None
    True
    >>> print(split_mismatch({"a[1]": np.ones(2)}, np.full(2, 2.0)))
    The gradient parts (a[1]) add up to something off by up to 1 from the whole gradient: a
    part is missing or wrong.
    """
    total = np.asarray(total, dtype=float)
    arrays = [np.asarray(p, dtype=float) for p in parts.values()]
    if any(a.shape != total.shape for a in arrays):
        return f"Every gradient part must have the variable's shape {total.shape}."
    summed = sum(arrays) if arrays else np.zeros_like(total)
    if np.allclose(summed, total, atol=atol):
        return None
    return (
        f"The gradient parts ({', '.join(parts)}) add up to something off by up to "
        f"{np.abs(summed - total).max():.3g} from the whole gradient: a part is missing or wrong."
    )


def contributions_add_up(
    model: keras.Model,
    variable: keras.Variable,
    inputs,
    loss: Loss | None = None,
    atol: float = 1e-5,
    *,
    targets=None,
    training: bool = True,
) -> bool:
    """``True`` when the per-call contributions add up to the full gradient."""
    parts = gradients_by_call(model, variable, inputs, loss, targets=targets, training=training)
    whole = gradient(model, variable, inputs, loss, targets=targets, training=training)
    return split_mismatch(parts, whole, atol=atol) is None
