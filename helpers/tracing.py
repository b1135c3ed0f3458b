"""Tracing layer calls: what runs inside one call of a layer, and what it reads.

While a :class:`Tracer` is active, every ``Layer.__call__`` becomes a frame (with the frames
of the calls made inside it), every variable read is recorded on the innermost frame, and
every write (a normalization layer's statistics) is kept in the scope and discarded, so
nothing changes. Keras's own layers are single frames: what they call inside (an RNN cell
at every step) is a detail of one call. :mod:`helpers.analysis` builds on it.

Example:
    >>> import keras
    >>> dense = keras.layers.Dense(2, name="d")
    >>> dense.build((None, 3))
    >>> tracer = Tracer(batch=1)
    >>> _ = tracer.run(lambda: dense(keras.ops.zeros((1, 3))))
    >>> [(f.layer.name, [v.path for v in f.reads]) for f in tracer.roots]
    [('d', ['d/kernel', 'd/bias'])]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras

from .recording import paused

__all__ = [
    "FILLER",
    "InspectionError",
    "Frame",
    "Tracer",
    "descends",
    "reads_own_weights",
    "failure",
    "created_in_call",
    "call_path",
]

#: Unknown dimensions (the batch, a free sequence length) become this size on replay.
FILLER = 2


class InspectionError(ValueError):
    """The helpers could not read a model (a layer that fails on zeros, a model never
    built). The message names the layer and says what to do; checks turn it into a
    failed check with the same message."""

    def _render_traceback_(self) -> list[str]:  # IPython: the message, not the kit's code
        return [f"{type(self).__name__}: {self}"]


def descends(layer: keras.layers.Layer) -> bool:
    """Whether the calls a layer makes inside are recorded: yes for models and for layers
    whose ``call`` is written outside Keras (custom layers); no for Keras's own layers,
    whose inner calls (an RNN cell once per time step) are details of one call."""
    if isinstance(layer, keras.Model):
        return True
    for klass in type(layer).__mro__:
        if "call" in vars(klass):
            return not klass.__module__.startswith("keras.")
    return False


#: Keras's own layers that read every one of their weights, and nothing else, on every
#: call (whatever the arguments): the engine lists their reads without running them.
_READ_ALL = {
    "Dense",
    "EinsumDense",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Embedding",
    "PReLU",
}
#: Keras's own layers that run code of the user's (read any variable they like).
_OPEN = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}


def reads_own_weights(layer: keras.layers.Layer) -> bool:
    """Whether a call of ``layer`` is known, without running it, to read exactly
    ``layer.weights``: one of Keras's own layers (exactly that class, not a subclass) that
    holds no other layer and either has no variables (``Add``, ``ReLU``, pooling) or is one
    that reads all of its weights on every call (``Dense``, ``Conv2D``, normalizations...).
    Replaying each call of a big model on zeros costs seconds; this costs nothing.

    >>> import keras
    >>> reads_own_weights(keras.layers.Dense(2)), reads_own_weights(keras.layers.LSTM(2))
    (True, False)
    """
    klass = type(layer)
    name = klass.__name__
    if not klass.__module__.startswith("keras.src.layers.") or name in _OPEN:
        return False
    if isinstance(layer, keras.Model) or any(True for _ in layer._flatten_layers(False, False)):
        return False
    return name in _READ_ALL or not layer.variables


class Frame:
    """One layer call seen while tracing, with the calls made inside it."""

    __slots__ = ("layer", "parent", "children", "reads", "args", "kwargs", "outputs", "opaque")

    def __init__(self, layer, parent, args, kwargs, batch):
        self.layer = layer
        self.parent = parent
        self.children: list[Frame] = []
        self.reads: list[keras.Variable] = []
        self.args = keras.tree.map_structure(lambda v: _spec(v, batch), tuple(args))
        self.kwargs = keras.tree.map_structure(lambda v: _spec(v, batch), dict(kwargs))
        self.outputs: tuple = ()
        self.opaque = not descends(layer)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def _spec(value: Any, batch: int | None) -> Any:
    """A tensor as a KerasTensor of its shape (the first dimension ``None`` when it is the
    batch size of the trace); anything else as is."""
    if isinstance(value, keras.Variable) or not keras.ops.is_tensor(value):
        return value
    shape = tuple(int(d) for d in value.shape)
    if batch is not None and shape and shape[0] == batch:
        shape = (None,) + shape[1:]
    return keras.KerasTensor(shape, dtype=keras.backend.standardize_dtype(value.dtype))


class Tracer(keras.StatelessScope):
    """While active: every ``Layer.__call__`` becomes a frame, every variable read is
    recorded on the innermost frame, and every write is kept here and discarded."""

    def __init__(self, batch: int | None) -> None:
        super().__init__()
        self.batch = batch
        self.stack: list[Frame] = []
        self.roots: list[Frame] = []
        self.failed: Frame | None = None
        self.created: Frame | None = None  # a call that built a new layer with variables

    def get_current_value(self, variable):
        if self.stack:
            self.stack[-1].reads.append(variable)
        return None  # the variable's own value is used: code runs exactly as usual

    def run(self, function: Callable[[], Any]) -> Any:
        """Call ``function`` (which calls layers) with this tracer active; its result.

        On JAX the calls are first traced abstractly (``jax.eval_shape``): the same Python
        code and the same variable reads, on shapes only, with nothing compiled or computed
        (the result is then shapes, not values). Code that needs values (Python control
        flow on a tensor), or fails there, runs again on the values as on the other
        backends, and that run's error is the one reported."""
        if keras.backend.backend() == "jax":
            import jax

            try:
                return self._run(lambda: jax.eval_shape(function))
            except Exception:  # noqa: BLE001 - the run on values below says what is wrong
                self.__init__(self.batch)  # start afresh: the traced run's frames are dropped
        return self._run(function)

    def _run(self, function: Callable[[], Any]) -> Any:
        original = keras.Layer.__call__
        tracer = self

        def traced_call(layer, *args, **kwargs):
            parent = tracer.stack[-1] if tracer.stack else None
            if parent is not None and parent.opaque:
                return original(layer, *args, **kwargs)
            frame = Frame(layer, parent, args, kwargs, tracer.batch)
            (parent.children if parent is not None else tracer.roots).append(frame)
            tracer.stack.append(frame)
            was_built = layer.built
            try:
                outputs = original(layer, *args, **kwargs)
            except BaseException:
                if tracer.failed is None:
                    tracer.failed = frame  # the innermost call that failed
                raise
            finally:
                tracer.stack.pop()
            frame.outputs = tuple(_spec(t, tracer.batch) for t in keras.tree.flatten(outputs))
            if not was_built and layer.weights and tracer.created is None:
                tracer.created = frame
            return outputs

        keras.Layer.__call__ = traced_call
        try:
            with self, paused():
                return function()
        finally:
            keras.Layer.__call__ = original


def _reason(error: BaseException) -> str:
    """The line of an error that says what went wrong (Keras wraps a layer's error in
    "Exception encountered when calling ..." and a list of the arguments)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.split("Arguments received")[0].splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered")]
    return lines[0] if lines else type(error).__name__


def call_path(frame: Frame | None, default: str) -> str:
    """``"pair/inner"``: the names of the layers whose calls enclose ``frame``, and its own."""
    names = []
    while frame is not None:
        names.append(frame.layer.name)
        frame = frame.parent
    return "/".join(reversed(names)) or default


def created_in_call(model: keras.Model, where: str) -> InspectionError:
    return InspectionError(
        f"Layer {where!r} of {model.name!r} creates new variables each time it runs. If you "
        "have not called the model yet, call it once on data (model(x)) or build it. If the "
        "layer is created inside call(), create it once in __init__ instead: a layer made in "
        "call() is a new layer with new random weights on every call."
    )


def failure(model: keras.Model, tracer: Tracer, what: str, error: BaseException) -> InspectionError:
    """A learner-readable account of a call that could not be replayed."""
    where = call_path(tracer.failed, what)
    text = _reason(error)
    if "stateless" in text.lower() and "variable" in text.lower():
        return created_in_call(model, where)
    return InspectionError(
        f"The helpers could not run layer {where!r} of {model.name!r} on zeros of its input "
        f"shape, so they cannot tell which variables it uses ({type(error).__name__}: {text}). "
        "Check that the model runs on a batch of data: model(x)."
    )
