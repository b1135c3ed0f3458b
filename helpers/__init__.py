"""Helpers for the Keras layer-reuse kit: see which variables a model's layers really use,
count and plot parameters, and check exercises.

Everything a lesson needs is importable from here::

    from helpers import sharing_report, param_table, assert_shared

Modules, one job each:

- :mod:`helpers.analysis` - the engine: every layer call of any model and what it reads, cached
- :mod:`helpers.tracing` - what runs inside one layer call, and which variables it reads
- :mod:`helpers.replay` - run a model call by call, with a context around each call
- :mod:`helpers.calls` - layer calls and how often each layer is called
- :mod:`helpers.variables` - variable identity: which calls read which variables
- :mod:`helpers.operations` - graph operations that read a variable, and frozen copies
  (a constant equal to a variable: not a tie)
- :mod:`helpers.sharing` - sharing report and questions (shared? same architecture?)
- :mod:`helpers.params` - parameter counts per model, layer, block (shared counted once)
- :mod:`helpers.formulas` - closed-form counts for common layers (one per kind of layer in
  :mod:`helpers.formula_kinds`)
- :mod:`helpers.gradients` - a shared variable's gradient, split by the call that used it
- :mod:`helpers.plots` - bar charts of parameter counts
- :mod:`helpers.diagram` - the sharing diagram: calls joined to the variables they read
- :mod:`helpers.explorer` - how counts grow with width and depth; a slider explorer
- :mod:`helpers.evaluation` - accuracy per output, measured on the data given
- :mod:`helpers.datasets` - lesson data built from scikit-learn's digits (no downloads)
- :mod:`helpers.checks` - ``assert_...`` checks used by exercises and graders, one module per
  idea a check judges (sharing, separation, tying, capacity, predictions, outputs, training)
- :mod:`helpers.grading` - a pristine copy of the checks for hidden tests
- :mod:`helpers.tables` - the Table the reports return (HTML and text)
"""

from .calls import Call, call_counts, layer_calls, resolve_layer
from .checks import (
    CheckFailed,
    assert_accuracy,
    assert_call_counts,
    assert_calls,
    assert_capacity_ratio,
    assert_gradient_split,
    assert_io_names,
    assert_not_shared,
    assert_output_shape,
    assert_owns,
    assert_param_budget,
    assert_param_count,
    assert_predicted_count,
    assert_separate_copies,
    assert_shared,
    assert_sharing_map,
    assert_sharing_predictions,
    assert_tied,
    assert_variable_count,
)
from .datasets import DEFAULT_PAIRS, DEFAULT_SEEDS, TRAIN_IMAGES, digit_images, digit_pairs
from .diagram import (
    DIAGRAM_HINT,
    DiagramEdge,
    DiagramNode,
    SharingDiagram,
    diagram_hint,
    sharing_diagram,
)
from .evaluation import accuracy, fraction_right, majority_rate, predict_outputs
from .explorer import CapacityExplorer, Growth, capacity_explorer, capacity_growth
from .formulas import (
    Formula,
    batchnorm_params,
    conv1d_params,
    conv2d_params,
    dense_params,
    embedding_params,
    formula_for,
    formula_table,
    formula_total,
    gru_params,
    lstm_params,
    rule_for,
    simple_rnn_params,
)
from .gradients import (
    OUTSIDE_CALLS,
    contributions_add_up,
    gradient,
    gradients_by_call,
    split_mismatch,
)
from .operations import FrozenCopy, frozen_copies
from .params import block_params, count_params, param_table
from .plots import plot_params
from .sharing import (
    config_differences,
    same_architecture,
    separate_copies,
    shared_variables,
    shares_weights,
    sharing_groups,
    sharing_report,
)
from .tables import Table
from .variables import (
    VariableUse,
    compare_weights,
    same_variable,
    variable_id,
    variable_size,
    variable_uses,
    variables_used_by,
)

__all__ = [
    "OUTSIDE_CALLS",
    "accuracy",
    "assert_accuracy",
    "assert_call_counts",
    "assert_calls",
    "assert_capacity_ratio",
    "assert_gradient_split",
    "assert_io_names",
    "assert_not_shared",
    "assert_output_shape",
    "assert_owns",
    "assert_param_budget",
    "assert_param_count",
    "assert_predicted_count",
    "assert_separate_copies",
    "assert_shared",
    "assert_sharing_map",
    "assert_sharing_predictions",
    "assert_tied",
    "assert_variable_count",
    "batchnorm_params",
    "block_params",
    "Call",
    "call_counts",
    "capacity_explorer",
    "capacity_growth",
    "CapacityExplorer",
    "CheckFailed",
    "compare_weights",
    "config_differences",
    "contributions_add_up",
    "conv1d_params",
    "conv2d_params",
    "count_params",
    "DEFAULT_PAIRS",
    "DEFAULT_SEEDS",
    "dense_params",
    "DIAGRAM_HINT",
    "diagram_hint",
    "DiagramEdge",
    "DiagramNode",
    "digit_images",
    "digit_pairs",
    "embedding_params",
    "Formula",
    "formula_for",
    "formula_table",
    "formula_total",
    "fraction_right",
    "frozen_copies",
    "FrozenCopy",
    "gradient",
    "gradients_by_call",
    "Growth",
    "gru_params",
    "layer_calls",
    "lstm_params",
    "majority_rate",
    "param_table",
    "plot_params",
    "predict_outputs",
    "resolve_layer",
    "rule_for",
    "same_architecture",
    "same_variable",
    "separate_copies",
    "shared_variables",
    "shares_weights",
    "sharing_diagram",
    "SharingDiagram",
    "sharing_groups",
    "sharing_report",
    "simple_rnn_params",
    "split_mismatch",
    "Table",
    "TRAIN_IMAGES",
    "variable_id",
    "variable_size",
    "variable_uses",
    "variables_used_by",
    "VariableUse",
]
