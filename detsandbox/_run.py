"""Run: the deterministic state of one Sandbox (clock, seed, journal).

Every intercepted call of a deterministic Sandbox goes through
:meth:`Run.intercept`, which computes the substitute, appends the event when
recording, and, when replaying, checks the call against the journal and
returns the recorded result.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from datetime import UTC, tzinfo
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, final

from ._clock import LocalClock, to_epoch_ns
from ._guards import location, location_of
from ._journal import Event, Journal, _Unencodable, detached, summarize
from ._ordered import StableIds
from .errors import JournalError, NondeterminismError, PolicyError

if TYPE_CHECKING:
    from ._policy import Policy

__all__ = ["Run", "derive_seed", "load_timezone"]

_ADVICE: Final = (
    "The code changed since the journal was recorded, or it is nondeterministic: "
    "revert the change, or record a new journal."
)


def _no_record(event: tuple[Any, ...]) -> None:
    raise AssertionError("not recording")  # pragma: no cover


def derive_seed(seed: int, label: str, n: int) -> int:
    """A 64-bit sub-seed; stable across processes (never ``hash()``)."""
    digest = hashlib.blake2b(f"{seed}:{label}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load_timezone(name: str) -> tzinfo:
    """The tzinfo for a policy's ``timezone`` (``"UTC"`` or an IANA key)."""
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PolicyError(
            f"Policy.timezone must be 'UTC' or an IANA zone such as 'Europe/Paris', "
            f"got {name!r} ({exc})"
        ) from None


@final
class Run:
    """Clock, seed and journal of one deterministic Sandbox."""

    __slots__ = (
        "_counters",
        "clock",
        "diverged",
        "events",
        "ids",
        "journal",
        "journaling",
        "lock",
        "position",
        "record",
        "recording",
        "replaying",
        "rng",
        "seed",
        "tz",
        "tz_name",
    )

    def __init__(self, policy: Policy) -> None:
        if policy.mode == "replay":
            journal = policy.journal
            assert journal is not None
            self.seed, start_ns, self.tz_name = journal.seed, journal.start_ns, journal.timezone
            self.journal: Journal | None = journal
            self.replaying, self.recording = True, False
        else:
            self.seed, self.tz_name = policy.seed, policy.timezone
            start_ns = to_epoch_ns(policy.start)
            self.recording, self.replaying = policy.record, False
            self.journal = (
                Journal(seed=self.seed, start_ns=start_ns, timezone=self.tz_name)
                if policy.record
                else None
            )
        #: recording or replaying: calls go through intercept()
        self.journaling = self.recording or self.replaying
        #: appends one Event to the journal being recorded
        self.record: Callable[[tuple[Any, ...]], None] = (
            self.journal._events.append
            if self.recording and self.journal is not None
            else _no_record
        )
        self.clock = LocalClock(start_ns)
        self.tz = load_timezone(self.tz_name)
        self.rng = random.Random(derive_seed(self.seed, "random", 0))
        self._counters: dict[str, int] = {}
        #: id() inside the run: numbered in first-asked order (see _ordered)
        self.ids = StableIds()
        self.position = 0
        #: the replayed journal's events (the list itself, read in place)
        self.events: list[tuple[Any, ...]] = (
            self.journal._events if self.replaying and self.journal is not None else []
        )
        #: the first NondeterminismError raised, even if the code caught it
        self.diverged: NondeterminismError | None = None
        self.lock = threading.RLock()

    def subseed(self, label: str) -> int:
        """The next sub-seed for ``label`` (``Random()``, ``uuid1`` nodes, ...)."""
        n = self._counters.get(label, 0)
        self._counters[label] = n + 1
        return derive_seed(self.seed, label, n)

    def intercept(
        self,
        qualname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        compute: Callable[[], Any],
        *,
        rebuild: Callable[[Any], Any] | None = None,
        host: bool = False,
        frame: FrameType | None = None,
    ) -> Any:
        """Run one intercepted call: compute, journal, or replay it.

        ``host`` marks a call the policy lets reach the host: replay returns
        its recorded result without calling it.
        """
        with self.lock:
            if not self.replaying:
                summary = summarize(args, kwargs)  # before the call, which may change them
                value = compute()
                assert self.journal is not None
                where = location_of(frame) if frame is not None else location()
                self.journal.append(Event(qualname, summary, detached(value), where))
                return rebuild(value) if rebuild is not None else value
            event = self.expect(qualname, summarize(args, kwargs))
            if host:
                value = detached(event.result)
                if isinstance(value, _Unencodable):
                    raise JournalError(
                        f"cannot replay {event.describe()}: its result "
                        f"({value.type_name}) was not recorded; allow only calls whose "
                        "results are plain data in replayed code"
                    )
            else:
                value = compute()  # keeps the clock and generators in step
                if not isinstance(event.result, _Unencodable):
                    value = detached(event.result)
            return rebuild(value) if rebuild is not None else value

    def expect(self, qualname: str, summary: str) -> Event:
        journal = self.journal
        assert journal is not None
        pos = self.position
        if pos < len(journal):
            event = journal[pos]
            if event.qualname == qualname and event.args == summary:
                self.position = pos + 1
                return event
        actual = Event(qualname, summary, None, location())
        if pos >= len(journal):
            raise self._diverge(
                f"replay ran past the end of the journal ({len(journal)} events).\n\n"
                f"    actual:   {actual.describe()}\n\n{_ADVICE}",
                index=pos,
                expected=None,
                actual=actual,
            )
        event = journal[pos]
        raise self._diverge(
            f"replay diverged at event {pos + 1} of {len(journal)}: the code made a "
            "different call than the journal holds.\n\n"
            f"    expected: {event.describe()}\n"
            f"    actual:   {actual.describe()}\n\n{_ADVICE}",
            index=pos,
            expected=event,
            actual=actual,
        )

    def _diverge(self, message: str, **fields: Any) -> NondeterminismError:
        err = NondeterminismError(message, **fields)
        if self.diverged is None:
            self.diverged = err
        return err

    def finish(self) -> None:
        """In replay, raise if the code diverged (even if it caught the error)
        or stopped before the journal's end."""
        if self.diverged is not None:
            raise self.diverged
        journal = self.journal
        if not self.replaying or journal is None or self.position >= len(journal):
            return
        event = journal[self.position]
        raise NondeterminismError(
            f"replay stopped at event {self.position + 1} of {len(journal)}: the journal holds "
            "calls the code did not make.\n\n"
            f"    expected: {event.describe()}\n"
            "    actual:   (no further call)\n\n" + _ADVICE,
            index=self.position,
            expected=event,
            actual=None,
        )
