"""The process backend: each Sandbox runs in a worker process of its own.

Why a fork server and not spawn: a spawned interpreter costs 50-100 ms to
start and import detsandbox, far over the 1 ms a run may cost. Why not fork
the host: the host may have threads and arbitrary state, and its hash
secret is whatever it started with. So the host spawns one small *zygote*
per hash seed (``python -c``, with ``PYTHONHASHSEED`` derived from the
Policy), which imports and warms detsandbox once and then forks a worker per
Sandbox. Every worker is a fresh fork of that clean zygote: it inherits the
seeded hash secret (so set order and ``str`` hashes are the same for all
code in it, passthrough and C code included) and no run ever sees what an
earlier run left, because a worker serves one Sandbox and exits. The zygote
forks a few workers ahead, so taking one costs only a message.

The zygote talks to the host over a ``SOCK_SEQPACKET`` socket pair; each
worker's own socket is handed to the host with ``SCM_RIGHTS``. Workers die
with the zygote (``PR_SET_PDEATHSIG``), and the zygote with the host (end
of file on its socket), so nothing outlives the host.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import math
import os
import pickle
import queue
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .._budget import memory_error
from .._policy import Policy
from ..errors import BackendError, ResourceLimitError
from ._protocol import Closed, Conn, Server
from ._remote import _opening

if TYPE_CHECKING:
    from .._sandbox import Sandbox

__all__ = ["ProcessPool", "hash_seed", "unavailable"]

_MSG: Final = struct.Struct("!qq")
_FORK: Final = 1
_STATUS: Final = 2
_LEARN: Final = 3
_UNKNOWN: Final = 1 << 40
_PREFORK: Final = 2
# Sources a zygote compiles ahead for the workers it forks: how many, how large.
_LESSONS: Final = 256
_LESSON_SIZE: Final = 64 * 1024
_PACKAGE_ROOT: Final = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unavailable() -> str | None:
    """Why the process backend cannot run here, or None."""
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX"):
        return "the process backend needs os.fork() and Unix sockets (Linux, macOS)"
    if not hasattr(socket, "SOCK_SEQPACKET") or not hasattr(socket, "send_fds"):
        return "the process backend needs SOCK_SEQPACKET sockets and socket.send_fds()"
    return None


def hash_seed(policy: Policy) -> int:
    """The ``PYTHONHASHSEED`` of the workers that run ``policy``: its seed, in range."""
    return policy.seed % 2**32


# -- host side -----------------------------------------------------------------------------


class _Worker:
    __slots__ = ("_sock", "_zygote", "conn", "opened", "pid")

    def __init__(self, zygote: _Zygote, pid: int, sock: socket.socket) -> None:
        self._zygote = zygote
        self._sock = sock
        self.pid = pid
        fd = sock.fileno()
        self.conn = Conn(fd, fd)
        #: The opening this spare was sent while idle (its Sandbox is made already).
        self.opened = b""

    def close(self) -> None:
        self._sock.close()

    def release(self) -> None:
        self._sock.close()
        # The run is over: its replacement is forked and readied now, not while
        # the next run is on, and by the zygote's own thread, not the caller.
        self._zygote.wake.put(True)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def exit_status(self) -> int | None:
        return self._zygote.status(self.pid)


class _Zygote:
    """The host's handle on one zygote process."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        # The zygote gives these two back their host values once started, and
        # warms up on the host's sys.path, so a worker's opening changes nothing.
        host = {name: os.environ.get(name) for name in ("PYTHONHASHSEED", "PYTHONPATH")}
        code = (
            "from detsandbox._backends._process import zygote; "
            f"zygote({zygote_end.fileno()}, {host!r}, {sys.path!r})"
        )
        try:
            # Its own session: a Ctrl-C at the terminal interrupts the host only.
            # -P: the working directory does not go first on sys.path, so the
            # zygote imports the host's detsandbox, not one that directory holds.
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-c", code],
                pass_fds=[zygote_end.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            zygote_end.close()
        self.ctrl = host_end
        self.lock = threading.Lock()
        self.ready: collections.deque[_Worker] = collections.deque()
        self.pending = 0
        self.taught: set[tuple[str, int, object]] = set()
        self.lessons: list[tuple[Policy, str, str]] = []
        self.opening = b""  # the opening of the last Sandbox: spares make theirs ahead
        # The refill thread: woken when a run ends (SimpleQueue.put is safe in a finalizer).
        self.wake: queue.SimpleQueue[bool | threading.Event] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._refill_loop, name=f"detsandbox-zygote-{seed}", daemon=True
        )
        self._thread.start()

    def take(self, opening: bytes) -> _Worker:
        with self.lock:
            self.opening = opening
            if not self.ready:
                if not self.pending:
                    self._ask(_FORK, 0)
                while not self.ready:
                    self._receive()
            worker = self.ready.popleft()
            if not self.ready and not self.pending:
                # Sandboxes open faster than they close: the next one must not wait
                # for a whole fork. Otherwise spares are forked when a run ends
                # (refill), so that no fork competes with a run for the CPU.
                self._ask(_FORK, 0)
            return worker

    def _refill_loop(self) -> None:
        """After each run: refill, then ready the spares forked for it as they arrive."""
        while item := self.wake.get():
            if isinstance(item, threading.Event):
                item.set()  # settle(): every refill asked for before it is done
                continue
            try:
                self.refill()
                deadline = time.monotonic() + 1.0
                while self.pending and self.wake.empty() and time.monotonic() < deadline:
                    # Unlocked: a take() may collect the spare first; then none is left.
                    if select.select([self.ctrl], [], [], 0.02)[0]:
                        self.refill()
            except (OSError, ValueError, Closed):
                pass  # the zygote is gone or shut down; the next take() starts another

    def refill(self) -> None:
        """Between runs: spares that arrived make the last run's Sandbox ahead, the
        zygote learns what that run compiled, and forks spares up to ``_PREFORK``."""
        with self.lock:
            with contextlib.suppress(BlockingIOError):
                while self.pending:
                    self._receive(socket.MSG_DONTWAIT)
            opening = self.opening
            for worker in self.ready:
                # Not a large one (a replay's journal): it could fill the socket.
                if worker.opened is not opening and 0 < len(opening) <= _LESSON_SIZE:
                    # A one-way message: a worker that died meanwhile fails when taken.
                    with contextlib.suppress(OSError):
                        worker.conn.send(opening)
                        worker.opened = opening
            lessons, self.lessons = self.lessons, []
            for lesson in lessons:
                payload = pickle.dumps(lesson, pickle.HIGHEST_PROTOCOL)
                if len(payload) <= _LESSON_SIZE:
                    self.ctrl.send(_MSG.pack(_LEARN, len(payload)) + payload)
            while len(self.ready) + self.pending < _PREFORK:
                self._ask(_FORK, 0)

    def learn(self, policy: Policy, source: str, filename: str) -> None:
        """A run exec'd ``source``: the zygote compiles it before its next fork, so that
        later workers find the code in their compile cache (a fresh worker would
        otherwise compile every source anew, about half a millisecond)."""
        # Untrusted source never reaches the zygote, every worker's parent: a bug in
        # CPython's compiler must not let one run plant state in all later workers.
        if policy.untrusted or len(source) > _LESSON_SIZE:
            return
        # Keyed by hash: the host need not keep up to 16 MiB of sources (a collision
        # only leaves a source uncompiled ahead).
        key = (filename, hash(source), policy.restrictions)
        if key in self.taught or len(self.taught) >= _LESSONS:
            return
        self.taught.add(key)
        self.lessons.append((policy, filename, source))

    def status(self, pid: int) -> int | None:
        with self.lock:
            try:
                self._ask(_STATUS, pid)
                while (reply := self._receive()) is None:
                    pass
            except (OSError, Closed):
                return None
            status: int = reply
            return None if status == _UNKNOWN else status

    def _ask(self, op: int, arg: int) -> None:
        self.ctrl.send(_MSG.pack(op, arg))
        if op == _FORK:
            self.pending += 1

    def _receive(self, flags: int = 0) -> int | None:
        """One reply: a forked worker goes to ``ready`` (None), a status is returned."""
        msg, fds, _, _ = socket.recv_fds(self.ctrl, _MSG.size, 1, flags)
        if not msg:
            for fd in fds:
                os.close(fd)
            raise Closed
        pid, value = _MSG.unpack(msg)
        if fds:
            self.pending -= 1
            self.ready.append(_Worker(self, pid, socket.socket(fileno=fds[0])))
            return None
        return int(value)

    def forget(self) -> None:
        """In a forked child of the host: let go of the parent's zygote, quietly."""
        for worker in self.ready:
            worker.close()
        self.ctrl.close()

    def shutdown(self) -> None:
        self.wake.put(False)
        with self.lock:
            for worker in self.ready:
                worker.close()
            self.ready.clear()
            self.ctrl.close()
        if self._thread is not threading.current_thread():
            self._thread.join(2)
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ProcessPool:
    """Zygotes by hash seed, started on first use and shut down at exit."""

    name = "process"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zygotes: dict[int, _Zygote] = {}
        self._registered = False
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The zygotes (and their threads) are the parent's: a child starts its own.
        self._lock = threading.Lock()
        zygotes, self._zygotes = self._zygotes, {}
        for zygote in zygotes.values():
            zygote.forget()

    def acquire(self, policy: Policy) -> _Worker:
        seed = hash_seed(policy)
        for attempt in range(2):
            with self._lock:
                zygote = self._zygotes.get(seed)
                if zygote is None:
                    if not self._registered:
                        atexit.register(self.shutdown)
                        self._registered = True
                    zygote = self._zygotes[seed] = _Zygote(seed)
            try:
                return zygote.take(_opening(policy))
            except (OSError, Closed) as exc:
                # The zygote died (killed from outside): start another once.
                with self._lock:
                    if self._zygotes.get(seed) is zygote:
                        del self._zygotes[seed]
                zygote.shutdown()
                if attempt:
                    raise BackendError(
                        f"the process backend could not start a worker process: {exc!r}"
                    ) from None
        raise AssertionError("unreachable")

    def learn(self, policy: Policy, source: str, filename: str) -> None:
        """``source`` ran in a worker: see :meth:`_Zygote.learn`."""
        zygote = self._zygotes.get(hash_seed(policy))
        if zygote is not None:
            zygote.learn(policy, source, filename)

    def shutdown(self) -> None:
        """End every zygote (and so every worker). Idempotent; runs at exit."""
        with self._lock:
            zygotes = list(self._zygotes.values())
            self._zygotes.clear()
        for zygote in zygotes:
            zygote.shutdown()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no spare is being forked or readied (for counting descriptors)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            zygotes = list(self._zygotes.values())
        for zygote in zygotes:
            done = threading.Event()
            zygote.wake.put(done)
            done.wait(max(0.0, deadline - time.monotonic()))
            while zygote.pending and time.monotonic() < deadline:
                time.sleep(0.005)
                with contextlib.suppress(OSError, Closed):
                    zygote.refill()  # collect the spares that arrived

    def pids(self) -> list[int]:
        """The zygotes' process ids (for tests)."""
        with self._lock:
            return [z.proc.pid for z in self._zygotes.values()]


POOL: Final = ProcessPool()


# -- the zygote ----------------------------------------------------------------------------


def zygote(fd: int, host_env: dict[str, str | None], path: list[str]) -> None:
    """Main of a zygote process: warm up, then fork a worker per request."""
    ctrl = socket.socket(fileno=fd)
    for name, value in host_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sys.path[:] = path
    environ = dict(os.environ)
    _warm(environ)
    # Objects that exist now are never collected; forked workers then do not
    # copy every page the collector would have touched.
    import gc

    gc.collect()
    gc.freeze()
    set_death_signal = _death_signal()
    statuses: dict[int, int] = {}
    while True:
        try:
            data = ctrl.recv(_MSG.size + _LESSON_SIZE)
        except OSError:
            break
        if not data:
            break
        op, arg = _MSG.unpack_from(data)
        _reap(statuses)
        if op == _LEARN:
            _learn(data[_MSG.size :])
            continue
        if op == _FORK:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid = os.fork()
            if pid == 0:
                ctrl.close()
                ours.close()
                set_death_signal()
                _serve(theirs, environ)
            theirs.close()
            try:
                socket.send_fds(ctrl, [_MSG.pack(pid, 0)], [ours.fileno()])
            except OSError:
                break  # the host went away
            finally:
                ours.close()
        elif op == _STATUS:
            status = statuses.pop(arg, None)
            if status is None:
                try:
                    status = os.waitstatus_to_exitcode(os.waitpid(arg, 0)[1])
                except ChildProcessError:
                    status = _UNKNOWN
            ctrl.send(_MSG.pack(arg, status))
    os._exit(0)


def _warm(environ: dict[str, str]) -> None:
    """Import and exercise what every worker needs, once, before forking."""
    from .. import Policy

    for policy in (Policy.strict(), Policy.deterministic(record=True)):
        server = Server(_guard, dict(environ))
        source = "import json, re, math, random, time, datetime\ndef f(x):\n    return x\n"
        server.handle(pickle.dumps(("open", policy, list(sys.path), os.getcwd(), environ)))
        server.handle(pickle.dumps(("exec", source, "<warm>", "__main__")))
        server.handle(pickle.dumps(("call", "json:dumps", ([1],), {})))
        server.handle(pickle.dumps(("journal",)))
        server.handle(pickle.dumps(("close",)))


def _learn(payload: bytes) -> None:
    """Compile a source that a run exec'd into this zygote's compile cache."""
    import gc

    from .. import _budget, _compile, _source
    from .._views import views_for

    try:
        policy, filename, source = pickle.loads(payload)
        hot = views_for(policy).hot
        if _budget.COUNT_DEPTH in hot:
            return  # such code also sets sys.monitoring state, which workers must not inherit
        lines = dict(_source._SOURCES)
        try:
            _compile.compile_string(source, filename, hot)
        finally:
            # The code only: no later worker may find the source lines of an earlier run.
            _source._SOURCES.clear()
            _source._SOURCES.update(lines)
    except Exception:
        return  # a source that does not compile fails in the worker that runs it
    gc.freeze()


def _death_signal() -> Callable[[], None]:
    """A function that makes the calling (forked) process die with its parent."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (ImportError, OSError, AttributeError):
        return lambda: None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the zygote died before prctl ran
            os._exit(1)

    return set_death_signal


def _reap(statuses: dict[int, int]) -> None:
    """Collect ended workers; keep the status of those that did not exit cleanly."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        if code:
            statuses[pid] = code
            if len(statuses) > 256:
                del statuses[next(iter(statuses))]


# -- a worker ------------------------------------------------------------------------------


def _serve(sock: socket.socket, environ: dict[str, str]) -> None:
    """Main of a forked worker: serve one Sandbox, then exit."""
    fd = sock.fileno()
    conn = Conn(fd, fd)
    server = Server(_guard, environ)
    # Touch, before the host takes this worker, the pages a first request
    # would copy from the zygote.
    _warm(environ)
    try:
        while True:
            try:
                data = conn.recv()
            except Closed:
                break
            reply = server.handle(data)
            if reply is not None:
                sys.stdout.flush()
                sys.stderr.flush()
                conn.send(reply)
            elif server.closed:
                break
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


#: What the worker's address space may grow by beyond Limits.memory. The
#: Sandbox's own meter samples every few milliseconds and stops gradual
#: growth near the limit, naming the sandboxed line; the hard cap is for what
#: it cannot see coming (one huge allocation, growth inside a C call).
def _headroom(memory: int) -> int:
    return max(memory // 2, 64 * 2**20)


def _guard(sandbox: Sandbox, what: str, work: Callable[[], object]) -> object:
    """Run ``work`` under OS limits on memory and CPU time from the Policy's Limits."""
    limits = sandbox.policy.limits
    if limits is None or (limits.memory is None and limits.timeout is None):
        return work()
    import resource

    if limits.memory is not None:
        size = _address_space()
        if size is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = size + limits.memory + _headroom(limits.memory)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    if limits.timeout is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + limits.timeout) + 1, hard))
    try:
        return work()
    except MemoryError as exc:
        if isinstance(exc, ResourceLimitError) or limits.memory is None:
            raise
        # The same error the meter raises, at the innermost sandboxed frame.
        tb = exc.__traceback__
        frame = None
        while tb is not None:
            frame = tb.tb_frame
            tb = tb.tb_next
        raise memory_error(what, limits, frame) from None
    finally:
        for which in (resource.RLIMIT_AS, resource.RLIMIT_CPU):
            _, hard = resource.getrlimit(which)
            resource.setrlimit(which, (hard, hard))


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None
