"""Every preset x docs x framework (and every accelerator) renders the exact files, all valid."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from validate_pyproject import api as validate_api

from conftest import REPO_ROOT
from helpers import files_in, have, render_preset
from reproml import machine
from reproml.managers.pixi import SCHEMA as PIXI_SCHEMA_FILE
from reproml.presets import PRESETS

MATRIX = [(p, d, f) for p in PRESETS for d in (True, False) for f in ("torch", "none")]
ACCELERATORS = ["auto", "cpu", "cuda", "cu126", "cu130", "cu132"]
PIXI_SCHEMA = json.loads(PIXI_SCHEMA_FILE.read_text())


def expected_files(preset: str, docs: bool) -> set[str]:
    files = {
        ".copier-answers.yml", ".envrc", ".gitattributes", ".gitignore", ".vscode/settings.json", "README.md",
        "pyproject.toml", "src/cell_seg/__init__.py", "tests/test_smoke.py",
    }
    files |= {".github/workflows/ci.yml", ".pre-commit-config.yaml", "LICENSE"}  # the defaults
    if docs:
        files |= {"docs/conf.py", "docs/index.md"}
    if PRESETS[preset].manager == "uv":
        files.add(".python-version")
    if preset in ("flake-python-ml", "pythonml", "nixos-pythonml"):
        files |= {".nix/flake.nix", ".nix/packages.nix"}
    if preset in ("flake-python-ml", "pythonml"):
        overlays = ("default.nix", "newer-tools.nix", "example.nix", "README.md")
        files |= {f".nix/overlays/{f}" for f in overlays}
    return files


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool, str, str], Path]:
    out = {}
    root = tmp_path_factory.mktemp("rendered")
    for preset, docs, framework in MATRIX:
        key = (preset, docs, framework, "auto")
        out[key] = render_preset(root / "-".join(map(str, key)), preset, docs=docs, framework=framework)
    for preset in PRESETS:
        for accelerator in ACCELERATORS[1:]:
            key = (preset, True, "torch", accelerator)
            out[key] = render_preset(root / "-".join(map(str, key)), preset, accelerator=accelerator)
    return out


def test_every_combination_writes_the_exact_file_set(rendered):
    for (preset, docs, _framework, _acc), root in rendered.items():
        assert files_in(root) == expected_files(preset, docs), (preset, docs)


def test_nothing_is_left_unrendered(rendered):
    for key, root in rendered.items():
        for path in root.rglob("*"):
            if path.is_file():
                text = re.sub(r"\$\{\{ [\w.-]+ \}\}", "", path.read_text())  # GitHub expressions (ci.yml)
                assert "{{" not in text and "{%" not in text, (key, path)
                assert "[[" not in path.name and "{" not in path.name, (key, path)


def test_toml_parses_and_pyproject_is_valid(rendered):
    validator = validate_api.Validator()
    for key, root in rendered.items():
        for toml_file in root.rglob("*.toml"):
            tomllib.loads(toml_file.read_text())
        data = tomllib.loads((root / "pyproject.toml").read_text())
        validator(data)  # raises on an invalid pyproject.toml
        assert data["project"]["name"] == "cell-seg", key


def test_pixi_tables_validate_against_the_schema(rendered):
    checked = 0
    for (preset, *_), root in rendered.items():
        data = tomllib.loads((root / "pyproject.toml").read_text())
        pixi = data.get("tool", {}).get("pixi")
        assert (pixi is not None) == (PRESETS[preset].manager == "pixi"), preset
        if pixi:
            jsonschema.Draft7Validator(PIXI_SCHEMA).validate(pixi)
            assert pixi["workspace"]["platforms"] == ["linux-64", "linux-aarch64", "osx-arm64", "win-64"]
            assert set(pixi["environments"]) >= {"default", "dev"}
            checked += 1
    assert checked == 2 * 4 + 2 * 5  # 2 Pixi presets x (4 matrix cells + 5 more accelerators)


def test_a_typo_in_a_pixi_table_is_caught_by_the_schema(rendered):
    root = rendered[("global-python-ml", True, "torch", "auto")]
    pixi = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pixi"]
    pixi["workspace"]["platform"] = pixi["workspace"].pop("platforms")
    pixi["tasks"] = {"test": {"comand": "pytest"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(PIXI_SCHEMA).validate(pixi)


def test_pixi_docs_environment_and_tasks(rendered):
    with_docs_dir = rendered[("global-python-ml", True, "torch", "auto")]
    with_docs = tomllib.loads((with_docs_dir / "pyproject.toml").read_text())
    pixi = with_docs["tool"]["pixi"]
    assert pixi["feature"]["docs"]["dependencies"]["pandoc"] == "*"
    assert {"docs", "dev", "default"} <= set(pixi["environments"])
    cpu_environments = [e for e in pixi["environments"].values() if "cuda" not in e["features"]]
    assert {e["solve-group"] for e in cpu_environments} == {"default"}
    tasks = {name for feature in pixi["feature"].values() for name in feature.get("tasks", {})}
    assert tasks == {"test", "lint", "docs", "jupyter"}
    without_dir = rendered[("global-python-ml", False, "none", "auto")]
    without = tomllib.loads((without_dir / "pyproject.toml").read_text())
    assert "docs" not in without["tool"]["pixi"]["environments"]
    assert "torchvision" not in without["tool"]["pixi"]["dependencies"]


def test_gitattributes_marks_the_pixi_lock(rendered):
    text = (rendered[("flake-python-ml", True, "torch", "auto")] / ".gitattributes").read_text()
    assert "pixi.lock merge=binary linguist-language=YAML linguist-generated=true" in text


@pytest.mark.parametrize(
    ("preset", "needle"),
    [
        ("global-python-ml", 'eval "$(pixi shell-hook --environment "$REPROML_PIXI_ENV"'),
        ("flake-python-ml", "use flake ./.nix"),
        ("pythonml", "use flake ./.nix"),
        ("nixos-pythonml", "use flake ./.nix"),
        ("uv-python-ml", "uv sync --quiet $REPROML_UV_SYNC_ARGS"),
    ],
)
def test_envrc_per_preset(rendered, preset, needle):
    text = (rendered[(preset, True, "torch", "auto")] / ".envrc").read_text()
    assert needle in text
    if preset == "global-python-ml":
        assert "watch_file pixi.lock" in text
    if preset == "uv-python-ml":
        assert "use flake" not in text and "PATH_add .venv/bin" in text


@pytest.mark.skipif(not have("shellcheck"), reason="shellcheck is not installed")
def test_every_envrc_passes_shellcheck(rendered):
    envrcs = [str(root / ".envrc") for root in rendered.values()]
    done = subprocess.run(["shellcheck", "--shell=bash", *envrcs], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_same_answers_give_byte_identical_projects(tmp_path):
    for preset in PRESETS:
        first = render_preset(tmp_path / f"{preset}-1", preset)
        second = render_preset(tmp_path / f"{preset}-2", preset)
        a, b = files_in(first), files_in(second)
        assert a == b
        for rel in a:
            assert (first / rel).read_bytes() == (second / rel).read_bytes(), (preset, rel)


def pixi_tables(rendered) -> dict[tuple[str, bool, str, str], dict]:
    tables = {}
    for key, root in rendered.items():
        pixi = tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {}).get("pixi")
        if pixi:
            tables[key] = pixi
    assert len(tables) == 18
    return tables


# Nix system -> conda/Pixi platform (Nix has no Windows: win-64 is Pixi's alone).
NIX_TO_PIXI = {"x86_64-linux": "linux-64", "aarch64-linux": "linux-aarch64", "x86_64-darwin": "osx-64",
               "aarch64-darwin": "osx-arm64"}


def test_pixi_platforms_match_the_flake_systems(rendered):
    for accelerator in ACCELERATORS:
        root = rendered[("flake-python-ml", True, "torch", accelerator)]
        flake = (root / ".nix" / "flake.nix").read_text()
        found = re.search(r"\bsystems\s*=\s*\[([^\]]*)\]", flake)
        assert found, "no `systems = [ ... ]` list in the flake"
        systems = re.findall(r'"([^"]+)"', found.group(1))
        assert systems and set(systems) <= set(NIX_TO_PIXI), systems
        pixi = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pixi"]
        platforms = pixi["workspace"]["platforms"]
        assert set(platforms) - {"win-64"} == {NIX_TO_PIXI[s] for s in systems}, (systems, platforms)
        cuda = pixi.get("feature", {}).get("cuda")
        if cuda:  # conda-forge builds pytorch-gpu for these; every one must be a workspace platform
            assert cuda["platforms"] == ["linux-64", "linux-aarch64", "win-64"]
            assert set(cuda["platforms"]) <= set(platforms)


def environments_with_task(pixi: dict, task: str) -> set[str]:
    """The environments in which Pixi offers ``task``: those whose features (plus the default feature, unless
    no-default-feature) define it, in a feature's own tasks or its target tasks."""
    def defines(feature: dict) -> bool:
        targets = feature.get("target", {}).values()
        return task in feature.get("tasks", {}) or any(task in target.get("tasks", {}) for target in targets)

    features = {name: feature for name, feature in pixi.get("feature", {}).items()}
    found = set()
    for env, spec in pixi["environments"].items():
        names = spec if isinstance(spec, list) else spec.get("features", [])
        in_default = not (isinstance(spec, dict) and spec.get("no-default-feature"))
        if (in_default and defines(pixi)) or any(defines(features.get(name, {})) for name in names):
            found.add(env)
    return found


def test_every_pixi_task_name_runs_in_one_environment(rendered):
    # `pixi run TASK` asks (or fails without a terminal) when several environments offer TASK and the task
    # names no default-environment among them.
    checked = 0
    for key, pixi in pixi_tables(rendered).items():
        tasks = {name: spec for feature in [pixi, *pixi.get("feature", {}).values()]
                 for name, spec in feature.get("tasks", {}).items()}
        assert {"test", "lint"} <= set(tasks), key
        for name, spec in tasks.items():
            envs = environments_with_task(pixi, name)
            chosen = spec.get("default-environment") if isinstance(spec, dict) else None
            assert chosen in envs if chosen else len(envs) == 1, (key, name, chosen, envs)
            checked += 1
    assert checked > 18 * 2


def test_the_tasks_run_where_their_tools_are(rendered):
    pixi = pixi_tables(rendered)[("global-python-ml", True, "torch", "auto")]
    chosen = {name: spec["default-environment"]
              for feature in pixi["feature"].values() for name, spec in feature.get("tasks", {}).items()}
    assert chosen == {
        "test": "default", "lint": "dev", "docs": "docs", "jupyter": "dev"}


def ruff_requirement(data: dict, manager: str) -> Requirement:
    if manager == "uv":
        dev = data["dependency-groups"]["dev"]
    else:
        dev = data["project"]["optional-dependencies"]["dev"]
    found = [Requirement(item) for item in dev if isinstance(item, str) and Requirement(item).name == "ruff"]
    assert len(found) == 1, dev
    return found[0]


def test_generated_projects_declare_the_ruff_range_reproml_tests_them_with(rendered):
    reproml = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    ours = [Requirement(item) for item in reproml["project"]["optional-dependencies"]["test"]
            if Requirement(item).name == "ruff"]
    assert len(ours) == 1 and "99" not in ours[0].specifier, "reproml's test extra must bound ruff from above"
    for (preset, *rest), root in rendered.items():
        data = tomllib.loads((root / "pyproject.toml").read_text())
        assert ruff_requirement(data, PRESETS[preset].manager).specifier == ours[0].specifier, (preset, rest)


def test_every_generated_project_passes_its_own_ruff(rendered):
    ruff_version = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True,
                                  check=True).stdout.split()[-1]
    roots = [str(root) for root in rendered.values()]
    for (preset, *_), root in rendered.items():  # the ruff running here is one the project accepts
        data = tomllib.loads((root / "pyproject.toml").read_text())
        accepted = ruff_requirement(data, PRESETS[preset].manager).specifier
        assert Version(ruff_version) in accepted, (ruff_version, str(accepted))
        assert "select" in data["tool"]["ruff"]["lint"]
    # --no-cache: nothing written into the projects. Each file is checked with its own project's [tool.ruff].
    for command in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *command, "--no-cache", *roots],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_vscode_settings_name_no_interpreter_path(rendered):
    # A fixed path is wrong on Windows (Scripts\\python.exe; python.exe at a conda prefix) and for every
    # Pixi environment but one: the Python extension finds .venv and .pixi/envs/* itself.
    for key, root in rendered.items():
        text = (root / ".vscode" / "settings.json").read_text()
        settings = json.loads(text)
        assert "python.defaultInterpreterPath" not in settings, key
        assert not re.search(r"bin/python|Scripts|\.pixi/envs|\.venv/", text), key
        assert settings["python.testing.pytestEnabled"] is True
        assert settings["[python]"]["editor.defaultFormatter"] == "charliermarsh.ruff"


@pytest.mark.parametrize("preset", ["flake-python-ml", "pythonml", "nixos-pythonml"])
def test_nix_readmes_give_commands_that_work_on_a_stock_nix(rendered, preset):
    readme = (rendered[(preset, True, "torch", "auto")] / "README.md").read_text()
    # nix-command and flakes are off by default: the command enables them itself, and the README says how to
    # enable them for good (the same line doctor gives).
    assert "`nix --extra-experimental-features 'nix-command flakes' develop ./.nix`" in readme or (
        "\nnix --extra-experimental-features 'nix-command flakes' develop ./.nix " in readme)
    assert f"add `{machine.NIX_CONF_LINE}` to `{machine.NIX_CONF}`" in readme
    bare = [line for line in readme.splitlines() if "nix develop" in line]
    assert all("is enough" in line for line in bare), bare  # plain `nix develop` only once flakes are on
    assert "syncs" not in readme  # nix develop only activates .venv; the README names the sync command
