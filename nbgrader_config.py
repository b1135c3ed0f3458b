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
# After a cell's reply, nbgrader waits for the cell's last outputs at most iopub_timeout
# seconds and then fails the learner's WHOLE notebook ("Timeout waiting for IOPub output").
# nbclient's 4 s is too short on a busy grading machine (seen with 2 cores under load);
# outputs normally arrive within milliseconds, so a long wait costs nothing.
c.Execute.iopub_timeout = 60
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

# Ordinary edits never cost the whole notebook (nbgrader 0.9.6 fails on them): a copy-pasted
# cell (the last copy keeps its grade id, every copy runs), a tagged cell the gradebook does
# not know (runs as an ordinary cell), a deleted test after a locked markdown cell or with its
# answer (put back after the nearest lesson cell still there), cells in another order. A notes
# cell at the top says what was restored or ignored. See course/grading/steps/fairness.py.

# A kernel that does not start (its ports taken by another process, or alive but silent; it
# happens on busy machines, never because of the notebook) is replaced by a new one, up to
# 3 times, instead of failing the learner's whole submission. Only the start is tried
# again: no cell has run yet. See course/grading/steps/restarting_execute.py. The same
# list adds the kit's integrity checks around it (course/grading/steps/integrity.py): files
# that shadow modules are removed, learner code that changes how grading runs (IPython hooks,
# sys.modules, builtins, exec, ...) sends the tests after it to manual grading with a note,
# scores handed to nbgrader through an execute_result are dropped, and every output kind is
# capped. Without the kit installed (this file copied into another environment) nbgrader
# would grade without any of these protections, so loading the config fails instead.
#
# `nbgrader collect` never follows a symbolic link in a learner's submission (a link to
# solutions/ would copy the teacher's notebook into submitted/): see course/exchange.py.
try:
    from course.grading.steps import (
        SanitizeLearnerHTML,
        autograde_preprocessors,
        sanitize_preprocessors,
    )
except ImportError as error:
    raise ImportError(
        "nbgrader_config.py: the kit's grading steps cannot be imported, so nbgrader would"
        " grade without them. Run nbgrader from the kit's environment (.venv/bin/nbgrader,"
        f" or `make venv` first). The error: {error}"
    ) from error
else:
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    # Learner HTML and scripts never run in the teacher's formgrader page or in feedback:
    # the graded notebook is cleaned after its grades are saved, and every page nbgrader
    # renders (formgrader, generate_feedback) cleans again (course/grading/steps/safe_html.py).
    c.Autograde.autograde_preprocessors = [*autograde_preprocessors(), SanitizeLearnerHTML]
    c.HTMLExporter.preprocessors = [SanitizeLearnerHTML]
    # A time budget for all cells of a notebook together (each lesson runs in well under a
    # minute): N cells that each stop just short of the limit per cell cannot cost N x 120 s.
    # Cells after the budget is spent are not run; their tests score 0. `course grade
    # --notebook-timeout` overrides it for one run.
    c.RestartingExecute.notebook_timeout = 600
    # Both limits (per cell, per notebook) count the CPU time of the notebook's processes, so
    # a busy machine (other work, --workers above the cores) does not cost a correct notebook
    # its points; a cell that sleeps or waits uses none and is stopped on the clock at this
    # many times the limit (course/grading/steps/cpu_time.py; "wall" restores nbgrader's rule).
    c.RestartingExecute.time_limit_clock = "cpu"
    c.RestartingExecute.wall_limit_factor = 5
    c.ExchangeFactory.collect = "course.exchange.SafeCollect"
