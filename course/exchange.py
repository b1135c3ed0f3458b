"""nbgrader's exchange, made safe and quiet for a class: collect and submit.

* :class:`SafeCollect`: ``nbgrader collect`` never follows a symbolic link in a learner's
  submission. nbgrader copies a submission from the exchange's ``inbound/`` folder into
  ``submitted/`` with ``shutil.copytree``, which copies what a link points to: a learner who
  puts ``answers.ipynb -> /path/to/course/solutions/...`` (or a link to a whole folder)
  into the exchange would get the teacher's file copied into their submission, and the
  grading kernel could print it into their feedback. SafeCollect copies the same files but
  leaves every link out (and says so in collect's log); a submission folder that is itself
  a link is not collected. The kit's ``nbgrader_config.py`` selects it.
* :class:`KitExchangeSubmit`: ``nbgrader submit`` without the false "extra notebooks"
  warning for checkpoints. JupyterLab keeps a copy of every notebook it opens in
  ``.ipynb_checkpoints/``; nbgrader's submit leaves those folders out of the submission
  (``CourseDirectory.ignore``), but its check for missing and extra notebooks lists every
  ``.ipynb`` below the assignment folder, so every learner who opened the lesson in
  JupyterLab is told that ``.ipynb_checkpoints/<lesson>-checkpoint.ipynb`` is an EXTRA
  notebook. KitExchangeSubmit checks the files that are copied; a real extra or missing
  notebook is still reported. The hub-wide config that ``course setup-hub`` writes selects it.

Both through nbgrader's own extension point::

    c.ExchangeFactory.collect = "course.exchange.SafeCollect"
    c.ExchangeFactory.submit = "course.exchange.KitExchangeSubmit"

Example::

    $ nbgrader collect 01_shared_layers
    [CollectApp | WARNING] Left out symbolic link in the submission (not followed):
    .../answers.ipynb
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from nbgrader.exchange.default import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import find_all_files, ignore_patterns


def without_links(
    ignore: Callable[[str, list[str]], set[str] | list[str]] | None,
    on_link: Callable[[str], None] = lambda path: None,
) -> Callable[[str, list[str]], set[str]]:
    """A ``copytree`` ``ignore`` function that also ignores every symbolic link.

    >>> import tempfile, pathlib
    >>> top = pathlib.Path(tempfile.mkdtemp())
    >>> (top / "a.txt").write_text("x") and (top / "link").symlink_to("/etc/hostname")
    >>> sorted(without_links(None)(str(top), ["a.txt", "link"]))
    ['link']
    """

    def ignored(folder: str, names: list[str]) -> set[str]:
        result = set(ignore(folder, names)) if ignore else set()
        for name in names:
            path = os.path.join(folder, name)
            if name not in result and os.path.islink(path):
                on_link(path)
                result.add(name)
        return result

    return ignored


def remove_links(folder: str) -> list[str]:
    """Delete the symbolic links below ``folder`` (not following any); returns them."""
    removed = []
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                os.unlink(path)
                removed.append(path)
    return removed


class SafeCollect(ExchangeCollect):
    """nbgrader's ``ExchangeCollect``, copying submissions without following links."""

    def do_copy(self, src: str, dest: str, log=None) -> None:  # noqa: ANN001 (nbgrader's signature)
        if os.path.islink(src):
            self.log.error("Not collected: the submission folder %s is a symbolic link", src)
            return
        max_dir_size = self.coursedir.max_dir_size
        size = self.get_size(src)
        if size > 1000 * max_dir_size:
            self.log.error("Directory size is too big")
            raise RuntimeError(
                f"Directory size is too big. Size is {size}, maximum size is {1000 * max_dir_size}"
            )
        ignore = ignore_patterns(
            exclude=self.coursedir.ignore,
            include=self.coursedir.include,
            max_file_size=self.coursedir.max_file_size,
            log=self.log,
        )

        def warn(path: str) -> None:
            self.log.warning("Left out symbolic link in the submission (not followed): %s", path)

        # symlinks=True: a file that became a link after the check is copied as a link
        # (not its target), and then removed.
        shutil.copytree(src, dest, symlinks=True, ignore=without_links(ignore, warn))
        for path in remove_links(dest):
            warn(path)
        if self.coursedir.groupshared:
            for dirname, _, filenames in os.walk(dest):
                for path, wanted in [
                    (dirname, 0o2770),
                    *((os.path.join(dirname, f), 0o660) for f in filenames),
                ]:
                    mode = os.stat(path).st_mode
                    if mode & wanted != wanted:
                        try:
                            os.chmod(
                                path, (mode | wanted) & (0o2777 if wanted == 0o2770 else 0o777)
                            )
                        except PermissionError:
                            self.log.warning(
                                "Could not update permissions of %s to make it groupshared", path
                            )

    def get_size(self, root: str) -> int:
        """Bytes of the regular files below ``root``, links not followed."""
        total = 0
        for parent, _, files in os.walk(root):
            for name in files:
                path = os.path.join(parent, name)
                if not os.path.islink(path):
                    total += os.path.getsize(path)
        return total


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
        diff_msg = "Expected:\n\t{}\nSubmitted:\n\t{}".format(
            "\n\t".join(release_diff), "\n\t".join(submitted_diff)
        )
        if missing and self.strict:
            self.fail(
                f"Assignment {self.coursedir.assignment_id} not submitted. There are missing "
                f"notebooks for the submission:\n{diff_msg}"
            )
        else:
            self.log.warning(
                "Possible missing notebooks and/or extra notebooks submitted for assignment "
                f"{self.coursedir.assignment_id}:\n{diff_msg}"
            )
