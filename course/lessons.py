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

import nbformat
from nbformat import NotebookNode

SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"

#: Where a lesson notebook names the idea it teaches: ``metadata["course"]["idea"]``, one
#: sentence "name: what it shows". ``course report`` groups a class's results by it, so a
#: teacher sees which idea the class has not understood yet; ``course build`` carries it
#: into the learner notebook.
COURSE_METADATA = "course"


def lesson_idea(nb: NotebookNode | None) -> str:
    """The idea a lesson notebook teaches (its metadata), or "" when it names none.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(metadata={"course": {"idea": "sharing: one object"}})
    >>> lesson_idea(nb), lesson_idea(nbformat.v4.new_notebook()), lesson_idea(None)
    ('sharing: one object', '', '')
    """
    if nb is None:
        return ""
    return str(nb.get("metadata", {}).get(COURSE_METADATA, {}).get("idea", ""))


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
    def idea(self) -> str:
        """The idea the lesson teaches, from its instructor notebook (:func:`lesson_idea`).

        >>> from course.config import find_root
        >>> Lesson(find_root(Path(__file__).parent), "01_shared_layers").idea.split(":")[0]
        'sharing'
        """
        return lesson_idea(nbformat.read(self.source_notebook, as_version=4))

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
                f"No such lesson in {root / SOURCE_DIR}: {', '.join(missing)} (available: "
                f"{', '.join(available) or 'none'})"
            )
        available = [name for name in available if name in unknown]
    return [Lesson(root, name) for name in available]
