"""nbgrader configuration for the kit.

The instructor notebooks in ``solutions/`` are nbgrader's *source*; ``nbgrader
generate_assignment`` writes the learner versions into ``notebooks/``. Every lesson
folder is one assignment (``solutions/01_shared_layers/01_shared_layers.ipynb``).
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "keras-layer-reuse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# What a learner sees in place of a solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A learner's notebook must never hang the grader: every cell gets a time limit, after
# which nbgrader interrupts it (the test scores 0) and goes on. Checked with nbgrader 0.9.6:
# Execute.timeout and ExecutePreprocessor.timeout are both honoured (nbgrader issue #1463
# reports the second ignored in older versions); Execute.timeout wins when they differ.
# `course grade --timeout` overrides it for one run.
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": "this cell ran longer than the time allowed per cell",
    "traceback": [
        "CellTimeoutError: this cell ran longer than the time allowed per cell and was stopped. "
        "Look for a loop that never ends."
    ],
}

# A learner who deletes a graded test cell does not escape it: nbgrader puts the cell back
# (from the gradebook) and runs it, instead of leaving the test ungraded.
c.OverwriteCells.add_missing_cells = True

# A kernel that does not start (its ports taken by another process, or alive but silent; it
# happens on busy machines, never because of the notebook) is replaced by a new one, up to
# 3 times, instead of failing the learner's whole submission. Only the start is tried
# again: no cell has run yet. See course/execute.py. The same list adds the kit's integrity
# checks around it (course/integrity_preprocessors.py): files that shadow modules are removed,
# learner code that changes how grading runs (IPython hooks, sys.modules, builtins, exec, ...)
# sends the tests after it to manual grading with a note, scores handed to nbgrader through
# an execute_result are dropped, and every output kind is capped. Without the kit installed
# (this file copied into another environment), nbgrader's own list is used.
try:
    from course.execute import autograde_preprocessors
except ImportError:
    pass
else:
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
