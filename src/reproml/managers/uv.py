"""uv projects: packages go through `uv add` / `uv remove` (uv edits pyproject.toml and locks); the PyTorch
family follows torch: into the same extras (or the main dependencies) with the same `[tool.uv.sources]`
entries, so each extra keeps taking every PyTorch package from its own build's index."""

from __future__ import annotations

import copy
import tomllib
from typing import TYPE_CHECKING, Any

from reproml import process
from reproml.errors import ProjectError, ToolError, UsageError
from reproml.managers import Outcome, in_torch_family, normalize, split_requirement, write_text
from reproml.project import Project

if TYPE_CHECKING:
    from reproml.commands.add import ChangeOptions

# A lock reads several indexes (each PyTorch build's among them); an add may also install.
LOCK_TIMEOUT = 600.0


def _uv() -> str:
    from reproml.tools import uv_executable

    uv = uv_executable()
    if uv is None:
        raise ToolError("uv is not installed", hint="pip install uv, or see `reproml doctor`")
    return uv


def _run(project: Project, args: list[str]) -> None:
    done = process.run([_uv(), *args], cwd=project.root, timeout=LOCK_TIMEOUT, check=False)
    if done.returncode == 124:
        raise ToolError(f"uv {args[0]} did not finish within {LOCK_TIMEOUT:g} s; nothing was changed")
    if not done.ok:
        raise ToolError(f"uv {args[0]} failed, nothing was changed: {reason(done.stderr or done.stdout)}")


def reason(output: str) -> str:
    """The line of uv's error output that says why: the last cause, not the hints after it."""
    messages: list[str] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        if line[:1].isspace() and messages and not line.lstrip().startswith(("cause:", "╰─▶")):
            messages[-1] += " " + line.strip()  # uv wraps long messages to the terminal's width
        else:
            messages.append(line.strip())
    causes = [m for m in messages if not m.startswith("hint:")] or messages or ["no output"]
    return causes[-1].removeprefix("cause:").removeprefix("error:").lstrip("×╰─▶ ").strip()


def check_lock_fresh(project: Project) -> None:
    """Refuse to change a project whose uv.lock no longer matches its pyproject.toml: the new lock would hide
    changes nobody asked for."""
    if not (project.root / "uv.lock").is_file():
        return
    done = process.run([_uv(), "lock", "--check"], cwd=project.root, timeout=LOCK_TIMEOUT, check=False)
    if done.ok:
        return
    if "needs to be updated" in done.stderr:
        raise ProjectError(
            "uv.lock was already out of date with pyproject.toml before this change",
            hint="run `uv lock` and review what it changes first",
        )
    raise ToolError(f"uv lock --check failed: {reason(done.stderr or done.stdout)}")


def _load(project: Project) -> dict[str, Any]:
    try:
        return tomllib.loads(project.pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot parse {project.pyproject}: {exc}") from None


def _names(requirements: list[str]) -> set[str]:
    return {normalize(split_requirement(r)[0]) for r in requirements if isinstance(r, str)}


def torch_places(data: dict[str, Any]) -> list[str | None]:
    """Where torch is required: None for the main dependencies, else each extra that has it."""
    project = data.get("project", {})
    places: list[str | None] = []
    if "torch" in _names(project.get("dependencies", [])):
        places.append(None)
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if "torch" in _names(requirements):
            places.append(extra)
    return places


def _family_places(data: dict[str, Any], specs: list[str], group: str | None) -> list[str | None]:
    """Where the PyTorch-family packages in ``specs`` go: torch's places (none if the project has no torch,
    and they are then ordinary packages)."""
    places = torch_places(data)
    if places and group and any(in_torch_family(s) for s in specs):
        raise UsageError(
            "the PyTorch family follows torch (" + _describe(places) + "); --group does not apply to it"
        )
    return places


def _describe(places: list[str | None]) -> str:
    extras = [p for p in places if p is not None]
    main = ["the main dependencies"] if None in places else []
    return ", ".join(main + ([f"extras {', '.join(extras)}"] if extras else []))


def _edit_sources(project: Project, edit: Any) -> bool:
    import tomlkit  # only where a manifest is edited: keeps other commands' start-up short

    document = tomlkit.parse(project.pyproject.read_text(encoding="utf-8"))
    if not edit(document):
        return False
    write_text(project.pyproject, tomlkit.dumps(document))
    return True


def _route_like_torch(project: Project, names: list[str]) -> None:
    """Give each new family package torch's own `[tool.uv.sources]` entry (its index per extra and marker),
    placed right after the family entries already there."""

    def edit(document: Any) -> bool:
        sources = document.get("tool", {}).get("uv", {}).get("sources")
        if sources is None or "torch" not in sources:
            return False
        changed = False
        for name in names:
            if name in sources:
                continue
            sources[name] = copy.deepcopy(sources["torch"])
            changed = True
        return changed

    _edit_sources(project, edit)


def _drop_orphan_sources(project: Project, names: list[str]) -> bool:
    """A `[tool.uv.sources]` entry for a package nothing requires any more goes too (True if one went)."""
    data = _load(project)
    required = _names(data.get("project", {}).get("dependencies", []))
    for requirements in data.get("project", {}).get("optional-dependencies", {}).values():
        required |= _names(requirements)
    for requirements in data.get("dependency-groups", {}).values():
        required |= _names([r for r in requirements if isinstance(r, str)])
    orphans = [n for n in names if n not in required]

    def edit(document: Any) -> bool:
        sources = document.get("tool", {}).get("uv", {}).get("sources")
        gone = [key for key in (sources or {}) if normalize(key) in orphans]
        for key in gone:
            del sources[key]
        return bool(gone)

    return bool(orphans) and _edit_sources(project, edit)


def _split(project: Project, options: ChangeOptions) -> tuple[dict[str, Any], list[str | None], list[str],
                                                              list[str]]:
    """After checking the lock is fresh: the manifest, where torch lives (its extras, or None for the main
    dependencies), and the packages split into the PyTorch family (which follows torch) and the others."""
    check_lock_fresh(project)
    data = _load(project)
    places = _family_places(data, list(options.packages), options.group)
    family = [s for s in options.packages if places and in_torch_family(s)]
    others = [s for s in options.packages if s not in family]
    return data, places, family, others


def add(project: Project, options: ChangeOptions) -> Outcome:
    group, dry_run = options.group, options.dry_run
    data, places, family, others = _split(project, options)
    outcome = Outcome()
    if family:
        for place in places:
            _run(project, ["add", "--frozen", *(["--optional", place] if place else []), *family])
        _route_like_torch(project, [normalize(split_requirement(s)[0]) for s in family])
        outcome.done.append(f"{', '.join(family)}: added to {_describe(places)}, from torch's index in each")
    sync = ["--no-sync"] if dry_run else []
    if others:
        _run(project, ["add", *sync, *(["--group", group] if group else []), *others])
        where = f"group {group}" if group else "the dependencies"
        outcome.done.append(f"{', '.join(others)}: added to {where}")
    else:
        _run(project, ["lock"])
    outcome.done.append("uv.lock updated")
    if family:
        outcome.notes.append(_sync_hint(places))
    elif any(in_torch_family(s) for s in options.packages):  # no torch routing in this project to follow
        outcome.notes.append("this project has no PyTorch index routing: PyTorch packages come from PyPI, "
                             "which on Linux means the CUDA build (several GB of NVIDIA wheels)")
    return outcome


def remove(project: Project, options: ChangeOptions) -> Outcome:
    group, dry_run = options.group, options.dry_run
    data, places, family, others = _split(project, options)
    outcome = Outcome()
    if family:
        optional = data.get("project", {}).get("optional-dependencies", {})
        main = _names(data.get("project", {}).get("dependencies", []))
        for spec in family:
            name = normalize(split_requirement(spec)[0])
            held = [extra for extra, reqs in optional.items() if name in _names(reqs)]
            if name not in main and not held:
                raise UsageError(f"{spec} is not a dependency of this project (neither main nor an extra)")
            if name in main:
                _run(project, ["remove", "--frozen", spec])
            for extra in held:
                _run(project, ["remove", "--frozen", "--optional", extra, spec])
        _drop_orphan_sources(project, [normalize(split_requirement(s)[0]) for s in family])
        outcome.done.append(f"{', '.join(family)}: removed from {_describe(places)}")
    # uv remove syncs exactly, without extras: in a project whose torch is in an extra, that would uninstall
    # torch. Leave .venv to the .envrc (it syncs this machine's extra when pyproject.toml changes).
    extras_only = bool(places) and None not in places
    sync = ["--no-sync"] if dry_run or extras_only else []
    if others:
        _run(project, ["remove", *sync, *(["--group", group] if group else []), *others])
        outcome.done.append(f"{', '.join(others)}: removed")
        # uv drops the source of a package it removes; one a user wrote under another spelling may stay.
        if _drop_orphan_sources(project, [normalize(split_requirement(s)[0]) for s in others]):
            _run(project, ["lock"])
    else:
        _run(project, ["lock"])
    outcome.done.append("uv.lock updated")
    if extras_only:
        outcome.notes.append(_sync_hint(places))
    return outcome


def _sync_hint(places: list[str | None]) -> str:
    if None in places:
        return "`uv sync` (or `direnv reload`) brings .venv up to date"
    return "`direnv reload` (it syncs this machine's extra) or `uv sync --extra EXTRA` updates .venv"
