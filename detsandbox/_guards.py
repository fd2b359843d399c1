"""Guards: what sandboxed code holds in place of a refused name.

* :class:`Guard` wraps a refused callable. Binding it (``from time import
  time``) is fine; calling it raises, or, for a rule that refuses only some
  calls (``localtime()`` but not ``localtime(0)``), calls through.
* :func:`class_view` wraps a refused class in a subclass whose metaclass
  checks construction and otherwise answers for the real class: instances
  are real instances, and ``isinstance``, ``issubclass``, ``==``, ``hash``,
  ``repr``, pickling and subclassing behave as for the real class.
* :func:`violation` builds the error: the refused name, the sandboxed
  ``file:line`` that reached it, the line itself, and what to do instead.
"""

from __future__ import annotations

import copyreg
import inspect
import os
import sys
import sysconfig
import threading
from contextvars import ContextVar
from types import FrameType, FunctionType, MethodType
from typing import Any, Final, Protocol

from . import _source
from ._catalog import Kind, When
from ._rules import _MISSING, Rule, _lookup
from .errors import RestrictedAccessError

__all__ = [
    "MARKER",
    "Guard",
    "class_view",
    "current",
    "refuses",
    "restricted_name",
    "violation",
]

# The key that marks a sandbox's builtins dict; frames whose builtins carry
# it run sandboxed code.
MARKER: Final = "__detsandbox__"


class _Resolving(Protocol):
    def resolve(self, qualname: str) -> object: ...


#: The Sandbox running on this thread or task (set by exec, call, import_module).
current: ContextVar[_Resolving | None] = ContextVar("detsandbox_current", default=None)

_WHEN_HINT: Final = {
    When.NO_ARGS: "Called with an explicit argument it is allowed.",
    When.ONE_ARG: "Called with an explicit time tuple it is allowed.",
    When.UNSEEDED: "Constructed with a seed it is allowed.",
    When.PATH_ARG: "Given a file object instead of a path it is allowed.",
    When.NO_TZ: "Called with tz= it is allowed.",
    When.NO_MTIME: "Called with mtime= it is allowed.",
    When.NAIVE: "On an aware datetime it is allowed.",
}


_STDLIB: Final = os.path.join(sysconfig.get_paths()["stdlib"], "")


def _sandbox_frame() -> FrameType | None:
    """The innermost frame running sandboxed code."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        builtins = frame.f_globals.get("__builtins__")
        if type(builtins) is dict and MARKER in builtins:
            return frame
        frame = frame.f_back
    return None


def _user_frame(inner: FrameType) -> FrameType:
    """The innermost sandboxed frame outside the standard library.

    A stdlib module run fresh (``pathlib``) reaches guards on the user's
    behalf; the user's line is the one worth showing.
    """
    frame: FrameType | None = inner
    while frame is not None:
        builtins = frame.f_globals.get("__builtins__")
        if (
            type(builtins) is dict
            and MARKER in builtins
            and not frame.f_code.co_filename.startswith(_STDLIB)
        ):
            return frame
        frame = frame.f_back
    return inner


def location_of(frame: FrameType) -> str:
    """``file:line`` of ``frame`` if it is the user's sandboxed frame, else as location()."""
    builtins = frame.f_builtins
    code = frame.f_code
    if MARKER in builtins and not code.co_filename.startswith(_STDLIB):
        return f"{code.co_filename}:{frame.f_lineno}"
    return location()


def location() -> str:
    """``file:line`` of the sandboxed code making the current call."""
    inner = _sandbox_frame()
    if inner is None:
        return "<host>"
    frame = _user_frame(inner)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def violation(rule: Rule, *, call: bool) -> RestrictedAccessError:
    """The error for sandboxed code reaching ``rule``'s name."""
    inner = _sandbox_frame()
    sandbox = inner.f_builtins.get(MARKER) if inner is not None else None
    mode = sandbox._policy.mode if sandbox is not None else "strict"
    name = rule.qualname + ("()" if call and rule.when is not When.ACCESS else "")
    what, advice = rule.kind.value
    parts = [f"{name} is not allowed in a {mode} sandbox"]
    filename = lineno = None
    if inner is not None:
        frame = _user_frame(inner)
        filename, lineno = frame.f_code.co_filename, frame.f_lineno
        where = f"{filename}:{lineno}"
        if frame is not inner:
            where += f", through {inner.f_code.co_filename}:{inner.f_lineno}"
        parts[0] += f" ({where})"
        text = _source.line(filename, lineno)
        if text:
            parts.append(f"    {lineno} | {text}")
        del frame
    del inner
    if rule.kind is Kind.POLICY:
        tail = f"It {what}. {advice}."
    else:
        hint = _WHEN_HINT.get(rule.when)
        tail = f"It {what}. " + (f"{hint} " if hint else "")
        tail += f"{advice}, or allow it: policy.evolve(allow=({rule.qualname!r},))."
    parts.append(tail)
    return RestrictedAccessError(
        parts[0] + ".\n\n" + "\n\n".join(parts[1:]),
        qualname=rule.qualname,
        filename=filename,
        lineno=lineno,
    )


def _is_path(value: object) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


# Parameter names of the first argument of NO_ARGS and UNSEEDED functions.
_FIRST: Final = ("secs", "t", "tz", "timeval", "dt", "timefunc", "a", "x")


def _first(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    for name in _FIRST:
        if name in kwargs:
            return kwargs[name]
    return None


def refuses(when: When, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call with these arguments is one the rule refuses."""
    if when is When.ALWAYS or when is When.ACCESS:
        return True
    if when is When.NO_ARGS or when is When.UNSEEDED:
        # An explicit None means "now" or "from the OS" as much as no argument.
        return _first(args, kwargs) is None
    if when is When.ONE_ARG:
        return len(args) + len(kwargs) <= 1
    if when is When.PATH_ARG:
        first = args[0] if args else None
        for key in ("file", "filename", "name"):
            if first is None:
                first = kwargs.get(key)
        return _is_path(first)
    if when is When.NO_TZ:
        return (args[1] if len(args) > 1 else kwargs.get("tz")) is None
    if when is When.NO_MTIME:
        return kwargs.get("mtime") is None
    if when is When.NAIVE:  # the instance was judged when the method was read
        return True
    raise AssertionError(when)  # pragma: no cover


# Attributes of the wrapped callable a guard answers for. Not __wrapped__,
# __self__, __func__, __globals__, __code__ or __closure__: each of those
# hands out the real callable or what it is bound to.
_FORWARDED: Final = frozenset(
    {"__qualname__", "__text_signature__", "__defaults__", "__kwdefaults__", "__annotations__"}
)


class Guard:
    """A refused callable as sandboxed code sees it."""

    __slots__ = ("_real", "_rule", "_skip")

    def __init__(self, wrapped: Any, rule: Rule, *, skip: int = 0) -> None:
        self._real = wrapped
        self._rule = rule
        # Arguments to ignore when judging a call: 1 for an unbound method
        # read from its class (``Random.seed(r)`` is ``r.seed()``).
        self._skip = skip

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rule = self._rule
        if refuses(rule.when, args[self._skip :], kwargs):
            raise violation(rule, call=True)
        return self._real(*args, **kwargs)

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        # Behave like the function it wraps when stored on a class.
        if obj is None or not isinstance(self._real, FunctionType):
            return self
        return MethodType(self, obj)

    @property
    def __name__(self) -> str:
        return str(getattr(self._real, "__name__", self._rule.qualname))

    def __getattr__(self, name: str) -> Any:
        if name in _FORWARDED:
            return getattr(self._real, name)
        raise AttributeError(f"{self._rule.qualname} (restricted) has no attribute {name!r}")

    @property
    def __signature__(self) -> inspect.Signature | None:
        try:
            return inspect.signature(self._real)
        except (ValueError, TypeError):  # a builtin without one: "no signature"
            return None

    @property
    def __module__(self) -> str:  # type: ignore[override]
        return str(getattr(self._real, "__module__", None))

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return getattr(self._real, "__doc__", None)

    def __repr__(self) -> str:
        return f"<restricted {self._rule.qualname}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (resolve, (self._rule.qualname,))


def resolve(qualname: str) -> object:
    """Unpickle a restricted name: the sandbox's version inside one, else the real one."""
    # The sandbox whose code is unpickling: found on the stack, so this also
    # holds when sandboxed code runs outside Sandbox.call().
    frame = _sandbox_frame()
    sandbox = frame.f_builtins[MARKER] if frame is not None else current.get()
    del frame
    if sandbox is not None:
        return sandbox.resolve(qualname)
    obj = _lookup(qualname)
    if obj is _MISSING:
        raise AttributeError(f"cannot resolve {qualname!r}: its module is not imported")
    return obj


# -- class views ---------------------------------------------------------------

_REAL: Final = "__ds_real__"
_RULE: Final = "__ds_rule__"
_SUBST: Final = "__ds_subst__"
#: Set by _substitutes: runs a refused construction through the Sandbox's Run.
construct_hook: Any = None
_METAS: dict[type, type] = {}
_METAS_LOCK = threading.Lock()


def _make_meta(base: type) -> type:
    parent: Any = base  # type's slots, called unbound on a metaclass

    def __call__(cls: type, *args: Any, **kwargs: Any) -> Any:
        real = cls.__dict__.get(_REAL)
        rule: Rule = getattr(cls, _RULE)
        # A sandbox subclass of a seeded class with its own constructor
        # decides the seed the real one gets (``super().__init__(42)``); an
        # unseeded one reaches the view's guarded seed() method instead.
        own_ctor = "__init__" in cls.__dict__ or "__new__" in cls.__dict__
        judged = real is not None or rule.when is not When.UNSEEDED or not own_ctor
        if judged and refuses(rule.when, args, kwargs):
            subst = getattr(cls, _SUBST, None)
            if subst is None or construct_hook is None:
                raise violation(rule, call=True)
            # Deterministic mode: the constructor's missing seed comes
            # from the Sandbox; a view gives the substitute's instance.
            seed = construct_hook(rule, subst, args, kwargs)
            if real is not None:
                return subst.rebuild(seed)
            return parent.__call__(cls, seed, *args[1:], **kwargs)
        if real is not None:
            return real(*args, **kwargs)
        return parent.__call__(cls, *args, **kwargs)

    def __instancecheck__(cls: type, obj: object) -> bool:
        real = cls.__dict__.get(_REAL)
        if real is None:
            return bool(parent.__instancecheck__(cls, obj))
        return _reentrant(cls, obj, isinstance, real)

    def __subclasscheck__(cls: type, sub: type) -> bool:
        real = cls.__dict__.get(_REAL)
        if real is None:
            return bool(parent.__subclasscheck__(cls, sub))
        return _reentrant(cls, sub, issubclass, real)

    def __eq__(cls: type, other: object) -> bool:
        real = cls.__dict__.get(_REAL)
        if real is not None:
            return other is cls or other is real
        return cls is other

    def __hash__(cls: type) -> int:
        real = cls.__dict__.get(_REAL)
        return hash(real) if real is not None else int(parent.__hash__(cls))

    namespace = {
        "__call__": __call__,
        "__instancecheck__": __instancecheck__,
        "__subclasscheck__": __subclasscheck__,
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__module__": __name__,
    }
    meta = type(f"Restricted{base.__name__}", (base,), namespace)
    # Pickle a class view as the real class it stands for; this dispatch
    # entry is keyed by our own metaclass, which host code never uses.
    copyreg.pickle(meta, _reduce_view)
    return meta


_checking = threading.local()


def _reentrant(view: type, obj: object, check: Any, real: type) -> bool:
    """``check(obj, real)``, answering False if it comes back to this view.

    The view is a subclass of ``real``; for an ABC, checking ``real``
    walks ``real.__subclasses__()``, which include the view, which checks
    ``real`` again. The inner answer, False, leaves the outer check (on
    ``real`` itself) to decide, so host ABC checks give the same results as
    if the view did not exist.
    """
    active: set[tuple[int, int]] | None = getattr(_checking, "active", None)
    if active is None:
        active = _checking.active = set()
    key = (id(view), id(obj))
    if key in active:
        return False
    active.add(key)
    try:
        return bool(check(obj, real))
    finally:
        active.discard(key)


def _reduce_view(cls: type) -> Any:
    real = cls.__dict__.get(_REAL)
    if real is None:
        return cls.__qualname__  # a sandbox subclass: pickled by reference
    return (resolve, (f"{real.__module__}.{real.__qualname__}",))


def class_view(
    real: type, rule: Rule, subst: Any = None, methods: dict[str, Any] | None = None
) -> type | None:
    """A restricting stand-in for ``real``, or None if it cannot be subclassed.

    ``subst`` is deterministic mode's substitution for a refused construction;
    ``methods`` are guarded methods the view defines over the real ones, so
    that sandbox subclasses reach them too (``Random.seed`` from ``__init__``).
    """
    base = type(real)
    with _METAS_LOCK:
        meta = _METAS.get(base)
        if meta is None:
            meta = _METAS[base] = _make_meta(base)
    namespace = {
        "__module__": real.__module__,
        "__qualname__": real.__qualname__,
        "__doc__": real.__doc__,
        "__slots__": (),
        _REAL: real,
        _RULE: rule,
        _SUBST: subst,
        **(methods or {}),
    }
    try:
        view: type = meta(real.__name__, (real,), namespace)
    except TypeError:  # final classes (no Py_TPFLAGS_BASETYPE)
        return None
    return view


def restricted_name(obj: object) -> str | None:
    """The restricted name ``obj`` stands for if it is a guard or a class view, else None.

    Such a value is the Sandbox's, not the real one: it may leave a Sandbox
    only as itself, never as what it pickles to (the real object).
    """
    if isinstance(obj, Guard):
        return obj._rule.qualname
    if isinstance(obj, type):
        rule: Rule | None = obj.__dict__.get(_RULE) if _REAL in obj.__dict__ else None
        if rule is not None:
            return rule.qualname
    return None


def real_class(cls: type) -> type:
    """The class a view stands for, or ``cls`` itself."""
    real: type | None = cls.__dict__.get(_REAL)
    return cls if real is None else real
