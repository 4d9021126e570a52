"""`reproml update`: the installed template (and changed answers) into a project, by git's three-way merge.

Design (after nf-core's template branch): every pristine render is a commit of its own, carrying the trailer
`Reproml-Render:`, whose parent is the previous pristine render. The project's first commit ("Create project
from reproml <preset>", also what reproml 0.1.0 made) is the first one. An update renders the recorded answers
with the installed template into a temporary folder, commits that tree (through a temporary index, so the
user's index and files are not touched) on top of the last render in HEAD's history, and `git merge`s it:
base = the last render, ours = HEAD, theirs = the new render. Git keeps the history, so the next update finds
its base again (offline, in any clone), and conflicts get git's own markers.

Until the merge nothing but unreachable objects is written; the merge itself runs with Ctrl-C, SIGTERM and
SIGHUP ignored and in its own session (milliseconds), so the working tree, the index and the branch are either
as they were or merged.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reproml import __version__, process, signals
from reproml.errors import MergeNeeded, ProjectError, ToolError, UsageError
from reproml.gpu import ACCELERATORS
from reproml.presets import PRESETS, get_preset
from reproml.project import ANSWERS_FILE

TRAILER = "Reproml-Render"
FIRST_SUBJECT = "Create project from reproml "  # reproml new's first commit (0.1.0 and later)
# Pristine renders are reproml's work, not the user's: the same identity on any machine.
RENDER_IDENTITY = {
    "GIT_AUTHOR_NAME": "reproml",
    "GIT_AUTHOR_EMAIL": "reproml@localhost",
    "GIT_COMMITTER_NAME": "reproml",
    "GIT_COMMITTER_EMAIL": "reproml@localhost",
}
# pyproject.toml tables whose change makes a lock file stale.
DEPENDENCY_KEYS = (
    ("project", "dependencies"),
    ("project", "optional-dependencies"),
    ("project", "requires-python"),
    ("dependency-groups",),
    ("tool", "uv"),
    ("tool", "pixi"),
)
LOCK_FILES = {"uv": "uv.lock", "pixi": "pixi.lock"}


@dataclass
class UpdateOptions:
    path: Path
    template: str | None = None
    python: str | None = None
    accelerator: str | None = None
    docs: bool | None = None
    jupyter: bool | None = None
    ci: str | None = None
    pre_commit: bool | None = None
    license: str | None = None
    check: bool = False
    dry_run: bool = False
    lock: bool = False


@dataclass
class UpdateResult:
    root: Path
    preset: str
    base: str  # the pristine render the project last took (a commit)
    base_note: str | None = None  # how the base was found when it is not a recorded render
    up_to_date: bool = False
    changed: list[str] = field(default_factory=list)  # "M path" lines: what the template side changes
    diff: str = ""  # --dry-run: what the merge would do to HEAD
    merged: str | None = None  # the merge commit
    conflicts: list[str] = field(default_factory=list)  # files with conflict markers
    kept: list[str] = field(default_factory=list)  # the template removed them; changed by the user: kept
    dropped: list[str] = field(
        default_factory=list
    )  # deleted by the user; changed by the template: stay gone
    notes: list[str] = field(default_factory=list)  # stale lock and what to run

    check: bool = False  # --check: an update waiting is exit 1
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        if self.conflicts:
            return MergeNeeded.exit_code
        return 1 if self.check and not self.up_to_date else 0


def update_project(options: UpdateOptions) -> UpdateResult:
    try:
        with signals.stopping():
            return _update(options)
    except signals.Stopped as stop:
        raise stop.as_error("the project is as it was") from None


def _update(options: UpdateOptions) -> UpdateResult:
    root = _repository_root(options.path)
    head = _git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).stdout.strip()
    if not head:
        raise ProjectError(
            f"{root} has no commit yet", hint="commit the project first: git add -A && git commit"
        )
    changes = not (options.check or options.dry_run)
    if changes:
        _refuse_unsafe_state(root)
    recorded = _committed_answers(root, head)
    base, note = _find_base(root)
    answers = _new_answers(root, recorded, base, options)
    result = UpdateResult(root, answers["preset"], base, note, check=options.check, dry_run=options.dry_run)
    if "license" not in recorded and options.license is None:
        result.notes.append(
            "no license file added: this project predates the question (add one with --license MIT)"
        )
    with tempfile.TemporaryDirectory(prefix="reproml-update-") as scratch:
        rendered = Path(scratch) / root.name
        from reproml.commands.new import render

        render(answers, rendered)
        # Lock files are the project's, not the template's: `new` puts the lock it made at creation into the
        # first commit, which is also the base, and no render has one. Carried over from the base, a lock is
        # neither deleted nor touched by the merge.
        for lock_file in LOCK_FILES.values():
            locked = _show(root, base, lock_file)
            if locked is not None:
                (rendered / lock_file).write_text(locked, encoding="utf-8")
        tree = _write_tree(root, rendered, Path(scratch) / "index")
    if tree == _git(root, "rev-parse", f"{base}^{{tree}}").stdout.strip():
        result.up_to_date = True
        return result
    render_commit = _commit_render(root, tree, base, answers)
    result.changed = _git(
        root, "diff", "--name-status", "--no-renames", base, render_commit
    ).stdout.splitlines()
    if options.check:
        return result
    if options.dry_run:
        result.diff, conflicts = _preview(root, head, render_commit)
        if conflicts:  # nothing is written: they are notes, not a merge left to do
            result.notes.append(f"the merge would leave conflict markers in: {', '.join(conflicts)}")
        return result
    _refuse_untracked_in_the_way(root, head, render_commit)
    old_pyproject = _show(root, head, "pyproject.toml")
    with signals.ignored():  # git's merge (in its own session) is never cut half-way
        _merge(root, render_commit, answers, result)
    result.notes.extend(_lock_notes(root, old_pyproject, recorded, answers, run_lock=options.lock))
    return result


# ----------------------------------------------------------------------------------------------------------
# git


def _git(root: Path, *args: str, check: bool = True, **kwargs: Any) -> process.Completed:
    return process.run(["git", *args], cwd=root, timeout=120, check=check, **kwargs)


def _repository_root(path: Path) -> Path:
    start = Path(os.path.abspath(Path(path).expanduser()))
    if not start.is_dir():
        raise ProjectError(f"{start} is not a folder")
    done = process.run(["git", "rev-parse", "--show-toplevel"], cwd=start, check=False, timeout=30)
    if not done.ok:
        raise ProjectError(
            f"{start} is not in a git repository",
            hint="update merges with git: run `git init && git add -A && git commit -m 'Start'` first",
        )
    root = Path(done.stdout.strip())
    if (start / ANSWERS_FILE).is_file() and start.resolve() != root.resolve():
        raise ProjectError(
            f"{start} is inside the git repository {root}: update merges whole repositories",
            hint="give the project a repository of its own: git init in it",
        )
    if not (root / ANSWERS_FILE).is_file():
        raise ProjectError(
            f"{root} has no {ANSWERS_FILE}: it was not made by reproml, or not at its top folder"
        )
    return root


def _refuse_unsafe_state(root: Path) -> None:
    for state in ("MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD"):
        if _git(root, "rev-parse", "-q", "--verify", state, check=False).ok:
            raise ProjectError(
                f"a git operation is in progress in {root} ({state})",
                hint="finish it (git commit) or abort it (git merge --abort) first",
            )
    status = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    if status:
        raise ProjectError(
            f"{root} has {len(status)} uncommitted change{'s' if len(status) > 1 else ''}",
            hint="commit or stash them first, so that the update cannot lose any: `git status` lists them",
        )


def _refuse_untracked_in_the_way(root: Path, head: str, render_commit: str) -> None:
    """git merge would refuse to overwrite them, with a message naming git's internals; say it plainly."""
    added = _git(root, "diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", head, render_commit)
    in_the_way = [name for name in added.stdout.split("\0") if name and os.path.lexists(root / name)]
    if in_the_way:
        raise ProjectError(
            f"files that are not in git are where the template puts its own: {', '.join(in_the_way)}",
            hint="move them away or commit them first",
        )


def _show(root: Path, commit: str, path: str) -> str | None:
    done = _git(root, "show", f"{commit}:{path}", check=False)
    return done.stdout if done.ok else None


def _committed_answers(root: Path, head: str) -> dict[str, Any]:
    import yaml

    text = _show(root, head, ANSWERS_FILE)
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        raise ProjectError(f"cannot read the committed {ANSWERS_FILE}: {exc}") from None
    if not isinstance(data, dict) or "preset" not in data:
        raise ProjectError(f"the committed {ANSWERS_FILE} holds no answers", hint="commit it first")
    return data


def _find_base(root: Path) -> tuple[str, str | None]:
    """The last pristine render in HEAD's history: a commit with the render trailer, or the first commit of
    `reproml new`. Failing both (made with --no-git, or --force into a repository), the commit that added the
    answers file: the user's files of that moment count as the template's."""
    found = _git(
        root,
        "rev-list",
        "-1",
        "--topo-order",
        "-E",
        f"--grep=^{TRAILER}: ",
        f"--grep=^{FIRST_SUBJECT}[a-z-]+$",
        "HEAD",
    ).stdout.strip()
    if found:
        return found, None
    added = _git(root, "log", "--format=%H", "--diff-filter=A", "HEAD", "--", ANSWERS_FILE).stdout.split()
    if not added:
        raise ProjectError(f"no commit in {root}'s history holds a render of reproml's template")
    return added[-1], (
        f"no pristine render recorded: the commit that added {ANSWERS_FILE} ({added[-1][:10]}) is the base, "
        "so differences between your files and the template then may show as conflicts"
    )


def _write_tree(root: Path, folder: Path, index: Path) -> str:
    """The render as a git tree, through a temporary index: the user's index and files are not touched."""
    git_dir = _git(root, "rev-parse", "--absolute-git-dir").stdout.strip()
    env = {"GIT_DIR": git_dir, "GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(folder)}
    _git(folder, "add", "-A", ".", extra_env=env)  # run inside the render: "." is all of it
    return _git(folder, "write-tree", extra_env=env).stdout.strip()


def _commit_render(root: Path, tree: str, base: str, answers: dict[str, Any]) -> str:
    message = (
        f"Render reproml {answers['preset']} (reproml {__version__})\n\n"
        f"The template's files as reproml renders them, merged by `reproml update`.\n\n"
        f"{TRAILER}: {answers['preset']} {__version__}\n"
    )
    return _git(
        root, "commit-tree", "--no-gpg-sign", tree, "-p", base, input_text=message, extra_env=RENDER_IDENTITY
    ).stdout.strip()


def _preview(root: Path, head: str, render_commit: str) -> tuple[str, list[str]]:
    """What the merge would change in HEAD, merged in git's object store (git >= 2.38): no file moves."""
    done = _git(
        root, "merge-tree", "--write-tree", "--name-only", "--no-messages", head, render_commit, check=False
    )
    if done.returncode not in (0, 1) or not done.stdout.strip():  # an older git: the template's own change
        base = _git(root, "merge-base", head, render_commit).stdout.strip()
        return _git(root, "diff", base, render_commit).stdout, []
    lines = done.stdout.splitlines()
    conflicts = [line for line in lines[1:] if line]
    return _git(root, "diff", head, lines[0]).stdout, conflicts


def _merge(root: Path, render_commit: str, answers: dict[str, Any], result: UpdateResult) -> None:
    message = f"Update from reproml {__version__} ({answers['preset']})"
    identity = _identity(root, answers)
    done = _git(
        root,
        "merge",
        "--no-ff",
        "--no-verify",
        "--no-edit",
        "-m",
        message,
        render_commit,
        check=False,
        new_session=True,
        extra_env=identity,
    )
    stages = _unmerged(root)
    if not done.ok and not stages:  # refused before touching anything (an untracked file in the way...)
        raise ToolError(f"git merge failed: {process.last_line(done.stderr or done.stdout)}")
    for path, present in sorted(stages.items()):
        if 2 not in present and 3 in present:  # deleted by the user, changed by the template: stays deleted
            _git(root, "rm", "-q", "--", path)
            result.dropped.append(path)
        elif 2 in present and 3 not in present:  # removed by the template, changed by the user: kept
            _git(root, "add", "--", path)
            result.kept.append(path)
        else:
            result.conflicts.append(path)
    if stages and not result.conflicts:
        _git(root, "commit", "--no-verify", "--no-edit", new_session=True, extra_env=identity)
    if not result.conflicts:
        result.merged = _git(root, "rev-parse", "HEAD").stdout.strip()


def _unmerged(root: Path) -> dict[str, set[int]]:
    stages: dict[str, set[int]] = {}
    for line in _git(root, "ls-files", "-u", "-z").stdout.split("\0"):
        if line:
            info, path = line.split("\t", 1)
            stages.setdefault(path, set()).add(int(info.split()[2]))
    return stages


def _identity(root: Path, answers: dict[str, Any]) -> dict[str, str]:
    """git needs a name and an e-mail to commit; the project's author (or reproml's) if git has none."""
    from reproml.commands.new import FALLBACK_IDENTITY

    identity = {}
    if not _git(root, "config", "user.name", check=False).stdout.strip():
        identity["GIT_AUTHOR_NAME"] = identity["GIT_COMMITTER_NAME"] = (
            answers.get("author_name") or FALLBACK_IDENTITY[0]
        )
    if not _git(root, "config", "user.email", check=False).stdout.strip():
        identity["GIT_AUTHOR_EMAIL"] = identity["GIT_COMMITTER_EMAIL"] = (
            answers.get("author_email") or FALLBACK_IDENTITY[1]
        )
    return identity


# ----------------------------------------------------------------------------------------------------------
# answers


def _new_answers(root: Path, recorded: dict[str, Any], base: str, options: UpdateOptions) -> dict[str, Any]:
    """The recorded answers with the changes asked for, validated; a switch that cannot work is refused."""
    from reproml.commands.new import CI_CHOICES, LICENSES, PYTHON_VERSIONS

    answers = {key: value for key, value in recorded.items() if not str(key).startswith("_")}
    old = PRESETS.get(str(answers["preset"]))
    if old is None:
        raise ProjectError(f"{ANSWERS_FILE} names no known preset: {answers['preset']!r}")
    if options.template is not None:
        new = get_preset(options.template)
        if new.name != old.name:
            if new.deprecated:
                raise UsageError(
                    f"cannot switch to {new.name}: it is deprecated and works on NixOS only",
                    hint="flake-python-ml or pythonml give Nix without it",
                )
            if old.manager == "pixi" and new.manager == "uv":
                _refuse_conda_only(root, base)
        answers["preset"] = new.name
    if options.python is not None:
        if options.python not in PYTHON_VERSIONS:
            raise UsageError(
                f"unsupported --python '{options.python}'", hint=f"use one of {', '.join(PYTHON_VERSIONS)}"
            )
        answers["python_version"] = options.python
    if options.accelerator is not None:
        if answers.get("framework") != "torch":
            raise UsageError("--accelerator does not apply: this project has no PyTorch (framework none)")
        if options.accelerator not in ACCELERATORS:
            raise UsageError(
                f"unknown --accelerator '{options.accelerator}'", hint=f"use one of {', '.join(ACCELERATORS)}"
            )
        answers["accelerator"] = options.accelerator
    elif answers.get("framework") == "torch" and answers.get("accelerator", "auto") not in ACCELERATORS:
        raise UsageError(
            f"the project asks for accelerator {answers['accelerator']!r}, which reproml no longer offers",
            hint="choose one with --accelerator: " + ", ".join(ACCELERATORS),
        )
    for key in ("docs", "jupyter", "pre_commit"):
        if getattr(options, key) is not None:
            answers[key] = getattr(options, key)
    if options.ci is not None:
        if options.ci not in CI_CHOICES:
            raise UsageError(f"unknown --ci '{options.ci}'", hint="use github or none")
        answers["ci"] = options.ci
    # Licensing is the owner's decision: a project made before reproml asked keeps having no license file
    # until one is asked for (`--license MIT`), never the question's default.
    answers.setdefault("license", "none")
    if options.license is not None:
        if options.license not in LICENSES:
            raise UsageError(
                f"unknown --license '{options.license}'", hint=f"use one of {', '.join(LICENSES)}"
            )
        answers["license"] = options.license
    if answers["license"] != "none" and not answers.get("copyright_year"):
        answers["copyright_year"] = str(datetime.date.today().year)
    return answers


def _refuse_conda_only(root: Path, base: str) -> None:
    """uv installs PyPI packages only: conda packages the user added to a Pixi project would be lost."""
    ours = _pixi_packages(_show(root, "HEAD", "pyproject.toml"))
    theirs = _pixi_packages(_show(root, base, "pyproject.toml"))
    added = sorted(ours - theirs)
    if added:
        raise UsageError(
            f"cannot switch to a uv preset: uv cannot install conda packages you added ({', '.join(added)})",
            hint="move them to [project.dependencies] under their PyPI names first, or keep a Pixi preset",
        )


def _pixi_packages(text: str | None) -> set[str]:
    pixi = _toml(text).get("tool", {}).get("pixi", {})
    tables = [pixi.get("dependencies", {})]
    tables += [feature.get("dependencies", {}) for feature in pixi.get("feature", {}).values()]
    return {name for table in tables for name in table}


def _toml(text: str | None) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return {}


# ----------------------------------------------------------------------------------------------------------
# locks


def _dependencies(text: str | None) -> list[Any]:
    data = _toml(text)
    found = []
    for keys in DEPENDENCY_KEYS:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        found.append(value)
    return found


def _lock_notes(
    root: Path,
    old_pyproject: str | None,
    recorded: dict[str, Any],
    answers: dict[str, Any],
    *,
    run_lock: bool,
) -> list[str]:
    """After a merge that changed what the environment needs: which lock is stale and what refreshes it."""
    manager = PRESETS[answers["preset"]].manager
    old_manager = PRESETS[str(recorded["preset"])].manager
    notes = []
    old_lock = LOCK_FILES[old_manager]
    if old_manager != manager and (root / old_lock).exists():
        notes.append(
            f"{old_lock} belongs to {old_manager}, which the project no longer uses: `git rm {old_lock}`"
        )
    pyproject = root / "pyproject.toml"
    new_text = pyproject.read_text(encoding="utf-8", errors="replace") if pyproject.is_file() else None
    lock = LOCK_FILES[manager]
    if _dependencies(old_pyproject) == _dependencies(new_text) and old_manager == manager:
        return notes
    command = f"{manager} lock"
    if not (root / lock).exists():  # never locked: nothing is stale (doctor says how to lock)
        return notes
    if not run_lock:
        notes.append(
            f"the merge changed the project's dependencies: {lock} is stale; run `{command}`, commit it"
        )
        return notes
    tool = _lock_tool(manager)
    if tool is None:
        notes.append(f"{lock} is stale and {manager} is not on PATH: run `{command}` where it is")
        return notes
    from reproml.commands.new import LOCK_TIMEOUT

    done = process.run([tool, "lock"], cwd=root, timeout=LOCK_TIMEOUT, check=False)
    if done.ok:
        notes.append(f"{lock} refreshed with `{command}`: review and commit it")
    else:
        why = process.last_line(done.stderr or done.stdout)
        notes.append(
            f"{lock} is stale and `{command}` failed ({why}): run it again when the indexes are reachable"
        )
    return notes


def _lock_tool(manager: str) -> str | None:
    if manager == "pixi":
        return process.which("pixi")
    from reproml.tools import uv_executable

    return uv_executable()


# ----------------------------------------------------------------------------------------------------------
# output


def render_result(result: UpdateResult) -> None:
    import click

    def say(text: str) -> None:
        click.echo(f"reproml: {text}", err=True)

    if result.base_note:
        say(f"note: {result.base_note}")
    template = f"reproml {__version__}'s {result.preset} template"
    if result.up_to_date:
        say(f"up to date with {template}")
        return
    if result.check:
        say(
            f"an update is waiting: {template} changes {len(result.changed)} files (reproml update --dry-run)"
        )
        return
    if result.dry_run:
        click.echo(result.diff, nl=False)
        for note in result.notes:
            say(note)
        say(f"dry run: nothing changed; {template} changes {len(result.changed)} files")
        return
    for path in result.kept:
        say(f"{path}: the template no longer has it; yours is kept (you changed it)")
    for path in result.dropped:
        say(f"{path}: you deleted it; it stays deleted (the template changed it)")
    for path in result.conflicts:
        say(f"CONFLICT {path}")
    for note in result.notes:
        say(note)
    if result.conflicts:
        say(
            f"{len(result.conflicts)} file(s) in conflict: fix the marked lines, `git add` them, git commit "
            "(or `git merge --abort` to undo)"
        )
    else:
        say(f"merged {template} ({len(result.changed)} files) in commit {result.merged[:10]}")
