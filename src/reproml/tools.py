"""Where reproml finds the tools it drives. uv ships inside reproml's own dependencies, so it is always there."""

from __future__ import annotations

import shutil


def uv_executable() -> str | None:
    """The uv binary: the one on PATH, else the one the `uv` PyPI package installed next to reproml."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None
