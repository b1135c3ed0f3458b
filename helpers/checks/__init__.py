"""Checks for exercises: each ``assert_...`` function passes silently when the model is
right, and otherwise raises :class:`CheckFailed` with a message that says, in plain
words, what is wrong in *this* model (which layers, which variables) and what to change.

Use them to check yourself; the graders use the same functions. One module per idea a
check judges, every check importable from here (and from :mod:`helpers`):

- :mod:`~helpers.checks.sharing` - layers that share weights (``assert_calls``,
  ``assert_shared``, ``assert_sharing_map``)
- :mod:`~helpers.checks.separation` - layers that must not (``assert_not_shared``,
  ``assert_separate_copies``)
- :mod:`~helpers.checks.tying` - one layer reading another's variable (``assert_tied``,
  ``assert_owns``)
- :mod:`~helpers.checks.capacity` - parameter counts (``assert_param_count``,
  ``assert_param_budget``, ``assert_capacity_ratio``)
- :mod:`~helpers.checks.predictions` - answers worked out by reading a model
  (``assert_call_counts``, ``assert_variable_count``, ``assert_sharing_predictions``,
  ``assert_predicted_count``)
- :mod:`~helpers.checks.outputs` - output shapes, input and output names
  (``assert_output_shape``, ``assert_io_names``)
- :mod:`~helpers.checks.training` - a shared variable's gradient by call, accuracy
  (``assert_gradient_split``, ``assert_accuracy``)
- :mod:`~helpers.checks.across_models` - several models together (``assert_shared_across``,
  ``assert_no_shared_variables``, ``assert_trainable_predictions``)

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> left, right = keras.layers.Dense(3, name="left"), keras.layers.Dense(3, name="right")
    >>> model = keras.Model([a, b], [left(a), right(b)])
    >>> assert_not_shared(model, "left", "right")      # passes: two layers, two sets of weights
    >>> assert_shared(model, "left", "right")
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layers 'left' and 'right' should share weights, but they use
    different variables.
    ...
"""

from ._common import CheckFailed
from .across_models import (
    assert_no_shared_variables,
    assert_shared_across,
    assert_trainable_predictions,
)
from .capacity import assert_capacity_ratio, assert_param_budget, assert_param_count
from .outputs import assert_io_names, assert_output_shape
from .predictions import (
    assert_call_counts,
    assert_predicted_count,
    assert_sharing_predictions,
    assert_variable_count,
)
from .separation import assert_not_shared, assert_separate_copies
from .sharing import assert_calls, assert_shared, assert_sharing_map
from .training import assert_accuracy, assert_gradient_split
from .tying import assert_owns, assert_tied

__all__ = [
    "CheckFailed",
    "assert_calls",
    "assert_call_counts",
    "assert_variable_count",
    "assert_shared",
    "assert_not_shared",
    "assert_separate_copies",
    "assert_tied",
    "assert_owns",
    "assert_gradient_split",
    "assert_sharing_map",
    "assert_param_count",
    "assert_param_budget",
    "assert_output_shape",
    "assert_sharing_predictions",
    "assert_predicted_count",
    "assert_capacity_ratio",
    "assert_io_names",
    "assert_accuracy",
    "assert_shared_across",
    "assert_no_shared_variables",
    "assert_trainable_predictions",
]
