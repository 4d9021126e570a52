"""The PyTorch index stand-in itself (tests/torch_index.py): each build's path serves exactly that build, the
hashes it publishes are the files' hashes, and the CUDA stand-ins install with uv and say which build
they are.
No network: everything is served from 127.0.0.1."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reproml.tools import uv_executable
from torch_index import build_fake_wheels, find_wheels, serve_torch_index

# Independent expectations (the real PyTorch indexes, Nov 2026): build -> (torch, torchvision file, CUDA).
FAKE = {
    "cu126": ("torch-2.13.0+cu126-py3-none-any.whl", "torchvision-0.28.0+cu126-py3-none-any.whl", "12.6"),
    "cu128": ("torch-2.11.0+cu128-py3-none-any.whl", "torchvision-0.26.0+cu128-py3-none-any.whl", "12.8"),
    "cu130": ("torch-2.13.0+cu130-py3-none-any.whl", "torchvision-0.28.0+cu130-py3-none-any.whl", "13.0"),
    "cu132": ("torch-2.13.0+cu132-py3-none-any.whl", "torchvision-0.28.0+cu132-py3-none-any.whl", "13.2"),
}
TORCH_PIN = {"cu126": "2.13.0", "cu128": "2.11.0", "cu130": "2.13.0", "cu132": "2.13.0"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, dict[str, str | None], str]] = []
        self._attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._attrs is not None and data.strip():
            self.links.append((self._attrs["href"] or "", self._attrs, data.strip()))
            self._attrs = None


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def links(url: str) -> list[tuple[str, dict[str, str | None], str]]:
    parser = _Links()
    parser.feed(get(url).decode())
    return parser.links


def host(base: str) -> str:
    return base.removesuffix("/whl")


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-wheels")


@pytest.fixture(scope="module")
def index(fake_dir: Path) -> Iterator[str]:
    builds: dict[str, tuple[Path, ...]] = dict(build_fake_wheels(fake_dir))
    cpu = find_wheels()
    if cpu and "torchvision" in cpu:
        builds["cpu"] = (cpu["torch"], cpu["torchvision"])
    with serve_torch_index(builds=builds) as url:
        yield url


@pytest.mark.parametrize("build", sorted(FAKE))
def test_each_cuda_path_lists_exactly_its_own_build(index, build):
    torch_file, vision_file, _ = FAKE[build]
    assert sorted(text for _, _, text in links(f"{index}/{build}/")) == ["torch", "torchvision"]
    assert [text for _, _, text in links(f"{index}/{build}/torch/")] == [torch_file]
    assert [text for _, _, text in links(f"{index}/{build}/torchvision/")] == [vision_file]
    # PEP 503: project names are normalized, any spelling reaches them
    assert [text for _, _, text in links(f"{index}/{build}/TorchVision/")] == [vision_file]


def test_cpu_path_serves_the_real_cpu_wheel_and_nothing_built_here(index):
    cpu = find_wheels()
    if not cpu or "torchvision" not in cpu:
        pytest.skip("no PyTorch CPU wheel (and matching torchvision) on this machine's disk")
    torch_links = [text for _, _, text in links(f"{index}/cpu/torch/")]
    assert torch_links == [cpu["torch"].name]
    assert re.fullmatch(r"torch-2\.13\.0\+cpu-cp311-cp311-manylinux_2_28_x86_64\.whl", torch_links[0])
    assert [text for _, _, text in links(f"{index}/cpu/torchvision/")] == [cpu["torchvision"].name]


@pytest.mark.parametrize("build", sorted(FAKE))
def test_published_hashes_are_the_files_hashes(index, build):
    for project in ("torch", "torchvision"):
        [(href, attrs, name)] = links(f"{index}/{build}/{project}/")
        url, _, fragment = href.partition("#")
        data = get(host(index) + url)
        assert fragment == f"sha256={hashlib.sha256(data).hexdigest()}"
        metadata = get(host(index) + url + ".metadata")
        assert attrs["data-core-metadata"] == f"sha256={hashlib.sha256(metadata).hexdigest()}"
        assert attrs["data-dist-info-metadata"] == attrs["data-core-metadata"]
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            dist_info = name.split("-py3")[0] + ".dist-info"
            assert archive.read(f"{dist_info}/METADATA") == metadata


@pytest.mark.parametrize("build", sorted(FAKE))
def test_fake_wheels_are_valid_wheels(fake_dir, build):
    """WHEEL, METADATA and a RECORD whose hashes and sizes are those of the archive's files (PEP 427/376)."""
    torch_file, vision_file, _ = FAKE[build]
    for filename in (torch_file, vision_file):
        wheel = fake_dir / build / filename
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            dist_info = filename.split("-py3")[0] + ".dist-info"
            assert {f"{dist_info}/METADATA", f"{dist_info}/WHEEL", f"{dist_info}/RECORD"} <= names
            rows = list(csv.reader(io.StringIO(archive.read(f"{dist_info}/RECORD").decode())))
            assert {row[0] for row in rows} == names
            for path, digest, size in rows:
                if path.endswith("/RECORD"):
                    assert digest == size == ""
                    continue
                data = archive.read(path)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert (digest, int(size)) == (f"sha256={expected}", len(data))
            assert "Tag: py3-none-any" in archive.read(f"{dist_info}/WHEEL").decode()
            metadata = archive.read(f"{dist_info}/METADATA").decode()
        name, version = filename.split("-")[:2]
        assert f"\nName: {name}\n" in metadata and f"\nVersion: {version}\n" in metadata
        if name == "torchvision":
            assert f"Requires-Dist: torch=={TORCH_PIN[build]}\n" in metadata


def test_fake_wheels_are_reproducible(tmp_path, fake_dir):
    again = build_fake_wheels(tmp_path)
    for build, wheels in again.items():
        for wheel in wheels:
            assert wheel.read_bytes() == (fake_dir / build / wheel.name).read_bytes()


def test_unknown_builds_and_files_of_another_build_are_not_found(index):
    for url in (f"{index}/cu124/", f"{index}/cu124/torch/", f"{index}/cu130/numpy/",
                f"{host(index)}/files/cpu/{FAKE['cu130'][0]}",
                f"{host(index)}/files/cu126/{FAKE['cu130'][0]}"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(url)
        assert caught.value.code == 404, url


def test_unknown_build_is_refused_when_serving():
    with pytest.raises(ValueError, match="cu124"), serve_torch_index(builds={"cu124": ()}):
        pass


@pytest.fixture
def uv() -> str:
    found = uv_executable()
    if found is None:
        pytest.skip("uv is not installed")
    return str(found)


@pytest.mark.parametrize("build", ["cu126", "cu128", "cu130", "cu132"])
def test_fake_wheels_install_with_uv_and_report_their_build(tmp_path, index, uv, build):
    torch_file, vision_file, cuda = FAKE[build]
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, check=True,
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([uv, "pip", "install", "--python", str(python), "--index-url", f"{index}/{build}",
                           "torch", "torchvision"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = ("import torch, torchvision; print(torch.__version__, torch.version.cuda,"
             " torch.cuda.is_available(), torch.cuda.device_count(), torch.backends.mps.is_available(),"
             " torchvision.__version__)")
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    torch_version, vision_version = torch_file.split("-")[1], vision_file.split("-")[1]
    assert out.stdout.split() == [torch_version, cuda, "False", "0", "False", vision_version]


def test_fake_wheels_install_offline_from_the_files_alone(tmp_path, fake_dir, uv):
    """No server, no network at all: uv installs the stand-ins from the folder (a valid wheel, not just a
    listing the server makes up)."""
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--offline", "--python", sys.executable, str(venv)], env=env,
                   check=True, capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([uv, "pip", "install", "--offline", "--no-index",
                           "--find-links", str(fake_dir / "cu132"),
                           "--python", str(python), "torchvision==0.28.0+cu132"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = subprocess.run([str(python), "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["2.13.0+cu132", "13.2"]
