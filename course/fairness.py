"""Moved to :mod:`course.grading.fairness`; this name stays for ``nbgrader_config.py`` files
written before the move (``from course.fairness import sanitize_preprocessors`` inside a
``try``/``except ImportError`` would otherwise turn the kit's grading steps off silently)."""

from course.grading.fairness import (
    FairOverwriteCells,
    GraderNotes,
    KeepLastCopy,
    sanitize_preprocessors,
)

__all__ = ["FairOverwriteCells", "GraderNotes", "KeepLastCopy", "sanitize_preprocessors"]
