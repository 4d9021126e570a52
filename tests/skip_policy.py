"""No silent skips in CI: with ``CI=true`` in the environment (CI sets it, ``.ci/run`` exports it), a test
that skips for a reason not listed in :data:`ALLOWED_SKIPS` fails instead, and a module skipped at collection
is a collection error. ``python -m pytest`` stays the one test command; outside CI skips stay skips.

tests/conftest.py imports the hooks below, which is what activates them for the suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

ENV_VAR = "CI"
_ENFORCED = pytest.StashKey[bool]()
_UNEXPECTED = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class AllowedSkip:
    marker: str  # the test must carry this marker
    reason: str  # the exact skip reason
    why: str  # why this skip is legitimate on a CI machine of this project


# Every entry needs a reason that holds on each machine CI runs on. Nothing else may skip there: a missing
# tool (nix, direnv, shellcheck, uv) or the PyTorch CPU wheel on disk is .ci/run's job to provide.
ALLOWED_SKIPS: tuple[AllowedSkip, ...] = (
    AllowedSkip("gpu", "no NVIDIA driver on this machine",
                "CI machines have no GPU; the GPU tests run (and must pass) wherever an NVIDIA driver is"),
)


def enforced_by_env(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    return environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def is_allowed(reason: str, markers: Iterable[str]) -> bool:
    names = set(markers)
    return any(a.reason == reason and a.marker in names for a in ALLOWED_SKIPS)


def _message(nodeid: str, reason: str) -> str:
    return (f"unexpected skip in CI ({ENV_VAR}=true): {nodeid}: {reason!r}. Provide what the test needs in "
            ".ci/run, or add a justified entry to ALLOWED_SKIPS in tests/skip_policy.py")


def pytest_configure(config: pytest.Config) -> None:
    # Read once: a test that changes the variable must not switch the policy for the rest of the session.
    config.stash[_ENFORCED] = enforced_by_env()
    config.stash[_UNEXPECTED] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not item.config.stash.get(_ENFORCED, False) or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if is_allowed(reason, (m.name for m in item.iter_markers())):
        return
    message = _message(item.nodeid, reason)
    item.config.stash[_UNEXPECTED].append(message)
    report.outcome = "failed"
    report.longrepr = message


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if not collector.config.stash.get(_ENFORCED, False) or not report.skipped:
        return
    reason = skip_reason(report)
    if is_allowed(reason, (m.name for m in collector.iter_markers())):
        return
    message = _message(collector.nodeid, reason)
    collector.config.stash[_UNEXPECTED].append(message)
    report.outcome = "failed"
    report.longrepr = message


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    unexpected = config.stash.get(_UNEXPECTED, [])
    if unexpected:
        terminalreporter.section("unexpected skips (CI fails on these)", red=True, bold=True)
        for line in unexpected:
            terminalreporter.write_line(line)
