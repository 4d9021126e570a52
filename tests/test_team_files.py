"""What a team needs on day one, per preset: the GitHub Actions workflow (schema, zizmor, pins, permissions,
matrix, lock), the pre-commit configuration, the LICENSE and its SPDX field, and the answers file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.version import Version
from validate_pyproject import api as validate_api

from conftest import REPO_ROOT
from helpers import files_in, render_preset
from reproml.cli import LICENSE_CHOICES, app
from reproml.commands.new import LICENSES, NewOptions, build_answers, render
from reproml.presets import PRESETS, get_preset

NIX_PRESETS = {"flake-python-ml", "pythonml", "nixos-pythonml"}
# (docs, framework, accelerator) per preset: the CPU-extra case, a fixed CUDA build, no torch and no docs.
VARIANTS = [(True, "torch", "auto"), (True, "torch", "cu130"), (False, "none", None)]
# Hand-written from each action's release tag (git rev-parse TAG^{} in the action's repository).
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "astral-sh/setup-uv": ("20cfd1bf945f4377ade1205e4dbc17946fc9a30d", "v10.0.1"),
    "prefix-dev/setup-pixi": ("5185adfbffb4bd703da3010310260805d89ebb11", "v0.9.6"),
    "cachix/install-nix-action": ("630ae543ea3a38a9a4166f03376c02c50f408342", "v31.11.0"),
}
WORKFLOW = ".github/workflows/ci.yml"


def tool(name: str) -> str:
    """A command-line tool of the test extra: the venv's own, else PATH's."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool, str, str | None], Path]:
    root = tmp_path_factory.mktemp("team")
    out = {}
    for preset in PRESETS:
        for docs, framework, accelerator in VARIANTS:
            key = (preset, docs, framework, accelerator)
            options = {"accelerator": accelerator} if accelerator else {}
            out[key] = render_preset(root / "-".join(map(str, key)), preset, docs=docs, framework=framework,
                                     **options)
    return out


def workflow(project: Path) -> dict:
    return yaml.safe_load((project / WORKFLOW).read_text())


def steps_of(job: dict) -> tuple[list[str], list[dict]]:
    runs = [step["run"] for step in job["steps"] if "run" in step]
    uses = [step for step in job["steps"] if "uses" in step]
    return runs, uses


# ---------------------------------------------------------------------------------------------------- CI


def test_every_workflow_passes_the_github_schema_and_zizmor(projects):
    paths = [str(project / WORKFLOW) for project in projects.values()]
    assert len(paths) == len(PRESETS) * len(VARIANTS)
    schema = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *paths],
                            capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout[-3000:] + schema.stderr[-2000:]
    # The pedantic persona: also the findings zizmor keeps quiet by default (none are acceptable here).
    audit = subprocess.run([tool("zizmor"), "--offline", "--no-progress", "--persona=pedantic", *paths],
                           capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-2000:]


def test_schema_and_zizmor_catch_a_broken_workflow(projects, tmp_path):
    # The two checks above are only worth something if they fail on what they guard against.
    text = (projects[("uv-python-ml", True, "torch", "auto")] / WORKFLOW).read_text()
    no_runner = tmp_path / "no-runner.yml"
    no_runner.write_text(text.replace("runs-on:", "runs_on:"))
    schema = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             str(no_runner)], capture_output=True, text=True, timeout=120)
    assert schema.returncode != 0
    unpinned = tmp_path / "unpinned.yml"
    unpinned.write_text(re.sub(r"astral-sh/setup-uv@[0-9a-f]{40}", "astral-sh/setup-uv@v10", text))
    audit = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(unpinned)], capture_output=True,
                           text=True, timeout=120)
    assert audit.returncode != 0 and "unpinned" in audit.stdout + audit.stderr


def test_actions_are_pinned_to_full_shas_with_the_release_in_a_comment(projects):
    used = set()
    for key, project in projects.items():
        for line in (project / WORKFLOW).read_text().splitlines():
            if "uses:" not in line:
                continue
            found = re.fullmatch(r"\s*- uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)", line)
            assert found, (key, line)
            action, sha, version = found.groups()
            assert PINS[action] == (sha, version), (key, line)
            used.add(action)
    assert used == set(PINS)


def test_least_privilege_and_no_untrusted_triggers(projects):
    for key, project in projects.items():
        data = workflow(project)
        triggers = data[True]  # YAML 1.1 reads the key `on` as True
        assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}, key
        assert "pull_request_target" not in (project / WORKFLOW).read_text(), key
        assert data["permissions"] == {"contents": "read"}, key
        for job in data["jobs"].values():
            assert "permissions" not in job, key  # nothing widens the workflow's read-only token
            checkout = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
            assert checkout and checkout[0]["with"] == {"persist-credentials": False}, key


def test_the_jobs_cover_linux_macos_windows_and_nix_where_the_preset_has_it(projects):
    for (preset, *_), project in projects.items():
        jobs = workflow(project)["jobs"]
        others = jobs.get("test", {}).get("strategy", {}).get("matrix", {}).get("os", [])
        if preset not in NIX_PRESETS:
            assert set(jobs) == {"test"}, preset
            assert others == ["ubuntu-latest", "macos-latest", "windows-latest"], preset
            continue
        nix = jobs["nix"]
        assert nix["runs-on"] == "ubuntu-latest"
        runs, uses = steps_of(nix)
        installer = [s for s in uses if s["uses"].startswith("cachix/install-nix-action@")]
        assert installer and "flakes" in installer[0]["with"]["extra_nix_config"], preset
        assert runs and all(r.startswith("nix develop ./.nix --command ") for r in runs), (preset, runs)
        # nixos-pythonml is NixOS-only; the other Nix presets run their path without Nix on macOS and Windows.
        assert others == ([] if preset == "nixos-pythonml" else ["macos-latest", "windows-latest"]), preset


def checks(project: Path) -> list[list[str]]:
    """The run steps of each job, with the Nix wrapper taken off."""
    return [[r.removeprefix("nix develop ./.nix --command ") for r in steps_of(job)[0]]
            for job in workflow(project)["jobs"].values()]


def test_uv_jobs_install_the_locked_cpu_build_and_run_tests_lint_and_docs(projects):
    for (preset, docs, framework, accelerator), project in projects.items():
        if PRESETS[preset].manager != "uv":
            continue
        for job, runs in zip(workflow(project)["jobs"].values(), checks(project), strict=True):
            setup = [s for s in job["steps"] if s.get("uses", "").startswith("astral-sh/setup-uv@")]
            assert setup and setup[0]["with"]["enable-cache"] is True, preset
            # auto projects carry torch in extras: the CPU one on runners without a GPU.
            cpu_extra = framework == "torch" and accelerator == "auto"
            expected = ["uv sync --locked" + (" --extra cpu" if cpu_extra else ""), "uv run --locked pytest",
                        "uv run --locked ruff check", "uv run --locked ruff format --check"]
            if docs:
                expected.append("uv run --locked sphinx-build -M html docs docs/_build")
            assert runs == expected, (preset, docs, framework, accelerator, runs)


def test_pixi_jobs_install_from_the_lock_with_a_cache_and_run_the_tasks(projects):
    for (preset, docs, *_), project in projects.items():
        if PRESETS[preset].manager != "pixi":
            continue
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        tasks = {n for f in pyproject["tool"]["pixi"]["feature"].values() for n in f.get("tasks", {})}
        for job, runs in zip(workflow(project)["jobs"].values(), checks(project), strict=True):
            setup = [s["with"] for s in job["steps"]
                     if s.get("uses", "").startswith("prefix-dev/setup-pixi@")]
            assert setup and setup[0]["locked"] is True and setup[0]["cache"] is True, preset
            environments = setup[0]["environments"].split()
            assert set(environments) <= set(pyproject["tool"]["pixi"]["environments"]), preset
            assert ("docs" in environments) == docs
            assert runs == [f"pixi run --locked {t}" for t in ["test", "lint", *(["docs"] if docs else [])]]
            assert {r.split()[-1] for r in runs} <= tasks  # every task it runs exists


def test_ci_none_writes_no_workflow(tmp_path):
    project = render_preset(tmp_path / "p", "uv-python-ml", ci="none")
    assert not (project / ".github").exists()
    assert "Continuous integration" not in (project / "README.md").read_text()


# ---------------------------------------------------------------------------------------------- pre-commit


def declared_ruff() -> Requirement:
    reproml = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    found = [Requirement(r) for r in reproml["project"]["optional-dependencies"]["test"]
             if Requirement(r).name == "ruff"]
    assert len(found) == 1
    return found[0]


def test_pre_commit_config_is_valid_and_has_the_hooks(projects):
    configs = [project / ".pre-commit-config.yaml" for project in projects.values()]
    done = subprocess.run([tool("pre-commit"), "validate-config", *map(str, configs)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for key, project in projects.items():
        config = project / ".pre-commit-config.yaml"
        repos = {r["repo"].rsplit("/", 1)[-1]: r for r in yaml.safe_load(config.read_text())["repos"]}
        hooks = {name: [h["id"] for h in repo["hooks"]] for name, repo in repos.items()}
        assert hooks == {"ruff-pre-commit": ["ruff-check", "ruff-format"], "nbstripout": ["nbstripout"],
                         "pre-commit-hooks": ["check-added-large-files", "check-merge-conflict"]}, key


def test_pre_commit_validate_config_rejects_a_broken_config(projects, tmp_path):
    text = (projects[("pythonml", True, "torch", "auto")] / ".pre-commit-config.yaml").read_text()
    broken = tmp_path / ".pre-commit-config.yaml"
    broken.write_text(text.replace("    rev: v0.17", "    revision: v0.17"))
    done = subprocess.run([tool("pre-commit"), "validate-config", str(broken)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0


def test_the_ruff_hook_rev_is_inside_the_declared_ruff_range(projects):
    declared = declared_ruff().specifier
    for (preset, *_), project in projects.items():
        repos = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"]
        rev = next(r["rev"] for r in repos if r["repo"].endswith("/ruff-pre-commit"))
        assert Version(rev.removeprefix("v")) in declared, (rev, str(declared))
        data = tomllib.loads((project / "pyproject.toml").read_text())
        dev = (data["dependency-groups"]["dev"] if PRESETS[preset].manager == "uv"
               else data["project"]["optional-dependencies"]["dev"])
        names = {Requirement(d).name for d in dev if isinstance(d, str)}
        assert "pre-commit" in names, preset  # `uv run pre-commit install` / `pixi run -e dev ...` work
        readme = (project / "README.md").read_text()
        install = "uv run pre-commit install" if PRESETS[preset].manager == "uv" else (
            "pixi run -e dev pre-commit install")
        assert f"\n{install}\n" in readme, preset


@pytest.mark.parametrize("preset", ["uv-python-ml", "global-python-ml"])
def test_no_pre_commit_writes_no_config_and_no_dependency(tmp_path, preset):
    project = render_preset(tmp_path / "p", preset, pre_commit=False)
    assert not (project / ".pre-commit-config.yaml").exists()
    assert "pre-commit" not in (project / "pyproject.toml").read_text()
    assert "pre-commit install" not in (project / "README.md").read_text()


# ------------------------------------------------------------------------------------------------- license

LICENSE_OPENINGS = {
    "MIT": ("MIT License\n\nCopyright (c) {year} {holder}\n\nPermission is hereby granted, free of charge,"),
    "BSD-3-Clause": ("BSD 3-Clause License\n\nCopyright (c) {year}, {holder}\n\nRedistribution and use in "
                     "source and binary forms"),
    "Apache-2.0": "Apache License\n                           Version 2.0, January 2004\n",
}


@pytest.mark.parametrize("license_id", ["MIT", "Apache-2.0", "BSD-3-Clause"])
def test_each_license_gives_its_text_with_year_and_author_and_the_spdx_field(tmp_path, license_id):
    year = str(__import__("datetime").date.today().year)
    project = render_preset(tmp_path / "p", "uv-python-ml", license=license_id)
    text = (project / "LICENSE").read_text()
    opening = LICENSE_OPENINGS[license_id].format(year=year, holder="Ada Tester")
    assert text.lstrip().startswith(opening), text[:300]
    assert "[yyyy]" not in text and "<year>" not in text
    if license_id == "Apache-2.0":
        assert f"\n   Copyright {year} Ada Tester\n" in text  # the appendix's notice, filled in
        assert "END OF TERMS AND CONDITIONS" in text
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert data["project"]["license"] == license_id
    validate_api.Validator()(data)  # the SPDX string form (PEP 639) is valid
    assert data["build-system"]["requires"] == ["hatchling>=1.27"]  # writes License-Expression (metadata 2.4)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["license"], answers["copyright_year"]) == (license_id, year)


def test_license_none_writes_neither_file_nor_field(tmp_path):
    project = render_preset(tmp_path / "p", "global-python-ml", license="none")
    assert "LICENSE" not in files_in(project)
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert "license" not in data["project"]
    validate_api.Validator()(data)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["license"] == "none" and "copyright_year" not in answers


def render_with_author(target: Path, author: str, **options: str) -> Path:
    opts = NewOptions(path=target, template="uv-python-ml", name="cell-seg", author=author,
                      email="ada@example.org", python="3.11", **options)
    render(build_answers(opts, get_preset("uv-python-ml"), target), target)
    return target


def test_the_author_appears_in_the_license_as_typed(tmp_path):
    # LICENSE is plain text: nothing in it is markup, so quotes, backslashes, `${` and Markdown marks stay
    # as typed (pyproject.toml escapes them for TOML and still parses).
    author = 'Zoë "Z" O\'Neil \\ ${HOME} *bold* [x]'
    project = render_with_author(tmp_path / "p", author, license="BSD-3-Clause")
    assert f"Copyright (c) {__import__('datetime').date.today().year}, {author}\n" in (
        project / "LICENSE").read_text()
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert data["project"]["authors"][0]["name"] == author


def test_without_an_author_the_contributors_hold_the_copyright(tmp_path):
    project = render_with_author(tmp_path / "p", "")
    assert "Copyright (c) 20" in (project / "LICENSE").read_text()
    assert " The cell-seg contributors\n" in (project / "LICENSE").read_text()


# ---------------------------------------------------------------------------------------------- answers, CLI


def test_the_answers_file_records_the_new_questions(projects):
    for (preset, *_), project in projects.items():
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        assert {k: answers[k] for k in ("ci", "pre_commit", "license", "lock")} == {
            "ci": "github", "pre_commit": True, "license": "MIT", "lock": True}, preset


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--ci", "gitlab"], "unknown --ci 'gitlab'"),
     (["--license", "GPL-3.0"], "unknown --license 'GPL-3.0'")],
)
def test_bad_ci_or_license_is_one_line_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(app, ["new", str(tmp_path / "p"), "-t", "uv-python-ml", "--yes", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "p").exists()


def test_new_help_lists_the_new_options():
    assert LICENSE_CHOICES.split(", ") == list(LICENSES)  # cli.py spells them out to start fast
    text = " ".join(CliRunner().invoke(app, ["new", "--help"]).output.split())
    for option in ("--ci github|none", "--pre-commit / --no-pre-commit", "--license SPDX",
                   "MIT, Apache-2.0, BSD-3-Clause, none", "--lock / --no-lock"):
        assert option in text, option
