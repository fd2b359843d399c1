"""Budget: enforcing a Sandbox's Limits on each call into it.

A Sandbox with limits has a :class:`Meter`; every ``exec``, ``call`` and
``import_module`` runs inside a *window* of it, registered under the
thread's id. Nothing here touches a thread that has no window, and a
Sandbox without limits has no Meter at all.

How each limit is enforced (docs/limits.md says it for users):

* **timeout, memory**: one daemon watchdog thread keeps a heap of
  deadlines and memory samples. When one passes, the window *trips*.
* **tripping**, 3.12+: the watchdog enables JUMP, PY_START and PY_RESUME
  events of one ``sys.monitoring`` tool, globally; until then the callbacks
  are registered but cost nothing. A callback raises the window's error
  only on the thread whose window tripped, and again at every later event
  until the window closes, so ``except BaseException: continue`` cannot
  escape. The events are switched off when no tripped window is left.
  Callbacks never return ``DISABLE``: that would disable a location for
  every thread.
* **tripping**, 3.11 (or no free tool id): the watchdog injects
  :class:`_Interrupt` with ``PyThreadState_SetAsyncExc``. Instantiating it
  runs in the stopped thread and installs a trace function there that
  injects it again at every line and call until the window closes.
* **instructions**: sandboxed code of a counting policy is compiled apart
  (``COUNT_WORK`` in the rewrite set) with a tick at the start of every loop
  body, comprehension item, function and lambda: ``next()`` of the Meter's
  budget iterator, ``repeat(None, n)`` chained to :class:`_Exhausted`. A
  tick is a C call; only the one past the budget runs Python, and trips.
* **recursion**: counting code (``COUNT_DEPTH``) gets local
  PY_START/PY_RESUME/PY_RETURN/PY_YIELD events on 3.12+; on 3.11 a
  per-thread ``sys.settrace`` is installed for the window and traces only
  sandboxed frames' calls and returns.
* **output**: the Sandbox's own ``print`` writes into the Meter.

At the window's edge whatever is propagating is replaced by the window's
:class:`~detsandbox.ResourceLimitError`, and the call returns no result.
"""

from __future__ import annotations

import atexit
import heapq
import io
import os
import sys
import threading
import weakref
from _thread import get_ident
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from operator import length_hint
from time import monotonic
from types import CodeType, FrameType
from typing import Any, Final, TypeVar

from ._guards import MARKER, _user_frame, location
from ._limits import Limits
from .errors import (
    InstructionLimitError,
    MemoryLimitError,
    OutputLimitError,
    PolicyError,
    RecursionLimitError,
    ResourceLimitError,
    TimeLimitError,
)

__all__ = [
    "BUDGET_ITER",
    "BUDGET_NEXT",
    "COUNT_DEPTH",
    "COUNT_WORK",
    "Meter",
    "counting_hot",
    "instrument",
    "memory_error",
]

T = TypeVar("T")

#: In the rewrite set (never identifiers, so never attribute names): compile
#: with ticks that count work (loop iterations and calls), or with local
#: events that count depth.
COUNT_WORK: Final = "{count work}"
COUNT_DEPTH: Final = "{count depth}"

#: Seconds between memory samples, and between re-injections on 3.11.
TICK: Final = 0.005
_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MANY: Final = 1 << 62  # a budget that is never used up
_real_print = print

_CLASSES: Final[dict[str, type[ResourceLimitError]]] = {
    "timeout": TimeLimitError,
    "instructions": InstructionLimitError,
    "memory": MemoryLimitError,
    "recursion": RecursionLimitError,
    "output": OutputLimitError,
}


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def _describe(limit: str, value: Any) -> tuple[str, str]:
    """(what happened, what to do) for ``limit`` at ``value``."""
    if limit == "timeout":
        return f"ran past Limits.timeout={value:g} s", "make the code finish sooner"
    if limit == "instructions":
        return (
            f"used up Limits.instructions={value} loop iterations and calls",
            "make the code do less work",
        )
    if limit == "memory":
        return (
            f"grew the process by more than Limits.memory={_size(value)}",
            "make the code use less memory",
        )
    if limit == "recursion":
        return (
            f"nested sandboxed calls deeper than Limits.recursion={value}",
            "make the recursion shallower",
        )
    return (
        f"printed more than Limits.output={value} characters",
        f"print less (Sandbox.output keeps the first {value})",
    )


def _error(what: str, limits: Limits, limit: str, where: str) -> ResourceLimitError:
    value = getattr(limits, limit)
    happened, advice = _describe(limit, value)
    message = f"{what} {happened} (stopped at {where}); {advice}, or raise Policy.limits.{limit}"
    return _CLASSES[limit](message, limit=limit, value=value)


def memory_error(what: str, limits: Limits, frame: FrameType | None) -> ResourceLimitError:
    """The meter's MemoryLimitError for a limit an OS cap enforced, at ``frame``."""
    return _error(what, limits, "memory", _where(frame))


def _again(error: ResourceLimitError) -> ResourceLimitError:
    """A fresh copy: raising one instance many times would grow its traceback."""
    return type(error)(error.args[0], limit=error.limit, value=error.value)


def _where(frame: FrameType | None) -> str:
    """``file:line`` of the innermost sandboxed frame at or above ``frame``."""
    while frame is not None:
        if MARKER in frame.f_builtins:
            user = _user_frame(frame)
            return f"{user.f_code.co_filename}:{user.f_lineno}"
        frame = frame.f_back
    return "<host>"


# -- windows ------------------------------------------------------------------


class _Window:
    """One call into a Sandbox with limits, on one thread."""

    __slots__ = (
        "__weakref__",
        "base",
        "closed",
        "depth",
        "error",
        "exiting",
        "limits",
        "max_depth",
        "meter",
        "outer",
        "pending",
        "rss0",
        "saved_profile",
        "saved_trace",
        "stops",
        "stops_seen",
        "tid",
        "what",
    )

    def __init__(self, meter: Meter, what: str, tid: int, outer: _Window | None) -> None:
        self.limits = limits = meter.limits
        # Dropped at close: the watchdog's heap keeps closed windows until
        # their deadline, and must not keep the Sandbox (its builtins) alive.
        self.meter: Meter | None = meter
        self.what = what
        self.tid = tid
        self.outer = outer
        self.max_depth = _MANY if limits.recursion is None else limits.recursion
        self.depth = 0
        self.error: ResourceLimitError | None = None
        self.exiting = False
        self.closed = False
        self.rss0 = 0
        self.pending = 0  # entries in the watchdog's heap
        self.base: FrameType | None = None
        self.saved_trace: Any = None
        self.saved_profile: Any = None
        self.stops = self.stops_seen = 0  # 3.11: tripped trace events, for the watchdog

    # 3.11 (and no free tool id): the per-thread trace function.

    # A trace function that raises is removed by CPython. After a trip a
    # profile function (which never raises) puts it back at every call, and
    # _Interrupt puts both back when the watchdog's injection lands.

    def on_call(self, frame: FrameType, event: str, arg: object) -> Any:
        if self.error is not None:
            self.stops += 1
            _stop(self, frame.f_code)
            return self.on_event
        if MARKER not in frame.f_builtins:
            return None
        depth = self.depth + 1
        self.depth = depth
        if depth > self.max_depth:
            self.check_depth(frame)
        frame.f_trace_lines = False  # only calls and returns count
        return self.on_event

    def on_event(self, frame: FrameType, event: str, arg: object) -> Any:
        if self.error is not None:
            # Not while an exception propagates: raising then made 3.13 raise
            # again at the same place forever. Its handler's next line will do.
            if event != "exception":
                self.stops += 1
                _stop(self, frame.f_code)
        elif event == "return":
            self.depth -= 1
        return self.on_event

    def on_profile(self, frame: FrameType, event: str, arg: object) -> None:
        if self.error is not None and not self.exiting:
            self.stops += 1
            if sys.gettrace() is None:
                self.rearm(frame)

    def rearm(self, frame: FrameType | None) -> None:
        """Trace (and so stop) this thread again, in ``frame`` and the frames below it."""
        sys.settrace(self.on_call)
        if sys.getprofile() is None:
            sys.setprofile(self.on_profile)
        tracer = self.on_event
        while frame is not None and frame is not self.base:
            if frame.f_trace == tracer:
                break  # armed before, and so are the frames below it
            if not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
                frame.f_trace = tracer
                frame.f_trace_lines = True
            frame = frame.f_back

    def check_depth(self, frame: FrameType) -> None:
        """Count the sandboxed frames; the running count over-counts after exceptions."""
        depth = 0
        f: FrameType | None = frame
        base = self.base
        while f is not None and f is not base:
            if MARKER in f.f_builtins:
                depth += 1
            f = f.f_back
        self.depth = depth
        if depth > self.max_depth:
            self.trip_here("recursion", frame)

    def trip_here(self, limit: str, frame: FrameType) -> None:
        """Trip from this window's own thread, and raise."""
        error = _error(self.what, self.limits, limit, _where(frame))
        with _LOCK:
            _trip(self, error)
        if _tool is None:
            sys.setprofile(self.on_profile)
        raise _again(error)


#: thread id -> its innermost open window
_WINDOWS: dict[int, _Window] = {}
_LOCK = threading.Lock()
_tripped = 0  # open windows with an error
# The watchdog's heap: (when, sequence, window, action).
_HEAP: list[tuple[float, int, _Window, int]] = []
_TIMEOUT, _SAMPLE, _INJECT = 0, 1, 2
_seq = 0
_stale = 0
_WAKE = threading.Event()
_watchdog: threading.Thread | None = None


def _push(when: float, window: _Window, action: int) -> None:
    global _seq
    _seq += 1
    window.pending += 1
    heapq.heappush(_HEAP, (when, _seq, window, action))


def _trip(window: _Window, error: ResourceLimitError) -> None:
    """Give ``window`` (and the windows nested in it) ``error``; hold _LOCK."""
    global _tripped
    if window.closed or window.error is not None:
        return
    w = _WINDOWS.get(window.tid)
    while w is not None:
        if w.error is None:
            w.error = error
            _tripped += 1
        if w is window:
            break
        w = w.outer
    if _tool is not None:
        _set_events()
    else:
        if window.tid != get_ident():
            _inject(window.tid)
        _push(monotonic() + TICK, window, _INJECT)
        _wake()


_daemon = True  # False where daemon threads are refused (isolated subinterpreters)
_exiting = False


@atexit.register
def _stop_watchdog() -> None:
    """End the watchdog before the interpreter finalizes."""
    global _exiting
    _exiting = True
    thread = _watchdog
    if thread is not None:
        _WAKE.set()
        thread.join(1.0)


def _wake() -> None:
    global _watchdog, _daemon
    if _watchdog is None:
        try:
            thread = threading.Thread(target=_watch, name="detsandbox-watchdog", daemon=_daemon)
        except RuntimeError:  # "daemon threads are disabled in this (sub)interpreter"
            _daemon = False
            thread = threading.Thread(target=_watch, name="detsandbox-watchdog", daemon=False)
        _watchdog = thread
        thread.start()
    _WAKE.set()


def _watch() -> None:
    global _watchdog
    while True:
        with _LOCK:
            if _exiting or (not _daemon and not _WINDOWS):
                # A non-daemon thread would hold up the interpreter's exit:
                # leave when no call is open (the next one starts another).
                _HEAP.clear()
                _watchdog = None
                return
            now = monotonic()
            due = []
            while _HEAP and _HEAP[0][0] <= now:
                due.append(heapq.heappop(_HEAP))
            delay = _HEAP[0][0] - now if _HEAP else None
        for _, _, window, action in due:
            _act(window, action)
        if not due:
            _WAKE.wait(delay)
            _WAKE.clear()


def _act(window: _Window, action: int) -> None:
    global _stale
    with _LOCK:
        window.pending -= 1
        if window.closed:
            _stale -= 1
            return
        if window.exiting or (window.error is not None and action != _INJECT):
            return
        limits = window.limits
        if action == _INJECT:
            # Only when its trace and profile functions fell silent: an
            # injection landing inside one of them would remove it.
            if window.stops == window.stops_seen:
                _inject(window.tid)
            window.stops_seen = window.stops
            _push(monotonic() + TICK, window, _INJECT)
            return
        if action == _SAMPLE:
            assert limits.memory is not None
            if _rss() - window.rss0 <= limits.memory:
                _push(monotonic() + TICK, window, _SAMPLE)
                return
            limit = "memory"
        else:
            limit = "timeout"
        if _tool is not None:
            # Located by the stopped thread itself, at its first event: on
            # 3.13.0 sys._current_frames() aborts the process while another
            # thread runs in a subinterpreter (it makes their frames too).
            where = _SOMEWHERE
        else:
            frame = sys._current_frames().get(window.tid)
            where = _where(frame)
            del frame
        _trip(window, _error(window.what, limits, limit, where))


def _open(window: _Window) -> None:
    limits = window.limits
    with _LOCK:
        _WINDOWS[window.tid] = window
        wake = False
        if limits.timeout is not None:
            when = monotonic() + limits.timeout
            wake = not _HEAP or when < _HEAP[0][0]
            _push(when, window, _TIMEOUT)
        if limits.memory is not None:
            window.rss0 = _rss()
            when = monotonic() + TICK
            wake = wake or not _HEAP or when < _HEAP[0][0]
            _push(when, window, _SAMPLE)
    if wake:
        _wake()
    if _tool is None:
        window.saved_trace = sys.gettrace()
        window.saved_profile = sys.getprofile()
        if limits.recursion is not None:
            sys.settrace(window.on_call)


def _close(window: _Window) -> None:
    """Close ``window``; idempotent, so a late injection can be answered by closing again."""
    global _tripped, _stale
    with _LOCK:
        if window.closed:
            return
        window.closed = True
        # The heap keeps closed windows until their deadline: hold no frames.
        window.base = None
        window.meter = None
        if _WINDOWS.get(window.tid) is window:
            if window.outer is None:
                del _WINDOWS[window.tid]
            else:
                _WINDOWS[window.tid] = window.outer
        if not _daemon and not _WINDOWS and _watchdog is not None:
            _WAKE.set()  # let a non-daemon watchdog leave now
        if window.error is not None:
            _tripped -= 1
            if _tool is not None and _tripped == 0:
                _set_events()
        # A closed window's heap entries are stale until popped; rebuild the
        # heap when they are the majority (many short calls, long timeouts).
        _stale += window.pending
        if _stale > 64 and _stale * 2 > len(_HEAP):
            _HEAP[:] = [e for e in _HEAP if not e[2].closed]
            heapq.heapify(_HEAP)
            _stale = 0
    if _tool is None:
        if sys.getprofile() is not window.saved_profile:
            sys.setprofile(window.saved_profile)
        if sys.gettrace() is not window.saved_trace:
            sys.settrace(window.saved_trace)


# -- 3.11: asynchronous exceptions --------------------------------------------


class _Interrupt(BaseException):
    """Injected into a thread whose window tripped; never seen past the window.

    Created in the stopped thread when it is raised there: that is where it
    installs the trace function that keeps raising it.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        window = _WINDOWS.get(get_ident())
        if window is not None and window.error is not None and not window.exiting:
            window.rearm(sys._getframe(1))


_set_async_exc: Callable[[int, object], int] | None = None


def _async_api() -> Callable[[int, object], int]:
    global _set_async_exc
    if _set_async_exc is None:
        import ctypes

        fn = ctypes.pythonapi.PyThreadState_SetAsyncExc
        fn.argtypes = (ctypes.c_ulong, ctypes.py_object)
        fn.restype = ctypes.c_int
        _set_async_exc = fn
    return _set_async_exc


def _inject(tid: int) -> None:
    _async_api()(tid, _Interrupt)


def _settle() -> None:
    """Called to let a pending asynchronous exception arrive (at its RESUME)."""


# -- 3.12+: sys.monitoring ----------------------------------------------------

_MONITORING: Any = getattr(sys, "monitoring", None)  # 3.12+
_tool: int | None = None  # the sys.monitoring tool id, once acquired
_backend_chosen = False
_throw_events = False  # PY_THROW enabled globally (depth-counting code exists)
_stop_events = False  # JUMP/PY_START/PY_RESUME enabled globally
_COUNTED: weakref.WeakValueDictionary[int, CodeType] = weakref.WeakValueDictionary()
#: Tool ids no CPython-defined tool claims (0-2 and 5 are named).
TOOL_IDS: Final = (4, 3)


def _choose_backend() -> None:
    """Take a free sys.monitoring tool id on 3.12+; stay on tracing otherwise."""
    global _tool, _backend_chosen
    with _LOCK:
        if _backend_chosen:
            return
        _backend_chosen = True
        api = _MONITORING
        if api is None:
            return
        for tool in TOOL_IDS:
            if api.get_tool(tool) is None:
                api.use_tool_id(tool, "detsandbox")
                break
        else:
            return
        events = api.events
        for event, callback in (
            (events.JUMP, _on_jump),
            (events.PY_START, _on_start),
            (events.PY_RESUME, _on_start),
            (events.PY_THROW, _on_throw),
            (events.PY_RETURN, _on_return),
            (events.PY_YIELD, _on_return),
        ):
            api.register_callback(tool, event, callback)
        _tool = tool


def monitoring() -> bool:
    """Whether limits use sys.monitoring (else tracing and async exceptions)."""
    if not _backend_chosen:
        _choose_backend()
    return _tool is not None


def _set_events() -> None:
    """Enable the stop events while a window is tripped; hold _LOCK."""
    global _stop_events
    assert _tool is not None
    events = _MONITORING.events
    _stop_events = _tripped > 0
    mask = events.PY_THROW if _throw_events else 0
    if _stop_events:
        mask |= events.JUMP | events.PY_START | events.PY_RESUME
    _MONITORING.set_events(_tool, mask)


def _stop(window: _Window, code: CodeType) -> None:
    if window.exiting or code.co_filename.startswith(_PACKAGE_DIR):
        return
    raise _again(_located(window, sys._getframe(2)))  # 2: the frame of the event


#: Where the watchdog's errors say they stopped until the stopped thread says.
_SOMEWHERE: Final = "{somewhere}"


def _located(window: _Window, frame: FrameType | None) -> ResourceLimitError:
    """``window``'s error, located at ``frame`` if the watchdog could not say where."""
    error = window.error
    assert error is not None
    message = error.args[0]
    if _SOMEWHERE not in message:
        return error
    located = type(error)(
        message.replace(_SOMEWHERE, _where(frame), 1), limit=error.limit, value=error.value
    )
    with _LOCK:  # every window _trip() gave it to: this one and those it is nested in
        w: _Window | None = window
        while w is not None:
            if w.error is error:
                w.error = located
            w = w.outer
    return located


# JUMP, and PY_START/PY_RESUME of code that does not count depth, are enabled
# only while some window is tripped (globally: for every thread).


def _on_jump(code: CodeType, offset: int, destination: int) -> None:
    w = _WINDOWS.get(get_ident())
    if w is not None and w.error is not None:
        _stop(w, code)


def _on_start(
    code: CodeType,
    offset: int,
    _get: Callable[[int], _Window | None] = _WINDOWS.get,
    _ident: Callable[[], int] = get_ident,
) -> None:
    w = _get(_ident())
    if w is None:
        return
    if w.error is not None:
        _stop(w, code)
    elif not _stop_events or _COUNTED.get(id(code)) is code:
        depth = w.depth + 1
        w.depth = depth
        if depth > w.max_depth:
            w.check_depth(sys._getframe(1))


def _on_throw(code: CodeType, offset: int, exc: object) -> None:
    # A generator resumed by throw() has no PY_RESUME; its frame is entered.
    w = _WINDOWS.get(get_ident())
    if w is not None and _COUNTED.get(id(code)) is code:
        w.depth += 1


def _on_return(code: CodeType, offset: int, value: object) -> None:
    w = _WINDOWS.get(get_ident())
    if w is not None:
        w.depth -= 1


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def counting_hot(limits: Limits) -> frozenset[str]:
    """What the rewrite set gains for ``limits``: the counting sentinels."""
    hot = set()
    if limits.instructions is not None:
        hot.add(COUNT_WORK)  # every version: ticks compiled into the code
    if limits.recursion is not None and monitoring():
        hot.add(COUNT_DEPTH)  # 3.12+: local events; 3.11 traces the thread
    return frozenset(hot)


def instrument(code: CodeType, hot: frozenset[str]) -> None:
    """Give freshly compiled ``code`` the local events its rewrite set asks for."""
    global _throw_events
    if COUNT_DEPTH not in hot or not monitoring():
        return
    assert _tool is not None
    events = _MONITORING.events
    mask = events.PY_START | events.PY_RESUME | events.PY_RETURN | events.PY_YIELD
    for c in _code_objects(code):
        _MONITORING.set_local_events(_tool, c, mask)
        _COUNTED[id(c)] = c
    if not _throw_events:
        with _LOCK:
            _throw_events = True
            _set_events()


# -- memory -------------------------------------------------------------------

_statm: int | None = None
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    """The process's resident memory (Linux), or its peak (other POSIX systems)."""
    global _statm
    if _statm is None:
        try:
            _statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            _statm = -1
    if _statm >= 0:
        return int(os.pread(_statm, 128, 0).split()[1]) * _PAGE
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _check_memory_supported() -> None:
    if not os.path.exists("/proc/self/statm"):
        try:
            import resource  # noqa: F401
        except ImportError:
            raise PolicyError(
                "Limits.memory needs /proc/self/statm or the resource module, which this "
                "platform lacks: leave Limits.memory at None and limit the process instead"
            ) from None


# -- the Meter ----------------------------------------------------------------


#: The names the ticks compiled into counting code read from the Sandbox's
#: builtins: each tick is ``__ds_next__(__ds_budget__)``.
BUDGET_NEXT: Final = "__ds_next__"
BUDGET_ITER: Final = "__ds_budget__"
_UNCOUNTED: Final = repeat(None)  # between calls, ticks count nothing


_NEVER: Final = object()  # the end marker's sentinel: it never returns this


class _Exhausted:
    """What a Meter's budget iterator calls when the budget is used up.

    A tick is a C call (``next`` of ``repeat(None, n)`` chained to
    ``iter(self, _NEVER)``), so counting costs no Python frame; only ticks
    past the budget run this. The end marker is a C callable-iterator, not a
    Python one: ``chain`` would drop a Python ``__iter__`` that failed (a
    RecursionError deep in a retrying handler) and end the budget with a
    catchable StopIteration.
    """

    __slots__ = ("meter",)

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def __call__(self) -> None:
        w = _WINDOWS.get(get_ident())
        while w is not None and w.meter is not self.meter:
            w = w.outer
        if w is None or w.exiting:
            return  # the Sandbox's code run outside its calls is not governed
        if w.error is not None:
            raise _again(_located(w, sys._getframe(1)))
        w.trip_here("instructions", sys._getframe(1))


class Meter:
    """The limits of one Sandbox, and the output it collected."""

    __slots__ = ("_budget", "_builtins", "_calls", "_end", "_parts", "_size", "limits")

    def __init__(self, limits: Limits, builtins: dict[str, Any]) -> None:
        self.limits = limits
        self._parts: list[str] = []
        self._size = 0
        self._builtins = builtins
        self._calls = 0  # open calls, on any thread
        self._budget: repeat[None] = _UNCOUNTED
        self._end = iter(_Exhausted(self), _NEVER)
        if limits.instructions is not None:
            builtins[BUDGET_NEXT] = next
            builtins[BUDGET_ITER] = _UNCOUNTED
        if limits.memory is not None:
            _check_memory_supported()
        monitoring()

    def _fill(self, n: int) -> None:
        """Budget a call: ``n`` more ticks, pooled with the calls open on other threads."""
        with _LOCK:
            left = length_hint(self._budget) if self._calls else 0
            self._calls += 1
            self._budget = repeat(None, left + n)
            self._builtins[BUDGET_ITER] = chain(self._budget, self._end)

    def _drain(self) -> None:
        with _LOCK:
            self._calls -= 1
            if not self._calls:
                self._budget = _UNCOUNTED
                self._builtins[BUDGET_ITER] = _UNCOUNTED

    def call(self, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` inside a window named ``what`` ("Sandbox.call()")."""
        tid = get_ident()
        outer = _WINDOWS.get(tid)
        if outer is not None and outer.meter is self:
            return fn(*args, **kwargs)  # re-entered: the outer window governs
        window = _Window(self, what, tid, outer)
        window.base = sys._getframe(0)
        _open(window)
        budget = self.limits.instructions
        if budget is not None:
            self._fill(budget)
        failure: BaseException | None = None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            failure = exc
        # Nothing between the call's return and this line checks for a
        # pending asynchronous exception (3.11); after it, none is injected.
        window.exiting = True
        if _tool is None:
            try:
                with _LOCK:  # the watchdog has finished an injection it started
                    pass
                _settle()  # which arrives here, at the callee's RESUME
            except _Interrupt:
                pass
        _close(window)
        if budget is not None:
            self._drain()
        if window.error is None:
            if failure is not None:
                raise failure
            return result
        # Tripped with no event after it (a C call ran to the end): the
        # innermost sandboxed frame the failure passed through, if any.
        tb = failure.__traceback__ if failure is not None else None
        frame = None
        while tb is not None:
            if MARKER in tb.tb_frame.f_builtins:
                frame = tb.tb_frame
            tb = tb.tb_next
        error = _located(window, frame)
        if type(failure) is type(error) and failure.args == error.args:
            raise failure  # the limit's own error, with its traceback into sandboxed code
        tb = failure.__traceback__ if failure is not None else None
        raise _again(error).with_traceback(tb) from None

    # -- output -------------------------------------------------------------

    @property
    def output(self) -> str:
        text = "".join(self._parts)
        self._parts[:] = [text]
        return text

    def write(self, text: str) -> None:
        """Collect ``text`` printed by sandboxed code, up to ``Limits.output``."""
        cap = self.limits.output
        if cap is None:
            sys.stdout.write(text)
            return
        room = cap - self._size
        if len(text) <= room:
            self._parts.append(text)
            self._size += len(text)
            return
        if room > 0:
            self._parts.append(text[:room])
            self._size = cap
        window = _WINDOWS.get(get_ident())
        if window is None or window.meter is not self:
            raise _error("sandboxed code", self.limits, "output", location())
        window.trip_here("output", sys._getframe(1))
        assert window.error is not None
        raise _again(window.error)

    def print(
        self,
        *args: object,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        """The Sandbox's ``print``: what goes to stdout is collected instead."""
        if file is not None and file is not sys.stdout:
            _real_print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        buffer = io.StringIO()
        _real_print(*args, sep=sep, end=end, file=buffer)
        self.write(buffer.getvalue())
