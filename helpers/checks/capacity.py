"""Checks of a model's capacity: its parameter count (exact, or within a budget) and how
the parameters are spread over its blocks. A shared variable is counted once.

Example:
    >>> import keras
    >>> x = keras.Input((64,))
    >>> model = keras.Model(x, keras.layers.Dense(10, name="head")(x), name="probe")
    >>> assert_param_count(model, 650)           # (64 + 1) x 10
    >>> assert_param_budget(model, maximum=500)
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 'probe' has 650 parameters, over the budget of 0 to 500.
    Cut at least 150. Where they are, layer by layer:
    Parameters of 'probe'
    layer  trainable  non-trainable  total  shared with
    -----  ---------  -------------  -----  -----------
    head         650              0    650
    total        650              0    650
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras

from ..params import Blocks, block_params, count_params, param_table
from ._common import fail, graded

__all__ = ["assert_param_count", "assert_param_budget", "assert_capacity_ratio"]


@graded
def assert_param_count(
    source: keras.layers.Layer,
    expected: int,
    *,
    trainable: bool | None = None,
    hint: str | None = None,
) -> None:
    """``source`` (a model or layer) has exactly ``expected`` parameters, each distinct
    variable counted once (``trainable=True``/``False``: only those)."""
    __tracebackhide__ = True
    actual = count_params(source, trainable)
    if actual == expected:
        return
    kind = {None: "", True: "trainable ", False: "non-trainable "}[trainable]
    message = (
        f"{source.name!r} should have {expected:,} {kind}parameters, "
        f"but it has {actual:,} ({actual - expected:+,})."
    )
    if isinstance(source, keras.Model):
        message += "\nWhere they are:\n" + str(param_table(source))
    fail(message, hint)


@graded
def assert_param_budget(
    model: keras.layers.Layer, maximum: int, minimum: int = 0, *, hint: str | None = None
) -> None:
    """``model`` has between ``minimum`` and ``maximum`` parameters (inclusive).

    When it does not, the message says how many parameters to cut (or add) and, for a
    model, where they are, layer by layer, so the learner sees which layer to resize::

        'budget_model' has 13,706 parameters, over the budget of 5,000 to 6,000.
        Cut at least 7,706. Where they are, layer by layer:
        Parameters of 'budget_model'
        layer           trainable  non-trainable   total  shared with
        ...
    """
    __tracebackhide__ = True
    actual = count_params(model)
    if minimum <= actual <= maximum:
        return
    over = actual > maximum
    message = (
        f"{model.name!r} has {actual:,} parameters, {'over' if over else 'under'} the budget "
        f"of {minimum:,} to {maximum:,}."
    )
    if isinstance(model, keras.Model):
        gap = actual - maximum if over else minimum - actual
        message += (
            f"\n{'Cut' if over else 'Add'} at least {gap:,}. Where they are, layer by layer:\n"
            + str(param_table(model))
        )
    fail(message, hint)


def _prefix_blocks(names: Sequence[str]) -> Callable[[str], str]:
    """Layer name -> block: ``stage1`` holds the layer ``stage1`` and every ``stage1_...``."""
    ordered = sorted(names, key=len, reverse=True)  # "stage10" before "stage1"

    def block_of(layer_name: str) -> str:
        for block in ordered:
            if layer_name == block or layer_name.startswith(block + "_"):
                return block
        return layer_name

    return block_of


def _ratio_text(value: float) -> str:
    return f"{value:g}"


@graded
def assert_capacity_ratio(
    model: keras.Model,
    ratio: Mapping[str, float],
    blocks: Blocks = None,
    *,
    tolerance: float = 0.1,
    hint: str | None = None,
) -> None:
    """The blocks named in ``ratio`` have parameter counts in that ratio, each within
    ``tolerance`` (0.1 = 10 %) of its target, measured against the first block.

    A block is, by default, the layer with the block's name and every layer whose name
    starts with it and ``_`` (``stage1`` holds ``stage1_conv1``, ``stage1_conv2``, ...);
    pass ``blocks`` (as for :func:`helpers.params.block_params`) to group layers otherwise.
    A variable shared by several blocks counts in the first block that uses it.

    >>> # stage2 twice the parameters of stage1, stage3 four times:
    >>> # assert_capacity_ratio(model, {"stage1": 1, "stage2": 2, "stage3": 4})
    """
    __tracebackhide__ = True
    if len(ratio) < 2 or any(r <= 0 for r in ratio.values()):
        raise ValueError("ratio needs at least two blocks, each with a positive share")
    grouping = blocks if blocks is not None else _prefix_blocks(list(ratio))
    counts = {block: t + n for block, (t, n) in block_params(model, grouping).items()}
    empty = [block for block in ratio if not counts.get(block)]
    if empty:
        layer_names = ", ".join(repr(layer.name) for layer in model.layers)
        fail(
            f"{model.name!r} has no parameters in block(s) "
            f"{', '.join(repr(b) for b in empty)}. A block holds the layers named after it "
            f"('{empty[0]}_conv1', '{empty[0]}_dense1', ...); the layers of your model are "
            f"{layer_names}. Name each block's layers after the block.",
            hint,
        )
    names = list(ratio)
    reference = names[0]
    width = max(map(len, names))
    rows, wrong = [], []
    for block in names:
        wanted = ratio[block] / ratio[reference]
        actual = counts[block] / counts[reference]
        off = actual / wanted - 1
        verdict = (
            "ok" if abs(off) <= tolerance else f"{abs(off):.0%} too {'many' if off > 0 else 'few'}"
        )
        if abs(off) > tolerance:
            wrong.append(block)
        row = (
            f"  {block:<{width}}  {counts[block]:>9,}  ×{actual:.2f}  "
            f"(wanted ×{_ratio_text(wanted)})  {verdict if block != reference else ''}"
        )
        rows.append(row.rstrip())
    if not wrong:
        return
    target = " : ".join(_ratio_text(ratio[b]) for b in names)
    fail(
        f"The blocks of {model.name!r} should have parameters in the ratio {target} "
        f"(each within {tolerance:.0%}), but {', '.join(repr(b) for b in wrong)} "
        f"{'is' if len(wrong) == 1 else 'are'} off. Parameters per block, and as a multiple "
        f"of {reference!r}:\n"
        + "\n".join(rows)
        + "\nA layer's parameters grow with its inputs × its outputs: doubling the filters of a\n"
        "layer whose input also doubled multiplies its count by about 4. Depth adds\n"
        "parameters linearly when the layers are alike: to double a block,\n"
        "double its depth (or multiply its width by about 1.4).",
        hint,
    )
