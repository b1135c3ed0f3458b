"""A forked kernel's ``tempfile`` follows the TMPDIR it was started with, as a freshly
started kernel's does. The warm parent computed its own temporary folder before forking;
a child that kept it wrote to /tmp, which ``course grade``'s sandbox refuses (its kernels
get TMPDIR in their scratch folder), so ``model.save`` (Keras writes through ``tempfile``)
failed in the lessons' feedback with PermissionError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from course.forking import protocol
from course.forking.kernelspec import spec_file, uses_provisioner

pytestmark = pytest.mark.skipif(
    not uses_provisioner(spec_file()),
    reason="this environment's python3 kernel spec does not use the forking provisioner",
)


def test_a_forked_kernel_uses_its_own_tmpdir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(protocol.ENABLE_VAR, "1")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    km, kc = start_new_kernel(
        kernel_name="python3", startup_timeout=180, env={**os.environ, "TMPDIR": str(scratch)}
    )
    try:
        assert km.provisioner.forked is not None, km.provisioner.fallback_reason
        out: list[str] = []
        reply = kc.execute_interactive(
            "import tempfile; print(tempfile.gettempdir())",
            output_hook=lambda m: out.append(m["content"].get("text", "")),
            timeout=120,
        )
        assert reply["content"]["status"] == "ok"
        assert "".join(out).strip() == str(scratch)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
