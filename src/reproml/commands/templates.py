"""`reproml templates`: the preset catalog, which presets this machine can run now, and a recommendation.

Whether a preset runs here and the recommendation come from reproml.machine
(:func:`~reproml.machine.readiness`,
:func:`~reproml.machine.recommend`), the same rule `reproml new` and `reproml doctor` use.

JSON (``--json``)::

    {
      "presets": [{"name": ..., "manager": ..., "nix": ..., "best_for": ..., "pixi_usage": ...,
                   "shareability": ..., "notes": ..., "deprecated": false,
                   "runnable_here": true,          # same as runs_here (kept for older readers)
                   "runs_here": true,
                   "problems": ["pixi is not installed (install: ...)", ...]}, ...],
      "tools": {"pixi": "/path" | null, "uv": ..., "nix": ..., "direnv": ...},   # on PATH
      "uv_bundled": "/path" | null,          # reproml's own uv, when none is on PATH
      "nix": {"version": "2.8.0" | null, "nix_command": bool | null, "flakes": bool | null, "usable": bool},
      "recommended": "uv-python-ml",
      "reason": "one line"
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reproml import machine
from reproml.presets import PRESETS, Preset

TOOLS = ("pixi", "uv", "nix", "direnv")
# Below this many columns the table is replaced by one block per preset (no word is ever broken).
WIDE_LAYOUT_COLUMNS = 120


@dataclass(frozen=True)
class Catalog:
    presets: tuple[Preset, ...]
    tools: dict[str, str | None]  # tool -> path on PATH, or None
    runnable: tuple[str, ...]  # presets that run here (machine.readiness)
    recommended: str
    reason: str
    problems: dict[str, list[str]] = field(default_factory=dict)  # preset -> what it lacks here
    facts: machine.MachineFacts | None = None

    def to_dict(self) -> dict[str, object]:
        facts = self.facts.to_dict() if self.facts else {}
        return {
            "presets": [
                dict(
                    p.to_dict(),
                    runnable_here=p.name in self.runnable,
                    runs_here=p.name in self.runnable,
                    problems=list(self.problems.get(p.name, [])),
                )
                for p in self.presets
            ],
            "tools": self.tools,
            "uv_bundled": facts.get("uv_bundled"),
            "nix": facts.get("nix"),
            "recommended": self.recommended,
            "reason": self.reason,
        }


def catalog(facts: machine.MachineFacts | None = None) -> Catalog:
    facts = facts if facts is not None else machine.gather(versions=False)
    problems = {name: machine.readiness(preset, facts).problems for name, preset in PRESETS.items()}
    runnable = tuple(name for name, found in problems.items() if not found)
    recommended, reason = machine.recommend(facts)
    tools = {tool: facts.tools[tool].path for tool in TOOLS}
    return Catalog(tuple(PRESETS.values()), tools, runnable, recommended, reason, problems, facts)


def _label(preset: Preset) -> str:
    return f"{preset.name} (deprecated)" if preset.deprecated else preset.name


def _manager(preset: Preset) -> str:
    return "Pixi" if preset.manager == "pixi" else "uv"


def _numbered(result: Catalog) -> tuple[dict[str, list[int]], list[str]]:
    """Each distinct problem once, numbered, and the numbers of each preset (presets often share one)."""
    order: list[str] = []
    per_preset: dict[str, list[int]] = {}
    for preset in result.presets:
        numbers = []
        for problem in result.problems.get(preset.name, []):
            if problem not in order:
                order.append(problem)
            numbers.append(order.index(problem) + 1)
        per_preset[preset.name] = numbers
    return per_preset, order


def _runs(numbers: list[int]) -> str:
    return "yes" if not numbers else "no, see " + ", ".join(f"[{n}]" for n in numbers)


def render_catalog(result: Catalog, console: object | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = console if isinstance(console, Console) else Console(highlight=False)
    per_preset, problems = _numbered(result)
    if out.width >= WIDE_LAYOUT_COLUMNS:
        table = Table(title="reproml presets")
        table.add_column("preset", no_wrap=True, style="bold")
        table.add_column("manager", no_wrap=True)
        table.add_column("Nix", no_wrap=True)
        table.add_column("best for")
        table.add_column("shareability", no_wrap=True)
        table.add_column("runs here", no_wrap=True)
        for preset in result.presets:
            table.add_row(
                _label(preset),
                _manager(preset),
                preset.nix,
                preset.best_for,
                preset.shareability,
                _runs(per_preset[preset.name]),
            )
        out.print(table)
    else:  # compact: one block per preset; rich wraps every line between words
        out.print(Text("reproml presets", style="bold"))
        for preset in result.presets:
            head = Text(_label(preset), style="bold")
            head.append(f"  {_manager(preset)}, Nix: {preset.nix}, shareability: {preset.shareability}")
            out.print(head)
            out.print(Text(f"  best for: {preset.best_for}"))
            out.print(Text(f"  runs here: {_runs(per_preset[preset.name])}"))
    if problems:
        out.print(Text("Why some presets do not run here:"))
        for number, problem in enumerate(problems, 1):
            out.print(Text(f"  [{number}] {problem}"))
    found = ", ".join(f"{tool} {'found' if path else 'missing'}" for tool, path in result.tools.items())
    if result.facts is not None and not result.tools.get("uv") and result.facts.uv_bundled:
        found += " (reproml's own uv is not on PATH)"
    out.print(Text(f"Tools on this machine: {found}"))
    recommended = Text("Recommended here: ")
    recommended.append(result.recommended, style="bold")
    recommended.append(f" ({result.reason})")
    out.print(recommended)
    out.print(Text(f"Create it: reproml new my-project -t {result.recommended}"))
