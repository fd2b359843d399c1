"""Untrusted mode: RestrictedPython at compile time, guards at run time, an import allow-list.

Trusted mode steers code that means well; this module holds against code that
does not. Three layers, each closing what the others cannot see:

* **Compile time.** RestrictedPython's transformer refuses names and
  attributes starting with ``_``, frame/code attributes, ``exec``/``eval``,
  ``metaclass=``, star imports and every construct it has no rule for, and
  rewrites attribute reads, writes, item reads, iteration, ``*args`` calls,
  augmented assignment and ``print`` into calls of hooks. Every refusal is
  collected and raised together. Two rules are added here: no ``yield``
  inside ``try``/``with`` (a suspended generator would run its handler when
  the host collects it, after the call returned), and attribute reads of a
  name known at compile time to be harmless compile back to a plain load, so
  guarded code runs near plain speed (see ``_RISKY``).
* **Run time.** The hooks below, in the Sandbox's builtins: ``_getattr_``
  refuses ``_`` names (also when built at run time), frame/code attributes,
  ``str.format``/``format_map``, ``string.Formatter`` methods, ``mro`` and
  ``AttributeError.obj``, and host modules as values; ``_write_`` lets code
  write only to objects it created; classes cannot define other dunders.
* **Imports.** Only an allow-list of modules, each seen through an
  :class:`UntrustedModule`: its public attributes minus submodules and
  minus the gadgets in ``_HIDDEN`` (functions that evaluate strings as code or
  change state shared with the host), on top of the strict or deterministic
  guards of the policy's mode.

What untrusted mode promises, and what it does not, is in docs/security.md.
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
import re
import string
from abc import ABCMeta
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Sequence
from types import CodeType, FrameType, FunctionType, MappingProxyType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

from . import _source
from ._guards import MARKER, _sandbox_frame, _user_frame, current, location
from ._ordered import OrderedSet
from .errors import RestrictedAccessError, RestrictedImportError, RestrictedSyntaxError

if TYPE_CHECKING:
    from ._importer import Importer
    from ._views import Views

__all__ = [
    "DEFAULT_MODULES",
    "UNTRUSTED",
    "Gate",
    "UntrustedModule",
    "WriteCache",
    "make_builtins",
    "restrict",
]

#: Not an identifier: in a Views' ``hot`` set it asks the compiler for
#: RestrictedPython (and keys the compile cache apart from trusted code).
UNTRUSTED: Final = "{untrusted}"

#: What untrusted code may import by default: pure computation, no I/O, no
#: interpreter internals. Add more with ``Policy(passthrough=...)``.
DEFAULT_MODULES: Final = frozenset(
    {
        "base64",
        "bisect",
        "cmath",
        "collections",
        "collections.abc",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "itertools",
        "json",
        "math",
        "random",
        "re",
        "statistics",
        "string",
        "textwrap",
        "time",
        "typing",
        "unicodedata",
        "uuid",
    }
)

# Public names an allowed module does not show untrusted code.
_HIDDEN: Final = {
    # A Formatter traverses attributes named in its format strings.
    "string": frozenset({"Formatter"}),
    # get_type_hints and ForwardRef evaluate strings as code with real
    # builtins; overload registrations live in one process-wide registry;
    # reveal_type writes to the host's stderr.
    "typing": frozenset(
        {
            "ForwardRef",
            "get_type_hints",
            "overload",
            "get_overloads",
            "clear_overloads",
            "reveal_type",
        }
    ),
    # singledispatch's register() calls get_type_hints on annotations.
    "functools": frozenset({"singledispatch", "singledispatchmethod"}),
    # The thread's decimal context is the host's: reading it out would let
    # code change how the host rounds.
    "decimal": frozenset(
        {"getcontext", "setcontext", "DefaultContext", "BasicContext", "ExtendedContext"}
    ),
    # Its namespace= puts any dunder (__del__) on a class, around the
    # checks on class bodies; class statements with annotations do the job.
    "dataclasses": frozenset({"make_dataclass"}),
    # Metaclasses build classes from a dict, around the checks on class bodies.
    "enum": frozenset({"EnumType", "EnumMeta"}),
    # A capsule is a raw C pointer.
    "datetime": frozenset({"datetime_CAPI"}),
    # Clears the host's compiled-pattern cache.
    "re": frozenset({"purge"}),
}

# Attribute names whose read needs the run-time guard even when the name is
# a compile-time constant: all others compile to a plain load (RestrictedPython
# has already refused "_" names and INSPECT_ATTRIBUTES at compile time).
_FORMATTER_METHODS: Final = frozenset({"format", "vformat", "get_field", "get_value", "parse"})
_RISKY: Final = INSPECT_ATTRIBUTES | _FORMATTER_METHODS | {"format_map", "mro", "obj", "register"}

# Dunders a class body may hold: those RestrictedPython lets code define,
# and those the compiler adds itself.
_CLASS_DUNDERS: Final = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__classcell__",
        "__annotations__",
        "__static_attributes__",
        "__firstlineno__",
        "__orig_bases__",
        "__type_params__",
        "__init__",
        "__contains__",
        "__lt__",
        "__le__",
        "__eq__",
        "__ne__",
        "__gt__",
        "__ge__",
    }
)

#: The name of the check every untrusted function starts with.
ENTER: Final = "__ds_enter__"

#: Marks classes (and through them, instances) that untrusted code created.
_OWN: Final = "__ds_untrusted__"

# Builtins untrusted code gets (besides the hooks). Not: open, input,
# __import__ (the Gate), exec, eval, compile, globals, locals, vars,
# breakpoint, help, memoryview, exit, quit; BaseException, SystemExit,
# KeyboardInterrupt and GeneratorExit (raising them would stop the host, not
# the sandbox); the exception groups (only except* needs them, which
# RestrictedPython refuses).
_BUILTIN_NAMES: Final = frozenset(
    {
        "None",
        "False",
        "True",
        "Ellipsis",
        "NotImplemented",
        "__build_class__",
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "bool",
        "bytearray",
        "bytes",
        "callable",
        "chr",
        "classmethod",
        "complex",
        "dict",
        "dir",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "format",
        "frozenset",
        "hash",
        "hex",
        "id",
        "int",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "list",
        "map",
        "max",
        "min",
        "next",
        "object",
        "oct",
        "ord",
        "pow",
        "property",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "slice",
        "sorted",
        "staticmethod",
        "str",
        "sum",
        "super",
        "tuple",
        "zip",
        # deterministic modes: ordered set displays
        "__ds_set__",
    }
)
_NOT_RAISABLE: Final = frozenset(
    {
        "BaseException",
        "SystemExit",
        "KeyboardInterrupt",
        "GeneratorExit",
        "BaseExceptionGroup",
        "ExceptionGroup",
    }
)

_IMMUTABLE: Final = frozenset({int, float, complex, str, bytes, bool, tuple, frozenset})
_CONTAINERS: Final = (dict, list, set, bytearray, deque)
_WRITABLE_TYPES: Final = frozenset(
    {dict, list, set, bytearray, deque, OrderedDict, defaultdict, Counter, OrderedSet}
)

# Each augmented operator: the AST node of its plain form, and its in-place
# and binary functions.
_OPERATORS: Final[dict[str, tuple[type[ast.operator], Callable[..., Any], Callable[..., Any]]]] = {
    "+=": (ast.Add, operator.iadd, operator.add),
    "-=": (ast.Sub, operator.isub, operator.sub),
    "*=": (ast.Mult, operator.imul, operator.mul),
    "/=": (ast.Div, operator.itruediv, operator.truediv),
    "%=": (ast.Mod, operator.imod, operator.mod),
    "**=": (ast.Pow, operator.ipow, operator.pow),
    "<<=": (ast.LShift, operator.ilshift, operator.lshift),
    ">>=": (ast.RShift, operator.irshift, operator.rshift),
    "|=": (ast.BitOr, operator.ior, operator.or_),
    "^=": (ast.BitXor, operator.ixor, operator.xor),
    "&=": (ast.BitAnd, operator.iand, operator.and_),
    "//=": (ast.FloorDiv, operator.ifloordiv, operator.floordiv),
    "@=": (ast.MatMult, operator.imatmul, operator.matmul),
}
_INPLACE: Final = {op: fns[1] for op, fns in _OPERATORS.items()}
_BINARY: Final = {op: fns[2] for op, fns in _OPERATORS.items()}

_real_getattr = builtins.getattr
_real_setattr = builtins.setattr
_real_delattr = builtins.delattr
_real_type = builtins.type
_real_print = builtins.print


# -- errors -------------------------------------------------------------------------------


def refusal(what: str, *, qualname: str, advice: str) -> RestrictedAccessError:
    """The error for untrusted code doing ``what``, located at its sandboxed line."""
    inner = _sandbox_frame()
    head = f"{what} is not allowed in untrusted code"
    parts = []
    filename = lineno = None
    if inner is not None:
        frame = _user_frame(inner)
        filename, lineno = frame.f_code.co_filename, frame.f_lineno
        head += f" ({filename}:{lineno})"
        text = _source.line(filename, lineno)
        if text:
            parts.append(f"    {lineno} | {text}")
        del frame
    del inner
    parts.append(advice)
    return RestrictedAccessError(
        head + ".\n\n" + "\n\n".join(parts), qualname=qualname, filename=filename, lineno=lineno
    )


def _describe(obj: object) -> str:
    if isinstance(obj, ModuleType):
        return f"module {obj.__name__!r}"
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    return f"a {_real_type(obj).__qualname__} object"


# -- compile time -------------------------------------------------------------------------


_LINE: Final = re.compile(r"Line (\d+): (.*)", re.DOTALL)


class _Deferred(ast.NodeVisitor):
    """Finds ``yield`` inside ``try`` or ``with`` within one function."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        self.depth = 0

    def _function(self, node: ast.AST) -> None:
        outer, self.depth = self.depth, 0
        self.generic_visit(node)
        self.depth = outer

    visit_FunctionDef = visit_Lambda = visit_AsyncFunctionDef = _function

    def _guarded(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_Try = visit_With = _guarded
    # TryStar exists from 3.11; RestrictedPython refuses it anyway.

    def _yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        if self.depth:
            self.errors.append(
                (
                    node.lineno,
                    "yield inside try or with is not allowed: the generator's handler "
                    "would run when the host collects it, after the call returned",
                )
            )
        self.generic_visit(node)

    visit_Yield = visit_YieldFrom = _yield


class _Transformer(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus annotated assignments.

    An annotation is an ordinary expression, guarded like any other; without
    it, untrusted code could not declare dataclass fields.
    """

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        return self.node_contents_visit(node)


class _Specialise(ast.NodeTransformer):
    """The last pass over RestrictedPython's tree.

    * ``_getattr_(x, "name")`` back to ``x.name`` for a constant, harmless name,
      and ``_getitem_(x, k)`` back to ``x[k]`` (the hook is ``operator.getitem``).
    * Every function and lambda starts with ``__ds_enter__()``, which refuses
      to run outside a Sandbox call: a ``__del__``, a callback or a generator
      that the host runs later, or the host calling the function directly.
    * Inside functions, the write and in-place hooks get an inline fast path
      (``_fast_write``, ``_fast_inplace``): a Python call per write would cost
      more than the write.
    """

    def __init__(self, hot: frozenset[str]) -> None:
        self.guarded = _RISKY | hot
        # Per enclosing scope: what _locals() found of a function, or None
        # where fast paths are off (module and class bodies, lambdas,
        # comprehensions).
        self._scopes: list[_Locals | None] = [None]

    @staticmethod
    def _enter() -> ast.Call:
        return ast.Call(func=ast.Name(id=ENTER, ctx=ast.Load()), args=[], keywords=[])

    def _opaque(self, node: ast.AST) -> ast.AST:
        self._scopes.append(None)
        try:
            return self.generic_visit(node)
        finally:
            self._scopes.pop()

    visit_ClassDef = visit_ListComp = visit_SetComp = visit_DictComp = _opaque

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self._scopes.append(_locals(node))
        try:
            self.generic_visit(node)
        finally:
            self._scopes.pop()
        body = node.body
        at = (
            1
            if body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
            else 0
        )  # after the docstring
        body.insert(at, ast.copy_location(ast.Expr(self._enter()), node))
        return node

    def _resumed(self, node: ast.Yield | ast.YieldFrom) -> ast.AST:
        # __ds_enter__((yield v)): a generator the host resumes later checks again.
        self.generic_visit(node)
        call = ast.Call(func=ast.Name(id=ENTER, ctx=ast.Load()), args=[node], keywords=[])
        return ast.copy_location(call, node)

    visit_Yield = visit_YieldFrom = _resumed

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
        # Each item is made when the consumer asks: check before every one.
        self._opaque(node)
        check = ast.Compare(
            left=self._enter(), ops=[ast.Is()], comparators=[ast.Constant(value=None)]
        )
        node.generators[0].ifs.insert(0, check)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._opaque(node)
        # (__ds_enter__() or body): the check returns None.
        node.body = ast.copy_location(
            ast.BoolOp(op=ast.Or(), values=[self._enter(), node.body]), node.body
        )
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id == "_getattr_"
            and len(node.args) == 2
            and not node.keywords
            and isinstance(node.args[1], ast.Constant)
            and _real_type(node.args[1].value) is str
            and node.args[1].value not in self.guarded
        ):
            load = ast.Attribute(value=node.args[0], attr=node.args[1].value, ctx=ast.Load())
            return ast.copy_location(load, node)
        if _is_call(node, "_getitem_", 2):
            item = ast.Subscript(value=node.args[0], slice=node.args[1], ctx=ast.Load())
            return ast.copy_location(item, node)
        return node

    def _fast_write(self, node: ast.Attribute | ast.Subscript) -> ast.AST:
        # _write_(obj).x = v, in a function, becomes
        #     (t if type(t := obj) in writable else learn(t)).x = v
        # The type test is a specialised C call and a set lookup, where the
        # hook is a Python call. The object is tested and written through a
        # fast local no other scope or thread can rebind in between: the
        # temporary, or the object's own name if it is one.
        self.generic_visit(node)
        scope = self._scopes[-1]
        if scope is None or not _is_call(node.value, "_write_", 1):
            return node
        call = node.value
        assert isinstance(call, ast.Call)
        obj = call.args[0]
        if isinstance(obj, ast.Name) and obj.id in scope.containers:
            node.value = obj  # a dict, list or set whatever path led here
            return node
        held: ast.expr
        if isinstance(obj, ast.Name) and obj.id in scope.unshared:
            held, name = obj, obj.id
        else:
            held, name = ast.NamedExpr(target=_name(_HELD, ast.Store()), value=obj), _HELD
        node.value = ast.copy_location(
            ast.IfExp(
                test=_type_in(held, _WRITABLE),
                body=_name(name),
                orelse=ast.Call(func=_name(_LEARN), args=[_name(name)], keywords=[]),
            ),
            call,
        )
        return node

    def _target(self, node: ast.Attribute | ast.Subscript) -> ast.AST:
        if isinstance(node.ctx, ast.Load):
            return self.generic_visit(node)
        return self._fast_write(node)

    visit_Attribute = visit_Subscript = _target

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        # x = _inplacevar_(op, x, y), RestrictedPython's x op= y, becomes
        #     if type(x) in (immutable or container types): x op= y
        #     else: x = _inplacevar_(op, x, y)
        # so that CPython's own in-place paths (str +=, list +=) stay. Only
        # for a fast local no other scope can rebind between test and use.
        self.generic_visit(node)
        scope = self._scopes[-1]
        value = node.value
        if (
            scope is None
            or len(node.targets) != 1
            or not isinstance(target := node.targets[0], ast.Name)
            or target.id not in scope.unshared
            or not _is_call(value, "_inplacevar_", 3)
        ):
            return node
        assert isinstance(value, ast.Call)
        op, x, y = value.args
        if not (
            isinstance(op, ast.Constant)
            and op.value in _OPERATORS
            and isinstance(x, ast.Name)
            and x.id == target.id
        ):
            return node
        augmented = ast.AugAssign(
            target=_name(target.id, ast.Store()), op=_OPERATORS[op.value][0](), value=y
        )
        fast = ast.If(
            test=_type_in(_name(target.id), _INPLACE_SAFE),
            body=[ast.copy_location(augmented, node)],
            orelse=[node],
        )
        return ast.copy_location(fast, node)


# Names the fast paths use; untrusted code cannot name them (a leading "_").
_HELD: Final = "__ds_held__"
_REAL_TYPE: Final = "__ds_realtype__"
_WRITABLE: Final = "__ds_writable__"
_LEARN: Final = "__ds_learn__"
_INPLACE_SAFE: Final = "__ds_inplace__"

_SCOPES: Final = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _name(name: str, ctx: ast.expr_context | None = None) -> ast.Name:
    return ast.Name(id=name, ctx=ctx or ast.Load())


def _is_call(node: ast.AST, hook: str, nargs: int) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == hook
        and len(node.args) == nargs
        and not node.keywords
        and not any(isinstance(arg, ast.Starred) for arg in node.args)
    )


def _type_in(value: ast.expr, types: str) -> ast.Compare:
    call = ast.Call(func=_name(_REAL_TYPE), args=[value], keywords=[])
    return ast.Compare(left=call, ops=[ast.In()], comparators=[_name(types)])


class _Locals(NamedTuple):
    #: bound in the function, and only its own frame can rebind them
    unshared: frozenset[str]
    #: of those, the ones only ever bound to a dict, list or set display or
    #: comprehension: always a container the code made
    containers: frozenset[str]


_DISPLAYS: Final = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def _locals(fn: ast.FunctionDef) -> _Locals:
    """What the fast paths may assume of ``fn``'s local names.

    Conservative: a name declared global or nonlocal, or mentioned at all in
    a nested scope (which could make it a cell), is not unshared; a name
    bound any other way than ``name = <display>`` (argument, loop or ``with``
    target, ``del``, import, ``def``, ``except ... as``, augmented
    assignment...) is not a container.
    """
    bound: set[str] = set()
    shared: set[str] = set()
    displayed: set[str] = set()
    other = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, _SCOPES):
            shared.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                other.add(node.name)
            continue
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            shared.update(node.names)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
            other.add(node.id)
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, _DISPLAYS)
            and all(isinstance(t, ast.Name) for t in node.targets)
        ):
            names = [t.id for t in node.targets]  # type: ignore[attr-defined]
            bound.update(names)
            displayed.update(names)
            todo.append(node.value)
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            other.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            other.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            other.add(node.rest)
        todo.extend(ast.iter_child_nodes(node))
    unshared = frozenset(bound - shared)
    return _Locals(unshared, frozenset(displayed - other) & unshared)


def restrict(tree: ast.AST, filename: str, hot: frozenset[str]) -> ast.AST:
    """``tree`` transformed by RestrictedPython, or every refusal in one error."""
    messages: list[str] = []
    warnings: list[str] = []
    used: dict[str, bool] = {}
    tree = _Transformer(messages, warnings, used).visit(tree)
    errors: list[tuple[int, str]] = []
    for message in messages:
        match = _LINE.fullmatch(message)
        if match:
            errors.append((int(match[1]), match[2]))
        else:
            errors.append((0, message))
    _Deferred(errors).visit(tree)
    if errors:
        errors.sort(key=lambda e: e[0])
        raise _syntax_error(errors, filename)
    result: ast.AST = _Specialise(hot).visit(tree)
    return result


def _syntax_error(errors: list[tuple[int, str]], filename: str) -> RestrictedSyntaxError:
    count = len(errors)
    lines = [
        f"untrusted code uses {count} construct{'s' if count != 1 else ''} "
        "that untrusted mode refuses:"
    ]
    for lineno, message in errors:
        lines.append(f"  {filename}:{lineno}: {message}")
    lines.append(
        "Rewrite the code without them (names starting with '_' are reserved), "
        "or run trusted code with Policy(untrusted=False)."
    )
    first = errors[0][0] or None
    text = _source.line(filename, first) if first else None
    error = RestrictedSyntaxError("\n".join(lines), (filename, first, None, text or None))
    error.errors = tuple(f"{filename}:{n}: {m}" for n, m in errors)
    return error


# -- run time -----------------------------------------------------------------------------


def _is_sandboxed(obj: object) -> bool:
    """Whether ``obj`` is a module run fresh in a Sandbox, or a function of one."""
    if isinstance(obj, ModuleType):
        if _real_type(obj) is not ModuleType:
            return False  # a view (or a curated module) of a shared one
        ns = obj.__dict__
    else:
        ns = obj.__globals__  # type: ignore[attr-defined]
    found = ns.get("__builtins__")
    return _real_type(found) is dict and MARKER in found


def writable(obj: object) -> bool:
    """Whether untrusted code may write attributes or items of ``obj``."""
    if isinstance(obj, _CONTAINERS):
        return True
    if _real_getattr(obj, _OWN, None) is True:
        return True  # a class untrusted code made, or an instance of one
    if isinstance(obj, (ModuleType, FunctionType)):
        return _is_sandboxed(obj)
    return False


def _write_(
    obj: object, _fast: frozenset[type] = _WRITABLE_TYPES, _type: type[type] = _real_type
) -> object:
    # Hot: one set lookup for builtin containers, one attribute read for
    # instances of the code's own classes.
    if _type(obj) in _fast or _real_getattr(obj, _OWN, None) is True or writable(obj):
        return obj
    raise refusal(
        f"writing to {_describe(obj)}",
        qualname=f"{_real_type(obj).__qualname__}.<write>",
        advice="Untrusted code may write only to objects it created: instances of its own "
        "classes, lists, dicts and sets. Build a new object instead.",
    )


_type_dict = _real_type.__dict__["__dict__"].__get__  # a class's own namespace, unhookable

#: How many of the code's own classes a Sandbox remembers as writable.
_LEARNED_MAX: Final = 64


class WriteCache:
    """The types one Sandbox's inline write checks pass (see ``_fast_write``).

    It starts with the writable container types, and learns the code's own
    classes the first time the full check passes an instance of one. It
    holds the classes strongly, so it forgets them all once it holds
    ``_LEARNED_MAX``: a class the code made and dropped stays alive only until
    then, and a hot class is relearned at its next write.
    """

    __slots__ = ("types",)

    def __init__(self) -> None:
        self.types: set[type] = set(_WRITABLE_TYPES)

    def learn(self, obj: object) -> object:
        _write_(obj)  # refuses what the code may not write
        cls = _real_type(obj)
        # Only a class statement of the code puts the mark in a class's own
        # namespace (ClassFactory): never a host class, never ``type``.
        if _type_dict(cls).get(_OWN) is True:
            types = self.types
            if len(types) >= len(_WRITABLE_TYPES) + _LEARNED_MAX:
                types.clear()
                types.update(_WRITABLE_TYPES)
            types.add(cls)
        return obj

    def builtins(self) -> dict[str, Any]:
        """The names the inline checks of this Sandbox's code read."""
        return {_WRITABLE: self.types, _LEARN: self.learn}


def _check_name(name: object, verb: str) -> str:
    if _real_type(name) is not str:
        raise refusal(
            f"{verb}() with a name of type {_real_type(name).__name__}",
            qualname=f"builtins.{verb}",
            advice="Attribute names must be plain str.",
        )
    assert isinstance(name, str)
    if name[:1] == "_":
        raise refusal(
            f"attribute {name!r}",
            qualname=f"<attribute>.{name}",
            advice="Names starting with '_' reach the interpreter's internals; "
            "untrusted code may not read or write them.",
        )
    return name


_MISSING: Final = object()


def make_getattr(views: Views) -> Callable[..., Any]:
    """The ``_getattr_`` hook (and ``getattr`` builtin) of untrusted code under ``views``."""
    hot = views.hot
    attribute = views.attribute
    formatter = string.Formatter

    def _getattr_(obj: object, name: str, default: Any = _MISSING) -> Any:
        _check_name(name, "getattr")
        if name in _RISKY:
            _refuse_risky(obj, name, _MISSING)
        try:
            value = attribute(obj, name) if name in hot else _real_getattr(obj, name)
        except AttributeError:
            if default is _MISSING:
                raise
            return default
        if name in _RISKY:
            _refuse_risky(obj, name, value)  # super() proxies and bound methods, too
        if isinstance(value, ModuleType) and not (
            _real_type(value) is UntrustedModule or _is_sandboxed(value)
        ):
            raise refusal(
                f"the module {value.__name__!r} reached as {_describe(obj)}.{name}",
                qualname=f"{value.__name__}",
                advice=f"Import it instead, if untrusted code may use it: import {value.__name__}",
            )
        if isinstance(value, (FrameType, CodeType, TracebackType)):
            _refuse_risky(obj, "f_back", value)
        return value

    def _refuse_risky(obj: object, name: str, value: Any) -> None:
        bound = _real_getattr(value, "__self__", None)
        if name in ("format", "format_map") and (
            isinstance(obj, str)
            or (isinstance(obj, type) and issubclass(obj, str))
            or isinstance(bound, str)
            or value is str.format
            or value is str.format_map
        ):
            raise refusal(
                f"str.{name}",
                qualname=f"str.{name}",
                advice="Format strings can reach any attribute of their arguments. "
                "Use an f-string or %-formatting instead.",
            )
        if name in _FORMATTER_METHODS and (
            isinstance(obj, formatter)
            or (isinstance(obj, type) and issubclass(obj, formatter))
            or isinstance(bound, formatter)
        ):
            raise refusal(
                f"string.Formatter.{name}",
                qualname=f"string.Formatter.{name}",
                advice="A Formatter traverses attributes named in its format strings. "
                "Use an f-string or %-formatting instead.",
            )
        if name == "mro" and (isinstance(obj, type) or isinstance(bound, type)):
            raise refusal(
                f"{_describe(obj)}.mro",
                qualname="type.mro",
                advice="The method resolution order leads to object and from there to "
                "every class in the process. Use isinstance() or issubclass() instead.",
            )
        if name == "obj" and isinstance(obj, (BaseException, super)):
            raise refusal(
                f"{_real_type(obj).__name__}.obj",
                qualname=f"{_real_type(obj).__name__}.obj",
                advice="An error's .obj is the object the failed lookup ran on, which can be "
                "one untrusted code must not hold. Use the error's message instead.",
            )
        if name == "register" and isinstance(bound if value is not _MISSING else obj, ABCMeta):
            # Also on the code's own ABC: a shared ABC above it checks its
            # subclasses' registries, and caches the answer.
            cls = bound if value is not _MISSING else obj
            raise refusal(
                f"{_describe(cls)}.register",
                qualname=f"{_real_type(cls).__qualname__}.register",
                advice="Registering a class with an abstract base class changes isinstance() "
                "for the host, through the shared ABCs above it. Subclass the ABC instead.",
            )
        if name in INSPECT_ATTRIBUTES or name in ("f_back", "gi_frame"):
            raise refusal(
                f"attribute {name!r}",
                qualname=f"<attribute>.{name}",
                advice="Frames, code objects and tracebacks reach the host's globals and "
                "builtins; untrusted code may not hold them.",
            )

    _getattr_.__name__ = "getattr"
    return _getattr_


def make_builtins(views: Views, trusted: dict[str, Any]) -> dict[str, Any]:
    """The builtins dict shared by the untrusted Sandboxes of one policy."""
    _getattr_ = make_getattr(views)

    def hasattr(obj: object, name: str) -> bool:
        try:
            _getattr_(obj, name)
        except AttributeError:
            return False
        return True

    def setattr(obj: object, name: str, value: Any) -> None:
        _real_setattr(_write_(obj), _check_name(name, "setattr"), value)

    def delattr(obj: object, name: str) -> None:
        _real_delattr(_write_(obj), _check_name(name, "delattr"))

    def type(obj: object, *rest: Any) -> Any:
        if rest:
            raise refusal(
                "type() with three arguments",
                qualname="builtins.type",
                advice="It builds a class from a dict, around the checks on class bodies. "
                "Use a class statement instead.",
            )
        cls = views.class_view_of(_real_type(obj))
        if issubclass(cls, _real_type):
            # A metaclass builds classes from a dict when called with three
            # arguments: hand out something that only answers type(x).
            return type if cls is _real_type else _metaclass_guard(cls)
        return cls

    items: dict[str, Any] = {}
    for name, value in trusted.items():
        if name in _BUILTIN_NAMES or (
            isinstance(value, _real_type)
            and issubclass(value, BaseException)
            and name not in _NOT_RAISABLE
        ):
            items[name] = value
    items.update(
        {
            "__name__": "builtins",
            "_getattr_": _getattr_,
            "getattr": _getattr_,
            "hasattr": hasattr,
            "setattr": setattr,
            "delattr": delattr,
            "type": type,
            "_getitem_": operator.getitem,
            "_write_": _write_,
            "_getiter_": iter,
            "_iter_unpack_sequence_": _iter_unpack_sequence_,
            "_unpack_sequence_": _unpack_sequence_,
            "_apply_": _apply_,
            "_inplacevar_": _inplacevar_,
            "_print_": PrintCollector,
            "__metaclass__": ClassFactory(),
            ENTER: _enter,
            _REAL_TYPE: _real_type,
            _INPLACE_SAFE: _IMMUTABLE | _WRITABLE_TYPES,
            "__ds_attr__": trusted["__ds_attr__"],
            "__ds_type__": trusted["__ds_type__"],
        }
    )
    return items


def _enter(value: Any = None) -> Any:
    if current.get() is None:
        raise refusal(
            "running untrusted code outside a Sandbox call",
            qualname=ENTER,
            advice="The host called a function of untrusted code directly, or the "
            "interpreter did after the call returned (__del__, a callback). Call it "
            "through Sandbox.call(fn, ...), which applies the policy and its limits.",
        )
    return value


def _metaclass_guard(meta: type) -> Callable[..., Any]:
    def metaclass(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 3:
            raise refusal(
                f"calling the metaclass {meta.__qualname__} with three arguments",
                qualname=f"{meta.__qualname__}",
                advice="It builds a class from a dict, around the checks on class bodies. "
                "Use a class statement instead.",
            )
        return meta(*args, **kwargs)

    metaclass.__name__ = metaclass.__qualname__ = meta.__name__
    return metaclass


def _iter_unpack_sequence_(it: Any, spec: Any, _getiter_: Callable[[Any], Any]) -> Any:
    # No per-item check to make: Python unpacks each item itself.
    return _getiter_(it)


def _unpack_sequence_(it: Any, spec: Any, _getiter_: Callable[[Any], Any]) -> Any:
    return it


def _apply_(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _inplacevar_(op: str, x: Any, y: Any) -> Any:
    if _real_type(x) in _IMMUTABLE or writable(x):
        return _INPLACE[op](x, y)
    return _BINARY[op](x, y)  # a fresh result: never mutate what code may not write


class PrintCollector:
    """``print`` of untrusted code: collected, and passed on to the Sandbox's output.

    RestrictedPython makes one per function scope (``_print = _print_(_getattr_)``);
    ``printed`` in that scope reads what it collected.
    """

    __slots__ = ("_getattr", "_sink", "_text")

    def __init__(self, _getattr_: Any = None) -> None:
        self._getattr = _getattr_
        self._text: list[str] = []
        sandbox = current.get()
        self._sink = _real_getattr(sandbox, "write_output", None)

    def write(self, text: str) -> None:
        self._text.append(text)
        if self._sink is not None:
            self._sink(text)
        else:
            import sys

            sys.stdout.write(text)

    def __call__(self) -> str:
        return "".join(self._text)

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        target = kwargs.get("file")
        if target is None:
            kwargs["file"] = self
        elif self._getattr is not None:
            self._getattr(target, "write")
        _real_print(*objects, **kwargs)


def _most_derived(bases: tuple[type, ...]) -> type:
    winner: type = _real_type
    for base in bases:
        meta = _real_type(base)
        if issubclass(winner, meta):
            continue
        if issubclass(meta, winner):
            winner = meta
            continue
        raise TypeError(
            "metaclass conflict: the metaclass of a derived class must be a "
            "(non-strict) subclass of the metaclasses of all its bases"
        )
    return winner


class ClassFactory:
    """``__metaclass__`` of untrusted class statements (RestrictedPython adds it).

    It builds the class with the metaclass its bases call for, marks it as
    the code's own (so ``_write_`` lets the code write to it and its
    instances), and refuses class bodies holding dunders RestrictedPython
    would not let the code define (``__del__`` put there by other means).
    """

    __slots__ = ()

    def __prepare__(self, name: str, bases: tuple[type, ...], **kwds: Any) -> Any:
        return _most_derived(bases).__prepare__(name, bases, **kwds)

    def __call__(self, name: str, bases: tuple[type, ...], ns: Any, **kwds: Any) -> type:
        for key in list(ns):
            if _real_type(key) is str and key[:2] == "__" and key not in _CLASS_DUNDERS:
                raise refusal(
                    f"a class defining {key!r}",
                    qualname=f"{name}.{key}",
                    advice="Untrusted classes may define only __init__, __contains__ and "
                    "the comparison methods.",
                )
        ns[_OWN] = True
        cls: type = _most_derived(bases)(name, bases, ns, **kwds)
        return cls


# -- imports ------------------------------------------------------------------------------


class UntrustedModule(ModuleType):
    """An allowed module as untrusted code sees it: public, non-module names only."""

    __slots__ = ()


class Gate:
    """``__import__`` of an untrusted Sandbox: the allow-list in front of its Importer.

    Untrusted code may import the allowed modules (shared, curated, read-only
    to it) and modules of packages the host itself put in the Sandbox
    (``Sandbox.exec(name=...)``, ``Sandbox.import_module``), which run fresh
    and are compiled restricted like the rest of its code.
    """

    __slots__ = ("_allowed", "_curated", "_importer")

    def __init__(self, importer: Importer, allowed: frozenset[str]) -> None:
        self._importer = importer
        self._allowed = allowed
        self._curated: dict[str, UntrustedModule] = {}

    def __import__(
        self,
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        importer = self._importer
        if level:
            # RestrictedPython passes relative imports through: only the
            # code's own packages have anything to be relative to.
            module = importer.__import__(name, globals, locals, fromlist, level)
            if not _is_sandboxed(module):
                raise self._refused(module.__name__)
            for x in fromlist or ():
                value = _real_getattr(module, x, None)
                if isinstance(value, ModuleType) and not _is_sandboxed(value):
                    raise self._refused(value.__name__)
            return module
        if not isinstance(name, str) or not name:
            return importer.__import__(name, globals, locals, fromlist, level)
        if name in self._allowed or name.partition(".")[0] in self._allowed:
            module = self.curated(name)
            for x in fromlist or ():
                if x == "*" or x in module.__dict__:
                    continue
                sub = f"{name}.{x}"
                if sub in self._allowed:
                    self.curated(sub)
                    continue
                raise RestrictedImportError(
                    f"cannot import name {x!r} from {name!r} in untrusted code "
                    f"({location()}): untrusted code sees only the public, safe names of "
                    "allowed modules",
                    name=name,
                )
            return module if fromlist else self.curated(name.partition(".")[0])
        top = name.partition(".")[0]
        own = importer.modules.get(top)
        if isinstance(own, ModuleType) and _is_sandboxed(own) and not importer.is_passthrough(top):
            return importer.__import__(name, globals, locals, fromlist, level)
        raise self._refused(name)

    def _refused(self, name: str) -> RestrictedImportError:
        return RestrictedImportError(
            f"import of {name!r} is not allowed in untrusted code ({location()}): it may import "
            f"only the allowed modules (docs/security.md). If {name!r} is safe for untrusted "
            f"code to use, share it: Policy.strict(untrusted=True, passthrough=({name!r},))",
            name=name,
        )

    def curated(self, name: str) -> UntrustedModule:
        """The curated module ``name`` (an allowed one), built on first import."""
        module = self._curated.get(name)
        if module is not None:
            return module
        if name not in self._allowed:
            raise self._refused(name)
        items = self._importer.views.curated.get(name)
        if items is None:
            items = _curate(name, self._importer.import_(name))
            self._importer.views.curated[name] = items
        module = UntrustedModule(name, items.get("__doc__"))
        module.__dict__.update(items)
        self._curated[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            self.curated(parent).__dict__[child] = module
        return module


def _require_own(target: object, qualname: str) -> None:
    if not writable(target):
        raise refusal(
            f"{qualname}() on {_describe(target)}",
            qualname=qualname,
            advice=f"{qualname}() changes the object it is given, and this one is shared "
            "with the host. Apply it to your own classes and functions.",
        )


def _on_own(fn: Callable[..., Any], qualname: str) -> Callable[..., Any]:
    """``fn``, a decorator that changes its target, for the code's own targets only.

    Used bare (``@dataclass``) or as a factory (``@dataclass(frozen=True)``).
    """

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if args:
            _require_own(args[0], qualname)
            return fn(*args, **kwargs)
        inner = fn(**kwargs)

        def decorator(target: Any) -> Any:
            _require_own(target, qualname)
            return inner(target)

        return decorator

    guarded.__name__ = guarded.__qualname__ = fn.__name__
    guarded.__doc__ = fn.__doc__
    return guarded


def _update_wrapper(
    wrapper: Any,
    wrapped: Any,
    assigned: Any = functools.WRAPPER_ASSIGNMENTS,
    updated: Any = functools.WRAPPER_UPDATES,
) -> Any:
    """``functools.update_wrapper`` with its default attribute lists only."""
    _default_lists("update_wrapper", assigned, updated)
    _require_own(wrapper, "functools.update_wrapper")
    return _real_update_wrapper(wrapper, wrapped)


def _wraps(
    wrapped: Any,
    assigned: Any = functools.WRAPPER_ASSIGNMENTS,
    updated: Any = functools.WRAPPER_UPDATES,
) -> Callable[[Any], Any]:
    """``functools.wraps`` with its default attribute lists only."""
    _default_lists("wraps", assigned, updated)

    def decorator(wrapper: Any) -> Any:
        return _update_wrapper(wrapper, wrapped)

    return decorator


def _default_lists(name: str, assigned: Any, updated: Any) -> None:
    if assigned != functools.WRAPPER_ASSIGNMENTS or updated != functools.WRAPPER_UPDATES:
        raise refusal(
            f"functools.{name}() with its own assigned= or updated=",
            qualname=f"functools.{name}",
            advice="Custom attribute lists copy any attribute (__globals__, an error's obj) "
            "around the guards. Leave them out.",
        )


_real_update_wrapper = functools.update_wrapper

# Module functions that change the object they are given: applied to the
# code's own objects only.
_MUTATORS: Final = {
    "dataclasses": frozenset({"dataclass"}),
    "typing": frozenset(
        {"final", "no_type_check", "runtime_checkable", "dataclass_transform", "override"}
    ),
    "functools": frozenset({"total_ordering"}),
    "enum": frozenset({"global_enum"}),
}
_REPLACED: Final[dict[str, dict[str, Any]]] = {
    "functools": {"update_wrapper": _update_wrapper, "wraps": _wraps},
}


def _curate(name: str, view: ModuleType) -> dict[str, Any]:
    """What untrusted code sees of the module ``view`` (a Sandbox's view of it)."""
    hidden = _HIDDEN.get(name, frozenset())
    mutators = _MUTATORS.get(name, frozenset())
    replaced = _REPLACED.get(name, {})
    items: dict[str, Any] = {"__doc__": view.__doc__}
    for key, value in list(view.__dict__.items()):
        if key[:1] == "_" or key in hidden or isinstance(value, ModuleType):
            continue
        if key in replaced:
            value = replaced[key]
        elif key in mutators and callable(value):
            value = _on_own(value, f"{name}.{key}")
        # Containers at module level are the host's: share them frozen.
        if _real_type(value) in (list, set, dict):
            value = _FROZEN[_real_type(value)](value)
        items[key] = value
    return items


_FROZEN: Final[dict[type, Callable[[Any], Any]]] = {
    list: tuple,
    set: frozenset,
    dict: lambda d: MappingProxyType(dict(d)),
}


def allowed_modules(passthrough: Sequence[str], deny: Sequence[str]) -> frozenset[str]:
    """The modules untrusted code may import under a policy."""
    allowed = set(DEFAULT_MODULES) | set(passthrough)
    return frozenset(m for m in allowed if m not in deny and m.partition(".")[0] not in deny)
