"""Where the lessons live: find the course root and the lessons in ``solutions/``.

A lesson is a folder ``solutions/<lesson>/`` holding ``<lesson>.ipynb`` (the instructor
notebook, nbgrader's source); nbgrader writes its learner version to
``notebooks/<lesson>/<lesson>.ipynb``. Every lesson is one nbgrader assignment.

Example::

    >>> from course.config import find_root
    >>> from course.lessons import find_lessons
    >>> [lesson.name for lesson in find_lessons(find_root())]   # doctest: +SKIP
    ['00_layers_calls_variables', '01_shared_layers']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"

#: The idea each lesson teaches, "name: one sentence"; ``course report`` groups a class's
#: results by it, so a teacher sees which idea the class has not understood yet.
LESSON_IDEAS: dict[str, str] = {
    "00_layers_calls_variables": "groundwork: a layer object, its calls and its variables are three things",
    "01_shared_layers": "sharing: one layer object called twice is one set of weights",
    "02_separate_weights": "separation: a new layer object (rebuilt, from_config, clone_model) has new weights",
    "03_tied_weights": "tying: a layer that reads another layer's variable ties the two on purpose",
    "04_capacity": "capacity: parameter counts follow from the layer shapes, a shared variable counted once",
    "05_capstone": "all four ideas together: sharing, separation, tying and capacity",
    "06_sharing_in_practice": "sharing in practice: frozen shared bases, subclassed models, deepcopy, saving shared layers",
}


def lesson_idea(name: str) -> str:
    """The idea lesson ``name`` teaches ("sharing: ..."), or "" for a lesson not in LESSON_IDEAS.

    >>> lesson_idea("01_shared_layers").split(":")[0]
    'sharing'
    """
    return LESSON_IDEAS.get(name, "")


@dataclass(frozen=True)
class Lesson:
    """One lesson of a course rooted at ``root``."""

    root: Path
    name: str

    @property
    def source_dir(self) -> Path:
        """``solutions/<lesson>/``: the nbgrader source folder."""
        return self.root / SOURCE_DIR / self.name

    @property
    def source_notebook(self) -> Path:
        """``solutions/<lesson>/<lesson>.ipynb``: the instructor notebook."""
        return self.source_dir / f"{self.name}.ipynb"

    @property
    def release_dir(self) -> Path:
        """``notebooks/<lesson>/``: the generated learner folder (committed)."""
        return self.root / RELEASE_DIR / self.name

    @property
    def release_notebook(self) -> Path:
        """``notebooks/<lesson>/<lesson>.ipynb``: the generated learner notebook."""
        return self.release_dir / f"{self.name}.ipynb"


def find_lessons(root: Path, names: list[str] | None = None) -> list[Lesson]:
    """The lessons under ``root/solutions``, sorted by name; only ``names`` if given.

    Raises ValueError naming any requested lesson that does not exist.
    """
    root = Path(root)
    available = sorted(
        folder.name
        for folder in (root / SOURCE_DIR).glob("*/")
        if (folder / f"{folder.name}.ipynb").is_file()
    )
    if names:
        unknown = [name.rstrip("/").split("/")[-1] for name in names]
        missing = [name for name in unknown if name not in available]
        if missing:
            raise ValueError(
                f"No such lesson in {root / SOURCE_DIR}: {', '.join(missing)} "
                f"(available: {', '.join(available) or 'none'})"
            )
        available = [name for name in available if name in unknown]
    return [Lesson(root, name) for name in available]
