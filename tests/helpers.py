"""Helpers for tests: render presets, list files, run nix."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from reproml.commands.new import NewOptions, build_answers, render
from reproml.presets import get_preset

DATA = Path(__file__).resolve().parent / "data"
NIX_STUB = DATA / "nix-stub"
NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]


def answers_for(preset: str, name: str = "cell-seg", **options: Any) -> dict[str, Any]:
    opts = NewOptions(path=Path(name), template=preset, name=name, author="Ada Tester", email="ada@example.org",
                      python="3.11", **options)
    return build_answers(opts, get_preset(preset), Path(name).absolute())


def render_preset(target: Path, preset: str, **options: Any) -> Path:
    render(answers_for(preset, **options), target)
    return target


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def nix_eval(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NIX, "eval", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
