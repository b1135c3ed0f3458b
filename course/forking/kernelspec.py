"""The kit's kernel spec: ipykernel's ``python3``, started through the forking provisioner.

``course setup-lab`` (run by ``make venv`` and the hub setup) rewrites
``<sys.prefix>/share/jupyter/kernels/python3/kernel.json``, the spec ipykernel installs into
the environment. Every lesson's metadata names ``python3``, and inside a virtual
environment Jupyter looks in the environment's folder before the user's, so JupyterLab,
``nbgrader autograde``, ``course grade`` and the tests get the provisioner with no change
to a notebook. (nbval's ``--nbval-current-env`` builds its own spec from ipykernel's; the
repository's conftest.py points it at this one.) Only ``metadata.kernel_provisioner`` is
added; the rest of the spec stays as ipykernel wrote it.

Example::

    >>> import tempfile
    >>> prefix = Path(tempfile.mkdtemp())
    >>> install(prefix)
    ['kernel spec python3: provisioner course-forking-provisioner']
    >>> install(prefix), uses_provisioner(spec_file(prefix))
    ([], True)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The provisioner's entry point name (course.forking.provisioner.NAME).
PROVISIONER = "course-forking-provisioner"
KERNEL_NAME = "python3"


def spec_file(prefix: Path | str = sys.prefix) -> Path:
    """Where the environment's ``python3`` kernel spec lives."""
    return Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"


def _ipykernel_spec() -> dict[str, Any]:
    try:
        from ipykernel.kernelspec import get_kernel_dict
    except ImportError:
        spec: dict[str, Any] = {"display_name": "Python 3 (ipykernel)", "language": "python"}
    else:
        spec = dict(get_kernel_dict())
    spec["argv"] = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return spec


def uses_provisioner(path: Path) -> bool:
    """Whether the kernel spec at ``path`` selects the forking provisioner."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    provisioner = spec.get("metadata", {}).get("kernel_provisioner", {})
    return provisioner.get("provisioner_name") == PROVISIONER


def install(prefix: Path | str = sys.prefix) -> list[str]:
    """Make the environment's ``python3`` kernel spec select the forking provisioner.
    Returns a line per change (none when it already does)."""
    path = spec_file(prefix)
    if uses_provisioner(path):
        return []
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        spec = _ipykernel_spec()
    spec.setdefault("metadata", {})["kernel_provisioner"] = {
        "provisioner_name": PROVISIONER,
        "config": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return [f"kernel spec {KERNEL_NAME}: provisioner {PROVISIONER}"]
