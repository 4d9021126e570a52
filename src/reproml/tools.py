"""Where reproml finds the tools it drives.

Two different questions about uv, kept apart on purpose:

- :func:`uv_on_path`: the uv the user's shell (and a project's ``.envrc``) runs, or None. Doctor and the
  "runs here" rule (reproml.machine) report this one.
- :func:`uv_executable`: the uv reproml's own commands run: the one on PATH, else the copy the `uv` PyPI
  package installed next to reproml (:func:`uv_bundled`). With reproml installed by pipx or
  `uv tool install`, that copy is not on PATH.
"""

from __future__ import annotations

import shutil


def uv_on_path() -> str | None:
    """The uv on PATH (what the user's shell and .envrc run), or None."""
    return shutil.which("uv")


def uv_bundled() -> str | None:
    """The uv binary the `uv` PyPI package installed with reproml, or None."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


def uv_executable() -> str | None:
    """The uv binary reproml itself runs: the one on PATH, else the bundled one."""
    return uv_on_path() or uv_bundled()
