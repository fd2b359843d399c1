"""Substitutes: what deterministic mode returns in place of the host's answer.

Each entry maps a catalogued name to a function of the Sandbox's
:class:`~detsandbox._run.Run` (its logical clock, its seeded generator, its
time zone) and the call's arguments. Names with no entry (files, sockets,
processes...) still raise, as in strict mode.

:class:`Substitute` is the guard deterministic mode puts in place of a
catalogued callable; :class:`Recorded` wraps a catalogued callable the policy
allows, so that the call is journaled and replay never reaches the host.
"""

from __future__ import annotations

import base64
import operator
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from types import FrameType
from typing import Any, Final, NoReturn

from . import _guards
from ._catalog import When
from ._guards import _STDLIB, MARKER, Guard, location, refuses, violation
from ._journal import _Unencodable, detached, summarize
from ._rules import Rule
from ._run import Run

__all__ = ["SUBSTITUTES", "Recorded", "Substitute", "Substitution", "current_run"]

Impl = Callable[[Run, Any, tuple[Any, ...], dict[str, Any]], Any]


class Substitution:
    """How to answer one name: ``impl`` computes the value, ``rebuild``
    turns the journaled value into what the code gets (``Random(seed)``),
    ``every_call`` substitutes calls the rule would let through too (time
    zone: ``localtime(0)`` is in the policy's zone, not the host's), and
    ``journaled`` says whether the result is journaled and replayed (not for
    ``asyncio.sleep``'s coroutine: replay computes a fresh one)."""

    __slots__ = ("every_call", "getter", "impl", "journaled", "rebuild")

    def __init__(
        self,
        impl: Impl,
        *,
        rebuild: Callable[[Any], Any] | None = None,
        every_call: bool = False,
        journaled: bool = True,
        getter: Callable[[Run], Any] | None = None,
    ) -> None:
        self.impl = impl
        self.rebuild = rebuild
        self.every_call = every_call
        self.journaled = journaled
        #: for argument-less reads: the value straight from the Run, in C
        #: (operator.attrgetter), with no Python frame of its own
        self.getter = getter


_getframe = sys._getframe
_MUTABLE: Final = frozenset({list, dict, bytearray, set})  # a set: one hash, not four compares


def current_run() -> Run | None:
    """The Run of the sandbox whose code is calling (found on the stack)."""
    return _run_from(sys._getframe(1))


def _run_from(frame: FrameType | None) -> Run | None:
    """The Run of the innermost sandboxed frame from ``frame`` outwards."""
    while frame is not None:
        sandbox = frame.f_builtins.get(MARKER)
        if sandbox is not None:
            run: Run | None = sandbox._run
            return run
        frame = frame.f_back
    return None


# Files of sandboxed code outside the standard library, learnt by _record:
# a dict lookup of a string, whose hash is cached, costs less than the
# str.startswith() that decides it. Bounded; cleared when full.
_USER_FILES: dict[str, bool] = {}
_USER_FILES_MAX: Final = 4096


def _record(run: Run, qualname: str, summary: str, kept: Any, frame: FrameType | None) -> None:
    """Append one event to the journal ``run`` records.

    ``frame`` is the sandboxed frame that made the call (None if the call
    came from host code). Its code and instruction offset are kept, not its
    ``file:line``: the line number and the text cost more than the rest of a
    recorded call, so the Journal makes them when it is read.
    """
    if frame is not None:
        filename = frame.f_code.co_filename
        if _USER_FILES.get(filename) or not filename.startswith(_STDLIB):
            if len(_USER_FILES) >= _USER_FILES_MAX:
                _USER_FILES.clear()
            _USER_FILES[filename] = True
            run.record((qualname, summary, kept, frame.f_code, frame.f_lasti))
            return
    # Host code, or a fresh stdlib module calling on the user's behalf: the
    # user's line, which only the live stack knows.
    run.record((qualname, summary, kept, location()))


class Substitute(Guard):
    """A catalogued callable answered by the Sandbox's deterministic state.

    Constructing one for a clock read, a ``random`` function or ``uuid4``
    gives a :class:`_Quick`, whose ``__call__`` answers their usual calls
    without the generic path (:meth:`_answer`).
    """

    __slots__ = (
        "_argless",
        "_every",
        "_getter",
        "_impl",
        "_journaled",
        "_qualname",
        "_rebuild",
        "_unbound",
    )

    def __new__(cls, wrapped: Any, rule: Rule, subst: Substitution, *, skip: int = 0) -> Substitute:
        if (
            cls is Substitute
            and not skip
            and (subst.every_call or rule.when is When.ALWAYS)
            and subst.journaled
            and subst.rebuild is None
            and (
                subst.getter is not None
                or subst.impl is _uuid4
                or (subst.impl is _random_fn and _draw_method(wrapped) is not None)
            )
        ):
            cls = _Quick
        return object.__new__(cls)

    def __init__(self, wrapped: Any, rule: Rule, subst: Substitution, *, skip: int = 0) -> None:
        super().__init__(wrapped, rule, skip=skip)
        self._impl = subst.impl
        self._getter = subst.getter
        self._rebuild = subst.rebuild
        self._journaled = subst.journaled
        self._qualname = rule.qualname
        # random.random and friends: the same method of the Run's generator.
        self._unbound = _draw_method(wrapped) if subst.impl is _random_fn else None
        # Substitute every call, without asking the rule which ones it refuses.
        self._every = subst.every_call or rule.when is When.ALWAYS
        # Clock reads and uuid4() take no arguments: called with some, they
        # must fail as the real ones do, not answer.
        self._argless = subst.getter is not None or subst.impl is _uuid4

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._every and not refuses(self._rule.when, args[self._skip :], kwargs):
            return self._real(*args, **kwargs)
        return self._answer(_getframe(1), args, kwargs)

    def _compute(self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._argless and (args or kwargs):
            _wrong_arguments(self._real, args, kwargs)
        if self._unbound is not None:
            return self._unbound(run.rng, *args, **kwargs)
        if self._getter is not None and not args and not kwargs:
            return self._getter(run)
        return self._impl(run, self._real, args, kwargs)

    def _answer(self, frame: FrameType, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The substituted call made by ``frame``: computed, recorded or replayed."""
        sandbox = frame.f_builtins.get(MARKER)
        run = sandbox._run if sandbox is not None else _run_from(frame.f_back)
        if run is None:
            raise violation(self._rule, call=True)
        skip = self._skip
        # Summarised before the call: shuffle() changes its argument.
        journaled = run.journaling and (len(args) > skip or kwargs)
        summary = summarize(args[skip:], kwargs) if journaled else ""
        if not run.replaying:
            value = self._compute(run, args, kwargs)  # a call that raises leaves no event
            if run.recording:
                if not self._journaled:
                    kept = None
                elif type(value) in _MUTABLE:
                    kept = detached(value)
                else:
                    kept = value
                _record(run, self._qualname, summary, kept, frame if sandbox is not None else None)
        else:
            # Computed first, to keep state in step and so that a call that
            # raised when recorded (and left no event) raises again here.
            value = self._compute(run, args, kwargs)
            # The matching event, inline; Run.expect() explains a mismatch.
            # No lock: sandboxed code cannot start threads, so one Sandbox
            # replays one call at a time.
            qualname = self._qualname
            events = run.events
            pos = run.position
            if pos < len(events):
                event = events[pos]
                if event[0] == qualname and event[1] == summary:
                    run.position = pos + 1
                else:
                    event = run.expect(qualname, summary)
            else:
                event = run.expect(qualname, summary)
            recorded = event[2]
            if self._journaled and type(recorded) is not _Unencodable:
                value = recorded if type(recorded) not in _MUTABLE else detached(recorded)
        rebuild = self._rebuild
        return value if rebuild is None else rebuild(value)


class _Quick(Substitute):
    """Clock reads (``time.time()``), ``random`` functions and ``uuid.uuid4()``,
    answered, recorded and replayed here; calls from host code and replayed
    calls with arguments go through :meth:`_answer`.

    The Sandbox is found in the calling frame's builtins, as ``_answer``
    does; events are appended (see :func:`_record`) and matched inline.
    """

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        frame = _getframe(1)
        sandbox = frame.f_builtins.get(MARKER)
        run = sandbox._run if sandbox is not None else None
        if run is None:
            return self._answer(frame, args, kwargs)
        draw = self._unbound
        if args or kwargs:
            if draw is None or run.replaying:  # a clock read or uuid4() with arguments
                return self._answer(frame, args, kwargs)
            if not run.recording:
                return draw(run.rng, *args, **kwargs)
            summary = summarize(args, kwargs)  # before the call: shuffle() changes it
            value = draw(run.rng, *args, **kwargs)
            kept = detached(value) if type(value) in _MUTABLE else value  # sample()'s list
        else:
            getter = self._getter
            if getter is not None:
                # A read changes nothing: replay needs its value only for an
                # unencodable result (below), the others keep generators in step.
                value = getter(run) if not run.replaying else None
            elif draw is not None:
                value = draw(run.rng)  # random() or getstate(): nothing to copy
            else:  # uuid4(), as _uuid4() builds it
                value = _new_uuid(_UUID)
                _set_uuid_int(value, (run.rng.getrandbits(128) & _VERSION_MASK) | _VERSION_4)
                _set_uuid_safe(value, _UNKNOWN)
            if not run.journaling:
                return value
            if run.replaying:  # as _answer() replays, inline
                pos = run.position
                try:
                    event = run.events[pos]
                except IndexError:
                    event = None
                if event is None or event[0] != self._qualname or event[1]:
                    event = run.expect(self._qualname, "")  # raises: explains the mismatch
                run.position = pos + 1
                recorded = event[2]
                kind = type(recorded)
                if kind is _Unencodable:
                    return value if getter is None else getter(run)
                return recorded if kind not in _MUTABLE else detached(recorded)
            summary, kept = "", value
        code = frame.f_code
        if _USER_FILES.get(code.co_filename):  # as _record() does, inline
            run.record((self._qualname, summary, kept, code, frame.f_lasti))
        else:
            _record(run, self._qualname, summary, kept, frame)
        return value


def _draw_method(wrapped: Any) -> Any:
    """``random.Random``'s method of ``wrapped``'s name, if it has one (not seed)."""
    name = getattr(wrapped, "__name__", "")
    if name == "seed" or not isinstance(name, str) or not name.isidentifier():
        return None
    return getattr(random.Random, name, None)


class Recorded(Guard):
    """A catalogued callable the policy allows: called, journaled, replayed."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = current_run()
        real = self._real
        if run is None:
            return real(*args, **kwargs)
        if not run.journaling:
            return real(*args, **kwargs)
        return run.intercept(
            self._rule.qualname,
            args[self._skip :],
            kwargs,
            lambda: real(*args, **kwargs),
            host=True,
        )


# -- time ----------------------------------------------------------------------


def _struct(run: Run, secs: float) -> time.struct_time:
    """``secs`` as local time in the run's time zone, like ``time.localtime``."""
    dt = datetime.fromtimestamp(secs, run.tz)
    offset = dt.utcoffset()
    gmtoff = int(offset.total_seconds()) if offset is not None else 0
    dst = dt.dst()
    isdst = 1 if dst else 0  # timetuple() says -1 for zones without DST rules (UTC)
    return time.struct_time((*dt.timetuple()[:8], isdst, dt.tzname(), gmtoff))


def _secs(run: Run, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> float:
    value = args[0] if args else kwargs.get(name)
    return run.clock.time() if value is None else float(value)


def _localtime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _struct(run, _secs(run, args, kwargs, "secs"))


def _ctime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return time.asctime(_struct(run, _secs(run, args, kwargs, "secs")))


def _asctime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return time.asctime(_struct(run, run.clock.time()))


def _strftime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    fmt = args[0] if args else kwargs["format"]
    return time.strftime(fmt, _struct(run, run.clock.time()))


def _mktime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    t = tuple(args[0] if args else kwargs["t"])
    year, month, day, hour, minute, second = t[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=run.tz).timestamp()


def _clock_gettime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    clk = args[0] if args else kwargs["clk_id"]
    wall = clk == getattr(time, "CLOCK_REALTIME", 0)
    if real.__name__.endswith("_ns"):
        return run.clock.time_ns() if wall else run.clock.monotonic_ns()
    return run.clock.time() if wall else run.clock.monotonic()


def _sleep(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    seconds = args[0] if args else kwargs["secs"]
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    run.clock.advance(seconds)


def _os_times(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # CPU time is logical time: all of it the code's own, none spent in the kernel.
    elapsed = run.clock.elapsed_s
    return os.times_result((elapsed, 0.0, 0.0, 0.0, elapsed))


def _getrusage(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import resource

    who = args[0] if args else kwargs["who"]
    if who not in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        real(who)  # raises ValueError for a bad value, as the host does
    used = run.clock.elapsed_s if who == resource.RUSAGE_SELF else 0.0
    # ru_utime, then fourteen counters (maxrss, faults, switches...): none.
    return resource.struct_rusage((used, 0.0) + (0,) * 14)


class _LogicalTime:
    """``sched.scheduler``'s time and delay functions, on a Sandbox's logical clock.

    sched binds the host's ``time.monotonic`` and ``time.sleep`` as defaults
    when it is imported; a scheduler made without a time function in a
    deterministic Sandbox gets these instead.
    """

    __slots__ = ("delay", "run")

    def __init__(self, run: Run, delay: Callable[[float], object] | None) -> None:
        self.run = run
        self.delay = self.sleep if delay is None else delay

    def __call__(self) -> float:
        return self.run.clock.elapsed_s

    def sleep(self, seconds: float) -> None:
        _sleep(self.run, time.sleep, (seconds,), {})


def _scheduler(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _LogicalTime(run, args[1] if len(args) > 1 else kwargs.get("delayfunc"))


def _new_scheduler(clock: _LogicalTime) -> Any:
    import sched

    return sched.scheduler(clock, clock.delay)


def _asyncio_sleep(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    delay = args[0] if args else kwargs.get("delay", 0)
    result = args[1] if len(args) > 1 else kwargs.get("result")
    if delay > 0:
        run.clock.advance(delay)
    return real(0, result)  # yield to the loop once, instantly


def _gmtime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return time.gmtime(run.clock.time())


def _tz_of(run: Run, args: tuple[Any, ...], kwargs: dict[str, Any], at: int) -> Any:
    return args[at] if len(args) > at else kwargs.get("tz")


def _now(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    cls = real.__self__
    tz = _tz_of(run, args, kwargs, 0)
    t = run.clock.time()
    if tz is not None:
        return cls.fromtimestamp(t, tz)
    return cls.fromtimestamp(t, run.tz).replace(tzinfo=None)


def _utcnow(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return real.__self__.fromtimestamp(run.clock.time(), UTC).replace(tzinfo=None)


def _today(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    cls = real.__self__
    local = datetime.fromtimestamp(run.clock.time(), run.tz)
    if issubclass(cls, datetime):
        return cls.fromtimestamp(run.clock.time(), run.tz).replace(tzinfo=None)
    return cls(local.year, local.month, local.day)


def _fromtimestamp(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    cls = real.__self__
    ts = args[0] if args else kwargs["t" if issubclass(cls, datetime) else "timestamp"]
    if issubclass(cls, datetime):
        return cls.fromtimestamp(ts, run.tz).replace(tzinfo=None)
    local = datetime.fromtimestamp(ts, run.tz)
    return cls(local.year, local.month, local.day)


def _timestamp(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # A naive datetime is local time: the run's zone, not the host's.
    return real.__self__.replace(tzinfo=run.tz).timestamp()


def _email_localtime(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    dt = args[0] if args else kwargs.get("dt")
    if dt is None:
        return datetime.fromtimestamp(run.clock.now_s, run.tz)
    if dt.tzinfo is None:  # naive: local time, in the run's zone
        return dt.replace(tzinfo=run.tz)
    return dt.astimezone(run.tz)


def _astimezone(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    inst = real.__self__
    if inst.tzinfo is None:  # naive means local: the run's zone, not the host's
        inst = inst.replace(tzinfo=run.tz)
    return inst.astimezone(run.tz)


# -- randomness ----------------------------------------------------------------


def _random_fn(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name = real.__name__
    if name == "seed":
        seed = args[0] if args else kwargs.get("a")
        rest = dict(kwargs)
        rest.pop("a", None)
        return run.rng.seed(run.subseed("seed") if seed is None else seed, *args[1:], **rest)
    return getattr(run.rng, name)(*args, **kwargs)


def _new_random(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return run.subseed("Random")


def _reseed(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Unbound (Random.seed(r)) or bound (r.seed()): seed the instance itself.
    if isinstance(real, type(random.Random.seed)):
        inst, rest = args[0], args[1:]
    else:
        inst, rest = real.__self__, args
    rest = rest[1:]  # the None seed
    kwargs = {k: v for k, v in kwargs.items() if k != "a"}
    inst.seed(run.subseed("seed"), *rest, **kwargs)


def _wrong_arguments(real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NoReturn:
    """Raise the TypeError ``real`` raises for arguments it does not take."""
    real(*args, **kwargs)  # it takes none: this raises CPython's own message
    raise TypeError(f"{real.__qualname__}() takes no arguments")


def _randbytes(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not args and not kwargs and getattr(real, "__name__", "") in ("urandom", "getrandom"):
        _wrong_arguments(real, args, kwargs)  # their size is required
    n = args[0] if args else kwargs.get("size", kwargs.get("n", 32))
    return run.rng.randbytes(32 if n is None else n)


def _secrets(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name = real.__name__
    rng = run.rng
    if name == "token_bytes":
        return _randbytes(run, real, args, kwargs)
    if name == "token_hex":
        return _randbytes(run, real, args, kwargs).hex()
    if name == "token_urlsafe":
        raw = _randbytes(run, real, args, kwargs)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if name == "randbelow":
        return rng.randrange(args[0] if args else kwargs["exclusive_upper_bound"])
    if name in ("randbits", "getrandbits"):  # secrets.randbits is getrandbits
        return rng.getrandbits(args[0] if args else kwargs["k"])
    if name == "choice":
        return rng.choice(args[0] if args else kwargs["seq"])
    return getattr(rng, name)(*args, **kwargs)  # the rest of SystemRandom's API


_UUID: Final = uuid.UUID
# object.__new__ and the slots' own setters: UUID.__setattr__ refuses, and
# UUID(int=n, version=4) parses its arguments, most of the cost of uuid4().
_new_uuid = object.__new__
_set_uuid_int = vars(uuid.UUID)["int"].__set__
_set_uuid_safe = vars(uuid.UUID)["is_safe"].__set__
# Keeps all but the variant and version bits (a positive mask: faster than ~).
_VERSION_MASK: Final = ((1 << 128) - 1) ^ ((0xC000 << 48) | (0xF000 << 64))
_VERSION_4: Final = (0x8000 << 48) | (4 << 76)
_UNKNOWN: Final = uuid.SafeUUID.unknown


def _uuid4(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # What UUID(int=n, version=4) builds: the RFC 4122 variant and version bits.
    u = _new_uuid(_UUID)
    _set_uuid_int(u, (run.rng.getrandbits(128) & _VERSION_MASK) | _VERSION_4)
    _set_uuid_safe(u, _UNKNOWN)
    return u


def _uuid1(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    node = args[0] if args else kwargs.get("node")
    clock_seq = args[1] if len(args) > 1 else kwargs.get("clock_seq")
    if node is None:
        node = derive_node(run)  # as uuid1() uses getnode()
    if clock_seq is None:
        clock_seq = run.rng.getrandbits(14)
    stamp = run.clock.time_ns() // 100 + 0x01B21DD213814000
    return uuid.UUID(
        fields=(
            stamp & 0xFFFFFFFF,
            (stamp >> 32) & 0xFFFF,
            (stamp >> 48) & 0x0FFF,
            (clock_seq >> 8) & 0x3F,
            clock_seq & 0xFF,
            node,
        ),
        version=1,
    )


def _getnode(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return derive_node(run)


def derive_node(run: Run) -> int:
    return random.Random(run.seed ^ 0x6E6F6465).getrandbits(48) | 0x010000000000


def _gzip_compress(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return real(*args, **{**kwargs, "mtime": run.clock.time()})


def _formatdate(run: Run, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    rest = dict(kwargs)
    rest.pop("timeval", None)
    localtime = args[1] if len(args) > 1 else rest.pop("localtime", False)
    usegmt = args[2] if len(args) > 2 else rest.pop("usegmt", False)
    import email.utils

    if localtime:  # in the run's zone, not the host's
        dt = datetime.fromtimestamp(run.clock.time(), run.tz)
        return email.utils.format_datetime(dt)
    return real(run.clock.time(), False, usegmt)


def _clock_read(attr: str) -> Impl:
    read = operator.attrgetter(f"clock.{attr}")
    return lambda run, real, args, kwargs: read(run)


def _seeded(seed: int) -> random.Random:
    return random.Random(seed)


_S = Substitution
SUBSTITUTES: Final[dict[str, Substitution]] = {
    "time.time": _S(_clock_read("now_s"), getter=operator.attrgetter("clock.now_s")),
    "time.time_ns": _S(_clock_read("now_ns"), getter=operator.attrgetter("clock.now_ns")),
    **{
        f"time.{name}": _S(_clock_read("elapsed_s"), getter=operator.attrgetter("clock.elapsed_s"))
        for name in ("monotonic", "perf_counter", "process_time", "thread_time")
    },
    **{
        f"time.{name}_ns": _S(
            _clock_read("_elapsed_ns"), getter=operator.attrgetter("clock._elapsed_ns")
        )
        for name in ("monotonic", "perf_counter", "process_time", "thread_time")
    },
    "time.clock_gettime": _S(_clock_gettime),
    "time.clock_gettime_ns": _S(_clock_gettime),
    "os.times": _S(_os_times),
    "resource.getrusage": _S(_getrusage),
    "sched.scheduler": _S(_scheduler, rebuild=_new_scheduler, journaled=False),
    "time.sleep": _S(_sleep),
    "time.localtime": _S(_localtime, every_call=True),
    "time.ctime": _S(_ctime, every_call=True),
    "time.mktime": _S(_mktime, every_call=True),
    "time.gmtime": _S(_gmtime),
    "time.asctime": _S(_asctime),
    "time.strftime": _S(_strftime),
    "asyncio.sleep": _S(_asyncio_sleep, every_call=True, journaled=False),
    "datetime.datetime.now": _S(_now),
    "datetime.datetime.utcnow": _S(_utcnow),
    "datetime.datetime.today": _S(_today),
    "datetime.date.today": _S(_today),
    "datetime.datetime.fromtimestamp": _S(_fromtimestamp),
    "datetime.date.fromtimestamp": _S(_fromtimestamp, every_call=True),
    "datetime.datetime.astimezone": _S(_astimezone),
    "datetime.datetime.timestamp": _S(_timestamp),
    "email.utils.localtime": _S(_email_localtime, every_call=True),
    "random.*": _S(_random_fn),
    "random.Random": _S(_new_random, rebuild=_seeded),
    "_random.Random": _S(_new_random, rebuild=_seeded),
    "random.SystemRandom": _S(_new_random, rebuild=_seeded),
    "secrets.SystemRandom": _S(_new_random, rebuild=_seeded),
    "random.Random.seed": _S(_reseed),
    "_random.Random.seed": _S(_reseed),
    "secrets.*": _S(_secrets),
    "os.urandom": _S(_randbytes),
    "os.getrandom": _S(_randbytes),
    "uuid.uuid4": _S(_uuid4),
    "uuid.uuid1": _S(_uuid1),
    "uuid.getnode": _S(_getnode),
    "gzip.compress": _S(_gzip_compress),
    "email.utils.formatdate": _S(_formatdate),
}

# C or pure-Python twins of a public module, answered by its substitutes.
_PUBLIC_TWINS: Final = {"_pydatetime": "datetime", "_datetime": "datetime"}

#: Values (not calls) deterministic mode answers from the policy's time zone.
ZONE_VALUES: Final = ("time.timezone", "time.altzone", "time.daylight", "time.tzname")


def zone_value(run_tz: Any, name: str) -> Any:
    """``time.timezone`` and friends for a fixed zone ``run_tz``."""
    jan = datetime(2001, 1, 1, tzinfo=run_tz)
    jul = datetime(2001, 7, 1, tzinfo=run_tz)
    std, dst = (jan, jul) if not jan.dst() else (jul, jan)
    std_off = -int(std.utcoffset().total_seconds())  # type: ignore[union-attr]
    dst_off = -int(dst.utcoffset().total_seconds())  # type: ignore[union-attr]
    if name == "time.timezone":
        return std_off
    if name == "time.altzone":
        return dst_off
    if name == "time.daylight":
        return int(std_off != dst_off)
    return (std.tzname(), dst.tzname())


def lookup(rule: Rule) -> Substitution | None:
    """The substitution for ``rule``, by its name or its module pattern."""
    qualname = rule.qualname
    top, _, rest = qualname.partition(".")
    if top in _PUBLIC_TWINS:  # _pydatetime.datetime.now is datetime.datetime.now
        qualname = f"{_PUBLIC_TWINS[top]}.{rest}"
    found = SUBSTITUTES.get(qualname)
    if found is None:
        found = SUBSTITUTES.get(f"{qualname.rpartition('.')[0]}.*")
    return found


_ = date  # datetime.date is matched through its qualname above


def _construct(
    rule: Rule, subst: Substitution, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    run = current_run()
    if run is None:
        raise violation(rule, call=True)
    if not run.journaling or not subst.journaled:
        return subst.impl(run, None, args, kwargs)
    return run.intercept(rule.qualname, args, kwargs, lambda: subst.impl(run, None, args, kwargs))


_guards.construct_hook = _construct
