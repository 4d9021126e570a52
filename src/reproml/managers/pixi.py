"""Pixi projects (pyproject.toml's [tool.pixi], or a pixi.toml): conda-forge packages by default, `--pypi`
for PyPI, `--group NAME` for a feature. The PyTorch family goes where torch is: the `cpu` feature
(pytorch-cpu) and the `cuda` feature (pytorch-gpu), never from PyPI next to conda-forge's torch.

With pixi on PATH, `pixi add` / `pixi remove` do the work (and lock). Without it, the manifest is edited with
tomlkit (comments and layout kept) and validated against Pixi's own JSON schema (v0.77.0, shipped in
reproml/schemas) before it is written; `pixi lock` is then left to the user. The schema is checked at run
time, not only in tests, because a user's hand-made feature name or table can be wrong too, and a manifest
pixi refuses later is worse than one line now.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reproml import process
from reproml.errors import ProjectError, ToolError, UsageError
from reproml.managers import Outcome, in_torch_family, normalize, split_requirement, write_text
from reproml.project import Project

if TYPE_CHECKING:
    from reproml.commands.add import ChangeOptions

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "pixi-manifest-v0.77.0.schema.json"
# The features torch lives in (pyproject.toml.jinja): pytorch-cpu in `cpu`, pytorch-gpu in `cuda`.
TORCH_FEATURES = ("cpu", "cuda")
FEATURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
PIXI_TIMEOUT = 900.0  # pixi add solves every environment and installs


def add(project: Project, options: ChangeOptions) -> Outcome:
    return _change(project, options, adding=True)


def remove(project: Project, options: ChangeOptions) -> Outcome:
    return _change(project, options, adding=False)


def _change(project: Project, options: ChangeOptions, *, adding: bool) -> Outcome:
    pixi_table = _pixi_part(_load(project), _manifest(project))
    group = None if options.group in (None, "default") else options.group
    if group is not None and not FEATURE_NAME.fullmatch(group):
        raise UsageError(f"not a Pixi feature name: {group!r} (letters, digits, - and _)")
    features = [f for f in TORCH_FEATURES if f in pixi_table.get("feature", {})]
    family = [s for s in options.packages if "cpu" in features and in_torch_family(s)]
    for spec in family:
        name = normalize(split_requirement(spec)[0])
        if name in ("torch", "pytorch"):
            raise UsageError("torch is here already: pytorch-cpu (feature cpu), pytorch-gpu (feature cuda)")
    if family and options.pypi:
        raise UsageError(f"{', '.join(family)} from PyPI would mix with conda-forge's torch: drop --pypi")
    if family and group:
        raise UsageError(f"the PyTorch family follows torch (features {', '.join(features)}); "
                         "--group does not apply to it")
    others = [s for s in options.packages if s not in family]
    kind = "pypi-dependencies" if options.pypi else "dependencies"
    # (feature or None for the project's own, table kind, specs)
    moves = [(group, kind, others)] if others else []
    moves += [(feature, "dependencies", family) for feature in features if family]
    pixi = process.which("pixi")
    outcome = Outcome()
    if pixi:
        _check_lock_fresh(project, pixi)
        for feature, table_kind, specs in moves:
            _run_pixi(project, pixi, adding, feature, table_kind, specs, dry_run=options.dry_run)
    else:
        _edit_manifest(project, moves, adding=adding)
        outcome.notes.append("pixi is not installed here: run `pixi lock` (pixi.lock is stale until then)")
    verb = "added to" if adding else "removed from"
    for feature, table_kind, specs in moves:
        where = f"feature {feature}" if feature else "the project"
        outcome.done.append(f"{', '.join(specs)}: {verb} {where} ({table_kind})")
    if adding and group and group not in _environment_features(pixi_table):
        outcome.notes.append(f"feature {group} is in no environment yet: add it to [tool.pixi.environments]")
    return outcome


def _manifest(project: Project) -> Path:
    """pixi.toml where the project has one (pixi prefers it too), else pyproject.toml."""
    pixi_toml = project.root / "pixi.toml"
    return pixi_toml if pixi_toml.is_file() else project.pyproject


def _pixi_part(document: Any, manifest: Path) -> Any:
    """The table that holds Pixi's settings: all of pixi.toml, or [tool.pixi] of pyproject.toml."""
    if manifest.name == "pixi.toml":
        return document
    pixi = document.get("tool", {}).get("pixi")
    if pixi is None:
        raise ProjectError(f"{manifest} has no [tool.pixi] table")
    return pixi


def _load(project: Project) -> dict[str, Any]:
    manifest = _manifest(project)
    try:
        return tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot parse {manifest}: {exc}") from None


def _environment_features(pixi_table: dict[str, Any]) -> set[str]:
    features: set[str] = set()
    for environment in pixi_table.get("environments", {}).values():
        listed = environment.get("features", []) if isinstance(environment, dict) else environment
        features.update(listed)
    return features


# ------------------------------------------------------------------------------------------------ with pixi


def _check_lock_fresh(project: Project, pixi: str) -> None:
    if not (project.root / "pixi.lock").is_file():
        return
    done = process.run([pixi, "lock", "--check", "--manifest-path", _manifest(project)], cwd=project.root,
                       timeout=PIXI_TIMEOUT, check=False)
    if done.ok or "unexpected argument" in done.stderr:  # a pixi without `lock --check`: nothing to tell
        return
    raise ProjectError(f"pixi.lock was already out of date with {_manifest(project).name} before this change",
                       hint="run `pixi lock` and review what it changes first")


def _run_pixi(project: Project, pixi: str, adding: bool, feature: str | None, kind: str, specs: list[str],
              *, dry_run: bool) -> None:
    args = [pixi, "add" if adding else "remove", "--manifest-path", str(_manifest(project))]
    args += ["--pypi"] if kind == "pypi-dependencies" else []
    args += ["--feature", feature] if feature else []
    args += ["--no-install"] if dry_run else []
    done = process.run([*args, *specs], cwd=project.root, timeout=PIXI_TIMEOUT, check=False)
    if not done.ok:
        raise ToolError(f"pixi {args[1]} failed, nothing was changed: "
                        f"{process.last_line(done.stderr or done.stdout)}")


# --------------------------------------------------------------------------------------------- without pixi


def _edit_manifest(project: Project, moves: list[tuple[str | None, str, list[str]]], *, adding: bool) -> None:
    import tomlkit  # only here: other commands start without it

    manifest = _manifest(project)
    text = manifest.read_text(encoding="utf-8")
    _validate(manifest, tomllib.loads(text), "is not valid already")
    document = tomlkit.parse(text)
    pixi = _pixi_part(document, manifest)
    for feature, kind, specs in moves:
        for spec in specs:
            name, rest = split_requirement(spec)
            if adding:
                _set_after_last_key(_table(pixi, feature, kind, create=True), name, _value(spec, rest, kind))
                continue
            table = _table(pixi, feature, kind, create=False)
            keys = [key for key in (table or {}) if normalize(key) == normalize(name)]
            if not keys:
                where = f"tool.pixi.feature.{feature}.{kind}" if feature else f"tool.pixi.{kind}"
                raise UsageError(f"{name} is not in [{where}]")
            del table[keys[0]]
            if feature and not table:  # a feature's table this removal emptied goes, and then the feature
                del pixi["feature"][feature][kind]
                if not pixi["feature"][feature]:
                    del pixi["feature"][feature]
    new_text = tomlkit.dumps(document)
    _validate(manifest, tomllib.loads(new_text), "would not be valid")
    write_text(manifest, new_text)


def _table(pixi: Any, feature: str | None, kind: str, *, create: bool) -> Any:
    import tomlkit

    parent = pixi
    if feature:
        features = pixi.get("feature")
        if features is None:
            if not create:
                return None
            features = pixi["feature"] = tomlkit.table(is_super_table=True)
        if feature not in features:
            if not create:
                return None
            features[feature] = tomlkit.table(is_super_table=True)
            features[feature].trivia.indent = ""
        parent = features[feature]
    if kind not in parent:
        if not create:
            return None
        parent[kind] = tomlkit.table()
        parent[kind].trivia.indent = ""  # the table before ends with a blank line already
        parent[kind].add(tomlkit.nl())  # a blank line before the next table, as in the rest of the file
    return parent[kind]


def _set_after_last_key(table: Any, name: str, value: Any) -> None:
    """Add ``name`` right below the table's last entry: tomlkit's plain append would put it after the comment
    lines that introduce the next table, which it counts as this table's."""
    if name in table:
        table[name] = value
        return
    keys = list(table)
    if keys:  # tomlkit has no public insert-at
        table.value._insert_after(keys[-1], name, value)
    else:
        table.value._insert_at(0, name, value)


def _value(spec: str, rest: str, kind: str) -> Any:
    """What Pixi's manifest holds for a requirement: a version spec ("*": any), for PyPI extras a table."""
    if ";" in rest:
        raise UsageError(f"{spec}: environment markers are not Pixi's way (use a target table, by hand)")
    if kind == "dependencies":
        if rest.startswith("["):
            raise UsageError(f"{spec}: conda packages have no extras (did you mean --pypi?)")
        return rest or "*"
    extras = re.match(r"\[([^\]]*)\]\s*(.*)", rest)
    if not extras:
        return rest or "*"
    import tomlkit

    value = tomlkit.inline_table()
    value["version"] = extras[2].strip() or "*"
    value["extras"] = [e.strip() for e in extras[1].split(",") if e.strip()]
    return value


@functools.cache
def _schema_validator() -> Any:
    import jsonschema  # only here: its import costs about 100 ms

    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def _validate(manifest: Path, data: dict[str, Any], state: str) -> None:
    """Pixi's settings against its JSON schema (the pixi.toml form, which [tool.pixi] mirrors)."""
    errors = sorted(_schema_validator().iter_errors(_pixi_part(data, manifest)), key=lambda e: list(e.path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path)
        what = "pixi.toml" if manifest.name == "pixi.toml" else "pyproject.toml [tool.pixi]"
        raise ProjectError(f"{what} {state}: {where or 'top'}: {errors[0].message}")
