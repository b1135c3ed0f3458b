"""Helpers for the Keras layer-reuse kit: see which variables a model's layers really use,
count and plot parameters, and check exercises.

Everything a lesson needs is importable from here::

    from helpers import sharing_report, param_table, assert_shared

Modules, one job each:

- :mod:`helpers.calls` - layer calls (graph nodes) and how often each layer is called
- :mod:`helpers.variables` - variable identity: which calls read which variables
- :mod:`helpers.sharing` - sharing report and questions (shared? same architecture?)
- :mod:`helpers.params` - parameter counts per model, layer, block (shared counted once)
- :mod:`helpers.formulas` - closed-form counts for Dense, Conv, Embedding, RNNs, BatchNorm
- :mod:`helpers.gradients` - a shared variable's gradient, split by the call that used it
- :mod:`helpers.plots` - bar charts of parameter counts
- :mod:`helpers.evaluation` - accuracy per output, measured on the data given
- :mod:`helpers.datasets` - lesson data built from scikit-learn's digits (no downloads)
- :mod:`helpers.checks` - ``assert_...`` checks used by exercises and graders
"""

from .calls import Call, call_counts, layer_calls
from .checks import (
    CheckFailed,
    assert_accuracy,
    assert_calls,
    assert_io_names,
    assert_not_shared,
    assert_output_shape,
    assert_param_budget,
    assert_param_count,
    assert_separate_copies,
    assert_shared,
    assert_sharing_map,
    assert_tied,
)
from .datasets import digit_images, digit_pairs
from .evaluation import accuracy, majority_rate, predict_outputs
from .formulas import (
    Formula,
    batchnorm_params,
    conv1d_params,
    conv2d_params,
    dense_params,
    embedding_params,
    formula_for,
    formula_table,
    gru_params,
    lstm_params,
    simple_rnn_params,
)
from .gradients import contributions_add_up, gradient, gradients_by_call
from .params import block_params, count_params, param_table
from .plots import plot_params
from .sharing import (
    same_architecture,
    separate_copies,
    shared_variables,
    shares_weights,
    sharing_groups,
    sharing_report,
)
from .tables import Table
from .variables import VariableUse, same_variable, variable_id, variable_uses, variables_used_by

__all__ = [
    "accuracy",
    "assert_accuracy",
    "assert_calls",
    "assert_io_names",
    "assert_not_shared",
    "assert_output_shape",
    "assert_param_budget",
    "assert_param_count",
    "assert_separate_copies",
    "assert_shared",
    "assert_shared",
    "assert_sharing_map",
    "assert_tied",
    "batchnorm_params",
    "block_params",
    "Call",
    "call_counts",
    "CheckFailed",
    "contributions_add_up",
    "conv1d_params",
    "conv2d_params",
    "count_params",
    "dense_params",
    "digit_images",
    "digit_pairs",
    "embedding_params",
    "Formula",
    "formula_for",
    "formula_table",
    "gradient",
    "gradients_by_call",
    "gru_params",
    "layer_calls",
    "lstm_params",
    "majority_rate",
    "param_table",
    "param_table",
    "plot_params",
    "predict_outputs",
    "same_architecture",
    "same_variable",
    "separate_copies",
    "shared_variables",
    "shares_weights",
    "sharing_groups",
    "sharing_report",
    "sharing_report",
    "simple_rnn_params",
    "Table",
    "variable_id",
    "variable_uses",
    "variables_used_by",
    "VariableUse",
]
