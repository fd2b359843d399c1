"""Sandbox: one isolated world of modules, and the way into it.

Nothing here patches the host. Sandboxed code is steered entirely through
what it can name: its modules' ``__builtins__`` is this Sandbox's own dict
(with ``__import__`` pointing at its Importer), and every module it imports
is either fresh or a view. Host threads never look at any of it, so they
run exactly as fast, and as unrestricted, as before.
"""

from __future__ import annotations

import builtins
import itertools
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from importlib.machinery import ModuleSpec
from types import MappingProxyType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, final, overload

from . import _compile, _source
from ._budget import Meter
from ._clock import Clock
from ._guards import MARKER, current
from ._importer import Importer
from ._journal import Journal
from ._limits import NO_LIMITS
from ._policy import Policy
from ._rules import _MISSING, _lookup
from ._run import Run
from ._untrusted import Gate, WriteCache, allowed_modules
from ._views import views_for
from .errors import InvalidSourceError, PolicyError, SandboxError

if TYPE_CHECKING:
    from ._backends import BackendInfo
    from ._backends._protocol import RemoteRef
    from ._backends._remote import Remote

__all__ = ["Sandbox"]

P = ParamSpec("P")
T = TypeVar("T")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_real_exec = builtins.exec
_real_eval = builtins.eval
_real_compile = builtins.compile
_real_getattr = builtins.getattr
_real_type = builtins.type
_DEFAULT_POLICY = Policy.strict()


class _ExecLoader:
    """``__loader__`` of source run by :meth:`Sandbox.exec`: it can give the source back."""

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, fullname: str) -> str:
        return self._source

    def is_package(self, fullname: str) -> bool:
        return False


def _clean_traceback(exc: BaseException) -> None:
    """Drop detsandbox's own frames so the traceback shows only sandboxed code."""
    tb = exc.__traceback__
    kept: list[TracebackType] = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            kept.append(tb)
        tb = tb.tb_next
    if not kept:
        return
    for a, b in itertools.pairwise(kept):
        a.tb_next = b
    kept[-1].tb_next = None
    exc.__traceback__ = kept[0]


def _forget_lines(filename: str) -> None:
    """Drop the lines :mod:`linecache` holds for ``filename``.

    linecache keeps lines a loader gave (an earlier exec under this name) for
    good, and an entry read from a file of that name (another directory, a file
    since deleted) keeps the source about to run from registering its own:
    either way a traceback would quote the wrong lines. A dropped file entry is
    read again when needed.
    """
    linecache = sys.modules.get("linecache")
    if linecache is not None:  # else nothing read a line yet
        linecache.cache.pop(filename, None)


def _is_target(text: str) -> bool:
    module, colon, attr = text.partition(":")
    return bool(colon) and all(p.isidentifier() for p in (*module.split("."), *attr.split(".")))


@final
class Sandbox:
    """One isolated world: one workflow run, one plugin instance, one test.

    Modules imported inside a Sandbox are fresh copies (passthrough modules
    are restricting views of the host's), stay alive across calls on the
    same Sandbox, and are dropped with it::

        sb = Sandbox()                          # Sandbox(Policy.strict())
        ns = sb.exec(source, filename="wf.py")  # run source as a fresh module
        mod = sb.import_module("app.workflow")  # a fresh copy of a host module
        value = sb.call(mod.run, 1, x=2)

    ``backend`` chooses where it runs: ``"inprocess"`` (what ``"auto"``
    picks), ``"subinterpreter"`` or ``"process"``; see docs/backends.md and
    :attr:`backend_info`.
    """

    __slots__ = (
        "__weakref__",
        "_backend",
        "_builtins",
        "_closed",
        "_importer",
        "_meter",
        "_policy",
        "_remote",
        "_remote_clock",
        "_run",
        "_views",
    )

    def __init__(self, policy: Policy | None = None, *, backend: str = "auto") -> None:
        if policy is None:
            policy = _DEFAULT_POLICY
        elif not isinstance(policy, Policy):
            raise PolicyError(
                f"Sandbox() expects a detsandbox.Policy, got {type(policy).__name__}; "
                "build one with Policy.strict()"
            )
        self._policy = policy
        self._backend = backend
        self._remote: Remote | None = None
        self._closed = False
        self._meter: Meter | None = None  # a remote backend's worker has its own
        # Trusted code under "auto" stays here without asking: the common case.
        if backend != "inprocess" and (backend != "auto" or policy.untrusted):
            chosen = self._choose().name  # validates the name
            if chosen != "inprocess":
                self._open_remote(chosen)
                return
        self._run = Run(policy) if policy.mode != "strict" else None
        self._views = views = views_for(policy)
        # An empty module dict takes the template with CPython's fast copy.
        module = ModuleType.__new__(ModuleType)
        self._builtins = ns = module.__dict__
        ns.update(views.builtins)
        self._importer = importer = Importer(views, policy, ns)
        if policy.untrusted:
            gate = Gate(importer, allowed_modules(policy.passthrough, policy.deny))
            ns["__import__"] = gate.__import__
            ns.update(WriteCache().builtins())
        else:
            ns["__import__"] = importer.__import__
        ns[MARKER] = self
        importer.modules["builtins"] = module
        # Only a Sandbox with limits has a Meter: the others pay nothing.
        limits = policy.limits
        if limits is not None and limits is not NO_LIMITS and limits.active:
            self._meter = meter = Meter(limits, ns)
            if limits.output is not None and "print" in ns:
                ns["print"] = meter.print  # this Sandbox's builtins only

    def _open_remote(self, backend: str) -> None:
        from ._backends import open_remote
        from ._backends._remote import RemoteClock

        self._run = None
        self._remote = remote = open_remote(backend, self._policy)
        # One clock object per Sandbox, as in-process; a strict Sandbox has none.
        strict = self._policy.mode == "strict"
        self._remote_clock: RemoteClock | None = None if strict else RemoteClock(self)
        weakref.finalize(self, remote.close)

    # -- public API ---------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The Policy this Sandbox enforces."""
        return self._policy

    @property
    def backend_info(self) -> BackendInfo:
        """Which backend runs this Sandbox, why, and why not each of the others."""
        return self._choose()

    def _choose(self) -> BackendInfo:
        from ._backends import choose

        return choose(self._backend, self._policy)

    @property
    def clock(self) -> Clock:
        """The logical clock of a deterministic Sandbox; the host may advance it.

        Raises SandboxError in strict mode, which has no clock of its own. On a
        remote backend it reads and moves the worker's clock.
        """
        if self._remote is not None:
            self._check_open()
            clock = self._remote_clock
            if clock is None:
                raise self._not_deterministic("clock")
            return clock
        return self._deterministic("clock").clock

    @property
    def seed(self) -> int:
        """The seed every random value of a deterministic Sandbox derives from."""
        if self._remote is not None:
            return int(self._remote_deterministic("seed"))
        return self._deterministic("seed").seed

    @property
    def journal(self) -> Journal:
        """The journal being recorded (``record=True``) or replayed.

        On a remote backend, a copy of the worker's journal as it is now: a
        result that cannot cross into the host (an instance of a class the
        Sandbox defined) arrives as its JSON form, as after a round trip through
        :meth:`Journal.to_json`, so the copy is equal to the journal.
        """
        if self._remote is not None:
            self._check_open()
            return self._remote.journal()
        journal = self._deterministic("journal").journal
        if journal is None:
            raise SandboxError(
                "this Sandbox keeps no journal: use Policy.deterministic(record=True) to "
                "record one, or Policy.replay(journal) to replay one"
            )
        return journal

    def finish_replay(self) -> None:
        """Raise NondeterminismError if replay has not consumed the whole journal.

        Call it when the replayed run is over: a call that the code no longer
        makes shows up only here.
        """
        if self._remote is not None:
            self._remote_deterministic("finish_replay", ())
            return
        run = self._deterministic("finish_replay()")
        if not run.replaying:
            raise SandboxError("finish_replay() is for a Sandbox made with Policy.replay()")
        run.finish()

    @property
    def output(self) -> str:
        """What sandboxed code printed so far (with ``Limits.output`` set)."""
        if self._remote is not None:
            return self._remote_deterministic("output")  # type: ignore[no-any-return]
        if self._meter is None or self._meter.limits.output is None:
            raise SandboxError(
                "this Sandbox does not collect output: print goes to stdout unless "
                "Policy.limits sets output, e.g. Limits(output=100_000)"
            )
        return self._meter.output

    def write_output(self, text: str) -> None:
        """Where untrusted mode's print collector sends text: Sandbox.output, or stdout."""
        if self._meter is None:
            sys.stdout.write(text)
        else:
            self._meter.write(text)

    def _remote_deterministic(self, what: str, args: tuple[Any, ...] | None = None) -> Any:
        # The worker's own Sandbox raises the same errors as an in-process one.
        assert self._remote is not None
        self._check_open()
        return self._remote.attr(what, args)

    def _deterministic(self, what: str) -> Run:
        if self._run is None:
            raise self._not_deterministic(what)
        return self._run

    def _not_deterministic(self, what: str) -> SandboxError:
        return SandboxError(
            f"Sandbox.{what} exists in deterministic and replay mode, not in "
            f"{self._policy.mode!r} mode: use Policy.deterministic()"
        )

    @property
    def modules(self) -> Mapping[str, ModuleType]:
        """A read-only view of this Sandbox's module table (its ``sys.modules``).

        In-process only: on a remote backend the modules live in the worker.
        """
        if self._remote is not None:
            raise SandboxError(
                f"Sandbox.modules is in-process only; this Sandbox runs on the "
                f"{self._remote.backend} backend, whose modules live in the worker: use "
                "import_module(name) to get a handle to one"
            )
        return MappingProxyType(self._importer.modules)

    def exec(
        self, source: str | bytes, *, filename: str = "<sandbox>", name: str = "__main__"
    ) -> dict[str, Any]:
        """Run ``source`` as a fresh module named ``name``; return its namespace.

        The module is registered in this Sandbox's module table, so other
        sandboxed code can import it by ``name``. If the source raises, the
        module is removed again, as importlib does.
        """
        self._check_open()
        text = _source.as_text(source, what="Sandbox.exec()")
        if not isinstance(filename, str):
            raise InvalidSourceError(
                f"Sandbox.exec() expects filename as str, got {type(filename).__name__}"
            )
        if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
            raise InvalidSourceError(
                f"Sandbox.exec() expects name to be a module name such as 'wf', got {name!r}"
            )
        _forget_lines(filename)
        if self._remote is not None:
            try:
                return self._remote.exec(text, filename, name)
            except BaseException as exc:
                _clean_traceback(exc)
                raise
        code = _compile.compile_string(text, filename, self._views.hot)
        module = ModuleType(name)
        ns = module.__dict__
        loader = _ExecLoader(text)
        ns["__builtins__"] = self._builtins
        ns["__loader__"] = loader
        ns["__spec__"] = ModuleSpec(name, loader, origin=filename)  # type: ignore[arg-type]
        if not filename.startswith("<"):
            ns["__file__"] = filename
        modules = self._importer.modules
        modules[name] = module
        token = current.set(self)
        try:
            if self._meter is None:
                _real_exec(code, ns)
            else:
                self._meter.call("Sandbox.exec()", _real_exec, code, ns)
        except BaseException as exc:
            if dict.get(modules, name) is module:
                del modules[name]
            _clean_traceback(exc)
            raise
        finally:
            current.reset(token)
        return ns

    def import_module(self, name: str) -> ModuleType:
        """Import ``name`` into this Sandbox: fresh, or a view if passthrough."""
        self._check_open()
        if not isinstance(name, str) or not (
            name.isidentifier() or all(p.isidentifier() for p in name.split("."))
        ):
            raise InvalidSourceError(
                f"Sandbox.import_module() expects a module name such as 'app.workflow', "
                f"got {name!r}"
            )
        if self._remote is not None:
            try:
                return self._remote.import_module(name)
            except BaseException as exc:
                _clean_traceback(exc)
                raise
        token = current.set(self)
        try:
            if self._meter is None:
                return self._importer.import_(name)
            return self._meter.call("Sandbox.import_module()", self._importer.import_, name)
        except BaseException as exc:
            _clean_traceback(exc)
            raise
        finally:
            current.reset(token)

    @overload
    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...
    @overload
    def call(self, fn: str | RemoteRef, /, *args: Any, **kwargs: Any) -> Any: ...
    def call(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)`` in this Sandbox and return its result.

        ``fn`` is a callable from this Sandbox, or ``"package.module:function"``
        (imported into this Sandbox). On a remote backend it may be a
        RemoteRef, and arguments and result cross pickled.
        """
        self._check_open()
        if self._remote is not None:
            if not isinstance(fn, str) or _is_target(fn):
                try:
                    return self._remote.call(fn, args, kwargs)
                except BaseException as exc:
                    _clean_traceback(exc)
                    raise
        elif isinstance(fn, str) and _is_target(fn):
            fn = self._target(fn)
        if not callable(fn):
            raise InvalidSourceError(
                "Sandbox.call() expects a callable or 'package.module:function', got "
                + (repr(fn) if isinstance(fn, str) else type(fn).__name__)
            )
        token = current.set(self)
        try:
            if self._meter is None:
                return fn(*args, **kwargs)
            return self._meter.call("Sandbox.call()", fn, *args, **kwargs)
        except BaseException as exc:
            _clean_traceback(exc)
            raise
        finally:
            current.reset(token)

    def _target(self, target: str) -> Any:
        module, _, attr = target.partition(":")
        obj: Any = self.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    def close(self) -> None:
        """Drop every module of this Sandbox. Further use raises SandboxError.

        A remote Sandbox gives its worker back (a worker process exits).
        """
        self._closed = True
        if self._remote is not None:
            self._remote.close()
            return
        self._importer.modules.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._remote is not None:
            state = "closed" if self._closed else self._remote.backend
            return f"<detsandbox.Sandbox {self._policy.mode}, {state}>"
        count = len(self._importer.modules)
        state = "closed" if self._closed else f"{count} module{'s' if count != 1 else ''}"
        return f"<detsandbox.Sandbox {self._policy.mode}, {state}>"

    # -- internals ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this Sandbox is closed; create a new Sandbox()")

    def resolve(self, qualname: str) -> object:
        """``qualname`` as sandboxed code would see it (used by unpickling)."""
        parts = qualname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            name = ".".join(parts[:cut])
            if _lookup(name) is _MISSING and name not in sys.modules:
                continue
            obj: object = self._importer.import_(name)
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            return obj
        raise AttributeError(f"cannot resolve {qualname!r} in this sandbox")
