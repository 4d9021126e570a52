"""One error base class; the CLI turns any ReproError into one line on stderr and its exit code.

Exit codes: 1 other errors (an OSError names the path and the cause), 2 bad input, 3 destination, 4 tool
failure, 5 not a project, 6 merge needed (`new --force`, `update` conflicts), 130 Ctrl-C, 143 SIGTERM and
129 SIGHUP during `new`.
"""

from __future__ import annotations


class ReproError(Exception):
    """A problem the user can act on. ``str(error)`` is the one-line message shown to them."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        text = str(self).strip().replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(ReproError):
    """Bad input on the command line: unknown preset, bad name, bad version."""

    exit_code = 2


class DestinationError(ReproError):
    """The target folder cannot be written as asked (not empty, not writable)."""

    exit_code = 3


class ToolError(ReproError):
    """An external tool (uv, pixi, nix, git, jupyter) failed or is missing."""

    exit_code = 4


class ProjectError(ReproError):
    """The folder is not a reproml project, or its files are inconsistent."""

    exit_code = 5


class MergeNeeded(ReproError):
    """`new --force` kept a user's file that differs from reproml's and wrote reproml's beside it
    (``FILE.reproml-new``): the project is there, and the user must finish the merge."""

    exit_code = 6


class Interrupted(ReproError):
    """Ctrl-C (130), or SIGTERM / SIGHUP during `new` (128 + the signal: 143, 129), as shells report them."""

    exit_code = 130

    def __init__(self, message: str, *, signal_number: int | None = None) -> None:
        super().__init__(message)
        if signal_number is not None:
            self.exit_code = 128 + signal_number
