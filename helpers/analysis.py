"""The inspection engine: every layer call of a model and the variables each call reads.

Every report and check of the kit asks the same two questions of a model: which layer
calls does it make, and which variables does each call read? :func:`analyse` answers both
once per model (and again only when the model changes) for every kind of model:

- **functional and Sequential models:** the graph is the source of truth. Each node whose
  operation is a layer is a call, and so is an operation given a variable
  (``ops.einsum("btd,vd->btv", h, emb.embeddings)``: Keras keeps the variable in the node
  and reads it on every run). Operations that read no variable (``a - b``,
  ``keras.ops.concatenate``, the ``NotEqual`` of ``Embedding(mask_zero=True)``) are
  stepped over. Each layer call is then replayed once on zeros to record what it reads.
- **subclassed models** (and Sequential models without an input): there is no graph, so
  the model runs once on zeros of the shape it was built for, and the layer calls made
  while ``call`` runs are recorded.

While a call runs, the calls it makes inside (a custom layer that applies its inner
``Dense`` twice, a sub-model's layers) are recorded too, as *nested* calls labelled with
their path: ``pair/inner[1]``, ``pair/inner[2]``. Keras's own layers (``Dense``, ``LSTM``
and its cell, ``MultiHeadAttention``, ...) are single calls: what they do inside is theirs.
No variable changes: reads are recorded in a ``StatelessScope``, which keeps every write
(a normalization layer's statistics) to itself and discards it.

Example:
    >>> import keras
    >>> class Pair(keras.layers.Layer):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.inner = keras.layers.Dense(3, name="inner")
    ...     def call(self, inputs):
    ...         return self.inner(inputs[0]) - self.inner(inputs[1])
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> model = keras.Model([a, b], Pair(name="pair")([a, b]))
    >>> [(u.path, u.labels) for u in analyse(model).uses]
    [('pair/inner/kernel', ['pair/inner[1]', 'pair/inner[2]']),
     ('pair/inner/bias', ['pair/inner[1]', 'pair/inner[2]'])]

The tracing itself is :mod:`helpers.tracing`; :func:`helpers.replay.run_calls` runs a model
call by call with the calls found here.
"""

from __future__ import annotations

import collections
import functools
import inspect
from collections.abc import Callable
from typing import Any

import keras

from .analysis_records import Analysis, Call, VariableUse, variable_size, zeros_like_spec
from .operations import graph_nodes, graph_of, is_operation, node_variables
from .recording import install, recorded_call
from .tracing import (
    FILLER,
    Frame,
    InspectionError,
    Tracer,
    call_path,
    created_in_call,
    failure,
    reads_own_weights,
)

__all__ = ["Analysis", "Call", "InspectionError", "VariableUse", "analyse", "variable_size"]


install()  # from now on, the first call of each model is recorded (helpers.recording)


def _graph_calls(graph, variables: list[keras.Variable]) -> list[Call]:
    """The calls of a functional graph: nodes whose operation is a layer, or an operation
    that reads a variable (``ops.einsum(..., emb.embeddings)``), inputs left out, in
    data-flow order (calls at one depth in the order they were made)."""
    ordered = sorted(graph._nodes_by_depth.items(), reverse=True)
    depth = {id(n): d for d, nodes in ordered for n in nodes}
    nodes = [
        n
        for n in graph_nodes(graph)
        if not is_operation(n.operation) or node_variables(n, variables)
    ]
    per_layer: dict[int, list] = {}
    for node in nodes:
        per_layer.setdefault(id(node.operation), []).append(node)
    for layer_nodes in per_layer.values():
        layer_nodes.sort(key=lambda n: n.operation._inbound_nodes.index(n))
    calls = [
        Call(
            n.operation, per_layer[id(n.operation)].index(n) + 1, len(per_layer[id(n.operation)]), n
        )
        for n in nodes
    ]
    calls.sort(key=lambda c: (-depth[id(c._node)], c.number))
    return calls


def _numbered(frames: list[Frame], parent: Call | None) -> list[tuple[Frame, Call]]:
    """A call for each of ``frames`` (made inside ``parent``), numbered per layer."""
    counts = collections.Counter(id(f.layer) for f in frames)
    seen: collections.Counter = collections.Counter()
    calls = []
    for frame in frames:
        seen[id(frame.layer)] += 1
        number, of = seen[id(frame.layer)], counts[id(frame.layer)]
        call = Call(frame.layer, number, of, None, parent, frame.args, frame.kwargs, frame.outputs)
        calls.append((frame, call))
    return calls


def _nested(frames: list[Frame], parent: Call, made: dict[int, Call]) -> list[Call]:
    """Calls for the frames made inside ``parent`` (numbered per layer), depth first."""
    out = []
    for frame, call in _numbered(frames, parent):
        made[id(frame)] = call
        out.append(call)
        out.extend(_nested(frame.children, call, made))
    return out


def _readers(top: Call, frame: Frame, made: dict[int, Call], skip: set[int]) -> dict[int, tuple]:
    """``{variable id: (variable, [calls])}`` for one of the model's calls. A variable read
    inside it by one call only is used by the model's call; read by several nested calls
    (an inner layer applied twice, a tie inside a block), it is used by each of them."""
    by_variable: dict[int, tuple] = {}
    for inner in frame.walk():
        for variable in inner.reads:
            if id(variable) in skip:
                continue
            entry = by_variable.setdefault(id(variable), (variable, []))
            if inner not in entry[1]:
                entry[1].append(inner)
    return {
        key: (variable, [top] if len(frames) == 1 else [made.get(id(f), top) for f in frames])
        for key, (variable, frames) in by_variable.items()
    }


def _not_weights(model: keras.Model) -> set[int]:
    """Ids of variables that are state, not weights: random seed generators (``Dropout``
    in training reads one). Keras does not count them as parameters; neither do we."""
    return {id(v) for v in model.variables} - {id(v) for v in model.weights}


def _first_shape(structure: Any) -> tuple:
    """The first shape in a structure of shapes (a dict, a list of shapes, a shape)."""
    while isinstance(structure, (dict, list, tuple)) and structure:
        if all(d is None or isinstance(d, int) for d in structure):
            return tuple(structure)
        structure = next(iter(structure.values())) if isinstance(structure, dict) else structure[0]
    return tuple(structure) if isinstance(structure, (list, tuple)) else ()


def _model_inputs(model: keras.Model) -> tuple[tuple, dict, int, list[str]]:
    """Zeros like the arguments a model without a graph was first called with (recorded by
    :mod:`helpers.recording`), else of the shape Keras recorded for its first argument:
    ``(args, kwargs, batch, names of the arguments whose shape was guessed)``."""
    recorded = recorded_call(model)
    if recorded is not None:
        leaves = [t for t in keras.tree.flatten(recorded) if isinstance(t, keras.KerasTensor)]
        batch = leaves[0].shape[0] if leaves and leaves[0].shape else FILLER
        args, kwargs = keras.tree.map_structure(zeros_like_spec, recorded)
        return tuple(args), dict(kwargs), batch or FILLER, []
    shapes = getattr(model, "_build_shapes_dict", None)
    if not shapes:
        raise InspectionError(
            f"{model.name!r} has no layer graph and no record of the shape of its inputs, so "
            "the helpers cannot run it to see its calls. If it has not been called yet, call it "
            "once on a batch of data (model(x)); otherwise build it with "
            "model.build(input_shape), e.g. model.build((None, 64))."
        )
    first = next(iter(shapes.values()))
    probe = _first_shape(first)
    batch = probe[0] if probe and probe[0] is not None else FILLER

    def zeros(shape):
        return keras.ops.zeros(
            [
                batch if i == 0 and d is None else (FILLER if d is None else d)
                for i, d in enumerate(shape)
            ]
        )

    def build(shape):
        return keras.tree.map_shape_structure(zeros, shape)

    if len(shapes) == 1:
        # Keras keeps the first argument only: more required ones get zeros of its shape.
        required = [
            p
            for p in list(inspect.signature(model.call).parameters.values())[1:]
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        guessed = [p.name for p in required]
        return tuple(build(first) for _ in range(1 + len(required))), {}, batch, guessed
    return (), {k.removesuffix("_shape"): build(v) for k, v in shapes.items()}, batch, []


def _analyse(model: keras.Model) -> Analysis:
    skip = _not_weights(model)
    made: dict[int, Call] = {}
    readers: dict[int, tuple] = {}
    nested: list[Call] = []

    def add(found: dict[int, tuple]) -> None:
        for key, (variable, calls) in found.items():
            readers.setdefault(key, (variable, []))[1].extend(calls)

    graph = graph_of(model)
    if graph is not None:
        weights = model.weights
        calls = _graph_calls(graph, weights)
        output_shapes = [tuple(t.shape) for t in graph.outputs]
        for call in calls:
            _analyse_graph_call(model, weights, call, skip, made, nested, add)
    else:
        calls, output_shapes = _analyse_run(model, skip, made, nested, add)
    return Analysis(calls, nested, _ordered_uses(model, readers), output_shapes)


def _analyse_graph_call(
    model: keras.Model,
    weights: list[keras.Variable],
    call: Call,
    skip: set[int],
    made: dict[int, Call],
    nested: list[Call],
    add: Callable[[dict[int, tuple]], None],
) -> None:
    """One call of a graph: its nested calls into ``nested``, what it reads to ``add``."""
    if call.is_operation:  # reads the variables kept in its node, nothing nested
        nested.append(call)
        add({id(v): (v, [call]) for v in node_variables(call._node, weights)})
        return
    if reads_own_weights(call.layer):  # a Dense, a Conv2D: known without a replay
        nested.append(call)
        add({id(v): (v, [call]) for v in call.layer.weights if id(v) not in skip})
        return
    tracer = Tracer(FILLER)
    args, kwargs = call.replay_arguments()
    try:
        tracer.run(functools.partial(call.layer, *args, **kwargs))
    except Exception as error:  # noqa: BLE001 - any error becomes the check's message
        raise failure(model, tracer, call.layer.name, error) from None
    if tracer.created is not None:
        raise created_in_call(model, call_path(tracer.created, call.layer.name))
    frame = tracer.roots[0]
    nested.append(call)
    nested.extend(_nested(frame.children, call, made))
    add(_readers(call, frame, made, skip))


def _analyse_run(
    model: keras.Model,
    skip: set[int],
    made: dict[int, Call],
    nested: list[Call],
    add: Callable[[dict[int, tuple]], None],
) -> tuple[list[Call], list[tuple]]:
    """A model without a graph, run once on zeros: its calls and output shapes; nested
    calls into ``nested``, what each call reads to ``add``."""
    root = _traced_run(model)
    calls = []
    for frame, call in _numbered(root.children, None):
        calls.append(call)
        nested.append(call)
        nested.extend(_nested(frame.children, call, made))
        add(_readers(call, frame, made, skip))
    # Variables the model's own call reads (a tie written in call()): a use by the model.
    own = Call(model, 1, 1, None, None, root.args, root.kwargs, root.outputs)
    add({id(v): (v, [own]) for v in root.reads if id(v) not in skip})
    return calls, [tuple(t.shape) for t in root.outputs]


def _traced_run(model: keras.Model) -> Frame:
    """The frame of one traced run of ``model`` on zeros of the shape it was built for."""
    args, kwargs, batch, guessed = _model_inputs(model)
    tracer = Tracer(batch)
    try:
        tracer.run(lambda: model(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - any error becomes the check's message
        if guessed:
            raise InspectionError(
                f"The helpers know only the shape of its first argument for {model.name!r} "
                f"(what Keras records), not of {', '.join(repr(n) for n in guessed)}, and "
                "the model does not run with that shape for them. To let them read it, "
                "call the model once more on real data now that helpers is imported "
                f"(e.g. {model.name}(a, b)): they record every argument of that call."
            ) from None
        raise failure(model, tracer, model.name, error) from None
    if tracer.created is not None:
        raise created_in_call(model, call_path(tracer.created, model.name))
    return tracer.roots[0]


def _ordered_uses(model: keras.Model, readers: dict[int, tuple]) -> list[VariableUse]:
    """Every variable read (and every weight of the model, read or not), in the order of
    ``model.weights`` (variables the model does not own after them)."""
    uses = {
        key: VariableUse(variable, calls)
        for key, (variable, calls) in readers.items()
        if not variable.path.endswith("seed_generator_state")
    }
    for variable in model.weights:
        uses.setdefault(id(variable), VariableUse(variable, []))
    order = {id(v): i for i, v in enumerate(model.weights)}
    for key, use in uses.items():
        use.owned = key in order
    return sorted(uses.values(), key=lambda u: order.get(id(u.variable), len(order)))


# ---------------------------------------------------------------------------- caching


def _held(layer: keras.layers.Layer) -> tuple:
    """Ids of the layers and variables a custom layer holds in its attributes (a tie:
    ``self.tied_to = encoder``, tracked or not)."""
    held = []
    for value in vars(layer).values():
        if isinstance(value, (keras.layers.Layer, keras.Variable)):
            held.append(id(value))
        elif isinstance(value, (list, tuple)):
            held.extend(id(v) for v in value if isinstance(v, (keras.layers.Layer, keras.Variable)))
        elif isinstance(value, dict):
            held.extend(
                id(v) for v in value.values() if isinstance(v, (keras.layers.Layer, keras.Variable))
            )
    return tuple(held)


def _fingerprint(model: keras.Model) -> tuple:
    """Changes when the model's layers, their variables, or the layers and variables they
    hold (a tie: ``self.tied_to = encoder``) change; the same otherwise. Keras's own
    layers that hold no other layer are read by their own variables only (fast: a model
    of hundreds of Dense and Conv2D layers is checked in milliseconds)."""
    parts: list = [id(getattr(model, "_functional", None))]
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if reads_own_weights(layer):
            own = layer._trainable_variables + layer._non_trainable_variables
            parts.append((id(layer), layer.built, tuple(map(id, own))))
        else:
            parts.append((id(layer), bool(layer.built), _held(layer)))
    return tuple(parts)


_CACHE: collections.OrderedDict[int, tuple] = collections.OrderedDict()
_CACHE_SIZE = 8


def analyse(model: keras.Model) -> Analysis:
    """The calls and variable uses of ``model``, computed once and reused while the model
    is unchanged (the last few models analysed are remembered).

    Raises:
        InspectionError: a layer of the model cannot be run on zeros, or a model without
            a graph has never been built; the message names the layer.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"The helpers inspect a Keras model; got a {type(model).__name__}.")
    key = _fingerprint(model)
    hit = _CACHE.get(id(model))
    if hit is not None and hit[0] is model and hit[1] == key:
        _CACHE.move_to_end(id(model))
        return hit[2]
    analysis = _analyse(model)
    _CACHE[id(model)] = (model, key, analysis)
    _CACHE.move_to_end(id(model))
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return analysis
