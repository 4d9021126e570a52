"""Nix presets: `--nix ATTR` lists nixpkgs attribute paths in .nix/packages.nix, a plain Nix list of strings
that flake.nix puts in the dev shell, so nobody edits flake.nix by hand. The file stays the user's: lines are
added or removed one at a time, comments and order kept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from reproml import process
from reproml.errors import ProjectError, UsageError
from reproml.managers import Outcome, write_text
from reproml.project import Project

if TYPE_CHECKING:
    from reproml.commands.add import ChangeOptions

PACKAGES_FILE = ".nix/packages.nix"
# A nixpkgs attribute path: Nix identifiers joined by dots ("ffmpeg", "python3Packages.black").
ATTRIBUTE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*(?:\.[A-Za-z_][A-Za-z0-9_'-]*)*")
_ENTRY = re.compile(r'^\s*"([^"\\$]*)"\s*(?:#.*)?$')
# The empty list every Nix preset starts with (its comment tells the user how to edit it).
TEMPLATE = Path(__file__).resolve().parent.parent / "template/project/{% if nix_flake %}.nix{% endif %}"


def _packages_file(project: Project) -> Path:
    flake = project.root / ".nix" / "flake.nix"
    if not flake.is_file():
        raise UsageError("this project has no Nix flake (.nix/flake.nix): --nix needs a Nix preset "
                         "(flake-python-ml, pythonml, nixos-pythonml)")
    if "packages.nix" not in flake.read_text(encoding="utf-8"):
        raise ProjectError(".nix/flake.nix does not read .nix/packages.nix (made by an older reproml)",
                           hint="`reproml update` brings it in")
    return project.root / PACKAGES_FILE


def _attributes(specs: tuple[str, ...]) -> list[str]:
    for spec in specs:
        if not ATTRIBUTE_PATH.fullmatch(spec):
            raise UsageError(f"not a nixpkgs attribute path: {spec!r} (like ffmpeg or python3Packages.black)")
    return list(dict.fromkeys(specs))


def listed(text: str) -> list[str]:
    return [m[1] for line in text.splitlines() if (m := _ENTRY.match(line))]


def add(project: Project, options: ChangeOptions) -> Outcome:
    path = _packages_file(project)
    attributes = _attributes(options.packages)
    text = (path if path.exists() else TEMPLATE / "packages.nix").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    close = max((i for i, line in enumerate(lines) if line.strip().startswith("]")), default=None)
    if close is None:
        raise ProjectError(f"{PACKAGES_FILE} is not a list reproml can edit (no closing `]` line)")
    present = listed(text)
    new = [a for a in attributes if a not in present]
    lines[close:close] = [f'  "{a}"\n' for a in new]
    outcome = Outcome()
    if new:
        _write_checked(project, path, "".join(lines), expected=present + new)
        outcome.done.append(f"{', '.join(new)}: added to the dev shell ({PACKAGES_FILE})")
        outcome.notes.append(_next_step(project, path))
    for attribute in attributes:
        if attribute not in new:
            outcome.done.append(f"{attribute}: already in {PACKAGES_FILE}")
    return outcome


def remove(project: Project, options: ChangeOptions) -> Outcome:
    path = _packages_file(project)
    attributes = _attributes(options.packages)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    present = listed(text)
    missing = [a for a in attributes if a not in present]
    if missing:
        raise UsageError(f"not in {PACKAGES_FILE}: {', '.join(missing)}")
    kept = [line for line in text.splitlines(keepends=True)
            if not ((m := _ENTRY.match(line)) and m[1] in attributes)]
    _write_checked(project, path, "".join(kept), expected=[a for a in present if a not in attributes])
    return Outcome(done=[f"{', '.join(attributes)}: removed from the dev shell ({PACKAGES_FILE})"],
                   notes=[_next_step(project, path)])


def _write_checked(project: Project, path: Path, text: str, expected: list[str]) -> None:
    """Write the list, then (where Nix is installed) check that Nix reads it as exactly that list."""
    write_text(path, text)
    nix = process.which("nix-instantiate")
    if nix is None:
        return
    done = process.run([nix, "--eval", "--strict", "--json", path], cwd=project.root, check=False)
    if not done.ok or json.loads(done.stdout or "null") != expected:
        why = process.last_line(done.stderr) if not done.ok else f"it reads as {done.stdout.strip()}"
        raise ProjectError(f"{PACKAGES_FILE} would not be the list of attribute paths flake.nix reads: {why}")


def _next_step(project: Project, path: Path) -> str:
    step = "`direnv reload` (or `nix develop ./.nix`) builds the dev shell with it"
    if (project.root / ".git").exists():
        tracked = process.run(["git", "ls-files", "--error-unmatch", path], cwd=project.root, check=False)
        if not tracked.ok:  # a flake in a git repository sees only the files git knows
            step = f"`git add {PACKAGES_FILE}` (a flake sees only files git knows), then " + step
    return step
