"""The host's end of a Sandbox that runs in a worker process or a subinterpreter."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import sys
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from .._clock import Clock
from .._journal import Journal, _rebuild_journal
from .._limits import Limits
from .._policy import Policy
from ..errors import (
    SandboxError,
    TimeLimitError,
    TransferError,
    WorkerCrashedError,
)
from ._protocol import Closed, HostUnpickler, RemoteModule, RemoteRef, dump_request

if TYPE_CHECKING:
    from .._sandbox import Sandbox

__all__ = ["Pool", "Remote", "RemoteClock", "Worker"]

_PROTOCOL: Final = pickle.HIGHEST_PROTOCOL


# What the host unpickles from a worker that runs untrusted code: pickles are
# programs, and one made by hostile code must not call host functions. Only
# these classes (and detsandbox's error rebuilders) may be named in it.
_SAFE_GLOBALS: Final = {
    "copyreg": frozenset({"_reconstructor"}),
    "datetime": frozenset({"date", "datetime", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "uuid": frozenset({"UUID", "SafeUUID"}),
    "collections": frozenset({"OrderedDict", "deque", "Counter"}),
    "zoneinfo": frozenset({"ZoneInfo"}),
    # A Journal rebuilds from plain tuples; its results are checked like any value.
    "detsandbox._journal": frozenset({"_rebuild_journal"}),
    # A value the worker kept (a guard): a RemoteRef, never a call.
    "detsandbox._backends._protocol": frozenset({"_remote_ref"}),
}


class _SafeUnpickler(HostUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = name in _SAFE_GLOBALS.get(module, ())
        if module == "builtins":
            obj = getattr(builtins, name, None)
            # Classes only: no eval, getattr, __import__...; no dotted paths.
            allowed = isinstance(obj, type) and "." not in name
        elif module in ("detsandbox", "detsandbox.errors"):
            allowed = "." not in name and (name[:1].isupper() or name.startswith("_rebuild_"))
        if not allowed:
            raise pickle.UnpicklingError(
                f"{module}.{name} is not on the list of what an untrusted Sandbox may return"
            )
        return super().find_class(module, name)


#: The name a worker's pickle gives a value it kept (see HostUnpickler).
_REF_NAME: Final = b"_remote_ref"

_last_opening: tuple[Policy, list[str], str, dict[Any, Any], bytes] | None = None


def _environ_key() -> dict[Any, Any]:
    """What the environment is compared by: the dict os.environ keeps (bytes on
    POSIX) compares in C, where os.environ itself decodes every entry (~100 µs)."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _opening(policy: Policy) -> bytes:
    """The pickled "open" request for ``policy``; the last one is reused (pickling a
    Policy costs tens of microseconds). Keyed by identity: equal replay policies may
    hold different journals."""
    global _last_opening
    path, cwd, env = sys.path, os.getcwd(), _environ_key()
    last = _last_opening
    if (
        last is not None
        and last[0] is policy
        and last[1] == path
        and last[2] == cwd
        and last[3] == env
    ):
        return last[4]
    # The environment too: a worker forked from a zygote started earlier, or a
    # pooled interpreter made earlier, sees the host's environment as it is when
    # the Sandbox is made, as a child process would (a process worker applies it;
    # an interpreter makes its own os.environ a copy of it).
    data = pickle.dumps(("open", policy, list(path), cwd, dict(os.environ)), _PROTOCOL)
    _last_opening = (policy, list(path), cwd, dict(env), data)
    return data


class Channel(Protocol):
    """How a Remote reaches its worker: a :class:`Conn`, or a subinterpreter's lease."""

    def send(self, data: bytes, first: bytes = b"") -> None: ...

    def recv(self, timeout: float | None = None) -> bytes: ...


class Worker(Protocol):
    """One worker serving one Sandbox at a time."""

    @property
    def conn(self) -> Channel: ...

    def release(self) -> None:
        """The Sandbox is done with this worker (it ends, or goes back to its pool)."""

    def kill(self) -> None:
        """End the worker now (it ran past its time)."""

    def exit_status(self) -> int | None:
        """After the worker went away: its exit code, or minus the signal that ended it."""


class Pool(Protocol):
    name: str

    def acquire(self, policy: Policy) -> Worker: ...


class Remote:
    """Requests to the worker that holds this Sandbox's real, in-process Sandbox."""

    __slots__ = (
        "_generation",
        "_learn",
        "_lock",
        "_opening",
        "_policy",
        "_pool",
        "_sources",
        "_timeout",
        "_unpickler",
        "_worker",
        "backend",
    )

    def __init__(self, pool: Pool, policy: Policy, *, hard_timeout: bool) -> None:
        self.backend = pool.name
        self._pool = pool
        self._policy = policy
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._generation = 0
        self._sources: dict[str, tuple[str, str]] = {}
        self._unpickler = _SafeUnpickler if policy.untrusted else HostUnpickler
        # A pool whose workers start fresh may compile exec'd sources ahead for them.
        self._learn: Callable[[Policy, str, str], None] | None = getattr(pool, "learn", None)
        limits = policy.limits or Limits()
        # The Sandbox inside enforces the limits itself; a worker process is
        # also killed once the call runs clearly past its timeout.
        timeout = limits.timeout
        self._timeout = timeout * 1.1 + 0.1 if timeout is not None and hard_timeout else None
        self._start()

    def _start(self) -> Worker:
        self._worker = worker = self._pool.acquire(self._policy)
        # The opening message goes out with the first request, in one write,
        # unless the worker (a process spare) was sent this one while idle.
        opening = _opening(self._policy)
        self._opening = b"" if getattr(worker, "opened", None) is opening else opening
        return worker

    def request(self, request: tuple[Any, ...], *, timed: bool = False) -> Any:
        with self._lock:
            worker = self._worker
            if worker is None:
                worker = self._start()
            data = dump_request(request, self, self._generation)
            opening, self._opening = self._opening, b""
            try:
                worker.conn.send(data, opening)
                reply = worker.conn.recv(self._timeout if timed else None)
            except TimeoutError:
                self._lose(worker, kill=True)
                raise self._time_limit() from None
            except (Closed, OSError):
                status = self._lose(worker, kill=False)
                raise self._crashed(status) from None
            return self._decode(self._loads(reply))

    def _loads(self, data: bytes) -> Any:
        """A value from the worker; what it kept (guards) comes back as RemoteRefs."""
        if self._unpickler is HostUnpickler and _REF_NAME not in data:
            # Nothing kept (a pickle that calls it spells its name out at least
            # once): C's own loads, at about a third of the cost.
            return pickle.loads(data)
        return self._unpickler(io.BytesIO(data), self, self._generation).load()

    def _lose(self, worker: Worker, *, kill: bool) -> int | None:
        """Forget a dead (or killed) worker: the next request starts a fresh one."""
        self._worker = None
        self._generation += 1
        if kill:
            worker.kill()
        status = worker.exit_status()
        worker.release()
        return status

    def _time_limit(self) -> TimeLimitError:
        limits = self._policy.limits
        value = limits.timeout if limits is not None else None
        return TimeLimitError(
            f"the call ran past Limits.timeout={value} s; its worker process was killed and "
            "replaced, so this Sandbox starts over with no modules (RemoteRefs from before "
            "are void)",
            limit="timeout",
            value=value,
        )

    def _crashed(self, status: int | None) -> SandboxError:
        if status is not None and status < 0:
            import signal

            try:
                how = f"was killed by {signal.Signals(-status).name}"
            except ValueError:
                how = f"was killed by signal {-status}"
            if -status == getattr(signal, "SIGXCPU", None):
                limits = self._policy.limits
                value = limits.timeout if limits is not None else None
                return TimeLimitError(
                    f"the call used more CPU time than Limits.timeout={value} s allows; its "
                    "worker process was killed and replaced, so this Sandbox starts over",
                    limit="timeout",
                    value=value,
                )
        elif status is not None:
            how = f"exited with status {status}"
        else:
            how = "went away"
        return WorkerCrashedError(
            f"the {self.backend} worker running this Sandbox {how} (a crash in C code, "
            "os._exit() or abort()); the Sandbox gets a fresh worker on its next call and "
            "starts over with no modules",
            exitcode=status,
        )

    def _decode(self, reply: tuple[Any, ...]) -> Any:
        if reply[0] == "ok":
            return reply[1]
        _, payload, summary, frames, how, chain = reply
        exc: BaseException | None
        try:
            exc = self._loads(payload) if payload is not None else None
        except Exception:
            exc = None
        if not isinstance(exc, BaseException):
            exc = TransferError(
                f"sandboxed code raised {summary}; its type cannot cross into the host (it is "
                "defined in the Sandbox, or does not pickle): raise a builtin or detsandbox "
                "exception, or one from a module the host can import"
            )
        tb = _sandboxed_traceback(frames, self._sources) if frames else None
        if tb is not None:
            exc.__traceback__ = tb
            exc.add_note(_worker_note(self.backend, len(frames), str(how), str(chain)))
        raise exc

    # -- values -------------------------------------------------------------------------

    def value(self, encoded: tuple[Any, ...]) -> Any:
        if encoded[0] == "r":
            _, key, name, type_name = encoded
            return RemoteRef(self, self._generation, key, name, type_name)
        try:
            return self._loads(encoded[1])
        except Exception as exc:
            raise TransferError(
                f"a value from the Sandbox cannot be rebuilt in the host: {exc}; return plain "
                "data (str, int, list, dict, dataclasses of host-importable modules)"
            ) from None

    def namespace(self, encoded: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
        out = {}
        for name, item in encoded.items():
            try:
                out[name] = self.value(item)
            except TransferError:
                out[name] = self.value(item[2])
        return out

    # -- the Sandbox API ----------------------------------------------------------------

    def exec(self, source: str, filename: str, name: str) -> dict[str, Any]:
        # Its lines, for the frames of a traceback from the worker.
        self._sources[filename] = (name, source)
        namespace = self.namespace(self.request(("exec", source, filename, name), timed=True))
        if self._learn is not None:
            self._learn(self._policy, source, filename)
        return namespace

    def import_module(self, name: str) -> RemoteModule:
        real, attrs = self.request(("import", name), timed=True)
        module = RemoteModule(real)
        module.__dict__.update(self.namespace(attrs))
        return module

    def call(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if type(fn) is RemoteModule:
            raise TransferError(f"Sandbox.call() expects a callable, got the module {fn!r}")
        return self.value(self.request(("call", fn, args, kwargs), timed=True))

    def attr(self, path: str, args: tuple[Any, ...] | None = None) -> Any:
        return self.request(("attr", path, args))

    def journal(self) -> Journal:
        """A copy of the worker's journal, equal to it (see Journal._portable)."""
        data = self.request(("journal",))
        try:
            journal = _rebuild_journal(*self._loads(data))
        except Exception as exc:
            raise TransferError(
                f"the journal the {self.backend} worker sent cannot be rebuilt in the host "
                f"({exc}); detsandbox's worker sends no such journal, so sandboxed code may "
                "have tampered with it: close this Sandbox and distrust what it returned"
            ) from None
        return journal

    def close(self) -> None:
        if not self._lock.acquire(blocking=False):
            # A call is running on another thread (or the host is exiting
            # under it): end a worker process now; the call then fails.
            worker = self._worker
            if worker is not None:
                worker.kill()
            return
        try:
            worker, self._worker = self._worker, None
            if worker is not None:
                # No message: a worker process ends when its socket closes, and
                # an interpreter drops this Sandbox when it opens the next one.
                worker.release()
        finally:
            self._lock.release()


# The code of a stand-in frame: it returns its own frame object.
_FRAME: Final = compile("_getframe()", "<frame>", "eval", dont_inherit=True)


def _sandboxed_traceback(
    frames: object, sources: dict[str, tuple[str, str]]
) -> TracebackType | None:
    """A traceback of stand-in frames with the worker's files, lines and functions.

    The traceback module formats it as it would the worker's own, reading each
    line from the source this Sandbox ran under that filename, or from the file.
    None if ``frames`` (from a worker that may run untrusted code) is malformed.
    """
    from .._sandbox import _ExecLoader

    tb = None
    try:
        for filename, lineno, name in reversed(frames):  # type: ignore[call-overload]
            code = _FRAME.replace(co_filename=filename, co_name=name, co_qualname=name)
            namespace: dict[str, object] = {"_getframe": sys._getframe}
            if filename in sources:
                # What linecache reads the lines from, as for a module exec'd in-process.
                namespace["__name__"], source = sources[filename]
                namespace["__loader__"] = _ExecLoader(source)
            # tb_lasti -1: no position in the code, so the line is tb_lineno.
            tb = TracebackType(tb, eval(code, namespace), -1, lineno)
    except Exception:
        return None
    return tb


def _worker_note(backend: str, count: int, how: str, chain: str) -> str:
    which = "frame" if count == 1 else f"{count} frames"
    note = f"Traceback in the {backend} worker: the last {which} above."
    if how == "cause":
        return f"{note} Its direct cause:\n\n{chain}"
    if how == "context":
        return f"{note} It was raised while handling:\n\n{chain}"
    return note


@final
class RemoteClock(Clock):
    """``Sandbox.clock`` of a remote Sandbox: reads and moves the worker's clock.

    Made once per Sandbox; it holds the Sandbox weakly (a clock kept past its
    Sandbox must not keep the worker), and raises as the Sandbox does once closed.
    """

    __slots__ = ("_sandbox",)

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = weakref.ref(sandbox)

    def _ask(self, what: str, args: tuple[Any, ...]) -> Any:
        sandbox = self._sandbox()
        if sandbox is None:
            raise SandboxError(
                "this clock's Sandbox was garbage-collected, which closed it and gave its "
                "worker back: keep a reference to the Sandbox while you use its clock"
            )
        return sandbox._remote_deterministic(what, args)

    def time_ns(self) -> int:
        return int(self._ask("clock.time_ns", ()))

    def time(self) -> float:
        return float(self._ask("clock.time", ()))

    def monotonic_ns(self) -> int:
        return int(self._ask("clock.monotonic_ns", ()))

    def monotonic(self) -> float:
        return float(self._ask("clock.monotonic", ()))

    def _advance(self, seconds: float) -> None:
        self._ask("clock.advance", (seconds,))

    def __repr__(self) -> str:
        # The worker's own repr, in one request rather than two reads.
        return str(self._ask("clock.__repr__", ()))
