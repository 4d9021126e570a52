"""What reproml knows about an existing project: found through copier's answers file, else through its
manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reproml.errors import ProjectError

if TYPE_CHECKING:
    from reproml.presets import Preset

ANSWERS_FILE = ".copier-answers.yml"
# Project-local state (Jupyter server state and logs, ...). The generated .gitignore ignores it.
STATE_DIR = ".reproml"
# The copier template shipped with reproml (copier.yml and the project's *.jinja files).
TEMPLATE_DIR = Path(__file__).resolve().parent / "template"


@dataclass(frozen=True)
class Project:
    root: Path
    manager: str  # "pixi" or "uv"
    preset: Preset | None  # None for a project reproml did not create
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    def python_executable(self) -> Path:
        """The interpreter of the project's development environment (it may not exist yet)."""
        if self.manager == "pixi":
            return _env_python(self.root / ".pixi" / "envs" / "dev")
        return _env_python(self.root / ".venv")


def _env_python(prefix: Path) -> Path:
    # conda-style prefixes keep python at the top on Windows, venvs under Scripts/.
    for candidate in (prefix / "bin" / "python", prefix / "Scripts" / "python.exe", prefix / "python.exe"):
        if candidate.exists():
            return candidate
    return prefix / "bin" / "python"


def read_answers(root: Path) -> dict[str, Any]:
    import yaml  # copier depends on PyYAML; imported here to keep start-up fast

    try:
        data = yaml.safe_load((root / ANSWERS_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProjectError(f"cannot read {root / ANSWERS_FILE}: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{root / ANSWERS_FILE} is not a mapping of answers")
    return data


def template_digest(template_dir: Path = TEMPLATE_DIR) -> str:
    """A fingerprint of the template's files (names and bytes): recorded in each project's answers, so that
    `doctor` can tell an update is waiting without rendering anything."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in template_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(template_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def make_answers_portable(folder: Path, digest: str) -> None:
    """Rewrite a fresh render's answers file without copier's absolute `_src_path` (a path of the machine that
    rendered it) and with the reproml version and template digest that rendered it, first."""
    import yaml

    from reproml import __version__

    path = folder / ANSWERS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(True)
    header = "".join(line for line in lines if line.startswith("#"))
    answers = {key: value for key, value in read_answers(folder).items() if not key.startswith("_")}
    recorded = {"_reproml_version": __version__, "_template_digest": digest, **answers}
    body = yaml.safe_dump(recorded, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(header + body, encoding="utf-8")


def find_project(path: str | Path = ".") -> Project:
    """The project containing ``path`` (it or a parent): reproml's answers file first, then the manifest."""
    start = Path(path).expanduser().resolve()
    if not start.exists():
        raise ProjectError(f"{start} does not exist")
    for folder in (start, *start.parents):
        if (folder / ANSWERS_FILE).is_file():
            from reproml.presets import PRESETS  # here, not at the top: `jupyter status` starts fast

            answers = read_answers(folder)
            preset = PRESETS.get(str(answers.get("preset", "")))
            if preset is None:
                raise ProjectError(
                    f"{folder / ANSWERS_FILE} names no known preset: {answers.get('preset')!r}")
            return Project(folder, preset.manager, preset, answers)
        manager = _manager_from_manifest(folder)
        if manager:
            return Project(folder, manager, None)
    raise ProjectError(
        f"{start} is not inside a Python project (no {ANSWERS_FILE}, pixi.toml or pyproject.toml)")


def _manager_from_manifest(folder: Path) -> str | None:
    if (folder / "pixi.toml").is_file():
        return "pixi"
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    import tomllib

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot parse {pyproject}: {exc}") from None
    return "pixi" if "pixi" in data.get("tool", {}) else "uv"
