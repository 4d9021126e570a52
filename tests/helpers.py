"""Helpers for tests: render presets, list files, run nix."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from reproml.commands.new import NewOptions, build_answers, render
from reproml.presets import get_preset

DATA = Path(__file__).resolve().parent / "data"
NIX_STUB = DATA / "nix-stub"
NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]

# Variables no test may inherit from the person running it (tests/conftest.py clears them for every test):
# they change what reproml, its generated .envrc, uv's PyTorch choice, Jupyter, Pixi, conda and Nix do.
# (REPROML_TORCH_BUILD=cu128 alone turned 14 tests red; with JUPYTER_DATA_DIR set, `reproml jupyter kernel`
# wrote a kernel outside the sandbox.)
SEALED_PREFIXES = ("JUPYTER_", "REPROML_", "UV_CUDA_", "UV_INDEX", "PIXI_", "CONDA_")
SEALED_NAMES = ("UV_TORCH_BACKEND", "UV_EXTRA_INDEX_URL", "NIX_CONFIG", "VIRTUAL_ENV", "DIRENV_DIR")
_SEALED = re.compile("|".join([*(re.escape(p) + ".*" for p in SEALED_PREFIXES),
                                *map(re.escape, SEALED_NAMES)]))


def answers_for(preset: str, name: str = "cell-seg", **options: Any) -> dict[str, Any]:
    opts = NewOptions(path=Path(name), template=preset, name=name, author="Ada Tester",
                      email="ada@example.org", python="3.11", **options)
    return build_answers(opts, get_preset(preset), Path(name).absolute())


def render_preset(target: Path, preset: str, **options: Any) -> Path:
    render(answers_for(preset, **options), target)
    return target


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def sealed(name: str) -> bool:
    """Is ``name`` a variable the test session clears for every test?"""
    return _SEALED.fullmatch(name) is not None


def path_without(tool: str, path: str) -> str:
    """``path`` (a PATH value) without the directories that hold an executable ``tool`` (the other tools in
    those directories go too: keep tests that use this to what they need)."""
    keep = [d for d in path.split(os.pathsep) if d and shutil.which(tool, path=d) is None]
    return os.pathsep.join(keep)


def nix_eval(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NIX, "eval", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
