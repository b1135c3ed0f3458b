"""The kit's nbgrader steps (preprocessors), used by both graders.

``nbgrader autograde`` gets them from the kit's ``nbgrader_config.py``; ``course grade``
runs the same configured lists. The three names that config needs are importable from here::

    from course.grading.steps import (
        SanitizeLearnerHTML, autograde_preprocessors, sanitize_preprocessors,
    )

The map, one job per module::

    fairness             sanitize: copies, unknown and deleted cells, what was restored
    code_scan            static scan of learner code for changes to how grading runs
    integrity            guard the folder, judge integrity, save the grades of flagged tests
    output_limits        caps on what a learner's outputs may hold
    cpu_time             per-cell limits counted in CPU time, with a wall-clock ceiling
    runtime_guard        the grader's side of the run-time integrity check
    guard_kernel         the run-time guard as it runs inside the kernel (its source is sent)
    restarting_execute   Execute that replaces a kernel which does not start; time budget;
                         the autograde list
    safe_html            learner HTML made inert for the teacher's and learner's pages
"""

from course.grading.steps.fairness import sanitize_preprocessors
from course.grading.steps.restarting_execute import autograde_preprocessors
from course.grading.steps.safe_html import SanitizeLearnerHTML

__all__ = ["SanitizeLearnerHTML", "autograde_preprocessors", "sanitize_preprocessors"]
