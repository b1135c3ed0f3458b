"""Moved to :mod:`course.grading.execute`; this name stays for ``nbgrader_config.py`` files
written before the move (``from course.execute import autograde_preprocessors`` inside a
``try``/``except ImportError`` would otherwise turn the kit's grading steps off silently)."""

from course.grading.execute import RestartingExecute, autograde_preprocessors

__all__ = ["RestartingExecute", "autograde_preprocessors"]
