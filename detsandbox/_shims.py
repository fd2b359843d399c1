"""Shims: stdlib functions that must find sandboxed modules in ``sys.modules``.

Some passthrough functions look a class's module up by name in
``sys.modules``: ``dataclasses`` (to read string annotations such as
``ClassVar`` under ``from __future__ import annotations``, and to give the
methods it generates their globals) and ``typing.get_type_hints``. A
sandboxed module is not in the host's ``sys.modules``, and must not be put
there, so these calls would fail (on 3.11 ``@dataclass`` crashes outright).

The fix touches nothing the host uses. Each function of such a module is
cloned once per process with the same code but a copy of the module's
globals in which ``sys`` is :data:`_SYS`: ``_SYS.modules`` looks a name up
in the module table of the sandbox that called in (found from the calling
frames), then in the host's. Sandbox views of the module hold the clones;
classes and sentinels stay the host's objects, so a dataclass made in a
sandbox is a dataclass to the host's ``dataclasses.fields()`` too.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from types import CodeType, FrameType, FunctionType, ModuleType
from typing import Any, Final

from ._guards import MARKER

__all__ = ["substitute"]

# Modules whose functions get sandbox-aware clones.
# Module -> the functions sandboxed code calls that look sys.modules up; each
# is cloned with every module function it reaches by name. Only these: other
# functions keep their identity (typing.NamedTuple is a marker on 3.11).
# enum's global_enum and _simple_enum write into sys.modules[cls.__module__],
# which must be the sandbox's module, never the host's module of that name.
SHIMMED: Final = {
    "dataclasses": ("dataclass", "make_dataclass"),
    "enum": ("global_enum", "_simple_enum"),
    "typing": ("get_type_hints",),
    "inspect": ("get_annotations", "getmodule"),
}

_dict_get = dict.get


def _calling_table() -> dict[str, Any] | None:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        builtins = frame.f_globals.get("__builtins__")
        if type(builtins) is dict and MARKER in builtins:
            table: dict[str, Any] = builtins[MARKER]._importer.modules
            return table
        frame = frame.f_back
    return None


class _Modules(Mapping[str, ModuleType]):
    """``sys.modules`` for shimmed code: the calling sandbox's, then the host's."""

    def __getitem__(self, name: str) -> ModuleType:
        table = _calling_table()
        if table is not None:
            module = _dict_get(table, name)
            if module is not None:
                return module  # type: ignore[no-any-return]
        return sys.modules[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        table = _calling_table()
        if table is not None and table.get(name) is not None:  # type: ignore[call-overload]
            return True
        return name in sys.modules

    def __iter__(self) -> Iterator[str]:
        return iter(sys.modules)

    def __len__(self) -> int:
        return len(sys.modules)


class _Sys(ModuleType):
    """The ``sys`` of shimmed code: the real one, but for ``modules``."""

    modules = _Modules()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


_SYS: Final = _Sys("sys")
_CLONES: dict[int, tuple[object, FunctionType]] = {}
_DONE: set[str] = set()
_LOCK = threading.Lock()


def _names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


def _reachable(module: ModuleType, roots: tuple[str, ...]) -> set[str]:
    """Module-level functions reachable from ``roots`` through global names."""
    found: set[str] = set()
    todo = [r for r in roots if isinstance(module.__dict__.get(r), FunctionType)]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for used in _names(module.__dict__[name].__code__):
            value = module.__dict__.get(used)
            if isinstance(value, FunctionType) and value.__module__ == module.__name__:
                todo.append(used)
    return found


def _clone_module(module: ModuleType) -> None:
    namespace = dict(module.__dict__)
    namespace["sys"] = _SYS
    for key in _reachable(module, SHIMMED[module.__name__]):
        value = module.__dict__[key]
        if isinstance(value, FunctionType):
            clone = FunctionType(
                value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__
            )
            clone.__kwdefaults__ = value.__kwdefaults__
            clone.__qualname__ = value.__qualname__
            clone.__doc__ = value.__doc__
            clone.__dict__.update(value.__dict__)
            clone.__annotations__ = value.__annotations__
            namespace[key] = clone
            _CLONES[id(value)] = (value, clone)


def substitute(module: str, value: object) -> object:
    """The sandbox-aware clone of ``value`` if it has one, else ``value``."""
    if module not in SHIMMED:
        return value
    if module not in _DONE:
        with _LOCK:
            if module not in _DONE:
                real = sys.modules.get(module)
                if real is None:
                    return value
                _clone_module(real)
                _DONE.add(module)
    hit = _CLONES.get(id(value))
    return hit[1] if hit is not None and hit[0] is value else value
