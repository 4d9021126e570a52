"""The suite's own rules: with CI=true a skip not on the allow-list fails the run (tests/skip_policy.py), and
permission tests run as an unprivileged user instead of skipping under root (helpers.run_as_unprivileged)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import path_without

TESTS = Path(__file__).resolve().parent

CONFTEST = """\
from skip_policy import (  # noqa: F401
    pytest_configure, pytest_make_collect_report, pytest_runtest_makereport, pytest_terminal_summary,
)
"""

TESTS_FILE = """\
import pytest

@pytest.fixture
def needs_a_tool():
    pytest.skip("direnv is not installed")

@pytest.mark.gpu
def test_gpu_without_driver():
    pytest.skip("no NVIDIA driver on this machine")

def test_same_reason_without_the_gpu_marker():
    pytest.skip("no NVIDIA driver on this machine")

@pytest.mark.skipif(True, reason="uv is not installed")
def test_skipif_marker():
    pass

def test_fixture_skip(needs_a_tool):
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
"""


def sub_pytest(folder: Path, ci: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """A real pytest run in ``folder`` with the skip policy loaded as tests/conftest.py loads it."""
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a GPU\n")
    (folder / "conftest.py").write_text(CONFTEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(TESTS)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def counts(output: str) -> dict[str, int]:
    """pytest's closing line as numbers: {"passed": 1, "skipped": 1, ...}."""
    last = output.strip().splitlines()[-1]
    return {word.rstrip("s") if word == "errors" else word: int(n)
            for n, word in re.findall(r"(\d+) (passed|failed|skipped|xfailed|errors?|deselected)", last)}


def test_in_ci_each_skip_not_on_the_allow_list_fails_with_its_reason(tmp_path):
    (tmp_path / "test_some.py").write_text(TESTS_FILE)
    done = sub_pytest(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    out = done.stdout
    # The allowed skip (gpu marker and its exact reason) stays a skip; xfail is no skip.
    assert "SKIPPED [1] test_some.py:9: no NVIDIA driver on this machine" in out
    assert "XFAIL test_some.py::test_expected_failure" in out
    for test, reason in [("test_same_reason_without_the_gpu_marker", "no NVIDIA driver on this machine"),
                         ("test_skipif_marker", "uv is not installed"),
                         ("test_fixture_skip", "direnv is not installed")]:
        assert (f"unexpected skip in CI (CI=true): test_some.py::{test}: '{reason}'. Provide what the test "
                "needs in .ci/run, or add a justified entry to ALLOWED_SKIPS in tests/skip_policy.py") in out
    assert "unexpected skips (CI fails on these)" in out
    # A skip in the test body fails the test, one in a fixture or a skipif marker (setup) is an error.
    assert counts(out) == {"failed": 1, "passed": 1, "skipped": 1, "xfailed": 1, "error": 2}


def test_in_ci_only_allowed_skips_pass(tmp_path):
    (tmp_path / "test_some.py").write_text(TESTS_FILE)
    done = sub_pytest(tmp_path, "1", "-k", "gpu_without_driver or passes or expected_failure")
    assert done.returncode == 0, done.stdout
    assert counts(done.stdout) == {"passed": 1, "skipped": 1, "xfailed": 1, "deselected": 3}
    assert "unexpected skip" not in done.stdout


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_skips_stay_skips(tmp_path, ci):
    (tmp_path / "test_some.py").write_text(TESTS_FILE)
    done = sub_pytest(tmp_path, ci)
    assert done.returncode == 0, done.stdout
    assert counts(done.stdout) == {"passed": 1, "skipped": 4, "xfailed": 1}
    assert "unexpected skip" not in done.stdout


def test_in_ci_a_module_skipped_at_collection_is_an_error(tmp_path):
    (tmp_path / "test_torchy.py").write_text(
        "import pytest\n\ntorch = pytest.importorskip('no_such_torch_module')\n\ndef test_x():\n    pass\n")
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    pass\n")
    done = sub_pytest(tmp_path, "true")
    assert done.returncode == 2, done.stdout  # pytest's "interrupted": errors during collection
    assert "unexpected skip in CI (CI=true): test_torchy.py: \"could not import 'no_such_torch_module'" \
        in done.stdout
    done = sub_pytest(tmp_path, None)
    assert done.returncode == 0 and counts(done.stdout) == {"passed": 1, "skipped": 1}, done.stdout


def test_the_real_suite_enforces_it_in_ci(tmp_path):
    """Through tests/conftest.py: the nix tests on a PATH without nix fail in CI; the GPU tests on a machine
    without a driver are allowed to skip."""
    env = {**os.environ, "CI": "true", "PATH": path_without("nix", os.environ["PATH"])}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'bt'}"]
    done = subprocess.run([*args, str(TESTS / "test_nix.py"), "-k", "overlays_loader_loads_every_overlay"],
                          cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "'nix is not installed'. Provide what the test needs in .ci/run" in done.stdout
    if os.path.exists("/proc/driver/nvidia/version"):
        return  # a GPU machine: the GPU tests really run here, no skip to look at
    done = subprocess.run([*args, str(TESTS / "test_gpu_device.py")], cwd=TESTS.parent, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout


# ------------------------------------------------------------------------------------------------------------
# Permission tests as an unprivileged user


def test_unprivileged_runs_as_nobody_under_root_and_as_oneself_otherwise(unprivileged):
    expected = "65534 65534 65534" if os.geteuid() == 0 else f"{os.getuid()} {os.getgid()} {os.getgid()}"
    done = unprivileged.run(["sh", "-c", 'printf "%s %s %s" "$(id -u)" "$(id -g)" "$(id -G)"'])
    assert done.stdout == expected, done.stderr
    home = unprivileged.tmp / "home"
    assert unprivileged.env["HOME"] == str(home) and unprivileged.env["UV_CACHE_DIR"].startswith(str(home))
    # The test's git identity comes along, readable by that user.
    done = unprivileged.run(["git", "config", "--global", "user.email"])
    assert done.stdout.strip() == "ada@example.org", done.stderr
    # It owns its folder and may write there, but not where root keeps the test's own files.
    assert unprivileged.run(["touch", str(home / "mine")]).returncode == 0
    if os.geteuid() == 0:
        assert unprivileged.run(["touch", str(Path(os.environ["HOME"]) / "x")]).returncode != 0
        assert (home / "mine").stat().st_uid == 65534
