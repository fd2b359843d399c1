"""The wire between a Sandbox in the host and the real Sandbox in a worker.

A worker (a process or a subinterpreter) runs an ordinary in-process
:class:`~detsandbox.Sandbox` and answers requests. Messages are pickles
framed by an 8-byte length, over plain file descriptors (a socket to a
worker process, two pipes to a subinterpreter), so both backends share all
of this.

What crosses: values pickle. Functions, classes and anything else defined
by sandboxed code cannot pickle (their module exists only in the Sandbox),
so they stay in the worker and cross as a :class:`RemoteRef`, a handle the
host passes back to ``Sandbox.call`` or as an argument. So do the Sandbox's
guards and class views, wherever they sit in a value: they pickle as the real
object they stand for, and crossing as that would lift their restriction.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import struct
import sys
import time
import traceback
from collections.abc import Callable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import TYPE_CHECKING, Any, Final, NoReturn, final

from .._guards import Guard, resolve, restricted_name
from ..errors import TransferError

if TYPE_CHECKING:
    from .._sandbox import Sandbox

__all__ = ["Conn", "HostUnpickler", "RemoteModule", "RemoteRef", "Server"]

_HEADER: Final = struct.Struct("!Q")
_PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PROTOCOL: Final = pickle.HIGHEST_PROTOCOL


class Closed(Exception):
    """The other end went away (end of file on the descriptor)."""


@final
class Conn:
    """Length-prefixed messages over a pair of file descriptors (may be one socket)."""

    __slots__ = ("rfd", "wfd")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd

    def send(self, data: bytes, first: bytes = b"") -> None:
        """Send ``data``, after ``first`` if given (two messages, one write)."""
        head = _HEADER.pack(len(first)) + first if first else b""
        view = memoryview(head + _HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(self.wfd, view) :]

    def recv(self, timeout: float | None = None) -> bytes:
        """The next message; TimeoutError after ``timeout`` seconds, Closed at end of file."""
        deadline = None if timeout is None else time.monotonic() + timeout
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        return self._read(size, deadline)

    def _read(self, size: int, deadline: float | None) -> bytes:
        chunks = []
        while size:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.rfd], [], [], wait)[0]:
                    raise TimeoutError
            chunk = os.read(self.rfd, size)
            if not chunk:
                raise Closed
            chunks.append(chunk)
            size -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def describe(value: object) -> str:
    """A short, safe description of a value for an error message."""
    try:
        text = repr(value)
    except Exception:
        text = "<unrepresentable>"
    if len(text) > 60:
        text = text[:57] + "..."
    kind = type(value)
    return f"{text} (a {kind.__module__}.{kind.__qualname__})"


# -- host side: handles for what stays in the worker --------------------------------------


@final
class RemoteRef:
    """A function, class or other value that lives in a worker and stays there.

    ``Sandbox.exec`` on a remote backend returns one for every value of the
    namespace that cannot be pickled; ``Sandbox.import_module`` returns a
    module whose functions and classes are ones. Call it with
    ``sb.call(ref, *args)`` or pass it as an argument to such a call; it is
    valid in the Sandbox that made it until that Sandbox's worker is replaced.

    One for a guard or class view (type ``restricted``) also pickles as the
    guard itself does in-process: as :func:`detsandbox.lowlevel.resolve` of
    its name, the Sandbox's view of it when unpickled in a Sandbox.
    """

    __slots__ = ("_generation", "_key", "_owner", "name", "type_name")

    def __init__(
        self, owner: object, generation: int, key: int | str, name: str, type_name: str
    ) -> None:
        self._owner = owner
        self._generation = generation
        self._key = key
        self.name = name
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<detsandbox.RemoteRef {self.type_name} {self.name}>"

    def __reduce__(self) -> tuple[object, ...]:
        if self.type_name == "restricted":
            return (resolve, (self.name,))
        raise TransferError(
            f"{self!r} stands for a value in a Sandbox's worker and can only be passed to "
            "that Sandbox's call(), not pickled"
        )


class RemoteModule(ModuleType):
    """A module imported into a Sandbox on a remote backend, as the host sees it.

    A snapshot taken at import: plain values are copies, functions and
    classes are :class:`RemoteRef` handles to call through ``Sandbox.call``.
    """

    def __repr__(self) -> str:
        return f"<detsandbox.RemoteModule {self.__name__!r}>"


# -- host side: pickling arguments, unpickling replies -----------------------------------


def _remote_ref(key: int, name: str, type_name: str) -> NoReturn:
    """What a worker's pickle names for a value it keeps; only a :class:`HostUnpickler`
    turns it into a RemoteRef (it knows which Sandbox the value belongs to)."""
    raise TransferError(
        f"<detsandbox.RemoteRef {type_name} {name}> stands for a value in a Sandbox's "
        "worker; only the Sandbox that returned it can rebuild it"
    )


class HostUnpickler(pickle.Unpickler):
    """Unpickles a worker's reply; the values it kept become RemoteRefs of ``owner``."""

    def __init__(self, file: Any, owner: object, generation: int) -> None:
        super().__init__(file)
        self._owner = owner
        self._generation = generation

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_remote_ref":
            return self._remote_ref
        return super().find_class(module, name)

    def _remote_ref(self, key: object, name: object, type_name: object) -> RemoteRef:
        if type(key) is not int or type(name) is not str or type(type_name) is not str:
            raise pickle.UnpicklingError("a malformed RemoteRef in a reply from the worker")
        return RemoteRef(self._owner, self._generation, key, name, type_name)


class _HostPickler(pickle.Pickler):
    def __init__(self, file: Any, owner: object, generation: int) -> None:
        super().__init__(file, _PROTOCOL)
        self._owner = owner
        self._generation = generation

    def persistent_id(self, obj: object) -> object:
        if type(obj) is RemoteRef:
            if obj._owner is not self._owner:
                raise TransferError(f"{obj!r} belongs to another Sandbox")
            if obj._generation != self._generation:
                raise TransferError(
                    f"{obj!r} belongs to a worker this Sandbox has replaced (after a crash or "
                    "a limit); get it again from the Sandbox"
                )
            return obj._key
        if type(obj) is RemoteModule:
            return "module:" + obj.__name__
        return None


def dump_request(request: tuple[Any, ...], owner: object, generation: int) -> bytes:
    """Pickle a request whose arguments may hold RemoteRefs."""
    buffer = io.BytesIO()
    try:
        _HostPickler(buffer, owner, generation).dump(request)
    except TransferError:
        raise
    except Exception as exc:
        raise _unpicklable_argument(request, exc) from None
    return buffer.getvalue()


def _unpicklable_argument(request: tuple[Any, ...], exc: Exception) -> TransferError:
    # Find which argument failed, to name it.
    values: list[object] = []
    for part in request[1:]:
        if isinstance(part, tuple):
            values.extend(part)
        elif isinstance(part, dict):
            values.extend(part.values())
        else:
            values.append(part)
    for value in values:
        if type(value) is RemoteRef or type(value) is RemoteModule:
            continue
        try:
            pickle.dumps(value, _PROTOCOL)
        except Exception:
            return TransferError(
                f"cannot pass {describe(value)} into a Sandbox on another interpreter or "
                f"process: {exc}; pass plain data (str, int, list, dict, dataclasses of "
                "importable modules) or a RemoteRef from the same Sandbox"
            )
    return TransferError(f"cannot pass the arguments into the Sandbox: {exc}")


# -- worker side ---------------------------------------------------------------------------


class _WorkerPickler(pickle.Pickler):
    """Refuses functions and classes that exist only in the Sandbox, and keeps guards.

    Plain pickling would ``__import__`` their module by name in the worker,
    running host code unsandboxed, only to find it is a different object.
    A guard or class view pickles as the real object it restricts; given
    ``keep``, the worker keeps it instead and the host gets a RemoteRef.
    """

    # Set after construction: a Python __init__ would cost every value pickled.
    keep: Callable[[object, str], tuple[int, str, str]] | None = None

    def reducer_override(self, obj: object) -> Any:
        # Called for every object but ints, floats, str and bytes: plain ones
        # (dicts, lists, tuples) get one isinstance() check.
        if not isinstance(obj, _CHECKED):
            return NotImplemented
        keep = self.keep
        if keep is not None and type(obj) is not FunctionType:
            restricted = restricted_name(obj)
            if restricted is not None:
                return (_remote_ref, keep(obj, restricted))
        if isinstance(obj, (type, FunctionType)):
            module = sys.modules.get(getattr(obj, "__module__", None) or "")
            found: object = module
            for part in getattr(obj, "__qualname__", "").split("."):
                found = getattr(found, part, None)
            if found is not obj:
                raise pickle.PicklingError(
                    f"{obj.__qualname__} is defined in the Sandbox, not in a module "
                    "the host can import"
                )
        return NotImplemented


_CHECKED: Final = (Guard, type, FunctionType)
_REF_TYPES: Final = (FunctionType, BuiltinFunctionType, MethodType, type, ModuleType)


class _WorkerUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, server: Server) -> None:
        super().__init__(file)
        self._server = server

    def persistent_load(self, pid: object) -> object:
        return self._server._persistent_load(pid)


class Server:
    """The worker's end: one Sandbox at a time, and the handles it gave out."""

    def __init__(
        self,
        guard: Callable[[Sandbox, str, Callable[[], object]], object] | None = None,
        environ: dict[str, str] | None = None,
    ):
        self.sandbox: Sandbox | None = None
        self.handles: list[object] = []
        self.failure: BaseException | None = None
        self.closed = False
        # A process worker wraps each sandboxed call to set OS limits around it.
        self._guard = guard
        # A process worker's environment, which it makes the host's at each
        # opening; None where the environment is the host's own (an interpreter).
        self._environ = environ

    def handle(self, data: bytes) -> bytes | None:
        """The reply to one request (None for requests that get none)."""
        try:
            request = self._load(data)
            op = request[0]
            if op == "open":
                self._open(*request[1:])
                return None
            if op == "close":
                self.closed = True
                self.sandbox = None
                self.handles.clear()
                return None
            if self.failure is not None:
                failure, self.failure = self.failure, None
                raise failure
            result = self._dispatch(op, request[1:])
            return pickle.dumps(("ok", result), _PROTOCOL)
        except BaseException as exc:
            return self._error(exc)

    def _load(self, data: bytes) -> tuple[Any, ...]:
        request: tuple[Any, ...] = _WorkerUnpickler(io.BytesIO(data), self).load()
        return request

    def _persistent_load(self, key: object) -> object:
        if isinstance(key, int):
            return self.handles[key]
        assert isinstance(key, str)
        if key.startswith("module:"):
            return self._sandbox().import_module(key[7:])
        return self._resolve(key)

    def _sandbox(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("no Sandbox is open in this worker")
        return self.sandbox

    def _open(
        self, policy: object, path: list[str], cwd: str, env: dict[str, str] | None = None
    ) -> None:
        from .._sandbox import Sandbox

        if env is not None and self._environ is not None and env != self._environ:
            # A process of its own: the host's environment now. Compared as plain
            # dicts; os.environ decodes every entry when compared (~100 µs).
            for key in self._environ.keys() - env.keys():
                os.environ.pop(key, None)
            for key, value in env.items():
                if self._environ.get(key) != value:
                    os.environ[key] = value
            self._environ = env
        self.handles.clear()
        self.failure = None
        self.closed = False
        if sys.path != path:
            sys.path[:] = path
        try:
            if os.getcwd() != cwd:
                os.chdir(cwd)
        except OSError:
            pass
        try:
            self.sandbox = Sandbox(policy, backend="inprocess")  # type: ignore[arg-type]
        except BaseException as exc:
            self.failure = exc

    def _resolve(self, target: str) -> object:
        module, _, attr = target.partition(":")
        obj: object = self._sandbox().import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    def _dispatch(self, op: str, args: tuple[Any, ...]) -> object:
        sandbox = self._sandbox()
        if op == "call":
            fn, fn_args, fn_kwargs = args
            if isinstance(fn, str):
                fn = self._resolve(fn)
            return self._export(
                self._run("Sandbox.call()", lambda: sandbox.call(fn, *fn_args, **fn_kwargs))
            )
        if op == "exec":
            source, filename, name = args
            ns = self._run(
                "Sandbox.exec()", lambda: sandbox.exec(source, filename=filename, name=name)
            )
            return self._export_all(ns)  # type: ignore[arg-type]
        if op == "import":
            module = self._run("Sandbox.import_module()", lambda: sandbox.import_module(args[0]))
            return (module.__name__, self._export_all(vars(module)))  # type: ignore[attr-defined]
        if op == "attr":
            path, call_args = args
            obj: Any = sandbox
            for part in path.split("."):
                obj = getattr(obj, part)
            return obj(*call_args) if call_args is not None else obj
        if op == "journal":
            return self._export_journal(sandbox)
        if op == "modules":
            return sorted(sandbox.modules)
        raise RuntimeError(f"unknown request {op!r}")

    def _run(self, what: str, work: Callable[[], object]) -> object:
        if self._guard is None:
            return work()
        return self._guard(self._sandbox(), what, work)

    def _ref(self, value: object, name: str) -> tuple[str, int, str, str]:
        restricted = restricted_name(value)
        if restricted is not None:
            return ("r", *self._keep(value, restricted))
        self.handles.append(value)
        kind = type(value)
        return ("r", len(self.handles) - 1, name, kind.__qualname__)

    def _keep(self, value: object, restricted: str) -> tuple[int, str, str]:
        """Keep a guard or class view here: (handle, its name, "restricted")."""
        self.handles.append(value)
        return (len(self.handles) - 1, restricted, "restricted")

    def _export(self, value: object, name: str = "") -> tuple[Any, ...]:
        """("v", pickle) for a value that crosses, ("r", ...) for a function that stays."""
        try:
            return ("v", _dumps(value, self._keep))
        except Exception as exc:
            if isinstance(value, _REF_TYPES):
                return self._ref(value, name or getattr(value, "__qualname__", "?"))
            raise TransferError(
                f"cannot return {describe(value)} from the Sandbox to the host: {exc}; "
                "return plain data (str, int, list, dict, dataclasses of host-importable "
                "modules)"
            ) from None

    def _export_all(self, namespace: dict[str, object]) -> dict[str, tuple[Any, ...]]:
        # Every value is kept as a handle too: the host falls back to it when
        # a pickled value does not load there.
        out: dict[str, tuple[Any, ...]] = {}
        for name, value in namespace.items():
            if name.startswith("__") and name.endswith("__") and name != "__all__":
                continue
            ref = self._ref(value, name)
            if ref[3] == "restricted":
                out[name] = ref  # a guard or class view: kept, never a copy
                continue
            try:
                out[name] = ("v", _dumps(value, self._keep), ref)
            except Exception:
                out[name] = ref
        return out

    def _export_journal(self, sandbox: Sandbox) -> bytes:
        """The Sandbox's journal as the host rebuilds it (see Journal._portable).

        A result that does not cross (an Enum member of a class the Sandbox
        defined; for an untrusted Sandbox, anything off the host's allow-list)
        goes in its JSON form, so the host's copy is equal to the journal.
        """
        journal = sandbox.journal
        untrusted = sandbox.policy.untrusted
        try:  # one pickle when every result crosses, as is usual
            data = _dumps(journal._portable(None), _no_guard)
            if untrusted:
                _load_as_untrusted(data)
            return data
        except Exception:
            pass
        return _dumps(journal._portable(_crosses_safely if untrusted else crosses))

    def _error(self, exc: BaseException) -> bytes:
        from .._sandbox import _clean_traceback

        _clean_traceback(exc)  # the traceback shows sandboxed code only
        tb = exc.__traceback__
        # The host rebuilds the sandboxed frames on its own traceback: their
        # file, line and function. detsandbox's own errors (nothing sandboxed on
        # the stack) have none.
        frames: list[tuple[str, int, str]] = []
        if tb is not None and not tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            for frame, lineno in traceback.walk_tb(tb):
                code = frame.f_code
                frames.append((code.co_filename, lineno or 0, code.co_name))
        # An exception this one was raised from, or while handling, goes as text.
        how, link = "", None
        if frames and exc.__cause__ is not None:
            how, link = "cause", exc.__cause__
        elif frames and exc.__context__ is not None and not exc.__suppress_context__:
            how, link = "context", exc.__context__
        chain = "".join(traceback.format_exception(link)).rstrip() if link is not None else ""
        kind = type(exc)
        try:
            payload: bytes | None = _dumps(exc, self._keep)
        except Exception:
            payload = None
        summary = f"{kind.__module__}.{kind.__qualname__}: {exc}"
        return pickle.dumps(("err", payload, summary, frames, how, chain), _PROTOCOL)


def _dumps(
    value: object, keep: Callable[[object, str], tuple[int, str, str]] | None = None
) -> bytes:
    buffer = io.BytesIO()
    pickler = _WorkerPickler(buffer, _PROTOCOL)
    pickler.keep = keep
    pickler.dump(value)
    return buffer.getvalue()


def crosses(value: object) -> bool:
    """Whether ``value`` pickles as plain data: naming no class or function that only
    a Sandbox has, and holding no guard (one pickles as the real object it restricts,
    which a replay could hand back to sandboxed code)."""
    try:
        _dumps(value, _no_guard)
    except Exception:
        return False
    return True


def _crosses_safely(value: object) -> bool:
    """Whether ``value`` crosses into a host that rebuilds it with the allow-list."""
    try:
        _load_as_untrusted(_dumps(value, _no_guard))
    except Exception:
        return False
    return True


def _no_guard(obj: object, name: str) -> tuple[int, str, str]:
    raise pickle.PicklingError(f"{name} is a guard of the Sandbox")


def _load_as_untrusted(data: bytes) -> object:
    """``data`` as a host loads what an untrusted Sandbox returns (the allow-list)."""
    from ._remote import _SafeUnpickler

    return _SafeUnpickler(io.BytesIO(data), None, 0).load()
