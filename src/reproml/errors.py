"""One error base class; the CLI turns any ReproError into one line on stderr and its exit code."""

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


class Interrupted(ReproError):
    exit_code = 130
