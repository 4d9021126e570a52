"""A local PEP 503 index on 127.0.0.1 that stands in for the PyTorch indexes (/whl/cpu, /whl/cu128, ...).

It serves the real PyTorch CPU wheel that lies on this machine's disk, and the torchvision wheel built for that
torch, under every build's path. Tests that need it skip cleanly where the wheels are absent.
"""

from __future__ import annotations

import functools
import hashlib
import html
import http.server
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WHEEL_DIRS = os.environ.get("REPROML_TEST_WHEEL_DIRS", "/opt/wheels:/opt/pypi-more/files").split(":")
BUILDS = ("cpu", "cu126", "cu128", "cu130")


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


@functools.cache
def find_wheels() -> dict[str, Path] | None:
    """The CPU torch wheel and a torchvision wheel pinned to its version, or None."""
    wheels = [p for d in WHEEL_DIRS if Path(d).is_dir() for p in Path(d).glob("*.whl")]
    torch = sorted(p for p in wheels if re.match(r"torch-[\d.]+\+cpu-", p.name))
    if not torch:
        return None
    torch_wheel = torch[-1]
    version = torch_wheel.name.split("-")[1].split("+")[0]
    for candidate in sorted(p for p in wheels if p.name.startswith("torchvision-")):
        if any(re.fullmatch(rf"torch\s*\(?==\s*{re.escape(version)}\)?", r) for r in _requires(candidate)):
            return {"torch": torch_wheel, "torchvision": candidate}
    return {"torch": torch_wheel}


@functools.cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    wheels: dict[str, Path] = {}

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.head_only = True
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "files":
            return self._send_file(parts[1])
        if len(parts) >= 2 and parts[0] == "whl" and parts[1] in BUILDS:
            if len(parts) == 2:
                links = "".join(f'<a href="{n}/">{n}</a>' for n in self.wheels)
                return self._send_html(links)
            if len(parts) == 3 and parts[2] in self.wheels:
                wheel = self.wheels[parts[2]]
                href = f"/files/{html.escape(wheel.name)}#sha256={_sha256(wheel)}"
                return self._send_html(f'<a href="{href}">{html.escape(wheel.name)}</a>')
        self.send_error(404)

    def _send_html(self, body: str) -> None:
        data = f"<!DOCTYPE html><html><body>{body}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not getattr(self, "head_only", False):
            self.wfile.write(data)

    def _send_file(self, name: str) -> None:
        wheel = next((w for w in self.wheels.values() if w.name == name), None)
        if wheel is None:
            return self.send_error(404)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(wheel.stat().st_size))
        self.end_headers()
        if getattr(self, "head_only", False):
            return
        with wheel.open("rb") as handle:
            while block := handle.read(1 << 20):
                self.wfile.write(block)


@contextmanager
def serve_torch_index(wheels: dict[str, Path]) -> Iterator[str]:
    """Yield the base URL (like the PyTorch index's `.../whl`) of a server on 127.0.0.1."""
    handler = type("Handler", (_Handler,), {"wheels": wheels})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl"
    finally:
        server.shutdown()
        server.server_close()
