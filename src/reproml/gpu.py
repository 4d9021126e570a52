"""NVIDIA driver detection and the choice of PyTorch build (CPU or a CUDA build) for this machine.

The table
---------
``CUDA_TABLE`` is the one table of the CUDA builds reproml knows, newest first: per build the minimum Linux
NVIDIA driver, the CUDA version that driver supports (what Pixi's ``system-requirements.cuda`` asks for), the
conda-forge ``cuda-version`` pin of the same build, and whether ``auto`` / ``cuda`` projects carry it as an
extra::

    cu132  driver >= 580        CUDA 13.0  cuda-version 13.2.*  (fixed only)
    cu130  driver >= 580        CUDA 13.0  cuda-version 13.0.*  extra of auto/cuda projects
    cu126  driver >= 525.60.13  CUDA 12.0  cuda-version 12.6.*  extra of auto/cuda projects

PyTorch 2.12 and later publish cu126, cu130 and cu132 (plus cpu); CUDA 12.8 was dropped (its index stops at
torch 2.11), so cu128 is no longer offered. cu132 can be asked for by name but is not an extra of ``auto``
projects: it needs the same driver as cu130. ``CUDA_BUILDS`` (the extras, newest first, with their minimum
driver) and ``ACCELERATORS`` are derived from the table.

The newest build a driver supports is the first row whose minimum the driver meets; a driver below every
minimum (or no driver) means CPU. Keep this the one copy of the table: the template's ``.envrc`` gets the same
logic from :func:`shell_function`, which is generated from ``CUDA_BUILDS``.

Where the driver version comes from (:func:`detect_driver`), first hit wins
----------------------------------------------------------------------------
1. ``REPROML_CUDA_DRIVER_VERSION``, then ``UV_CUDA_DRIVER_VERSION`` (the variable uv itself honours): a
   version string such as ``550.54.14`` poses as that driver; ``none`` poses as a machine without an NVIDIA
   GPU. An empty value counts as unset. These are the test seams.
2. ``/sys/module/nvidia/version`` (the loaded kernel module).
3. ``/proc/driver/nvidia/version`` (``NVRM version: NVIDIA UNIX ... Kernel Module  550.54.14  ...``).
4. ``nvidia-smi --query-gpu=driver_version --format=csv,noheader`` with a 5 s timeout.

The order matches uv's ``--torch-backend=auto`` detection, so reproml and uv agree on a machine.

Choosing a build (:func:`choose_build`)
---------------------------------------
``accelerator`` is the project's answer:

- ``auto``: the newest extra the driver supports, else CPU.
- ``cuda``: the newest extra the driver supports; with NO driver the newest extra (CUDA wheels before a driver
  is installed, e.g. in an image build); with a driver too old for every extra the extra that needs the
  oldest driver (the least driver upgrade; ``reproml doctor`` warns).
- ``cpu``: CPU. ``cu126`` / ``cu130`` / ``cu132``: as asked (whether the driver can run them is
  :func:`supports`'s question).

macOS always gets CPU: PyTorch publishes no CUDA wheels for it. An unreadable driver version counts as none.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACCELERATORS",
    "CUDA_BUILDS",
    "CUDA_TABLE",
    "CudaBuild",
    "DRIVER_ENV_VARS",
    "Driver",
    "choose_build",
    "detect_driver",
    "minimum_driver",
    "newest_cuda_build",
    "parse_driver_version",
    "parse_nvidia_smi",
    "parse_proc_version",
    "cuda_build",
    "shell_function",
    "supports",
    "version_tuple",
]



@dataclass(frozen=True)
class CudaBuild:
    """One row of :data:`CUDA_TABLE`."""

    name: str  # the PyTorch index / extra name, "cu130"
    minimum_driver: str  # the oldest Linux NVIDIA driver that runs it
    driver_cuda: str  # the CUDA version that minimum driver supports (Pixi system-requirements.cuda)
    conda_cuda_version: str  # the conda-forge cuda-version pin of this build (Pixi)
    extra: bool  # an extra of auto / cuda projects


# Every CUDA build reproml offers, newest first. THE one copy: everything else is derived from it.
CUDA_TABLE: tuple[CudaBuild, ...] = (
    CudaBuild("cu132", "580", "13.0", "13.2.*", extra=False),
    CudaBuild("cu130", "580", "13.0", "13.0.*", extra=True),
    CudaBuild("cu126", "525.60.13", "12.0", "12.6.*", extra=True),
)
# The extras of auto / cuda projects, newest first, with the minimum driver each needs.
CUDA_BUILDS: tuple[tuple[str, str], ...] = tuple((b.name, b.minimum_driver) for b in CUDA_TABLE if b.extra)
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "cuda", *(b.name for b in reversed(CUDA_TABLE)))
DRIVER_ENV_VARS = ("REPROML_CUDA_DRIVER_VERSION", "UV_CUDA_DRIVER_VERSION")
SYS_MODULE_VERSION = Path("/sys/module/nvidia/version")
PROC_VERSION = Path("/proc/driver/nvidia/version")
NVIDIA_SMI_TIMEOUT = 5.0

# A driver version: a 3-4 digit major, then up to two numeric parts (580, 550.54, 450.80.02, 580.65.06).
_VERSION = re.compile(r"^(\d{3,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?$")


@dataclass(frozen=True)
class Driver:
    """What :func:`detect_driver` found. ``version`` None means no NVIDIA driver (or none readable)."""

    version: str | None
    source: str  # the seam variable, the file read, "nvidia-smi", or "none"
    problem: str | None = None  # something odd on the way (unreadable output, a timeout): worth a warning

    @property
    def newest_build(self) -> str | None:
        return newest_cuda_build(self.version)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"525.60.13"`` -> ``(525, 60, 13)``; raises ValueError for anything else."""
    match = _VERSION.match(version.strip())
    if not match:
        raise ValueError(f"not a driver version: {version!r}")
    return tuple(int(part) for part in match.groups() if part is not None)


def parse_driver_version(text: str | None, *, dotted: bool = False) -> str | None:
    """A bare driver version (``"550.54.14"``; ``"580"`` too unless ``dotted``), or None."""
    if not text:
        return None
    candidate = text.strip()
    if dotted and "." not in candidate:
        return None
    try:
        version_tuple(candidate)
    except ValueError:
        return None
    return candidate


def parse_proc_version(text: str | None) -> str | None:
    """The driver version in ``/proc/driver/nvidia/version`` text, or None.

    Handles both kernel modules: ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 ...``
    and ``NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (...)  ...``.
    """
    if not text:
        return None
    for line in text.splitlines():
        if not line.startswith("NVRM version:"):
            continue
        for token in line.split():
            found = parse_driver_version(token, dotted=True)
            if found:
                return found
    return None


def parse_nvidia_smi(text: str | None) -> str | None:
    """The driver version from ``nvidia-smi --query-gpu=driver_version --format=csv,noheader`` (one line per
    GPU; the first wins), or None for anything else ("NVIDIA-SMI has failed ...", "No devices were found")."""
    if not text:
        return None
    for line in text.splitlines():
        found = parse_driver_version(line.strip().strip(","), dotted=True)
        if found:
            return found
    return None


def cuda_build(build: str) -> CudaBuild:
    """The row of :data:`CUDA_TABLE` for ``build``; ValueError for others."""
    for row in CUDA_TABLE:
        if row.name == build:
            return row
    offered = ", ".join(row.name for row in reversed(CUDA_TABLE))
    raise ValueError(f"unknown CUDA build {build!r}; reproml offers {offered}")


def minimum_driver(build: str) -> str:
    """The minimum Linux driver for a CUDA build in CUDA_TABLE; ValueError for others."""
    return cuda_build(build).minimum_driver


def supports(driver: str | None, build: str) -> bool:
    """Whether ``driver`` can run ``build`` (``cpu`` runs everywhere; no driver runs no CUDA build)."""
    if build == "cpu":
        return True
    minimum = version_tuple(minimum_driver(build))
    if driver is None:
        return False
    try:
        return _padded(version_tuple(driver)) >= _padded(minimum)
    except ValueError:
        return False


def newest_cuda_build(driver: str | None) -> str | None:
    """The newest CUDA build ``driver`` supports (``"cu130"``, ``"cu126"``), or None (CPU)."""
    if driver is None:
        return None
    for build, _ in CUDA_BUILDS:
        if supports(driver, build):
            return build
    return None


def choose_build(accelerator: str, driver: str | None, system: str) -> str:
    """The PyTorch build a project with this ``accelerator`` answer gets on this machine: "cpu" or "cuXXX".

    ``system`` is ``platform.system()`` ("Linux", "Windows", "Darwin"). Fixed builds are returned as asked,
    even when the driver is too old: check that with :func:`supports`.
    """
    if accelerator not in ACCELERATORS:
        raise ValueError(f"unknown accelerator {accelerator!r}; expected one of {', '.join(ACCELERATORS)}")
    if system.lower() not in ("linux", "windows") or accelerator == "cpu":
        return "cpu"
    if accelerator not in ("auto", "cuda"):
        return accelerator
    driver = parse_driver_version(driver)  # an unreadable version counts as no driver
    newest = newest_cuda_build(driver)
    if newest or accelerator == "auto":
        return newest or "cpu"
    if driver is None:  # CUDA wheels even before a driver is installed (an image build; doctor warns)
        return CUDA_BUILDS[0][0]
    # A driver too old for every build: the build that needs the least driver upgrade (doctor warns).
    return min(CUDA_BUILDS, key=lambda row: _padded(version_tuple(row[1])))[0]


def detect_driver(environ: dict[str, str] | None = None) -> Driver:
    """The NVIDIA driver of this machine (see the module docstring for the order). Never raises."""
    env = os.environ if environ is None else environ
    for var in DRIVER_ENV_VARS:
        value = env.get(var, "").strip()
        if not value:
            continue
        if value.lower() == "none":
            return Driver(None, var)
        version = parse_driver_version(value)
        if version:
            return Driver(version, var)
        return Driver(None, var, f"{var}={value!r} is not a driver version (use e.g. 550.54.14, or none)")

    problems = []
    for path, parse in ((SYS_MODULE_VERSION, parse_driver_version), (PROC_VERSION, parse_proc_version)):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        version = parse(text)
        if version:
            return Driver(version, str(path))
        problems.append(f"{path} has no driver version in it")

    from reproml import process

    if process.which("nvidia-smi"):
        done = process.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            timeout=NVIDIA_SMI_TIMEOUT,
            check=False,
        )
        version = parse_nvidia_smi(done.stdout) if done.ok else None
        if version:
            return Driver(version, "nvidia-smi")
        reason = (
            "timed out" if done.returncode == 124 else process.last_line(done.stdout + "\n" + done.stderr)
        )
        problems.append(f"nvidia-smi gave no driver version ({reason})")
    return Driver(None, "none", "; ".join(problems) or None)


_PROC_SED = (
    r"s/^NVRM version:.*[[:space:]]\([0-9][0-9]*\.[0-9][0-9]*\(\.[0-9][0-9]*\)\{0,1\}\)[[:space:]].*/\1/p"
)


def shell_function(name: str = "reproml_cuda_build") -> str:
    """A POSIX sh function, generated from CUDA_TABLE, that prints the build for an accelerator answer.

    ``name ACCELERATOR`` prints ``cpu`` or ``cuXXX`` exactly like :func:`choose_build` with the driver from
    the same sources as :func:`detect_driver` (seams, /sys, /proc, nvidia-smi with a 5 s timeout when
    ``timeout`` is available); ``name_supports BUILD`` answers like :func:`supports` for this machine's
    driver. For a template's ``.envrc``; it only uses sh, sed, head, tr and uname.
    """
    rows = "\n".join(f"        {row.name}) echo {row.minimum_driver} ;;" for row in CUDA_TABLE)
    builds = " ".join(build for build, _ in CUDA_BUILDS)
    newest = CUDA_BUILDS[0][0]
    least_upgrade = min(CUDA_BUILDS, key=lambda row: _padded(version_tuple(row[1])))[0]
    return f"""\
# Generated from reproml.gpu.CUDA_TABLE: the CUDA builds and the minimum driver each needs.
{name}_driver() {{
    for _v in "${{REPROML_CUDA_DRIVER_VERSION:-}}" "${{UV_CUDA_DRIVER_VERSION:-}}"; do
        if [ -n "$_v" ]; then
            [ "$_v" = none ] || printf '%s\\n' "$_v"
            return 0
        fi
    done
    if [ -r /sys/module/nvidia/version ]; then
        head -n 1 /sys/module/nvidia/version
    elif [ -r /proc/driver/nvidia/version ]; then
        sed -n '{_PROC_SED}' \\
            /proc/driver/nvidia/version | head -n 1
    elif command -v nvidia-smi >/dev/null 2>&1; then
        if command -v timeout >/dev/null 2>&1; then _t="timeout 5"; else _t=""; fi
        $_t nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' \\r'
    fi
}}
# {name}_ge A B: is version A >= version B (numeric, dot-separated, missing parts count as 0)?
{name}_ge() {{
    _a=$1 _b=$2
    while [ -n "$_a$_b" ]; do
        _x=${{_a%%.*}} _y=${{_b%%.*}}
        _x=${{_x:-0}} _y=${{_y:-0}}
        case "$_x$_y" in *[!0-9]*) return 1 ;; esac
        [ "$_x" -gt "$_y" ] && return 0
        [ "$_x" -lt "$_y" ] && return 1
        case "$_a" in *.*) _a=${{_a#*.}} ;; *) _a="" ;; esac
        case "$_b" in *.*) _b=${{_b#*.}} ;; *) _b="" ;; esac
    done
    return 0
}}
# {name}_min BUILD: the minimum driver of a CUDA build (fails for anything else).
{name}_min() {{
    case "$1" in
{rows}
        *) return 1 ;;
    esac
}}
# {name}_supports BUILD: can this machine's driver run BUILD (cpu: always; no driver: no CUDA build)?
{name}_supports() {{
    [ "$1" = cpu ] && return 0
    _min=$({name}_min "$1") || return 1
    _drv=$({name}_driver)
    case "$_drv" in ''|*[!0-9.]*) return 1 ;; esac
    {name}_ge "$_drv" "$_min"
}}
# {name} ACCELERATOR: prints cpu or the CUDA build (auto/cuda: newest the driver supports; cuXXX: as asked).
{name}() {{
    case "$(uname -s)" in Linux|MINGW*|MSYS*|CYGWIN*) ;; *) echo cpu; return 0 ;; esac
    case "$1" in
        cpu) echo cpu; return 0 ;;
        auto|cuda) ;;
        *) echo "$1"; return 0 ;;
    esac
    _drv=$({name}_driver)
    # auto: cpu without a usable driver. cuda: {newest} without a driver (CUDA wheels before one is
    # installed), {least_upgrade} with one too old for every build (the least driver upgrade).
    if [ "$1" = cuda ]; then _none={newest} _old={least_upgrade}; else _none=cpu _old=cpu; fi
    case "$_drv" in ''|*[!0-9.]*) echo "$_none"; return 0 ;; esac
    for _build in {builds}; do
        if {name}_ge "$_drv" "$({name}_min "$_build")"; then echo "$_build"; return 0; fi
    done
    echo "$_old"
}}
"""


def _padded(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * (3 - len(parts))
