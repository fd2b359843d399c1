"""The builtins of sandboxed code.

Every module a Sandbox runs gets the Sandbox's own builtins dict as
``__builtins__``: a copy of the host's in which refused names are guards,
``__import__`` is the Sandbox's importer, and the routes that would compile
or look up code around the checks (``exec``, ``eval``, ``compile``,
``getattr``) apply them. The template is built once per policy; a Sandbox
adds only its importer and its marker.
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from . import _compile, _source

if TYPE_CHECKING:
    from ._views import Views

__all__ = ["builtins_template"]

_real_exec = builtins.exec
_real_eval = builtins.eval
_real_compile = builtins.compile
_real_getattr = builtins.getattr
_real_type = builtins.type
_real_id = builtins.id
_CodeType: Final = type(compile("", "", "exec"))


def _caller_namespaces(
    globals: dict[str, Any] | None, locals: Mapping[str, Any] | None
) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    frame = sys._getframe(2)  # the sandboxed code calling exec() or eval()
    if globals is None:
        globals = frame.f_globals
        if locals is None:
            locals = frame.f_locals
            if locals is not globals:
                # A function's locals: exec() sees a snapshot, as it does
                # natively (3.13's f_locals would write through instead).
                locals = dict(locals)
    # Without this, exec would give the code the builtins of *this* frame,
    # which are the host's: the caller's are the Sandbox's.
    globals.setdefault("__builtins__", frame.f_builtins)
    del frame
    return globals, locals


def builtins_template(views: Views) -> dict[str, Any]:
    """The builtins dict shared by the Sandboxes of one policy, minus ``__import__``."""
    hot = views.hot

    def code(source: Any, filename: str, mode: str, flags: int = 0) -> Any:
        if isinstance(source, _CodeType):
            return source
        if isinstance(source, (bytes, bytearray)):
            source = _source.as_text(source, what=f"{mode}()")
        if isinstance(source, (str, ast.AST)):
            return _compile.compile_source(source, filename, hot, mode, flags)
        return _real_compile(source, filename, mode, flags, dont_inherit=True)

    def exec(
        source: Any,
        globals: dict[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        /,
        **kwargs: Any,
    ) -> None:
        globals, locals = _caller_namespaces(globals, locals)
        _real_exec(code(source, "<string>", "exec"), globals, locals, **kwargs)

    def eval(
        source: Any,
        globals: dict[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        /,
    ) -> Any:
        if isinstance(source, str):
            source = source.lstrip(" \t")
        globals, locals = _caller_namespaces(globals, locals)
        return _real_eval(code(source, "<string>", "eval"), globals, locals)

    def compile(
        source: Any,
        filename: Any,
        mode: str,
        flags: int = 0,
        dont_inherit: bool = False,
        optimize: int = -1,
        **kwargs: Any,
    ) -> Any:
        if flags & ast.PyCF_ONLY_AST:
            return _real_compile(source, filename, mode, flags, True, optimize, **kwargs)
        return code(source, os.fsdecode(filename), mode, flags)

    def getattr(obj: object, name: str, *default: Any) -> Any:
        if _real_type(name) is str and name in hot:
            try:
                return views.attribute(obj, name)
            except AttributeError:
                if default:
                    return default[0]
                raise
        return _real_getattr(obj, name, *default)

    def __ds_type__(fn: Any, obj: object) -> Any:
        if fn is _real_type:
            return views.class_view_of(_real_type(obj))
        return fn(obj)

    items: dict[str, Any] = {}
    for key, value in builtins.__dict__.items():
        wrapped = views.adapt_builtin(key, value)
        if wrapped is not None:
            items[key] = wrapped
    # builtins.__loader__ is BuiltinImporter, which imports around the sandbox.
    items["__loader__"] = items["__spec__"] = None
    if views.deterministic:
        from ._ordered import OrderedFrozenSet, OrderedSet, stable_hash
        from ._substitutes import current_run

        def id(obj: object) -> int:
            run = current_run()
            return run.ids(obj) if run is not None else _real_id(obj)

        items.update(
            {
                "set": OrderedSet,
                "frozenset": OrderedFrozenSet,
                "__ds_set__": OrderedSet,
                "hash": stable_hash,
                "id": id,
            }
        )
    items.update(
        {
            "exec": exec,
            "eval": eval,
            "compile": compile,
            "getattr": getattr,
            "__ds_attr__": views.attribute,
            "__ds_type__": __ds_type__,
        }
    )
    return items
