"""Signals while reproml changes files: `new`, `add`/`remove` and `update` share these three rules.

- `stopping()`: SIGTERM and SIGHUP (timeout, CI cancellation, a closed terminal) raise `Stopped`, a
  KeyboardInterrupt, so the same cleanups run as for Ctrl-C.
- `held()`: Ctrl-C, SIGTERM and SIGHUP wait until a short block (renames, a restore) has finished.
- `ignored()`: they are ignored during a step that must not be cut at all (git's merge).

Outside the main thread Python cannot handle signals: there the handlers are left as they are.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from reproml.errors import Interrupted

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that cleanups run."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number

    def as_error(self, outcome: str) -> Interrupted:
        """The CLI's error for this stop: 'stopped by SIGTERM; <outcome>', exit 128 + the signal."""
        name = signal.Signals(self.signal_number).name
        return Interrupted(f"stopped by {name}; {outcome}", signal_number=self.signal_number)


def _raise_stopped(signal_number: int, frame: object) -> None:
    raise Stopped(signal_number)


@contextmanager
def _handlers(numbers: tuple[int, ...], handler: object, *, keep_ignored: bool) -> Iterator[None]:
    previous = {}
    try:
        for number in numbers:
            if keep_ignored and signal.getsignal(number) == signal.SIG_IGN:
                continue  # ignored on purpose (`nohup` ignores SIGHUP): stays ignored
            previous[number] = signal.signal(number, handler)  # type: ignore[arg-type]
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old if old is not None else signal.SIG_DFL)


def stopping() -> AbstractContextManager[None]:
    """SIGTERM and SIGHUP raise `Stopped` inside the block."""
    return _handlers(STOP_SIGNALS, _raise_stopped, keep_ignored=True)


def ignored() -> AbstractContextManager[None]:
    """Ctrl-C, SIGTERM and SIGHUP are ignored inside the block."""
    return _handlers((signal.SIGINT, *STOP_SIGNALS), signal.SIG_IGN, keep_ignored=False)


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP are delivered when the block ends, never inside it."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, *STOP_SIGNALS})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
