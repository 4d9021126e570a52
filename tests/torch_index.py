"""A local PEP 503 index on 127.0.0.1 that stands in for the PyTorch wheel indexes (``<base>/whl/<build>``).

Like the real indexes, each build's path lists only that build's wheels, so an environment shows which index
it came from (PyTorch release matrix in the shared environment facts, checked 2026-11-25):

- ``/whl/cpu``: the real CPU wheel on this machine's disk (torch 2.13.0+cpu) and the torchvision built for it
  (:func:`find_wheels`). The e2e tests really import and run it; they skip where it is absent.
- ``/whl/cu126``, ``/whl/cu130``, ``/whl/cu132``: small pure-Python stand-ins built here with the standard
  library (:func:`build_fake_wheels`): torch 2.13.0+cuXXX and torchvision 0.28.0+cuXXX (``torch==2.13.0``).
  ``torch.version.cuda`` reports the build ("13.0"), ``torch.cuda.is_available()`` is False.
- ``/whl/cu128``: like the real one it stops at torch 2.11: torch 2.11.0+cu128 and torchvision 0.26.0+cu128.
- every build also serves a torchaudio stand-in, ``2.11.0+<build>`` (torchaudio stopped following torch's
  version at 2.11), so a test sees which index a PyTorch-family package added later came from.

Routes: ``/whl/<build>/`` lists the projects, ``/whl/<build>/<project>/`` links each file as
``/files/<build>/<file>#sha256=<hex>`` with its core metadata (PEP 658/714: ``<file>.metadata``), so uv never
downloads the 190 MB CPU wheel just to read its dependencies. Anything else is a 404 (``/whl/cu124/``, a cu130
file asked for under ``/files/cpu/``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import http.server
import os
import re
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

WHEEL_DIRS = os.environ.get("REPROML_TEST_WHEEL_DIRS", "/opt/wheels:/opt/pypi-more/files").split(":")

# build -> (torch version, torchvision version, torch.version.cuda): what the real index offers newest.
FAKE_RELEASES: dict[str, tuple[str, str, str]] = {
    "cu126": ("2.13.0", "0.28.0", "12.6"),
    "cu128": ("2.11.0", "0.26.0", "12.8"),  # CUDA 12.8 left the matrix with torch 2.12
    "cu130": ("2.13.0", "0.28.0", "13.0"),
    "cu132": ("2.13.0", "0.28.0", "13.2"),
}
BUILDS = ("cpu", *FAKE_RELEASES)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same wheel bytes (and hashes) in every session


def _read_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return archive.read(name)


def _requires(wheel: Path) -> list[str]:
    text = _read_metadata(wheel).decode()
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


# ------------------------------------------------------------------------------------------------------------
# Fake CUDA wheels


def _record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest: Path, name: str, version: str, files: Mapping[str, str], requires: Sequence[str] = (),
                summary: str = "") -> Path:
    """A pure-Python ``py3-none-any`` wheel with METADATA, WHEEL and a RECORD that lists every file's hash."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = "".join((
        "Metadata-Version: 2.1\n", f"Name: {name}\n", f"Version: {version}\n",
        f"Summary: {summary}\n" if summary else "", "Requires-Python: >=3.9\n",
        *(f"Requires-Dist: {r}\n" for r in requires),
    ))
    wheel_info = "Wheel-Version: 1.0\nGenerator: reproml-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members = {**files, f"{dist_info}/METADATA": metadata, f"{dist_info}/WHEEL": wheel_info}
    record = [f"{path},{_record_digest(text.encode())},{len(text.encode())}" for path, text in
              members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in members.items():
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return target


def _fake_torch_files(version: str, cuda: str, build: str) -> dict[str, str]:
    return {
        "torch/__init__.py": (
            f'"""Stand-in for PyTorch {version} ({build}) (reproml test index): it only reports its build.'
            '"""\n'
            "from torch import backends, cuda, version\n\n"
            "__version__ = version.__version__\n"
        ),
        "torch/version.py": (
            f'__version__ = "{version}"\ncuda = "{cuda}"\nhip = None\ngit_version = "stand-in"\n'
        ),
        "torch/cuda/__init__.py": (
            "def is_available() -> bool:\n    return False\n\n\n"
            "def device_count() -> int:\n    return 0\n"
        ),
        "torch/backends/__init__.py": "from torch.backends import mps\n",
        "torch/backends/mps/__init__.py": "def is_available() -> bool:\n    return False\n",
    }


def _fake_torchvision_files(version: str, cuda: str) -> dict[str, str]:
    return {
        "torchvision/__init__.py": (
            "import torch  # noqa: F401\n\nfrom torchvision.version import __version__\n"
        ),
        "torchvision/version.py": f'__version__ = "{version}"\ncuda = "{cuda}"\n',
    }


def build_fake_wheels(dest: Path) -> dict[str, tuple[Path, ...]]:
    """Build the CUDA stand-ins into ``dest``: ``{build: (torch wheel, torchvision wheel)}``, no network."""
    builds: dict[str, tuple[Path, ...]] = {}
    for build, (torch_version, vision_version, cuda) in FAKE_RELEASES.items():
        torch_full, vision_full = f"{torch_version}+{build}", f"{vision_version}+{build}"
        torch = build_wheel(dest / build, "torch", torch_full, _fake_torch_files(torch_full, cuda, build),
                            summary=f"reproml test stand-in for PyTorch {build}")
        vision = build_wheel(dest / build, "torchvision", vision_full,
                             _fake_torchvision_files(vision_full, cuda),
                             requires=[f"torch=={torch_version}"],
                             summary=f"reproml test stand-in for torchvision {build}")
        builds[build] = (torch, vision)
    return builds


TORCHAUDIO_VERSION = "2.11.0"


def build_fake_torchaudio(dest: Path, build: str) -> Path:
    """A torchaudio ``2.11.0+<build>`` stand-in that reports its build (``torchaudio.version.build``)."""
    version = f"{TORCHAUDIO_VERSION}+{build}"
    files = {
        "torchaudio/__init__.py": "import torch  # noqa: F401\n\nfrom torchaudio.version import __version__\n"
                                  "from torchaudio.version import build\n",
        "torchaudio/version.py": f'__version__ = "{version}"\nbuild = "{build}"\n',
    }
    return build_wheel(dest / build, "torchaudio", version, files, requires=["torch"],
                       summary=f"reproml test stand-in for torchaudio {build}")


def index_layout(fake_dir: Path) -> dict[str, tuple[Path, ...]] | None:
    """Every build of the stand-in: the real CPU wheels plus fakes built into ``fake_dir`` (None without the
    CPU wheels), each build with its torchaudio stand-in."""
    cpu = find_wheels()
    if not cpu or "torchvision" not in cpu:
        return None
    layout = {"cpu": (cpu["torch"], cpu["torchvision"]), **build_fake_wheels(fake_dir)}
    return {build: (*wheels, build_fake_torchaudio(fake_dir, build)) for build, wheels in layout.items()}


# ------------------------------------------------------------------------------------------------------------
# The server


def normalize(name: str) -> str:
    """PEP 503 project name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(wheel: Path) -> str:
    return normalize(wheel.name.split("-")[0])


@functools.cache
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def _metadata(path: Path) -> bytes:
    return _read_metadata(path)


class _Handler(http.server.BaseHTTPRequestHandler):
    builds: Mapping[str, Sequence[Path]] = {}

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.head_only = True
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = [urllib.parse.unquote(p) for p in self.path.split("?")[0].split("#")[0].split("/") if p]
        if len(parts) == 3 and parts[0] == "files" and parts[1] in self.builds:
            return self._send_file(parts[1], parts[2])
        if len(parts) >= 2 and parts[0] == "whl" and parts[1] in self.builds:
            wheels = self.builds[parts[1]]
            if len(parts) == 2:
                projects = sorted({project_of(w) for w in wheels})
                return self._send_html("".join(f'<a href="{p}/">{p}</a>\n' for p in projects))
            if len(parts) == 3:
                mine = [w for w in wheels if project_of(w) == normalize(parts[2])]
                if mine:
                    return self._send_html("".join(self._link(parts[1], w) for w in mine))
        self.send_error(404)

    @staticmethod
    def _link(build: str, wheel: Path) -> str:
        href = f"/files/{build}/{urllib.parse.quote(wheel.name)}#sha256={sha256_of(wheel)}"
        meta = f"sha256={hashlib.sha256(_metadata(wheel)).hexdigest()}"
        return (f'<a href="{html.escape(href)}" data-dist-info-metadata="{meta}" data-core-metadata="{meta}">'
                f"{html.escape(wheel.name)}</a>\n")

    def _send_html(self, body: str) -> None:
        data = f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode()
        self._send(data, "text/html")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not getattr(self, "head_only", False):
            self.wfile.write(data)

    def _send_file(self, build: str, name: str) -> None:
        if name.endswith(".metadata"):
            wheel = next((w for w in self.builds[build] if w.name == name[: -len(".metadata")]), None)
            if wheel is None:
                return self.send_error(404)
            return self._send(_metadata(wheel), "application/octet-stream")
        wheel = next((w for w in self.builds[build] if w.name == name), None)
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
def serve_torch_index(wheels: Mapping[str, Path] | None = None, *,
                      builds: Mapping[str, Sequence[Path]] | None = None) -> Iterator[str]:
    """Yield the base URL (like PyTorch's ``.../whl``) of a server on 127.0.0.1.

    ``builds`` maps each build (``cpu``, ``cu130``, ...) to the wheels its path serves (:func:`index_layout`).
    The older form ``serve_torch_index(find_wheels())`` serves those CPU wheels under ``/whl/cpu`` only.
    """
    layout: dict[str, tuple[Path, ...]] = {b: tuple(ws) for b, ws in (builds or {}).items()}
    if wheels:
        layout["cpu"] = tuple(wheels.values())
    unknown = set(layout) - set(BUILDS)
    if unknown:
        raise ValueError(f"not a build of the stand-in: {sorted(unknown)}")
    handler = type("Handler", (_Handler,), {"builds": layout})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl"
    finally:
        server.shutdown()
        server.server_close()
