"""The fixture course, generated once per test module (grading_course.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_course import FIXTURE, generated_course


@pytest.fixture(scope="module")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_course(tmp_path_factory.mktemp("template") / "course", FIXTURE)
