"""reproml.gpu: driver parsing, the CUDA build table, the choice per accelerator, and the shell form."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reproml import gpu

PROC_PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)
PROC_OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 06:54:38 UTC 2025\n"
    "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n"
)
PROC_AARCH64 = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  535.104.05  Release Build  (x)  Sat Aug 19\n"
)


@pytest.fixture(autouse=True)
def no_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in gpu.DRIVER_ENV_VARS:
        monkeypatch.delenv(var, raising=False)


# Per driver, written out by hand from PyTorch's matrix (cu130/cu132 >= 580, cu126 >= 525.60.13), never
# computed with gpu: (driver, newest CUDA build, what `auto` gets on Linux, what `cuda` gets on Linux).
# `cuda`: no driver -> cu130 (CUDA wheels before a driver is installed); a driver too old for every build ->
# cu126 (the least driver upgrade).
RECOMMENDATIONS = [
    (None, None, "cpu", "cu130"),  # no GPU / no driver yet
    ("450.80.02", None, "cpu", "cu126"),
    ("450", None, "cpu", "cu126"),
    ("470.256.02", None, "cpu", "cu126"),  # old code gave cu130 here
    ("470", None, "cpu", "cu126"),
    ("525", None, "cpu", "cu126"),  # 525.0.0 < 525.60.13
    ("525.60.12", None, "cpu", "cu126"),  # just below the minimum
    ("525.60.13", "cu126", "cu126", "cu126"),  # exactly the minimum
    ("535", "cu126", "cu126", "cu126"),
    ("535.104.05", "cu126", "cu126", "cu126"),
    ("550", "cu126", "cu126", "cu126"),
    ("550.54.14", "cu126", "cu126", "cu126"),
    ("579.99", "cu126", "cu126", "cu126"),
    ("580", "cu130", "cu130", "cu130"),
    ("580.65.06", "cu130", "cu130", "cu130"),
    ("590", "cu130", "cu130", "cu130"),
    ("590.44.01", "cu130", "cu130", "cu130"),
]


@pytest.mark.parametrize(("driver", "newest", "auto", "cuda"), RECOMMENDATIONS)
def test_recommendation_per_driver(driver: str | None, newest: str | None, auto: str, cuda: str) -> None:
    assert gpu.newest_cuda_build(driver) == newest
    assert gpu.choose_build("auto", driver, "Linux") == auto
    assert gpu.choose_build("cuda", driver, "Linux") == cuda
    assert gpu.choose_build("cpu", driver, "Linux") == "cpu"
    for fixed in ("cu126", "cu130", "cu132"):
        assert gpu.choose_build(fixed, driver, "Linux") == fixed


def test_an_unreadable_driver_counts_as_none() -> None:
    assert gpu.choose_build("auto", "garbage", "Linux") == "cpu"
    assert gpu.choose_build("cuda", "garbage", "Linux") == "cu130"


# (driver, build, supported?) by hand.
SUPPORT = [
    (None, "cu126", False), (None, "cpu", True), ("470.256.02", "cu126", False), ("525.60.13", "cu126", True),
    ("579.99", "cu130", False), ("579.99", "cu132", False), ("580", "cu130", True), ("580", "cu132", True),
    ("590", "cu126", True), ("garbage", "cu126", False),
]


@pytest.mark.parametrize(("driver", "build", "ok"), SUPPORT)
def test_supports(driver: str | None, build: str, ok: bool) -> None:
    assert gpu.supports(driver, build) is ok


def test_table_is_newest_first_and_offers_exactly_these_builds() -> None:
    assert gpu.CUDA_BUILDS == (("cu130", "580"), ("cu126", "525.60.13"))
    assert gpu.ACCELERATORS == ("auto", "cpu", "cuda", "cu126", "cu130", "cu132")
    rows = [(b.name, b.minimum_driver, b.driver_cuda, b.conda_cuda_version, b.extra) for b in gpu.CUDA_TABLE]
    assert rows == [
        ("cu132", "580", "13.0", "13.2.*", False),
        ("cu130", "580", "13.0", "13.0.*", True),
        ("cu126", "525.60.13", "12.0", "12.6.*", True),
    ]
    assert gpu.minimum_driver("cu132") == "580"
    assert gpu.minimum_driver("cu126") == "525.60.13"
    with pytest.raises(ValueError, match="unknown CUDA build"):
        gpu.minimum_driver("cu128")


def test_fixed_builds_are_kept_and_support_is_a_separate_question() -> None:
    assert gpu.choose_build("cu130", "550.54.14", "Linux") == "cu130"
    assert not gpu.supports("550.54.14", "cu130")
    assert gpu.supports("550.54.14", "cu126")
    assert gpu.supports("550.54.14", "cu126")
    assert not gpu.supports(None, "cu126")
    assert gpu.supports(None, "cpu")
    assert gpu.supports("580", "cu130")
    assert gpu.minimum_driver("cu130") == "580"


def test_macos_always_gets_cpu_and_windows_gets_cuda() -> None:
    assert gpu.choose_build("auto", "580", "Darwin") == "cpu"
    assert gpu.choose_build("cu132", "580", "Darwin") == "cpu"
    assert gpu.choose_build("auto", "580.88", "Windows") == "cu130"


def test_unknown_accelerator_or_build_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown accelerator"):
        gpu.choose_build("rocm", "580", "Linux")
    with pytest.raises(ValueError, match="unknown CUDA build"):
        gpu.minimum_driver("cu118")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(PROC_PROPRIETARY, "550.54.14"), (PROC_OPEN, "580.65.06"), (PROC_AARCH64, "535.104.05")],
)
def test_parse_proc_version(text: str, expected: str) -> None:
    assert gpu.parse_proc_version(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550.54.14\n", "550.54.14"),
        ("580.65.06\n580.65.06\n", "580.65.06"),  # two GPUs
        ("  535.104.05 \r\n", "535.104.05"),
    ],
)
def test_parse_nvidia_smi(text: str, expected: str) -> None:
    assert gpu.parse_nvidia_smi(text) == expected


@pytest.mark.parametrize(
    "odd",
    [
        "",
        None,
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n",
        "No devices were found\n",
        "[N/A]\n",
        "\x00\xff garbage \n\n",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  Thu Feb 22 01:44:30 UTC 2024\n",
        "550.54.14.2.1\n",
        "99999.1\n",
    ],
)
def test_odd_output_gives_none(odd: str | None) -> None:
    assert gpu.parse_nvidia_smi(odd) is None
    assert gpu.parse_proc_version(odd) is None
    assert gpu.parse_driver_version(odd) is None


def test_seam_reproml_first_then_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CUDA_DRIVER_VERSION", "535.104.05")
    assert gpu.detect_driver() == gpu.Driver("535.104.05", "UV_CUDA_DRIVER_VERSION")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "580.65.06")
    driver = gpu.detect_driver()
    assert (driver.version, driver.source, driver.newest_build) == (
        "580.65.06",
        "REPROML_CUDA_DRIVER_VERSION",
        "cu130",
    )
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "none")
    assert gpu.detect_driver() == gpu.Driver(None, "REPROML_CUDA_DRIVER_VERSION")


def test_bad_seam_value_is_a_problem_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "latest")
    driver = gpu.detect_driver()
    assert driver.version is None
    assert driver.problem and "REPROML_CUDA_DRIVER_VERSION" in driver.problem


def test_detect_reads_proc_then_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "SYS_MODULE_VERSION", tmp_path / "absent")
    proc = tmp_path / "version"
    proc.write_text(PROC_OPEN)
    monkeypatch.setattr(gpu, "PROC_VERSION", proc)
    assert gpu.detect_driver() == gpu.Driver("580.65.06", str(proc))

    # No driver files: a fake nvidia-smi on PATH answers.
    proc.unlink()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 535.104.05\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert gpu.detect_driver() == gpu.Driver("535.104.05", "nvidia-smi")

    # An nvidia-smi that fails: no driver, and the reason is kept for a warning.
    fake.write_text('#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate" >&2\nexit 9\n')
    driver = gpu.detect_driver()
    assert driver.version is None and driver.problem and "NVIDIA-SMI has failed" in driver.problem


def test_detect_with_garbage_proc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "SYS_MODULE_VERSION", tmp_path / "absent")
    proc = tmp_path / "version"
    proc.write_bytes(b"\xff\xfe not a version\n")
    monkeypatch.setattr(gpu, "PROC_VERSION", proc)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    driver = gpu.detect_driver()
    assert driver.version is None and driver.problem and "no driver version" in driver.problem


SHELLS = [s for s in ("sh", "bash", "dash") if shutil.which(s)]


def _shell(shell: str, script: Path, call: str, driver: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REPROML_CUDA_DRIVER_VERSION=driver or "none")
    return subprocess.run([shell, "-c", f'. "{script}"; {call}'], env=env, capture_output=True, text=True,
                          timeout=10)


@pytest.mark.parametrize("shell", SHELLS)
def test_shell_function_gives_the_table_and_agrees_with_python(shell: str, tmp_path: Path) -> None:
    script = tmp_path / "fn.sh"
    script.write_text(gpu.shell_function())
    for driver, _newest, auto, cuda in RECOMMENDATIONS:
        expected = {"auto": auto, "cuda": cuda, "cpu": "cpu",
                    "cu126": "cu126", "cu130": "cu130", "cu132": "cu132"}
        for accelerator, build in expected.items():
            out = _shell(shell, script, f"reproml_cuda_build {accelerator}", driver).stdout.strip()
            assert out == build == gpu.choose_build(accelerator, driver, "Linux"), (driver, accelerator)
    for driver, build, ok in SUPPORT:
        done = _shell(shell, script, f"reproml_cuda_build_supports {build}", driver)
        assert (done.returncode == 0) is ok, (driver, build)


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_shell_function_passes_shellcheck(tmp_path: Path) -> None:
    script = tmp_path / "fn.sh"
    script.write_text(gpu.shell_function())
    done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout


@pytest.mark.skipif(not shutil.which("sed"), reason="sed not installed")
@pytest.mark.parametrize(
    ("text", "expected"),
    [(PROC_PROPRIETARY, "550.54.14"), (PROC_OPEN, "580.65.06"), (PROC_AARCH64, "535.104.05")],
)
def test_shell_form_reads_proc_like_python(tmp_path: Path, text: str, expected: str) -> None:
    # The open kernel module names the architecture (x86_64) before the version: it must not be read as "86".
    proc = tmp_path / "version"
    proc.write_text(text)
    out = subprocess.run(["sed", "-n", gpu._PROC_SED, str(proc)], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == expected == gpu.parse_proc_version(text)
