"""Compile: sandboxed source to code objects, once per file and rule set.

Two things happen here beyond :func:`compile`:

* ``dont_inherit=True``, always: otherwise the code would inherit detsandbox's
  own ``from __future__`` flags.
* A small AST rewrite closes routes that no module view can see. Reading an
  attribute whose name is a catalogued method (``.now``, ``.today``,
  ``.read_text``...) becomes ``__ds_attr__(obj, "now")``, which checks the
  owner's class, so ``type(d).now()`` and ``d.now`` on an object that
  passthrough code returned are caught as well as ``datetime.datetime.now``.
  ``type(x)`` with one argument becomes ``__ds_type__(type, x)``, which hands
  back the restricting view of a refused class. Only these names are
  rewritten; every other attribute access runs at full speed.
* In untrusted mode (``UNTRUSTED`` in the rewrite set), RestrictedPython's
  transformer runs first (see ``_untrusted``).
* In deterministic modes (``ORDERED_SETS`` in the rewrite set), set
  displays and comprehensions build insertion-ordered sets (``_ordered``),
  whose order does not depend on the process's hash seed.
* For policies whose Limits count instructions, the rewrite set holds
  ``_budget.COUNT_WORK``: every loop body, comprehension item, function and
  lambda begins with a tick, ``__ds_next__(__ds_budget__)``. With
  ``COUNT_DEPTH`` (recursion, 3.12+) the code gets ``sys.monitoring`` local
  events. Such code is compiled (and cached) apart, so code of other
  policies pays nothing for either.
"""

from __future__ import annotations

import ast
import os
import threading
from types import CodeType
from typing import Final

from . import _source
from ._budget import BUDGET_ITER, BUDGET_NEXT, COUNT_WORK, instrument
from ._untrusted import UNTRUSTED, restrict
from .errors import (
    RestrictedSyntaxError,
    SandboxIndentationError,
    SandboxSyntaxError,
    SandboxTabError,
)

__all__ = ["compile_file", "compile_source", "compile_string"]


#: Not an identifier, so never an attribute name: in the rewrite set, it asks
#: for ordered set displays (and keys the compile cache apart).
ORDERED_SETS: Final = "{ordered sets}"


def _position(at: ast.expr | ast.stmt) -> dict[str, int]:
    """The start of ``at``, as a zero-width span."""
    return {
        "lineno": at.lineno,
        "col_offset": at.col_offset,
        "end_lineno": at.lineno,
        "end_col_offset": at.col_offset,
    }


def _tick(at: ast.expr | ast.stmt) -> ast.Call:
    """``__ds_next__(__ds_budget__)`` at the start of ``at``: one unit of a Meter's budget."""
    where = _position(at)
    return ast.Call(
        func=ast.Name(id=BUDGET_NEXT, ctx=ast.Load(), **where),
        args=[ast.Name(id=BUDGET_ITER, ctx=ast.Load(), **where)],
        keywords=[],
        **where,
    )


def _has_docstring(body: list[ast.stmt]) -> bool:
    first = body[0] if body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


class _Rewriter(ast.NodeTransformer):
    def __init__(self, hot: frozenset[str]) -> None:
        self.hot = hot
        self.ordered_sets = ORDERED_SETS in hot
        self.count = COUNT_WORK in hot

    # Counting work: a tick begins every loop iteration, comprehension item
    # and function call. Cheaper than any event callback: a tick is a C call.

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> ast.stmt:
        self.generic_visit(node)
        if self.count:
            node.body.insert(0, ast.Expr(_tick(node), **_position(node)))
        return node

    visit_For = visit_AsyncFor = visit_While = _loop

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
        self.generic_visit(node)
        if self.count:
            at = 1 if _has_docstring(node.body) else 0
            node.body.insert(at, ast.Expr(_tick(node), **_position(node)))
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.expr:
        self.generic_visit(node)
        if self.count:  # the tick returns None: ``None or body`` is body
            tick = _tick(node)
            node.body = ast.BoolOp(op=ast.Or(), values=[tick, node.body], **_position(tick))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        self.generic_visit(node)
        if self.count:  # an always-true first condition: ``not None``
            tick = _tick(node.target)
            node.ifs.insert(0, ast.UnaryOp(op=ast.Not(), operand=tick, **_position(tick)))
        return node

    def visit_Set(self, node: ast.Set) -> ast.expr:
        self.generic_visit(node)
        if not self.ordered_sets:
            return node
        items = ast.List(elts=node.elts, ctx=ast.Load())
        return ast.copy_location(self._ordered(items), node)

    def visit_SetComp(self, node: ast.SetComp) -> ast.expr:
        self.generic_visit(node)
        if not self.ordered_sets:
            return node
        gen = ast.GeneratorExp(elt=node.elt, generators=node.generators)
        return ast.copy_location(self._ordered(gen), node)

    @staticmethod
    def _ordered(items: ast.expr) -> ast.expr:
        return ast.Call(func=ast.Name(id="__ds_set__", ctx=ast.Load()), args=[items], keywords=[])

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and node.attr in self.hot:
            call = ast.Call(
                func=ast.Name(id="__ds_attr__", ctx=ast.Load()),
                args=[node.value, ast.Constant(value=node.attr)],
                keywords=[],
            )
            return ast.copy_location(call, node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id == "type"
            and len(node.args) == 1
            and not node.keywords
            and not isinstance(node.args[0], ast.Starred)
        ):
            call = ast.Call(
                func=ast.Name(id="__ds_type__", ctx=ast.Load()),
                args=[func, node.args[0]],
                keywords=[],
            )
            return ast.copy_location(call, node)
        return node


def _syntax_error(exc: SyntaxError, filename: str) -> SandboxSyntaxError:
    # str() of it reads "invalid syntax (wf.py, line 3)", as for the builtin;
    # IndentationError and TabError keep their builtin class too.
    cls: type[SandboxSyntaxError] = SandboxSyntaxError
    if isinstance(exc, TabError):
        cls = SandboxTabError
    elif isinstance(exc, IndentationError):
        cls = SandboxIndentationError
    return cls(
        exc.msg,
        (filename, exc.lineno, exc.offset, exc.text, exc.end_lineno, exc.end_offset),
    )


def compile_source(
    source: str | ast.AST, filename: str, hot: frozenset[str], mode: str = "exec", flags: int = 0
) -> CodeType:
    """Compile sandboxed ``source`` (text or a tree), rewritten for ``hot`` attribute names."""
    try:
        tree = ast.parse(source, filename, mode) if isinstance(source, str) else source
        if UNTRUSTED in hot:
            if isinstance(source, str):
                _source.remember(filename, source)  # for the refusals' source lines
            tree = restrict(tree, filename, hot)
        tree = ast.fix_missing_locations(_Rewriter(hot).visit(tree))
        code: CodeType = compile(tree, filename, mode, flags=flags, dont_inherit=True)
    except RestrictedSyntaxError:
        raise
    except SyntaxError as exc:
        raise _syntax_error(exc, filename) from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise _syntax_error(SyntaxError(str(exc)), filename) from None
    instrument(code, hot)  # local events for policies that count work or depth
    return code


# (filename, source, hot) -> code; small and bounded: exec'd strings.
_STRINGS: dict[tuple[str, str, frozenset[str]], CodeType] = {}
_STRINGS_MAX = 256
# (path, hot) -> (mtime_ns, size, code)
_FILES: dict[tuple[str, frozenset[str]], tuple[int, int, CodeType]] = {}
_LOCK = threading.Lock()


def compile_string(source: str, filename: str, hot: frozenset[str]) -> CodeType:
    """Compile source handed to ``Sandbox.exec``, cached by text."""
    key = (filename, source, hot)
    code = _STRINGS.get(key)
    if code is None:
        code = compile_source(source, filename, hot)
        with _LOCK:
            if len(_STRINGS) >= _STRINGS_MAX:
                _STRINGS.pop(next(iter(_STRINGS)))
            _STRINGS[key] = code
    # Every time: the same filename may have run other source in between.
    _source.remember(filename, source)
    return code


def compile_file(path: str, hot: frozenset[str]) -> CodeType:
    """Compile the module at ``path``; recompiled only when the file changes."""
    st = os.stat(path)
    key = (path, hot)
    hit = _FILES.get(key)
    if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return hit[2]
    with open(path, "rb") as f:
        source = _source.as_text(f.read(), what=f"importing {path}")
    code = compile_source(source, path, hot)
    _source.remember(path, source)
    with _LOCK:
        _FILES[key] = (st.st_mtime_ns, st.st_size, code)
    return code
