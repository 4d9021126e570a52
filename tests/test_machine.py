"""reproml.machine: facts, the one "runs here" rule, the recommendation; real nix where the marker says so."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reproml import gpu, machine
from reproml.presets import PRESETS

needs_nix = pytest.mark.skipif(shutil.which("nix") is None, reason="nix not installed")


def facts(
    *,
    on_path: tuple[str, ...] = ("uv",),
    nix: machine.NixFacts | None = None,
    nixos: bool = False,
    bundled: str | None = None,
) -> machine.MachineFacts:
    tools = {t: machine.ToolFacts(t, f"/bin/{t}" if t in on_path else None) for t in machine.TOOLS}
    return machine.MachineFacts(
        tools=tools,
        uv_bundled=bundled,
        nix=nix or machine.NixFacts(),
        system="Linux",
        arch="x86_64",
        libc="glibc 2.36",
        os_name="NixOS 25.05" if nixos else "Debian GNU/Linux 12 (bookworm)",
        nixos=nixos,
        driver=gpu.Driver(None, "none"),
    )


GOOD_NIX = machine.NixFacts("2.24.9", True, True)


def runs(f: machine.MachineFacts) -> set[str]:
    return {name for name, p in PRESETS.items() if machine.readiness(p, f).runs}


def test_this_debian_like_machine_without_pixi_and_old_nix() -> None:
    f = facts(on_path=("uv", "nix"), nix=machine.NixFacts("2.8.0", False, None))
    assert runs(f) == {"uv-python-ml"}
    pythonml = machine.readiness(PRESETS["pythonml"], f)
    assert not pythonml.runs and any("2.18" in p for p in pythonml.problems)
    assert any(machine.NIX_CONF_LINE in p for p in pythonml.problems)
    nixos = machine.readiness(PRESETS["nixos-pythonml"], f)
    assert any("not NixOS" in p for p in nixos.problems)
    assert machine.recommend(f)[0] == "uv-python-ml"


@pytest.mark.parametrize(
    ("on_path", "nix", "nixos", "expected_runs", "recommended"),
    [
        (
            ("uv", "pixi"),
            None,
            False,
            {"global-python-ml", "flake-python-ml", "uv-python-ml"},
            "global-python-ml",
        ),
        (("uv", "nix"), GOOD_NIX, False, {"pythonml", "uv-python-ml"}, "pythonml"),
        (("uv", "nix"), GOOD_NIX, True, {"pythonml", "uv-python-ml", "nixos-pythonml"}, "pythonml"),
        (("uv", "nix"), machine.NixFacts("2.24.9", True, False), False, {"uv-python-ml"}, "uv-python-ml"),
        (("uv", "nix"), machine.NixFacts("2.17.1", True, True), False, {"uv-python-ml"}, "uv-python-ml"),
        (("pixi", "nix"), GOOD_NIX, False, {"global-python-ml", "flake-python-ml"}, "global-python-ml"),
        ((), None, False, set(), "uv-python-ml"),
    ],
)
def test_runs_here_rule(
    on_path: tuple[str, ...],
    nix: machine.NixFacts | None,
    nixos: bool,
    expected_runs: set[str],
    recommended: str,
) -> None:
    f = facts(on_path=on_path, nix=nix, nixos=nixos)
    assert runs(f) == expected_runs
    name, reason = machine.recommend(f)
    assert name == recommended and reason and "\n" not in reason
    if expected_runs:
        assert name in expected_runs  # always a preset that runs here, when one does


def test_problems_name_the_missing_thing_and_how_to_get_it() -> None:
    problems = machine.readiness(PRESETS["global-python-ml"], facts(on_path=("uv",))).problems
    assert problems == ["pixi is not installed (install: curl -fsSL https://pixi.sh/install.sh | sh)"]
    nix_missing = machine.readiness(PRESETS["pythonml"], facts(on_path=("uv",))).problems
    assert len(nix_missing) == 1 and nix_missing[0].startswith("nix is not installed (install: ")


def test_bundled_uv_does_not_count_as_on_path() -> None:
    f = facts(on_path=(), bundled="/opt/pipx/venvs/reproml/bin/uv")
    ready = machine.readiness(PRESETS["uv-python-ml"], f)
    assert not ready.runs
    assert "uv is not on PATH" in ready.problems[0] and "/opt/pipx/venvs/reproml/bin/uv" in ready.problems[0]
    assert "uv tool install reproml --with-executables-from uv" in ready.problems[0]
    assert f.uv_for_reproml == "/opt/pipx/venvs/reproml/bin/uv"


@pytest.mark.parametrize(
    ("text", "width"),
    [("alpha beta gamma delta " * 20, 50), ("error: " + "abcdefghij " * 40, 200), ("x" * 300, 100)],
)
def test_shorten_cuts_between_words(text: str, width: int) -> None:
    short = machine.shorten(text, width)
    assert short.endswith("…")
    words = set(text.split())
    assert all(word in words for word in short.removesuffix("…").split())


def test_shorten_leaves_short_text_alone() -> None:
    assert machine.shorten("a short  line\n", 50) == "a short line"


def test_gather_never_raises_and_is_fast_without_nix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "none")
    machine.gather()  # warm imports
    started = time.perf_counter()
    f = machine.gather()
    took = time.perf_counter() - started
    assert set(f.tools) == set(machine.TOOLS) and not any(t.found for t in f.tools.values())
    assert f.nix == machine.NixFacts() and f.driver.version is None
    assert took < 0.5  # about 1-10 ms here; generous for a shared machine


def test_a_hanging_tool_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "git").write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    (tmp_path / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(machine, "TOOL_TIMEOUT", 0.3)
    f = machine.gather()
    assert f.tools["git"].found and f.tools["git"].version is None
    assert "did not answer" in (f.tools["git"].problem or "")


# ----------------------------------------------------------------------------------------------- real nix


@pytest.mark.nix
@needs_nix
@pytest.mark.parametrize(
    ("config", "nix_command", "flakes"),
    [
        (None, False, None),  # a stock install: nix-command off
        ("experimental-features = nix-command", True, False),
        ("experimental-features = nix-command flakes", True, True),
    ],
)
def test_real_nix_features_through_nix_config(
    monkeypatch: pytest.MonkeyPatch, config: str | None, nix_command: bool, flakes: bool | None
) -> None:
    if config is None:
        monkeypatch.delenv("NIX_CONFIG", raising=False)
    else:
        monkeypatch.setenv("NIX_CONFIG", config)
    found = machine.probe_nix(shutil.which("nix") or "nix")
    assert (found.nix_command, found.flakes) == (nix_command, flakes)
    assert found.version and found.version[0].isdigit()
    assert found.usable is (found.features_on and found.new_enough)


@pytest.mark.nix
@needs_nix
def test_real_nix_reads_the_user_nix_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NIX_CONFIG", raising=False)
    conf_dir = Path(__import__("os").environ["XDG_CONFIG_HOME"]) / "nix"
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "nix.conf").write_text(machine.NIX_CONF_LINE + "\n")
    on = machine.probe_nix(shutil.which("nix") or "nix")
    assert on.nix_command is True and on.flakes is True
    (conf_dir / "nix.conf").write_text("")
    off = machine.probe_nix(shutil.which("nix") or "nix")
    assert off.nix_command is False


@pytest.mark.nix
@needs_nix
def test_gather_with_real_nix_agrees_with_readiness() -> None:
    f = machine.gather(versions=False)
    ready = machine.readiness(
        PRESETS["pythonml"], replace(f, tools={**f.tools, "uv": machine.ToolFacts("uv", "/bin/uv")})
    )
    assert ready.runs is f.nix.usable
