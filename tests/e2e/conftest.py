from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reproml.tools import uv_executable
from torch_index import find_wheels, serve_torch_index


@pytest.fixture
def uv_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for real uv runs: this machine's Python (uv cannot download one here), no stray venv."""
    uv = uv_executable()
    if uv is None:
        pytest.skip("uv is not installed")
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("PATH", f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}")
    return dict(os.environ)


@pytest.fixture(scope="session")
def torch_index() -> Iterator[str]:
    wheels = find_wheels()
    if not wheels or "torchvision" not in wheels:
        pytest.skip("no PyTorch CPU wheel (and matching torchvision) on this machine's disk")
    with serve_torch_index(wheels) as url:
        yield url
