"""A learner's copy of the fixture course (no TensorFlow: grading it takes seconds), for the
tests of ``course check`` and the "Grade my work" server extension.

The fixture lesson ``00_fixture`` has two exercises: ``square`` (test_square, 1 point, a
hidden test ``square(-2) == 4``) and ``mean`` (test_mean 2 points with a hidden test
``mean([5]) == 5``, test_mean_empty 1 point).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from course.cells import cells_by_id
from course.config import CONFIG_FILE

REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = REPO / "tests" / "pipeline" / "fixtures" / "course"
LESSON = "00_fixture"

RIGHT_SQUARE = "def square(x):\n    return x * x"
# Passes the visible test (square(3) == 9), fails the hidden one (square(-2) == 4).
WRONG_SQUARE = "def square(x):\n    return x * abs(x)"
RIGHT_MEAN = (
    "def mean(values):\n    if not values:\n        raise ValueError('empty')\n"
    "    return sum(values) / len(values)"
)
# Passes the visible test (mean([1, 2, 3]) == 2), fails the hidden one (mean([5]) == 5).
WRONG_MEAN = (
    "def mean(values):\n    if not values:\n        raise ValueError('empty')\n"
    "    return sum(values) / len(values) if len(values) > 1 else 0"
)
LOOPING_SQUARE = "while True:  # forgot to stop\n    pass\n\ndef square(x):\n    return x * x"
HIDDEN_MEAN_MESSAGE = "AssertionError: mean([5]) should be 5 (hidden test)"


def learner_course(dest: Path, config: str = "") -> Path:
    """A learner's clone of the fixture course at ``dest`` (``config`` appended to its
    ``nbgrader_config.py``)."""
    dest.mkdir(parents=True)
    shutil.copy(FIXTURE_COURSE / CONFIG_FILE, dest / CONFIG_FILE)
    if config:
        with open(dest / CONFIG_FILE, "a", encoding="utf-8") as handle:
            handle.write("\n" + config + "\n")
    for folder in ("solutions", "notebooks"):
        shutil.copytree(FIXTURE_COURSE / folder, dest / folder)
    return dest


def notebook_path(course: Path) -> Path:
    return course / "notebooks" / LESSON / f"{LESSON}.ipynb"


def answer(course: Path, **answers: str) -> Path:
    """Type ``answers`` (solution grade_id -> code) into the learner's notebook and save it."""
    path = notebook_path(course)
    nb = nbformat.read(path, as_version=4)
    cells = cells_by_id(nb)
    for grade_id, source in answers.items():
        cells[grade_id].source = source
    nbformat.write(nb, path)
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """relative path -> (bytes, mtime in ns) of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
