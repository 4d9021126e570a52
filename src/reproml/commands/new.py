"""`reproml new`: render a preset into a temporary folder next to the target, then move it in.

Nothing is half-written: any failure or Ctrl-C removes the temporary folder (and any parent folder this
command created), and an existing file is only replaced with --force.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reproml import process
from reproml.errors import DestinationError, ReproError, ToolError, UsageError
from reproml.gpu import ACCELERATORS
from reproml.names import project_names
from reproml.presets import PRESETS, Preset, get_preset

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "template"
PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
FRAMEWORKS = ("torch", "none")
# The identity git falls back to when neither git config nor --author/--email gives one (a warning says so).
FALLBACK_IDENTITY = ("reproml", "reproml@localhost")


@dataclass
class NewOptions:
    path: Path
    template: str | None = None
    name: str | None = None
    description: str | None = None
    author: str | None = None
    email: str | None = None
    python: str | None = None
    framework: str | None = None
    accelerator: str | None = None
    docs: bool | None = None
    jupyter: bool | None = None
    git: bool | None = None  # None: yes (interactive: asked)
    force: bool = False


@dataclass
class NewResult:
    path: Path
    preset: Preset
    answers: dict[str, Any]
    files: list[str]
    git_committed: bool
    warnings: list[str] = field(default_factory=list)
    git_existed: bool = (
        False  # the destination already was a git repository (--force): reproml did not commit
    )
    missing: list[str] = field(
        default_factory=list
    )  # what this machine lacks to use the preset (one line each)
    chosen_because: str | None = None  # why this preset, when reproml chose it (no -t)


def create_project(options: NewOptions, *, interactive: bool = False) -> NewResult:
    """Validate, render into a staging folder beside the target, commit, move in."""
    from reproml import machine

    facts = machine.gather()
    recommended, why = machine.recommend(facts)
    if interactive:
        options = _ask_missing(options, recommended)
    chosen_because = why if options.template is None else None
    preset = get_preset(options.template or recommended)
    dest = Path(os.path.abspath(options.path.expanduser()))
    answers = build_answers(options, preset, dest)
    _check_destination(dest, force=options.force)
    warnings = []
    if preset.deprecated:
        warnings.append(
            f"the '{preset.name}' preset is deprecated and works on NixOS only: "
            "prefer flake-python-ml or pythonml"
        )
    missing = list(machine.readiness(preset, facts).problems)
    if missing:
        warnings.append(f"{preset.name} will not run on this machine yet: " + "; ".join(missing))
    git = options.git is not False
    git_existed = (dest / ".git").exists()
    if git and not git_existed:
        warnings.extend(_identity_warnings(answers))
    files, committed = _render_and_move(answers, dest, git=git, force=options.force)
    return NewResult(
        dest,
        preset,
        answers,
        files,
        committed,
        warnings,
        git_existed=git and git_existed,
        missing=missing,
        chosen_because=chosen_because,
    )


def build_answers(options: NewOptions, preset: Preset, dest: Path) -> dict[str, Any]:
    """Validate every option and return the data copier renders with."""
    names = project_names(options.name if options.name is not None else dest.name)
    python = options.python or f"{sys.version_info.major}.{sys.version_info.minor}"
    if python not in PYTHON_VERSIONS:
        raise UsageError(f"unsupported --python '{python}'", hint=f"use one of {', '.join(PYTHON_VERSIONS)}")
    framework = options.framework or "torch"
    if framework not in FRAMEWORKS:
        raise UsageError(f"unknown --framework '{framework}'", hint="use torch or none")
    accelerator = options.accelerator or "auto"
    if accelerator not in ACCELERATORS:
        raise UsageError(
            f"unknown --accelerator '{accelerator}'", hint=f"use one of {', '.join(ACCELERATORS)}"
        )
    if framework == "none" and options.accelerator not in (None, "auto", "cpu"):
        raise UsageError("--accelerator needs --framework torch")
    for label, value in (("--description", options.description), ("--author", options.author)):
        if value is not None and ("\n" in value or '"' in value or "\\" in value):
            raise UsageError(f"{label} must be one line without quotes or backslashes")
    email = options.email if options.email is not None else _git_config("user.email")
    if email and not re.fullmatch(r"[^@\s\"\\]+@[^@\s\"\\]+", email):
        raise UsageError(f"'{email}' is not an e-mail address")
    answers: dict[str, Any] = {
        "preset": preset.name,
        "project_name": names.title,
        "distribution_name": names.distribution,
        "package_name": names.package,
        "description": options.description or "A reproducible machine-learning project",
        "author_name": options.author if options.author is not None else _git_config("user.name"),
        "author_email": email,
        "python_version": python,
        "framework": framework,
        "docs": True if options.docs is None else options.docs,
        "jupyter": True if options.jupyter is None else options.jupyter,
    }
    if framework == "torch":
        answers["accelerator"] = accelerator
    return answers


def _git_config(key: str) -> str:
    done = process.run(["git", "config", "--get", key], check=False, timeout=5)
    value = done.stdout.strip() if done.ok else ""
    return "" if ('"' in value or "\\" in value or "\n" in value) else value


def _check_destination(dest: Path, *, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise DestinationError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise DestinationError(f"{dest} is not empty", hint="choose another folder or pass --force")
    existing = next(p for p in (dest, *dest.parents) if p.exists())
    if not existing.is_dir():
        raise DestinationError(f"cannot create {dest}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DestinationError(f"cannot write to {existing}: permission denied")


def _render_and_move(
    answers: dict[str, Any], dest: Path, *, git: bool, force: bool
) -> tuple[list[str], bool]:
    created_parents = [p for p in reversed(dest.parents) if not p.exists()]
    staging = None
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.reproml-", dir=dest.parent))
        except OSError as exc:
            raise DestinationError(f"cannot write to {dest.parent}: {exc.strerror or exc}") from None
        rendered = staging / "project"
        render(answers, rendered)
        files = sorted(p.relative_to(rendered).as_posix() for p in rendered.rglob("*") if p.is_file())
        committed = False
        if git and not (dest / ".git").exists():
            _git_first_commit(rendered, answers)
            committed = True
        _move_into(rendered, dest, force=force)
        return files, committed
    except BaseException:
        for parent in reversed(created_parents):
            shutil.rmtree(parent, ignore_errors=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def render(answers: dict[str, Any], target: Path) -> None:
    """Render the template with ``answers`` into the new folder ``target`` (copier, no prompts, no tasks)."""
    import copier  # heavy: imported only when a project is made

    try:
        copier.run_copy(
            str(TEMPLATE_DIR),
            str(target),
            data=answers,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
        )
    except copier.errors.CopierError as exc:
        raise ReproError(f"rendering the template failed: {exc}") from None


def _identity_warnings(answers: dict[str, Any]) -> list[str]:
    """git needs a name and an e-mail to commit; say so when reproml has to make one up."""
    unset = [key for key in ("user.name", "user.email") if not _git_config(key)]
    made_up = [key for key in unset if not answers["author_name" if key == "user.name" else "author_email"]]
    if not made_up:
        return []
    name = answers["author_name"] or FALLBACK_IDENTITY[0]
    email = answers["author_email"] or FALLBACK_IDENTITY[1]
    return [
        f"git has no {' and no '.join(made_up)}: the first commit is by '{name} <{email}>'; set yours with "
        "`git config --global user.name 'Your Name'` and `git config --global user.email you@example.org`, "
        "then `git commit --amend --reset-author --no-edit` in the project"
    ]


def _git_first_commit(folder: Path, answers: dict[str, Any]) -> None:
    identity = {}
    if not _git_config("user.name"):
        identity["GIT_AUTHOR_NAME"] = identity["GIT_COMMITTER_NAME"] = (
            answers["author_name"] or FALLBACK_IDENTITY[0]
        )
    if not _git_config("user.email"):
        email = answers["author_email"] or FALLBACK_IDENTITY[1]
        identity["GIT_AUTHOR_EMAIL"] = identity["GIT_COMMITTER_EMAIL"] = email
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        [
            "git",
            "commit",
            "-q",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            f"Create project from reproml {answers['preset']}",
        ],
    ):
        try:
            process.run(args, cwd=folder, extra_env=identity, timeout=60)
        except ToolError as exc:
            raise ToolError(
                f"git could not make the first commit: {exc}", hint="retry with --no-git"
            ) from None


def _move_into(rendered: Path, dest: Path, *, force: bool) -> None:
    if not dest.exists() or not any(dest.iterdir()):
        if dest.exists():
            dest.rmdir()
        os.replace(rendered, dest)
        return
    if not force:  # checked before rendering; kept so this function is safe on its own
        raise DestinationError(f"{dest} is not empty", hint="pass --force")
    # --force: check every clash first, so a file/folder mismatch fails before anything moved.
    sources = sorted(rendered.rglob("*"))
    for source in sources:
        target = dest / source.relative_to(rendered)
        if source.is_file() and target.is_dir():
            raise DestinationError(f"{target} is a folder; reproml needs to write a file there")
        if source.is_dir() and target.exists() and not target.is_dir():
            raise DestinationError(f"{target} is a file; reproml needs a folder there")
    for source in sources:
        target = dest / source.relative_to(rendered)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        else:  # rendered/.git exists only when dest had none (see _render_and_move)
            os.replace(source, target)


def next_steps(result: NewResult, *, environ: dict[str, str] | None = None) -> str:
    """What to type next. Every path offered ends in an environment with the project's torch in it."""
    env = os.environ if environ is None else environ
    rel = os.path.relpath(result.path)
    where = rel if not rel.startswith("..") else str(result.path)
    lines = [
        f"Created {result.preset.name} project '{result.answers['project_name']}' in {where}",
        "",
        "Next steps:",
    ]
    for problem in result.missing:
        lines.append(f"  # first: {problem}")
    lines.append(f"  cd {where}")
    if env.get("VIRTUAL_ENV") and Path(env["VIRTUAL_ENV"]) != result.path / ".venv":
        lines.append(
            "  deactivate              # another virtual environment is active; uv would warn about it"
        )
    manager = result.preset.manager
    if manager == "pixi":
        if result.preset.name == "flake-python-ml":
            lines.append("  direnv allow            # Nix dev shell with pixi; or, without Nix: pixi install")
        else:
            lines.append("  direnv allow            # or: pixi install")
        lines.append("  pixi run test")
    else:
        sync = " ".join(["uv sync", *_uv_sync_args(result.answers)])
        lines.append(f"  direnv allow            # or: {sync}")
        lines.append("  uv run pytest")
    if result.answers.get("jupyter"):
        lines.append("  reproml jupyter start   # a persistent JupyterLab for this project")
    if result.git_existed:
        lines.append(
            "  git add -A && git commit -m 'Add reproml files'   # the folder already was a git repository"
        )
    elif not result.git_committed:
        lines.append("  git init && git add -A && git commit -m 'Create project'   # (--no-git)")
    return "\n".join(lines)


def _uv_sync_args(answers: dict[str, Any]) -> list[str]:
    """The `uv sync` arguments that install this project's torch build here (as the .envrc does)."""
    accelerator = answers.get("accelerator")
    if answers.get("framework") != "torch" or accelerator not in ("auto", "cuda"):
        return []
    import platform

    from reproml import gpu

    build = gpu.choose_build(accelerator, gpu.detect_driver().version, platform.system())
    if accelerator == "cuda" and build == "cpu":  # macOS: the CUDA extras carry the CPU/MPS wheels there
        build = gpu.choose_build(accelerator, None, "Linux")
    return ["--extra", build]


def _ask_missing(options: NewOptions, recommended: str) -> NewOptions:
    """On a terminal, ask for what the command line did not give (validated like the options)."""
    import click

    def ask(text: str, default: str, check: Any = None) -> str:
        while True:
            value = click.prompt(text, default=default, show_default=bool(default))
            try:
                if check:
                    check(value)
                return str(value)
            except ReproError as error:
                click.echo(f"  {error.one_line()}", err=True)

    if options.template is None:
        click.echo("Presets:")
        for preset in PRESETS.values():
            mark = "  (recommended here)" if preset.name == recommended else ""
            note = " [deprecated]" if preset.deprecated else ""
            click.echo(f"  {preset.name:<18} {preset.best_for}{note}{mark}")
        options.template = click.prompt(
            "Preset", type=click.Choice(list(PRESETS)), default=recommended, show_choices=False
        )
    if options.name is None:
        options.name = ask("Project name", Path(options.path).name, project_names)
    if options.description is None:
        options.description = ask("Description", "A reproducible machine-learning project")
    if options.author is None:
        options.author = ask("Author", _git_config("user.name"))
    if options.email is None:
        options.email = ask("E-mail", _git_config("user.email"))
    if options.python is None:
        options.python = click.prompt(
            "Python",
            type=click.Choice(PYTHON_VERSIONS),
            default=f"{sys.version_info.major}.{sys.version_info.minor}",
        )
    if options.framework is None:
        options.framework = click.prompt("Framework", type=click.Choice(FRAMEWORKS), default="torch")
    if options.framework == "torch" and options.accelerator is None:
        options.accelerator = click.prompt(
            "Accelerator (auto: each machine picks CPU or CUDA)",
            type=click.Choice(ACCELERATORS),
            default="auto",
        )
    if options.docs is None:
        options.docs = click.confirm("Sphinx docs?", default=True)
    if options.jupyter is None:
        options.jupyter = click.confirm("JupyterLab in the dev environment?", default=True)
    if options.git is None:
        options.git = click.confirm("git init and a first commit?", default=True)
    return options
