from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reproml.tools import uv_executable
from torch_index import index_layout, serve_torch_index


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
def torch_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``.../whl``) of the PyTorch index stand-in: the real CPU wheel under /whl/cpu, small CUDA
    stand-ins built for this session under /whl/cu126, /whl/cu128 (torch 2.11), /whl/cu130 and /whl/cu132."""
    layout = index_layout(tmp_path_factory.mktemp("torch-index"))
    if layout is None:
        pytest.skip("no PyTorch CPU wheel (and matching torchvision) on this machine's disk")
    with serve_torch_index(builds=layout) as url:
        yield url


@pytest.fixture(scope="session")
def lock_cache() -> dict[tuple[str, str], Path]:
    """Projects already rendered and locked in this session, by (preset, accelerator): several tests read the
    same uv.lock, each lock costs seconds."""
    return {}
