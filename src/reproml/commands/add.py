"""`reproml add` / `reproml remove`: change a project's packages the way its preset needs, all or nothing.

Every file the change may touch (pyproject.toml, the lock files, the Nix files) is read first; any failure,
Ctrl-C, SIGTERM or SIGHUP puts each back byte for byte, and so does the end of a dry run. What differs per
environment manager lives in reproml.managers (uv, pixi, nix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reproml import signals
from reproml.errors import UsageError
from reproml.managers import Outcome, Snapshot
from reproml.project import Project, find_project


@dataclass(frozen=True)
class ChangeOptions:
    packages: tuple[str, ...]
    path: Path = Path(".")
    pypi: bool = False
    conda: bool = False
    group: str | None = None
    nix: bool = False
    dry_run: bool = False


@dataclass
class ChangeResult:
    project: Project
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diff: str = ""  # what changed (with --dry-run: what would change)


def add_packages(options: ChangeOptions) -> ChangeResult:
    return _change("add", options)


def remove_packages(options: ChangeOptions) -> ChangeResult:
    return _change("remove", options)


def _change(action: str, options: ChangeOptions) -> ChangeResult:
    project = find_project(options.path)
    if not options.packages:
        raise UsageError(f"name at least one package to {action}")
    if options.pypi and options.conda:
        raise UsageError("--pypi and --conda exclude each other")
    if options.nix:
        if options.pypi or options.conda or options.group:
            raise UsageError("--nix takes nixpkgs attributes: --pypi, --conda and --group do not apply")
        from reproml.managers import nix as manager
    elif project.manager == "pixi":
        from reproml.managers import pixi as manager
    else:
        if options.conda:
            raise UsageError("--conda needs a Pixi project; this one uses uv (PyPI packages only)")
        from reproml.managers import uv as manager
    snapshot = Snapshot(project.root, _guarded_files(project))
    with signals.stopping():
        try:
            outcome: Outcome = getattr(manager, action)(project, options)
            diff = snapshot.diff()
            if options.dry_run:
                _restore_held(snapshot)
        except BaseException as error:
            _restore_held(snapshot)
            if isinstance(error, signals.Stopped):
                raise error.as_error("every file is as it was") from None
            raise
    return ChangeResult(project, outcome.done, outcome.notes, diff)


def _guarded_files(project: Project) -> list[Path]:
    """The manifest, every lock file and every Nix file (a new .nix/packages.nix among them)."""
    root = project.root
    nix = root / ".nix"
    nix_files = sorted(p for p in nix.glob("**/*") if p.is_file() and not p.is_symlink())
    return [project.pyproject, root / "pixi.toml", root / "uv.lock", root / "pixi.lock", *nix_files,
            nix / "packages.nix", nix / "flake.lock"]


def _restore_held(snapshot: Snapshot) -> None:
    with signals.held():  # a second Ctrl-C must not cut the restore short
        snapshot.restore()
