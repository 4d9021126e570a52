"""`reproml new`: render a preset into a temporary folder next to the target, then move it in.

Nothing is half-written: any failure, Ctrl-C, SIGTERM or SIGHUP removes the temporary folder (and the parent
folders this process created, while they are empty). --force never replaces a file of the user's: see
_merge_into.
"""

from __future__ import annotations

import errno
import filecmp
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reproml import process, signals
from reproml.errors import DestinationError, MergeNeeded, ReproError, ToolError, UsageError
from reproml.gpu import ACCELERATORS
from reproml.names import control_character, project_names
from reproml.presets import PRESETS, Preset, get_preset
from reproml.project import TEMPLATE_DIR, make_answers_portable, template_digest

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
FRAMEWORKS = ("torch", "none")
CI_CHOICES = ("github", "none")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "none")  # SPDX identifiers, or none
# `uv lock` / `pixi lock` at creation: a torch project's first lock reads several large indexes.
LOCK_TIMEOUT = 300.0
# The identity git falls back to when neither git config nor --author/--email gives one (a warning says so).
FALLBACK_IDENTITY = ("reproml", "reproml@localhost")
# What validate-pyproject accepts as an author e-mail (format idn-email), without quotes, commas or brackets.
EMAIL = re.compile(r"[^@\s\"\\<>,]+@[^@\s\"\\<>,]+\.[^@\s\"\\<>,]+")
# `new --force` writes reproml's version of a file that differs from the user's beside it, with this suffix.
NEW_SUFFIX = ".reproml-new"


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
    ci: str | None = None
    pre_commit: bool | None = None
    license: str | None = None
    lock: bool | None = None  # None: yes (interactive: asked)
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
    force: ForceReport | None = None  # what --force did in a folder that already held files

    @property
    def exit_code(self) -> int:
        """0, or MergeNeeded's code when the user must merge a FILE.reproml-new into their FILE."""
        return MergeNeeded.exit_code if self.force and self.force.beside else 0


@dataclass
class ForceReport:
    """What `new --force` did with each path of the project in a folder that already held files."""

    added: list[str] = field(default_factory=list)  # absent before: moved in (a folder as a whole)
    identical: list[str] = field(default_factory=list)  # the user's file already was reproml's: left alone
    merged: dict[str, int] = field(default_factory=dict)  # .gitignore: reproml's rules appended, how many
    beside: list[tuple[str, str]] = field(default_factory=list)  # (the user's file, kept; reproml's, beside)


def create_project(options: NewOptions, *, interactive: bool = False) -> NewResult:
    """Validate, render into a staging folder beside the target, commit, move in."""
    from reproml import machine

    facts = machine.gather()
    recommended, why = machine.recommend(facts)
    if interactive:
        options = _ask_missing(options, recommended)
    chosen_because = why if options.template is None else None
    preset = get_preset(options.template or recommended)
    given = Path(os.path.abspath(options.path.expanduser()))
    answers = build_answers(options, preset, given)
    dest = _follow_link(given)
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
    try:
        files, committed, report = _render_and_move(
            answers, dest, git=git, force=options.force, lock=answers["lock"], warnings=warnings
        )
    except signals.Stopped as stop:
        raise stop.as_error("nothing was left half-written") from None
    if report and report.beside:
        warnings.append(
            f"{len(report.beside)} of your files {'differs' if len(report.beside) == 1 else 'differ'} from "
            "reproml's: each is kept, with reproml's version "
            f"beside it as FILE{NEW_SUFFIX}; merge them (exit status {MergeNeeded.exit_code})"
        )
    return NewResult(
        given,
        preset,
        answers,
        files,
        committed,
        warnings,
        git_existed=git and git_existed,
        missing=missing,
        chosen_because=chosen_because,
        force=report,
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
    ci = options.ci or "github"
    if ci not in CI_CHOICES:
        raise UsageError(f"unknown --ci '{ci}'", hint="use github or none")
    license_id = options.license or "MIT"
    if license_id not in LICENSES:
        raise UsageError(f"unknown --license '{license_id}'", hint=f"use one of {', '.join(LICENSES)}")
    for label, value in (
        ("--description", options.description),
        ("--author", options.author),
        ("--email", options.email),
    ):
        _check_text(label, value)
    # git's name or e-mail (`me@localhost`) that pyproject.toml cannot take is left out rather than refused.
    author = options.author if options.author is not None else _git_config("user.name")
    if options.author is None and (control_character(author) or "," in author):
        author = ""
    email = options.email.strip() if options.email is not None else _git_config("user.email")
    if options.email is None and not EMAIL.fullmatch(email):
        email = ""
    answers: dict[str, Any] = {
        "preset": preset.name,
        "project_name": names.title,
        "distribution_name": names.distribution,
        "package_name": names.package,
        "description": (options.description or "").strip() or "A reproducible machine-learning project",
        "author_name": author.strip(),
        "author_email": email,
        "python_version": python,
        "framework": framework,
        "docs": True if options.docs is None else options.docs,
        "jupyter": True if options.jupyter is None else options.jupyter,
        "ci": ci,
        "pre_commit": options.pre_commit is not False,
        "license": license_id,
        "lock": options.lock is not False,
    }
    if license_id != "none":
        import datetime

        answers["copyright_year"] = str(datetime.date.today().year)
    if framework == "torch":
        answers["accelerator"] = accelerator
    return answers


def _check_text(label: str, value: str | None) -> None:
    """Refuse an answer no project file can hold as typed. Quotes, backslashes, `${` and Markdown marks are
    not refused: template/snippets/escape.jinja escapes them for each file they land in."""
    if not value:
        return
    bad = control_character(value)
    if bad:
        raise UsageError(f"{label} {value!r} contains a control character ({bad}): give one line of text")
    if label == "--author" and "," in value:
        raise UsageError(f"--author '{value}' has a comma, which a pyproject.toml author name cannot hold")
    if label == "--email" and not EMAIL.fullmatch(value.strip()):
        raise UsageError(f"'{value.strip()}' is not an e-mail address", hint="name@domain.tld")


def _git_config(key: str) -> str:
    done = process.run(["git", "config", "--get", key], check=False, timeout=5)
    value = done.stdout.strip() if done.ok else ""
    return value


def _follow_link(dest: Path) -> Path:
    """A symbolic link to a folder is followed, as `cd` would: the project goes into the folder it points to,
    and the staging folder beside that folder, on its file system (a rename cannot cross file systems)."""
    try:
        _check_name_lengths(dest)
        if not dest.is_symlink():
            return dest
        real = Path(os.path.realpath(dest))
        if not real.is_dir():
            raise DestinationError(f"{dest} is a symbolic link to {real}, which is not a folder")
        return real
    except OSError as exc:
        raise _os_error(exc, dest) from None


def _check_destination(dest: Path, *, force: bool) -> None:
    try:
        _check_name_lengths(dest)
        if dest.exists() and not dest.is_dir():
            raise DestinationError(f"{dest} exists and is not a folder")
        if dest.is_dir() and any(dest.iterdir()) and not force:
            raise DestinationError(f"{dest} is not empty", hint="choose another folder or pass --force")
        existing = next(p for p in (dest, *dest.parents) if p.exists())
        if not existing.is_dir():
            raise DestinationError(f"cannot create {dest}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise DestinationError(f"cannot write to {existing}: permission denied")
    except OSError as exc:
        raise _os_error(exc, dest) from None


def _check_name_lengths(dest: Path) -> None:
    """A folder name longer than the file system takes is refused before anything is made."""
    existing = next(p for p in dest.parents if os.path.isdir(p))
    name_max = os.pathconf(existing, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    longest = max(len(os.fsencode(p.name)) for p in (dest, *dest.parents))
    if longest > name_max:
        raise DestinationError(
            f"cannot create {_short(dest)}: a folder name is {longest} bytes long; "
            f"this file system allows {name_max}"
        )


def _short(path: Path | str) -> str:
    """A path for a one-line message: a name over 60 characters is cut in the middle."""
    text = str(path)
    parts = [part if len(part) <= 60 else f"{part[:28]}...{part[-28:]}" for part in text.split(os.sep)]
    return os.sep.join(parts)


def _os_error(exc: OSError, dest: Path, staging: Path | None = None) -> DestinationError:
    """One line naming the path and the cause (a full disk, a name too long...); a path inside the staging
    folder is shown where it was going."""
    where = Path(os.fsdecode(exc.filename)) if exc.filename else dest
    if staging is not None and where.is_relative_to(staging / "project"):
        where = dest / where.relative_to(staging / "project")
    elif staging is not None and where.is_relative_to(staging):
        where = dest
    return DestinationError(f"cannot write {_short(where)}: {exc.strerror or exc}")


def _make_parents(folder: Path, created: list[tuple[Path, int, int]]) -> None:
    """`mkdir -p` that records each folder this process made itself (with its device and inode), so that
    cleanup can tell its own folders from those another process made at the same time."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # made meanwhile by someone else (another `reproml new`): theirs, never removed here
        info = path.lstat()
        created.append((path, info.st_dev, info.st_ino))


def _remove_created(created: list[tuple[Path, int, int]]) -> None:
    """Newest first, with rmdir: only a folder that is still the one this process made and still empty, so a
    project that another process moved in meanwhile is never touched."""
    for path, device, inode in reversed(created):
        try:
            info = path.lstat()
            if (info.st_dev, info.st_ino) == (device, inode):
                path.rmdir()
        except OSError:
            pass  # not empty (someone else's now) or already gone: leave it


def _render_and_move(
    answers: dict[str, Any],
    dest: Path,
    *,
    git: bool,
    force: bool,
    lock: bool = False,
    warnings: list[str] | None = None,
) -> tuple[list[str], bool, ForceReport | None]:
    created: list[tuple[Path, int, int]] = []
    staging: Path | None = None
    finished = False
    with signals.stopping():
        try:
            try:
                _make_parents(dest.parent, created)
                # The name is cut so that a long (but valid) folder name still leaves room for the suffix.
                prefix = f".{dest.name[:100]}.reproml-"
                staging = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
            except OSError as exc:
                raise DestinationError(f"cannot write to {dest.parent}: {exc.strerror or exc}") from None
            rendered = staging / "project"
            render(answers, rendered)
            if lock:
                problem = lock_environment(rendered, get_preset(answers["preset"]).manager)
                if problem and warnings is not None:
                    warnings.append(problem)
            files = sorted(p.relative_to(rendered).as_posix() for p in rendered.rglob("*") if p.is_file())
            committed = False
            if git and not (dest / ".git").exists():
                _git_first_commit(rendered, answers)
                committed = True
            with signals.held():
                report = _move_into(rendered, dest, force=force)
            finished = True
            return files, committed, report
        except OSError as exc:
            raise _os_error(exc, dest, staging) from None
        finally:
            with signals.held():
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                if not finished:
                    _remove_created(created)


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
    # Portable (no path of this machine) and versioned: `reproml update` and `doctor` read it.
    make_answers_portable(target, template_digest(TEMPLATE_DIR))


def lock_environment(project: Path, manager: str) -> str | None:
    """Write the project's lock file (uv.lock, or pixi.lock where pixi is on PATH), so that every machine
    installs the same versions from the first `uv sync`. A failure (no network, an unreachable index) is not
    fatal: it returns the one-line warning naming the command to run later, and leaves no lock behind."""
    pixi = manager == "pixi"
    if pixi:
        tool, lock_file = process.which("pixi"), "pixi.lock"
        if tool is None:  # the warning that pixi is missing already says how to install it
            return None
    else:
        from reproml.tools import uv_executable

        tool, lock_file = uv_executable(), "uv.lock"
    command = f"{'pixi' if pixi else 'uv'} lock"
    later = f"the project has no {lock_file} yet: run `{command}` in it"
    if tool is None:
        return f"{later} once uv is installed"
    done = process.run([tool, "lock"], cwd=project, timeout=LOCK_TIMEOUT, check=False)
    if pixi:
        shutil.rmtree(project / ".pixi", ignore_errors=True)  # pixi's workspace cache: not project files
    if done.ok and (project / lock_file).is_file():
        return None
    (project / lock_file).unlink(missing_ok=True)  # never a half-written lock
    if done.returncode == 124:
        why = f"`{command}` did not finish within {LOCK_TIMEOUT:g} s"
    else:
        why = f"`{command}` failed: {process.last_line(done.stderr or done.stdout)}"
    return f"{later} when the package indexes are reachable ({why})"


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


def _move_into(rendered: Path, dest: Path, *, force: bool) -> ForceReport | None:
    if not dest.exists() or not any(dest.iterdir()):
        try:
            if os.name == "nt" and dest.exists():
                dest.rmdir()  # Windows cannot rename onto a folder
            os.replace(rendered, dest)  # POSIX: one atomic step, and only onto a missing or empty folder
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # another process moved its project in first
                raise DestinationError(
                    f"{dest} is not empty", hint="choose another folder or pass --force"
                ) from None
            raise
        return None
    if not force:  # checked before rendering; kept so this function is safe on its own
        raise DestinationError(f"{dest} is not empty", hint="pass --force")
    return _merge_into(rendered, dest)


def _merge_into(rendered: Path, dest: Path) -> ForceReport:
    """--force: nothing of the user's is replaced. A path that is not there is moved in (a missing folder as a
    whole); an identical file is left; .gitignore gets reproml's missing rules appended; any other differing
    file is kept and reproml's version written beside it as FILE.reproml-new. Every clash is checked before
    anything moves, and a failure while moving moves everything back."""
    report = ForceReport()
    moves: list[tuple[Path, Path]] = []
    appends: list[tuple[Path, str]] = []
    for root, folders, files in os.walk(rendered):
        here = Path(root)
        folders.sort()
        for name in list(folders):
            source = here / name
            target = dest / source.relative_to(rendered)
            relative = source.relative_to(rendered).as_posix()
            if not os.path.lexists(target):
                moves.append((source, target))
                report.added.append(relative + "/")
                folders.remove(name)  # moved as a whole
            elif target.is_symlink() and target.is_dir():  # nothing is written through the user's link
                beside = _beside(target, source)
                moves.append((source, beside))
                report.beside.append((relative + "/", beside.relative_to(dest).as_posix() + "/"))
                folders.remove(name)
            elif not target.is_dir():
                raise DestinationError(f"{target} is a file; reproml needs a folder there")
        for name in sorted(files):
            source = here / name
            relative = source.relative_to(rendered).as_posix()
            target = dest / relative
            if not os.path.lexists(target):
                moves.append((source, target))
                report.added.append(relative)
            elif target.is_dir():
                raise DestinationError(f"{target} is a folder; reproml needs to write a file there")
            elif target.is_file() and filecmp.cmp(source, target, shallow=False):
                report.identical.append(relative)
            elif relative == ".gitignore" and target.is_file() and not target.is_symlink():
                yours = target.read_text(errors="surrogateescape")
                rules = _ignore_rules_to_add(yours, source.read_text())
                if rules:
                    start = "" if not yours or yours.endswith("\n") else "\n"
                    header = "\n# Added by reproml new --force (your rules above are unchanged)\n"
                    appends.append((target, start + header + "\n".join(rules) + "\n"))
                    report.merged[relative] = len(rules)
                else:
                    report.identical.append(relative)
            else:
                beside = _beside(target, source)
                if not beside.exists():
                    moves.append((source, beside))
                report.beside.append((relative, beside.relative_to(dest).as_posix()))
    _apply(moves, appends)
    return report


def _ignore_rules_to_add(yours: str, ours: str) -> list[str]:
    """reproml's .gitignore rules that the user's lacks, to append after every line of theirs. reproml's
    comments are left out, and so is any `!` rule, which could bring back a file the user ignores (a secrets
    file must stay out of git)."""
    have = {line.strip() for line in yours.splitlines()}
    rules = [line.strip() for line in ours.splitlines()]
    return [rule for rule in dict.fromkeys(rules) if rule and rule[0] not in "#!" and rule not in have]


def _beside(target: Path, source: Path) -> Path:
    """Where reproml's version of ``target`` goes: FILE.reproml-new, or FILE.reproml-new-2... when that name
    is taken by something else (an identical one from an earlier run is reused)."""
    candidate, number = target.with_name(target.name + NEW_SUFFIX), 2
    while os.path.lexists(candidate):
        if candidate.is_file() and filecmp.cmp(source, candidate, shallow=False):
            return candidate
        candidate, number = target.with_name(f"{target.name}{NEW_SUFFIX}-{number}"), number + 1
    return candidate


def _apply(moves: list[tuple[Path, Path]], appends: list[tuple[Path, str]]) -> None:
    """All or nothing: renames (same file system: no space needed), then appends; on any failure, undone."""
    moved: list[tuple[Path, Path]] = []
    grown: list[tuple[Path, int]] = []
    try:
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)  # only under folders that exist or moved in
            os.replace(source, target)
            moved.append((source, target))
        for target, text in appends:
            grown.append((target, target.stat().st_size))
            try:
                with open(target, "a", encoding="utf-8", newline="") as handle:
                    handle.write(text)
            except OSError as exc:  # a write error does not say which file
                exc.filename = exc.filename or str(target)
                raise
    except BaseException:
        for target, size in reversed(grown):
            os.truncate(target, size)
        for source, target in reversed(moved):
            os.replace(target, source)
        raise


def next_steps(result: NewResult, *, environ: dict[str, str] | None = None) -> str:
    """What to type next. Every path offered ends in an environment with the project's torch in it."""
    env = os.environ if environ is None else environ
    rel = os.path.relpath(result.path)
    where = rel if not rel.startswith("..") else str(result.path)
    lines = [
        f"Created {result.preset.name} project '{result.answers['project_name']}' in {where}",
        *_force_lines(result.force),
        "",
        "Next steps:",
    ]
    if result.force and result.force.beside:
        lines.append(f"  # first: merge each FILE{NEW_SUFFIX} into FILE (keep what you need), then delete it")
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


def _force_lines(report: ForceReport | None) -> list[str]:
    """What --force did, file by file where a file of the user's was concerned."""
    if report is None:
        return []
    lines = [f"--force: {len(report.added)} added, {len(report.identical)} identical left as they were"]
    for name, count in report.merged.items():
        lines.append(f"  {name}: your lines kept; {count} of reproml's rules added at the end")
    for yours, ours in report.beside:
        lines.append(f"  {yours}: yours kept; reproml's version is {ours}")
    return lines


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
        default = "A reproducible machine-learning project"
        options.description = ask("Description", default, lambda v: _check_text("--description", v))
    if options.author is None:
        options.author = ask("Author", _git_config("user.name"), lambda v: _check_text("--author", v))
    if options.email is None:
        options.email = ask("E-mail", _git_config("user.email"), lambda v: _check_text("--email", v))
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
    if options.ci is None:
        options.ci = click.prompt("CI workflow", type=click.Choice(CI_CHOICES), default="github")
    if options.pre_commit is None:
        options.pre_commit = click.confirm("pre-commit hooks (ruff, nbstripout, ...)?", default=True)
    if options.license is None:
        options.license = click.prompt("License", type=click.Choice(LICENSES), default="MIT")
    if options.lock is None:
        options.lock = click.confirm("Lock the environment now (needs the package indexes)?", default=True)
    return options
