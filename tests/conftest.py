"""Shared fixtures. Every test runs with its own HOME, XDG folders and git identity, no colour, fixed width."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_RUNTIME_DIR", ".run"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    os.chmod(home / ".run", 0o700)
    # uv's cache is expensive to refill: keep sharing the machine's unless a test overrides it.
    if "UV_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("UV_CACHE_DIR", _real_uv_cache())
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (home / ".gitconfig").write_text("[user]\n\tname = Ada Tester\n\temail = ada@example.org\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "PIXI_PROJECT_ROOT", "DIRENV_DIR", "JUPYTER_TOKEN", "UV_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    yield home


# Read before any test changes HOME, so every test shares the machine's real uv cache.
_UV_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "uv")


def _real_uv_cache() -> str:
    return _UV_CACHE


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
