"""`reproml templates`: the preset catalog, which presets this machine can run now, and a recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from reproml import process
from reproml.presets import DEFAULT_PRESET, PRESETS, Preset

TOOLS = ("pixi", "uv", "nix", "direnv")


@dataclass(frozen=True)
class Catalog:
    presets: tuple[Preset, ...]
    tools: dict[str, str | None]  # tool -> path on PATH, or None
    runnable: tuple[str, ...]  # presets whose required tools are all found
    recommended: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "presets": [dict(p.to_dict(), runnable_here=p.name in self.runnable) for p in self.presets],
            "tools": self.tools,
            "recommended": self.recommended,
            "reason": self.reason,
        }


def _tool_path(tool: str) -> str | None:
    if tool == "uv":
        from reproml.tools import uv_executable

        return uv_executable()
    return process.which(tool)


def catalog() -> Catalog:
    tools = {tool: _tool_path(tool) for tool in TOOLS}
    runnable = tuple(
        p.name for p in PRESETS.values() if all(tools.get(tool) for tool in p.required_tools())
    )
    if tools["pixi"]:
        recommended, reason = DEFAULT_PRESET, "pixi is installed: the most shareable setup, conda-forge and PyPI"
    elif tools["nix"]:
        recommended, reason = "pythonml", "nix is installed and pixi is not: uv with a Nix dev shell for tools"
    else:
        recommended, reason = "uv-python-ml", "pixi is not installed; uv ships with reproml, so this works now"
    return Catalog(tuple(PRESETS.values()), tools, runnable, recommended, reason)


def render_catalog(result: Catalog) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="reproml presets", show_lines=False)
    for column in ("preset", "best for", "Nix", "Pixi", "shareability", "runs here", "notes"):
        table.add_column(column, overflow="fold")
    for preset in result.presets:
        name = f"{preset.name} (deprecated)" if preset.deprecated else preset.name
        runs = "yes" if preset.name in result.runnable else "needs " + ", ".join(
            t for t in preset.required_tools() if not result.tools.get(t)
        )
        table.add_row(name, preset.best_for, preset.nix, preset.pixi_usage, preset.shareability, runs, preset.notes)
    console = Console()
    console.print(table)
    found = ", ".join(f"{tool} {'found' if path else 'missing'}" for tool, path in result.tools.items())
    console.print(f"Tools on this machine: {found}")
    console.print(f"Recommended here: [bold]{result.recommended}[/bold] ({result.reason})")
    console.print(f"Create it: reproml new my-project -t {result.recommended}")
