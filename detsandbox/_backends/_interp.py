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
* Each interpreter runs a request loop from a host thread of its own (it
  holds its own GIL there); requests and replies are pickles over two pipes,
  the same protocol as a worker process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import re
import sys
import threading
from typing import Any, Final

from .._policy import Policy
from ..errors import BackendError, BackendUnavailableError
from ._protocol import Closed, Conn, Server

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


def unavailable() -> str | None:
    """Why the subinterpreter backend cannot run on this CPython, or None."""
    if sys.version_info < (3, 12):
        return _WHY_NOT_311
    if sys.version_info < (3, 13):
        return _WHY_NOT_312
    try:
        _api()
    except ImportError:
        return "the subinterpreter backend needs CPython's _interpreters module (3.13+)"
    return None


def _api() -> Any:
    """CPython's private ``_interpreters`` (3.13+; concurrent.interpreters in 3.14)."""
    return importlib.import_module("_interpreters")


class _Interpreter:
    """One isolated interpreter, its request loop, and the host's end of its pipes."""

    def __init__(self, pool: InterpreterPool) -> None:
        _interpreters = _api()
        self._pool = pool
        self.id = _interpreters.create("isolated")
        to_sub_r, self._to_sub_w = os.pipe()
        self._from_sub_r, from_sub_w = os.pipe()
        self._sub_fds = (to_sub_r, from_sub_w)
        self.conn = Conn(self._from_sub_r, self._to_sub_w)
        self.failure: object = None
        code = (
            f"import sys\nsys.path[:] = {list(sys.path)!r}\n"
            "from detsandbox._backends._interp import serve\n"
            f"serve({to_sub_r}, {from_sub_w})\n"
        )
        self.thread = threading.Thread(
            target=self._run, args=(code,), name=f"detsandbox-interp-{self.id}", daemon=True
        )
        self.thread.start()

    def _run(self, code: str) -> None:
        _interpreters = _api()
        self.failure = _interpreters.exec(self.id, code)

    def release(self) -> None:
        self._pool.give_back(self)

    def kill(self) -> None:
        """Nothing can stop a running subinterpreter from outside."""

    def exit_status(self) -> int | None:
        return None

    def shutdown(self) -> None:
        _interpreters = _api()
        with contextlib.suppress(OSError):
            self.conn.send(b"")
        self.thread.join(5)
        if self.thread.is_alive():
            return  # still running sandboxed code: it cannot be destroyed
        _interpreters.destroy(self.id)
        for fd in (self._to_sub_w, self._from_sub_r, *self._sub_fds):
            with contextlib.suppress(OSError):
                os.close(fd)


class InterpreterPool:
    """Idle interpreters, reused; created on demand, destroyed in reverse order at exit."""

    name = "subinterpreter"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: list[_Interpreter] = []
        self._idle: list[_Interpreter] = []
        self._registered = False

    def acquire(self, policy: Policy) -> _Interpreter:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if not self._registered:
                atexit.register(self.shutdown)
                self._registered = True
            try:
                interp = _Interpreter(self)
            except Exception as exc:
                raise BackendError(f"could not create a subinterpreter: {exc!r}") from None
            self._all.append(interp)
            return interp

    def give_back(self, interp: _Interpreter) -> None:
        with self._lock:
            if interp.thread.is_alive() and interp in self._all:
                self._idle.append(interp)
            elif interp in self._all:
                self._all.remove(interp)

    def size(self) -> tuple[int, int]:
        """(interpreters, idle ones), for tests and benchmarks."""
        with self._lock:
            return len(self._all), len(self._idle)

    def shutdown(self) -> None:
        """Destroy every idle interpreter, newest first (3.13 crashes in creation order)."""
        with self._lock:
            doomed = list(reversed(self._all))
            self._all.clear()
            self._idle.clear()
        for interp in doomed:
            interp.shutdown()


POOL: Final = InterpreterPool()


# -- inside the subinterpreter -------------------------------------------------------------


class _InterpServer(Server):
    def _open(
        self, policy: Any, path: list[str], cwd: str, env: dict[str, str] | None = None
    ) -> None:
        # The environment is the process's, shared with the host: never applied here.
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

    def _error(self, exc: BaseException) -> bytes:
        refused = _REFUSED.match(str(exc)) if isinstance(exc, ImportError) else None
        if refused:
            exc.add_note(
                f"{refused[1]} cannot load in a subinterpreter: run this Sandbox with "
                "backend='process' or 'inprocess'"
            )
        return super()._error(exc)


def serve(rfd: int, wfd: int) -> None:
    """The request loop of one interpreter; an empty message ends it."""
    conn = Conn(rfd, wfd)
    server = _InterpServer()
    try:
        while True:
            try:
                data = conn.recv()
            except Closed:
                break
            if not data:
                break
            reply = server.handle(data)
            if reply is not None:
                conn.send(reply)
    finally:
        server.sandbox = None
        server.handles.clear()
