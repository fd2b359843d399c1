"""The subinterpreter backend (CPython 3.13+): a pool of long-lived isolated interpreters.

Facts it is built around (docs/backends.md has the sources):

* On 3.12 and 3.13 an isolated interpreter leaks about 2.5 MB per
  create/destroy cycle, so interpreters are created once and reused: each
  serves one Sandbox at a time and is reset between Sandboxes by dropping
  that Sandbox (its modules are its own already) and the handles it gave out,
  when it opens the next one.
* Two isolated interpreters that imported ``datetime`` crash when destroyed
  in creation order on 3.13, so the pool destroys them in reverse order, at
  exit.
* Nothing in the host can interrupt a running subinterpreter, so limits are
  the business of the Sandbox inside it (its in-process enforcement).

How a request runs: the calling host thread puts the pickled request on the
interpreter's inbound queue and enters the interpreter itself
(``_interpreters.exec`` of one precompiled code object); the interpreter's
request server answers on its outbound queue. No other
thread is woken, so a round trip costs about as much as entering and leaving
the interpreter (tens of microseconds), and two host threads in two
interpreters run in parallel, each interpreter on its own GIL. The requests
and replies are those of a worker process (:mod:`._protocol`).
"""

from __future__ import annotations

import atexit
import importlib
import os
import re
import sys
import threading
from typing import Any, Final

from .._policy import Policy
from ..errors import BackendError, BackendUnavailableError
from ._protocol import Closed, Server

__all__ = ["POOL", "InterpreterPool", "unavailable"]

_WHY_NOT_311: Final = (
    "the subinterpreter backend needs CPython 3.13+: 3.11's subinterpreters share the "
    "main interpreter's GIL (no parallelism), and can report an exception only as a string"
)
_WHY_NOT_312: Final = (
    "the subinterpreter backend needs CPython 3.13+: 3.12's isolated interpreters leak "
    "~2.5 MB per create/destroy cycle (gh-110411, gh-113055), crash on destroy with a "
    "double free once two of them imported datetime or decimal, and cannot import "
    "_datetime, _decimal or zoneinfo"
)


_REFUSED: Final = re.compile(r"module (\S+) does not support loading in subinterpreters")

# What the host execs in an interpreter for each request. A code object
# crosses marshalled, which costs less than compiling source there each time;
# the request itself goes by queue, cheaper than binding it in __main__.
_REQUEST: Final = compile("_detsandbox_serve()\n", "<detsandbox request>", "exec")
# _interpqueues: the item format (0: shareable objects as they are, here
# bytes) and what becomes of an item whose interpreter is destroyed (1:
# removed). 3.14 dropped the format argument; its defaults are used there (untested).
_RAW, _REMOVE = 0, 1


def unavailable() -> str | None:
    """Why the subinterpreter backend cannot run on this CPython, or None."""
    if sys.version_info < (3, 12):
        return _WHY_NOT_311
    if sys.version_info < (3, 13):
        return _WHY_NOT_312
    try:
        _api()
        _queues()
    except ImportError:
        return "the subinterpreter backend needs CPython's _interpreters module (3.13+)"
    return None


def _api() -> Any:
    """CPython's private ``_interpreters`` (3.13+; concurrent.interpreters in 3.14)."""
    return importlib.import_module("_interpreters")


def _queues() -> Any:
    return importlib.import_module("_interpqueues")


def _new_queue() -> int:
    if sys.version_info < (3, 14):
        return int(_queues().create(0, _RAW, _REMOVE))
    return int(_queues().create(0))


class _Interpreter:
    """One isolated interpreter with detsandbox imported and a request server ready."""

    def __init__(self) -> None:
        self._interpreters = interpreters = _api()
        queues = _queues()
        self._get, self._put = queues.get, queues.put
        self.id: int = interpreters.create("isolated")
        self.inbox, self.outbox = _new_queue(), _new_queue()
        self.broken = False
        boot = (
            f"import sys\nsys.path[:] = {list(sys.path)!r}\n"
            "from detsandbox._backends._interp import serve\n"
            f"_detsandbox_serve = serve({self.inbox}, {self.outbox})\n"
        )
        excinfo = interpreters.exec(self.id, boot)
        if excinfo is not None:
            self.destroy()
            raise BackendError(
                f"could not start detsandbox in a subinterpreter: {excinfo.formatted}"
            )

    def request(self, first: bytes, data: bytes) -> bytes:
        """Run one request (after ``first``, an opening, if given) on this thread."""
        message = (first, data) if first else data
        if sys.version_info < (3, 14):
            self._put(self.inbox, message, _RAW, _REMOVE)
        else:
            self._put(self.inbox, message)
        excinfo = self._interpreters.exec(self.id, _REQUEST)
        if excinfo is not None:
            # The server answers every error; this is the machinery itself failing.
            self.broken = True
            raise Closed(excinfo.formatted)
        reply: bytes = self._get(self.outbox)[0]
        return reply

    def destroy(self) -> bool:
        """Destroy the interpreter unless a host thread is still running code in it."""
        try:
            if self._interpreters.is_running(self.id):
                return False
            self._interpreters.destroy(self.id)
        except self._interpreters.InterpreterNotFoundError:
            pass
        for queue in (self.inbox, self.outbox):
            _queues().destroy(queue)
        return True


class _Lease:
    """One interpreter lent to one Sandbox: the Worker its Remote talks to.

    Given back when the Sandbox is done with it; a request after that (from
    a host thread racing the Sandbox's close) finds the lease void and fails
    instead of entering an interpreter that now serves someone else.
    """

    __slots__ = ("_busy", "_data", "_dropped", "_first", "_interp", "_lock", "_pool", "conn")

    def __init__(self, pool: InterpreterPool, interp: _Interpreter) -> None:
        self._pool = pool
        self._interp: _Interpreter | None = interp
        self._lock = threading.Lock()
        self._busy = False
        self._dropped = False
        self._first = self._data = b""
        self.conn = self

    # -- the channel Remote sends and receives on -----------------------------------------

    def send(self, data: bytes, first: bytes = b"") -> None:
        self._first, self._data = first, data

    def recv(self, timeout: float | None = None) -> bytes:
        """The reply to the request sent last; it runs here, on the calling thread."""
        with self._lock:
            interp = self._interp
            if interp is None:
                raise Closed("this Sandbox gave its interpreter back")
            self._busy = True
        first, data, self._first, self._data = self._first, self._data, b"", b""
        try:
            return interp.request(first, data)
        finally:
            with self._lock:
                self._busy = False
                if self._dropped:
                    self._give_back()

    # -- the Worker protocol ----------------------------------------------------------------

    def release(self) -> None:
        with self._lock:
            if self._busy:
                self._dropped = True  # given back when the running request ends
            else:
                self._give_back()

    def kill(self) -> None:
        """Nothing can stop a running subinterpreter from outside: give it back once done."""
        self.release()

    def exit_status(self) -> int | None:
        return None

    def _give_back(self) -> None:
        interp, self._interp = self._interp, None
        if interp is not None:
            self._pool.give_back(interp)


class InterpreterPool:
    """Idle interpreters, reused; created on demand, destroyed in reverse order at exit."""

    name = "subinterpreter"

    def __init__(self) -> None:
        # Re-entrant: a Sandbox left unclosed in a reference cycle is closed by
        # its finalizer, which gives its interpreter back, and the collection
        # that runs it can start inside any allocation made under this lock.
        self._lock = threading.RLock()
        self._all: list[_Interpreter] = []
        self._idle: list[_Interpreter] = []
        self._registered = False

    def acquire(self, policy: Policy) -> _Lease:
        with self._lock:
            if self._idle:
                return _Lease(self, self._idle.pop())
            if not self._registered:
                atexit.register(self.shutdown)
                self._registered = True
        # Outside the lock: creating one takes milliseconds, and other threads
        # may meanwhile take idle ones.
        try:
            interp = _Interpreter()
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"could not create a subinterpreter: {exc!r}") from None
        with self._lock:
            self._all.append(interp)
        return _Lease(self, interp)

    def give_back(self, interp: _Interpreter) -> None:
        with self._lock:
            if interp not in self._all:
                return  # the pool was shut down meanwhile
            if not interp.broken:
                self._idle.append(interp)
                return
            self._all.remove(interp)
        interp.destroy()

    def size(self) -> tuple[int, int]:
        """(interpreters, idle ones), for tests and benchmarks."""
        with self._lock:
            return len(self._all), len(self._idle)

    def shutdown(self) -> None:
        """Destroy every interpreter, newest first (3.13 crashes in creation order).

        One that a host thread is still running code in cannot be destroyed;
        it is left to the interpreter's own exit.
        """
        with self._lock:
            doomed = list(reversed(self._all))
            self._all.clear()
            self._idle.clear()
        for interp in doomed:
            interp.destroy()


POOL: Final = InterpreterPool()


# -- inside the subinterpreter -------------------------------------------------------------


class _InterpServer(Server):
    """A worker's Server that serves Sandbox after Sandbox, one at a time."""

    def __init__(self) -> None:
        super().__init__()
        # The last opening and what it held: a run of Sandboxes with one
        # Policy sends the same bytes each time, and unpickling them (the
        # Policy and the environment) costs more than the rest of a run.
        self._last_opening = b""
        self._opened: tuple[Any, ...] = ()
        # The last environment applied (as sent) and os.environ's dict for it.
        self._env_sent: dict[str, str] | None = None
        self._env_data: dict[Any, Any] = {}

    def open(self, opening: bytes) -> bytes | None:
        """Start the next Sandbox; an error reply if the opening does not load."""
        if opening != self._last_opening:
            self._last_opening = b""
            try:
                request = self._load(opening)
            except BaseException as exc:
                self.sandbox = None
                self.handles.clear()
                return self._error(exc)
            policy = request[1]
            # A Policy is frozen, but its replay journal is not: a Sandbox
            # that replays gets a Policy of its own.
            if isinstance(policy, Policy) and policy.journal is None:
                self._last_opening, self._opened = opening, request[1:]
        else:
            request = ("open", *self._opened)
        self._open(*request[1:])
        return None

    def _open(
        self, policy: Any, path: list[str], cwd: str, env: dict[str, str] | None = None
    ) -> None:
        # Nothing of the Sandbox before may survive an opening that fails.
        self.sandbox = None
        if env is not None:
            self._mirror_environ(env)
        # Not passed on: Server would putenv() it, and the process's
        # environment is the host's own already.
        super()._open(policy, path, cwd)
        if self.failure is not None or not isinstance(policy, Policy):
            return
        for name in policy.passthrough:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                self.failure = BackendUnavailableError(
                    f"passthrough module {name!r} cannot load in a subinterpreter ({exc}); "
                    "C extensions such as numpy and pydantic_core support only the main "
                    "interpreter: use backend='process' or 'inprocess' for this Policy"
                )
                return

    def _mirror_environ(self, env: dict[str, str]) -> None:
        """Make this interpreter's ``os.environ`` the host's as sent in the opening.

        An interpreter's ``os.environ`` is its own copy, made when it imported
        ``os``; the host's later changes reach the process's environment
        (``putenv``), not that copy. It is rewritten in place, through the dict
        ``os.environ`` and ``os.environb`` keep, so nothing calls ``putenv``
        for the process. An environment equal to the last one reuses its
        encoding, and the common case is one dict comparison (the Sandbox
        before may have changed the copy): about 1.5 µs.
        """
        if env is not self._env_sent and env != self._env_sent:
            environ = os.environ
            encode_key, encode_value = environ.encodekey, environ.encodevalue
            self._env_data = {encode_key(k): encode_value(v) for k, v in env.items()}
            self._env_sent = env
        data: dict[Any, Any] = os.environ._data  # type: ignore[attr-defined]
        if data != self._env_data:
            data.clear()
            data.update(self._env_data)

    def _error(self, exc: BaseException) -> bytes:
        refused = _REFUSED.match(str(exc)) if isinstance(exc, ImportError) else None
        if refused:
            exc.add_note(
                f"{refused[1]} cannot load in a subinterpreter: run this Sandbox with "
                "backend='process' or 'inprocess'"
            )
        return super()._error(exc)


def serve(inbox: int, outbox: int) -> Any:
    """This interpreter's request handler: takes a request from ``inbox`` (bytes, or an
    opening and a request) and puts the reply on ``outbox``, for the host to take."""
    server = _InterpServer()
    queues = _queues()
    get, put = queues.get, queues.put
    handle = server.handle
    if sys.version_info < (3, 14):

        def reply(data: bytes) -> None:
            put(outbox, data, _RAW, _REMOVE)

    else:

        def reply(data: bytes) -> None:
            put(outbox, data)

    def serve_one() -> None:
        message = get(inbox)[0]
        if type(message) is tuple:
            error = server.open(message[0])
            if error is not None:
                reply(error)
                return
            message = message[1]
        answer = handle(message)
        reply(answer if answer is not None else b"")

    return serve_one
