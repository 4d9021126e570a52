"""What differs per environment manager (uv, pixi, nix) when a project's packages change, and what they share:
the PyTorch family, requirement names, and the snapshot that makes a change all-or-nothing."""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from reproml.errors import UsageError

# Packages that must come from the same PyTorch index as torch: uv's own list for --torch-backend
# (uv-torch, TorchStrategy::applies_to, uv 0.13).
TORCH_FAMILY = frozenset({
    "torch", "torch-model-archiver", "torch-tb-profiler", "torcharrow", "torchaudio", "torchcsprng",
    "torchdata", "torchdistx", "torchserve", "torchtext", "torchvision", "triton", "pytorch-triton",
    "pytorch-triton-rocm", "pytorch-triton-xpu",
})
# A package name (PEP 508) at the start of a requirement, then extras, a version or a marker.
_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(.*)", re.DOTALL)


def normalize(name: str) -> str:
    """PEP 503 normalized name: `Torch_Audio` and `torch.audio` are `torch-audio`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(spec: str) -> tuple[str, str]:
    """``"torchaudio>=2.5"`` -> ``("torchaudio", ">=2.5")``; a spec without a package name is refused."""
    match = _NAME.fullmatch(spec)
    if not match or not spec.strip() or any(c in spec for c in "\n\r\0"):
        raise UsageError(f"not a package name or requirement: {spec!r}")
    return match[1], match[2].strip()


def in_torch_family(spec: str) -> bool:
    return normalize(split_requirement(spec)[0]) in TORCH_FAMILY


@dataclass
class Outcome:
    """What a manager did: one line per change for the user, and what is left to them."""

    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Snapshot:
    """The bytes of every file a change may touch (missing ones as None), to put back on any failure or
    interruption, or after a dry run."""

    def __init__(self, root: Path, paths: list[Path]) -> None:
        self.root = root
        self.before: dict[Path, bytes | None] = {}
        for path in dict.fromkeys(paths):
            try:
                self.before[path] = path.read_bytes()
            except FileNotFoundError:
                self.before[path] = None

    def changed(self) -> dict[Path, tuple[bytes | None, bytes | None]]:
        after = {}
        for path, old in self.before.items():
            new = path.read_bytes() if path.is_file() else None
            if new != old:
                after[path] = (old, new)
        return after

    def restore(self) -> None:
        for path, old in self.before.items():
            now = path.read_bytes() if path.is_file() else None
            if now == old:
                continue
            if old is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomically(path, old)

    def diff(self) -> str:
        """A unified diff of the text files that changed; lock files as a line count (they are long)."""
        parts = []
        for path, (old, new) in self.changed().items():
            name = path.relative_to(self.root).as_posix()
            old_lines = (old or b"").decode(errors="replace").splitlines(keepends=True)
            new_lines = (new or b"").decode(errors="replace").splitlines(keepends=True)
            if path.name.endswith(".lock"):
                delta = list(difflib.unified_diff(old_lines, new_lines, n=0))
                added = sum(1 for line in delta if line.startswith("+") and not line.startswith("+++"))
                removed = sum(1 for line in delta if line.startswith("-") and not line.startswith("---"))
                verb = "written" if old is None else "updated"
                parts.append(f"{name}: {verb} (+{added} -{removed} lines)\n")
                continue
            parts.append("".join(difflib.unified_diff(
                old_lines, new_lines, f"a/{name}" if old is not None else "/dev/null",
                f"b/{name}" if new is not None else "/dev/null")))
        return "".join(parts)


def _write_atomically(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a manifest whole or not at all (an interruption never leaves half a file)."""
    _write_atomically(path, text.encode())
