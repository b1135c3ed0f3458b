"""Fixtures shared by the tests of ``course``."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

#: A kernel that fails its first starts in a folder, then becomes a normal IPython kernel.
#: It counts its starts in its working folder (the one place a sandboxed kernel may write).
FLAKY_KERNEL = """\
import os, sys, time
connection_file, failure, failing_starts = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(".kernel-starts", "a") as starts:
    starts.write("x")
with open(".kernel-starts") as starts:
    start = len(starts.read())
if start <= failing_starts:
    if failure == "silent":
        time.sleep(600)  # alive, never answers
    sys.exit(1)  # dies, like a kernel whose port was taken
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file])
"""


@dataclass(frozen=True)
class FlakyKernels:
    script: Path

    @staticmethod
    def starts(folder: Path) -> int:
        """How many flaky kernels started in ``folder``."""
        return len((folder / ".kernel-starts").read_text())


@pytest.fixture
def flaky_kernels(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> FlakyKernels:
    """Kernel specs ``silent-N`` (alive, never answering) and ``dies-N`` (exits) that fail
    their first N starts (N = 1 or 9) in a folder, on ``JUPYTER_PATH``. Afterwards, no such
    kernel may still run."""
    # These kernels count their starts in their working folder: a box's writes stay in the
    # box, so they run under the Landlock fallback, which lets a kernel keep them.
    monkeypatch.setenv("KIT_ISOLATION", "landlock")
    root = tmp_path_factory.mktemp("jupyter")
    script = root / "flaky_kernel.py"
    script.write_text(FLAKY_KERNEL)
    for failure in ("silent", "dies"):
        for failing_starts in (1, 9):
            spec = root / "kernels" / f"{failure}-{failing_starts}"
            spec.mkdir(parents=True)
            argv = [sys.executable, str(script), "{connection_file}", failure, str(failing_starts)]
            (spec / "kernel.json").write_text(
                json.dumps({"argv": argv, "display_name": spec.name, "language": "python"})
            )
    monkeypatch.setenv("JUPYTER_PATH", str(root))
    yield FlakyKernels(script)
    running = [
        p for p in psutil.process_iter(["cmdline"]) if str(script) in (p.info["cmdline"] or [])
    ]
    assert not running, "a kernel that did not start was left running"
