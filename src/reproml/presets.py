"""The preset catalog: data, one place. The template reads the same facts through its answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reproml.errors import UsageError


@dataclass(frozen=True)
class Preset:
    name: str
    manager: str  # "pixi" or "uv": who installs the Python environment
    nix: str  # how the preset uses Nix: "none", "optional", "dev-shell", "full"
    best_for: str
    pixi_usage: str
    shareability: str
    notes: str
    deprecated: bool = False

    @property
    def uses_nix(self) -> bool:
        return self.nix != "none"

    def required_tools(self) -> tuple[str, ...]:
        """Tools that must be on PATH for this preset's environment to be created here."""
        tools = [self.manager]
        if self.nix in ("dev-shell", "full"):
            tools.append("nix")
        return tuple(tools)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="global-python-ml",
            manager="pixi",
            nix="none",
            best_for="pure Pixi workflows; the default",
            pixi_usage="pixi manages Python, conda-forge and PyPI packages",
            shareability="best",
            notes="Works anywhere Pixi runs (Linux, macOS, Windows); no Nix needed.",
        ),
        Preset(
            name="flake-python-ml",
            manager="pixi",
            nix="optional",
            best_for="Pixi plus Nix for system tools and custom packages",
            pixi_usage="pixi manages the environment; the flake in .nix/ provides pixi and system tools",
            shareability="high",
            notes="Collaborators without Nix just use Pixi; overlays in .nix/overlays/ add custom packages.",
        ),
        Preset(
            name="pythonml",
            manager="uv",
            nix="dev-shell",
            best_for="Python-only projects with Nix-provided dev tools (pandoc, ...)",
            pixi_usage="no Pixi; uv manages the virtual environment",
            shareability="moderate",
            notes="Needs Nix for the dev shell; the Python side is plain uv.",
        ),
        Preset(
            name="uv-python-ml",
            manager="uv",
            nix="none",
            best_for="Python-only projects, no Nix, no Pixi",
            pixi_usage="no Pixi; uv manages Python and the virtual environment",
            shareability="high",
            notes="Lightest setup: uv alone (shipped with reproml).",
        ),
        Preset(
            name="nixos-pythonml",
            manager="uv",
            nix="full",
            best_for="pure NixOS machines only",
            pixi_usage="no Pixi; uv with nixpkgs Python, LD_LIBRARY_PATH / nix-ld",
            shareability="low",
            notes="Deprecated: NixOS only; prefer flake-python-ml or pythonml.",
            deprecated=True,
        ),
    )
}

DEFAULT_PRESET = "global-python-ml"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        close = closest_preset(name)
        hint = f"did you mean '{close}'?" if close else f"choose one of: {', '.join(PRESETS)}"
        raise UsageError(f"unknown template '{name}'", hint=hint) from None


# What people type for a preset: its manager or its Nix flavour. Checked before spelling similarity.
ALIASES = {
    "pixi": "global-python-ml",
    "uv": "uv-python-ml",
    "flake": "flake-python-ml",
    "nix": "pythonml",
    "nixos": "nixos-pythonml",
}


def closest_preset(name: str) -> str | None:
    """The preset ``name`` most likely means, or None if nothing is close.

    In order: an alias (uv, pixi, flake), a unique prefix of a preset name or of one of its parts, a unique
    substring, then the closest spelling (difflib)."""
    key = name.strip().lower()
    if not key:
        return None
    if key in ALIASES:
        return ALIASES[key]
    for matches in (
        [p for p in PRESETS if p.startswith(key)],
        [p for p in PRESETS if any(part.startswith(key) for part in p.split("-"))],
        [p for p in PRESETS if key in p],
    ):
        if len(matches) == 1:
            return matches[0]
    import difflib  # only for a typo; kept out of every command's start-up

    close = difflib.get_close_matches(key, PRESETS, n=1, cutoff=0.4)
    return close[0] if close else None
