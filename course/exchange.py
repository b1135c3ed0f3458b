"""nbgrader's submit, without the false "extra notebooks" warning for checkpoints.

JupyterLab keeps a copy of every notebook it opens in ``.ipynb_checkpoints/`` next to it.
nbgrader's submit leaves those folders out of the submission (``CourseDirectory.ignore``),
but its check for missing and extra notebooks lists every ``.ipynb`` below the assignment
folder, so every learner who opened the lesson in JupyterLab is told (and the log says)
that ``.ipynb_checkpoints/<lesson>-checkpoint.ipynb`` is an EXTRA notebook.
:class:`KitExchangeSubmit` checks the same files that are copied: ignored paths are left
out of the comparison too. A real extra or missing notebook is still reported.

The hub-wide ``nbgrader_config.py`` that ``course setup-hub`` writes selects it::

    c.ExchangeFactory.submit = "course.exchange.KitExchangeSubmit"
"""

from __future__ import annotations

import os

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import find_all_files


def submitted_notebooks(folder: str, ignore: list[str]) -> list[str]:
    """Notebooks below ``folder`` (relative, sorted) that a submission copies.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".ipynb_checkpoints").mkdir()
    >>> _ = (root / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    >>> _ = (root / "a.ipynb").write_text("{}")
    >>> submitted_notebooks(str(root), [".ipynb_checkpoints"])
    ['a.ipynb']
    """
    root = os.path.abspath(folder)
    return sorted(
        os.path.relpath(path, root)
        for path in find_all_files(root, ignore)
        if os.path.splitext(path)[1] == ".ipynb"
    )


class KitExchangeSubmit(ExchangeSubmit):
    """``ExchangeSubmit`` whose missing/extra-notebook check skips ``CourseDirectory.ignore``.

    The same messages as nbgrader 0.9's ``check_filename_diff``, over the files submitted.
    """

    def check_filename_diff(self) -> None:
        ignore = list(self.coursedir.ignore)
        released = submitted_notebooks(self.release_path, ignore)
        submitted = submitted_notebooks(self.src_path, ignore)
        missing = [name for name in released if name not in submitted]
        extra = [name for name in submitted if name not in released]
        if not (missing or extra):
            return
        release_diff = [f"{name}: {'MISSING' if name in missing else 'FOUND'}" for name in released]
        submitted_diff = [f"{name}: {'EXTRA' if name in extra else 'OK'}" for name in submitted]
        diff_msg = "Expected:\n\t{}\nSubmitted:\n\t{}".format("\n\t".join(release_diff), "\n\t".join(submitted_diff))
        if missing and self.strict:
            self.fail(
                f"Assignment {self.coursedir.assignment_id} not submitted. "
                f"There are missing notebooks for the submission:\n{diff_msg}"
            )
        else:
            self.log.warning(
                "Possible missing notebooks and/or extra notebooks "
                f"submitted for assignment {self.coursedir.assignment_id}:\n{diff_msg}"
            )
