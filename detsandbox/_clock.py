"""The logical clock of a deterministic Sandbox.

Time moves only when the host advances it or sandboxed code sleeps, so every
read is a function of the run's history, never of the machine. Wall time
starts at the policy's ``start``; the monotonic clocks start at zero and can
only move forward.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Final, final

__all__ = ["DEFAULT_START", "Clock", "LocalClock", "to_epoch_ns"]

#: Where a deterministic run's wall clock starts unless the policy says otherwise.
DEFAULT_START: Final = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ns(start: datetime | float) -> int:
    """``start`` (an aware datetime, or epoch seconds) in epoch nanoseconds."""
    if isinstance(start, datetime):
        delta = start - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return round(start * 1_000_000_000)


class Clock(ABC):
    """One Sandbox's time: wall and monotonic, in nanoseconds, moved explicitly.

    The host reads it with :meth:`time` and :meth:`monotonic` and moves it
    with :meth:`advance`; sandboxed code moves it by sleeping. ``Sandbox.clock``
    is one of these on every backend: the clock itself in-process, a handle that
    reads and moves the worker's clock on a remote backend.
    """

    __slots__ = ()

    @abstractmethod
    def time_ns(self) -> int:
        """Wall-clock time in epoch nanoseconds."""

    @abstractmethod
    def time(self) -> float:
        """Wall-clock time in epoch seconds (what ``time.time()`` returns inside)."""

    @abstractmethod
    def monotonic_ns(self) -> int:
        """Nanoseconds since the run started; never decreases."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds since the run started; never decreases."""

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (refuses to move it back)."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise TypeError(f"Clock.advance() takes seconds as a number, got {seconds!r}")
        if seconds < 0:
            raise ValueError(
                f"Clock.advance() cannot move time backwards (got {seconds!r} seconds)"
            )
        self._advance(seconds)

    @abstractmethod
    def _advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, which :meth:`advance` checked."""

    def __repr__(self) -> str:
        now = datetime.fromtimestamp(self.time(), UTC).isoformat()
        return f"<detsandbox.Clock {now}, {self.monotonic():g}s elapsed>"


@final
class LocalClock(Clock):
    """The clock itself, kept by a deterministic Sandbox's run."""

    __slots__ = ("_elapsed_ns", "_lock", "_start_ns", "elapsed_s", "now_ns", "now_s")

    def __init__(self, start_ns: int) -> None:
        self._start_ns = start_ns
        self._elapsed_ns = 0
        self._lock = threading.Lock()
        self._settle()

    def _settle(self) -> None:
        # Kept as plain attributes, so a substituted clock read is one
        # attribute lookup (see _substitutes: attrgetter, no Python frame).
        self.now_ns = self._start_ns + self._elapsed_ns
        self.now_s = self.now_ns / 1e9
        self.elapsed_s = self._elapsed_ns / 1e9

    def time_ns(self) -> int:
        return self._start_ns + self._elapsed_ns

    def time(self) -> float:
        return (self._start_ns + self._elapsed_ns) / 1e9

    def monotonic_ns(self) -> int:
        return self._elapsed_ns

    def monotonic(self) -> float:
        return self._elapsed_ns / 1e9

    def _advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed_ns += round(seconds * 1_000_000_000)
            self._settle()
