"""Views: passthrough modules as one Sandbox sees them.

A view is a :class:`types.ModuleType` (so ``isinstance(m, ModuleType)``
holds) whose ``__dict__`` is the real module's, copied, with every refused
name replaced by a guard. Because the dict itself is restricted, ``vars(m)``,
``m.__dict__`` and ``from m import name`` see exactly what ``m.name`` sees;
because it is a copy, writes (``string.capwords = f``) stay in the Sandbox.

Copying is cheap because the expensive part, deciding every name, is done
once per (policy, module) into a template; a Sandbox's view is then one
``dict.update``. Values that are modules are left out of the template and
resolved on first access into the Sandbox's own view of that module, so
``json.codecs`` is never the host's ``codecs``. Refused values that are not
callable (``os.environ``) are properties of a per-module view class, so
reading them raises at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from ._budget import counting_hot
from ._builtins import builtins_template
from ._catalog import Kind, When
from ._compile import ORDERED_SETS
from ._guards import Guard, class_view, violation
from ._limits import NO_LIMITS
from ._policy import Policy
from ._rules import Rule, Rules, rules_for
from ._run import load_timezone
from ._shims import substitute
from ._substitutes import ZONE_VALUES, Recorded, Substitute, lookup, zone_value
from ._untrusted import UNTRUSTED, make_builtins

if TYPE_CHECKING:
    from ._importer import Importer

__all__ = ["ModuleView", "Views", "real_module", "views_for"]

# Module metadata copied as is: the view answers to the real module's name.
_METADATA: Final = frozenset(
    {
        "__name__",
        "__doc__",
        "__package__",
        "__loader__",
        "__spec__",
        "__file__",
        "__cached__",
        "__path__",
        "__all__",
        "__version__",
        "__author__",
    }
)
# Never copied: replaced per Sandbox, or resolved through the view instead.
_SKIPPED: Final = frozenset({"__builtins__", "__getattr__", "__dir__"})
# Read from the real module on every access, never copied: the host rebinds
# them (contextlib.redirect_stdout) while Sandboxes live. A sandboxed write
# still stays in the view.
_LIVE: Final = {"sys": frozenset({"stdout", "stderr", "stdin"})}

_DENY: Final = object()


class _ViewState:
    """What a view knows and sandboxed code must not: kept outside its dict.

    It holds its Importer weakly: the Importer's module table holds the view,
    and a strong reference back would keep every view, and so its Sandbox,
    alive in ``_STATES`` forever.
    """

    __slots__ = ("_importer", "deleted", "real")

    def __init__(self, real: ModuleType, importer: Importer) -> None:
        self.real = real
        self._importer = weakref.ref(importer)
        self.deleted: set[str] = set()

    @property
    def importer(self) -> Importer | None:
        return self._importer()


# view -> its state; weak, so a view dies with its Sandbox.
_STATES: weakref.WeakKeyDictionary[ModuleType, _ViewState] = weakref.WeakKeyDictionary()


def real_module(view: ModuleType) -> ModuleType | None:
    """The host module behind ``view``, or None if it is not a view."""
    state = _STATES.get(view)
    return None if state is None else state.real


def _missing_attribute(view: ModuleType, state: _ViewState) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` (PEP 562) of one view.

    In the view's dict rather than on its class: a class-level
    ``__getattr__`` would send every attribute read through CPython's slow
    path (6x slower reads); a dict-level one is only consulted on a miss.
    """
    view_ref = weakref.ref(view)

    def __getattr__(name: str) -> Any:
        # Reached for names missing from the view's dict: submodules, and
        # attributes the real module gained after the template was made.
        me = view_ref()
        importer = state.importer
        label = state.real.__name__
        if me is None or importer is None or name in state.deleted or name[:2] == "__" == name[-2:]:
            raise AttributeError(f"module {label!r} has no attribute {name!r}", name=name, obj=me)
        try:
            value = getattr(state.real, name)
        except AttributeError:
            # Raised afresh: the host's error would carry the real module as .obj.
            raise AttributeError(
                f"module {label!r} has no attribute {name!r}", name=name, obj=me
            ) from None
        result = importer.views.adapt(label, name, value, importer)
        if name not in _LIVE.get(label, ()):
            me.__dict__[name] = result
        return result

    return __getattr__


class ModuleView(ModuleType):
    """A passthrough module as one Sandbox sees it."""

    __slots__ = ()

    def __delattr__(self, name: str) -> None:
        state = _STATES.get(self)
        if (
            name in self.__dict__
            or name in vars(type(self))  # a refused value: its property refuses
            or state is None
            or not hasattr(state.real, name)
        ):
            super().__delattr__(name)
        if state is not None:
            state.deleted.add(name)  # not fetched again from the real module

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        state = _STATES.get(self)
        if state is not None:
            state.deleted.discard(name)

    def __dir__(self) -> list[str]:
        state = _STATES.get(self)
        names = set(self.__dict__) - {"__getattr__"}
        if state is not None:
            names.update(n for n in dir(state.real) if n not in state.deleted)
        return sorted(names)


def _denied_property(rule: Rule) -> property:
    def read(self: ModuleType) -> Any:
        raise violation(rule, call=False)

    def write(self: ModuleType, value: Any) -> None:
        raise violation(rule, call=False)

    def delete(self: ModuleType) -> None:
        raise violation(rule, call=False)

    return property(read, write, delete, f"{rule.qualname} (restricted)")


class _Template:
    __slots__ = ("cls", "items", "real")

    def __init__(self, real: ModuleType, cls: type[ModuleView], items: dict[str, Any]) -> None:
        self.real = real
        self.cls = cls
        self.items = items


class Views:
    """Guards, class views and module templates for one Policy."""

    def __init__(self, rules: Rules, policy: Policy) -> None:
        self.rules = rules
        #: deterministic and replay modes substitute where strict mode refuses
        self.deterministic = policy.mode != "strict"
        self.tz = load_timezone(policy.timezone)
        #: what the compiler rewrites: catalogued method names, and in
        #: deterministic modes set displays (see _compile.ORDERED_SETS),
        hot = rules.hot | {ORDERED_SETS} if self.deterministic else rules.hot
        self.untrusted = policy.untrusted
        hot = hot | {UNTRUSTED} if self.untrusted else hot
        #: and for limits that count work or depth, the counting sentinels
        self.hot = hot | counting_hot(policy.limits or NO_LIMITS)
        self._wrapped: dict[tuple[int, str], tuple[object, object]] = {}
        self._templates: dict[str, _Template] = {}
        self._lock = threading.Lock()
        self.builtins = builtins_template(self)
        #: module name -> what untrusted code sees of it (see _untrusted.Gate)
        self.curated: dict[str, dict[str, Any]] = {}
        if self.untrusted:
            self.builtins = make_builtins(self, self.builtins)
        #: module name -> shared with the host? (decided by the Importer)
        self.passthrough: dict[str, bool] = {}

    # -- single values ------------------------------------------------------

    def wrap(self, value: object, rule: Rule | None, catalogued: Rule | None = None) -> object:
        """What sandboxed code holds for ``value`` under ``rule``.

        ``catalogued`` is the catalogue's rule for a name the policy allows:
        deterministic modes still journal (and replay) calls to it.
        """
        if rule is None:
            if (
                self.deterministic
                and catalogued is not None
                and catalogued.when is not When.ACCESS
                and callable(value)
                and not isinstance(value, (type, ModuleType))
            ):
                return self._cached(value, "recorded", lambda: Recorded(value, catalogued))
            return value
        if rule.when is When.ACCESS or not callable(value) or isinstance(value, ModuleType):
            if self.deterministic and rule.qualname in ZONE_VALUES and rule.kind is not Kind.POLICY:
                return zone_value(self.tz, rule.qualname)
            return _DENY
        subst = lookup(rule) if self.deterministic and rule.kind is not Kind.POLICY else None

        def make() -> object:
            wrapped: object | None = None
            if isinstance(value, type):
                wrapped = class_view(value, rule, subst, self._guarded_methods(value))
            if wrapped is None:
                wrapped = Substitute(value, rule, subst) if subst else Guard(value, rule)
            return wrapped

        return self._cached(value, rule.qualname, make)

    def _guarded_methods(self, cls: type) -> dict[str, Any]:
        """Catalogued methods of ``cls``, as guarded methods for its class view."""
        methods: dict[str, Any] = {}
        for name in self.hot:
            rule = self.rules.for_method(cls, name) if name.isidentifier() else None
            if rule is None or name == "__class__":
                continue
            real_fn = getattr(cls, name)
            if not callable(real_fn) or getattr(real_fn, "__self__", None) is cls:
                continue  # only instance methods: classmethods are caught on access
            methods[name] = self._method_guard(real_fn, rule)
        return methods

    def _method_guard(self, real_fn: Any, rule: Rule) -> Any:
        subst = lookup(rule) if self.deterministic and rule.kind is not Kind.POLICY else None
        guard = Substitute(real_fn, rule, subst, skip=1) if subst else Guard(real_fn, rule, skip=1)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return guard(self, *args, **kwargs)

        method.__name__ = method.__qualname__ = real_fn.__name__
        return method

    def _cached(self, value: object, tag: str, make: Callable[[], object]) -> object:
        # One wrapper per object and rule, so os.getpid is posix.getpid holds.
        key = (id(value), tag)
        hit = self._wrapped.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        with self._lock:
            hit = self._wrapped.get(key)
            if hit is not None and hit[0] is value:
                return hit[1]
            wrapped = make()
            self._wrapped[key] = (value, wrapped)
            return wrapped

    def adapt(self, module: str, name: str, value: object, importer: Importer) -> object:
        """``module.name`` as the Sandbox of ``importer`` sees it."""
        value = substitute(module, value)
        rule, catalogued = self.rules.classify(module, name, value)
        if isinstance(value, ModuleType) and rule is None:
            return importer.module_for(value)
        wrapped = self.wrap(value, rule, catalogued)
        if rule is not None and wrapped is _DENY:
            raise violation(rule, call=False)
        return wrapped

    def class_view_of(self, cls: type) -> type:
        """The view of ``cls`` if construction of it is refused, else ``cls``."""
        rule = self.rules.for_class(cls)
        if rule is None:
            return cls
        wrapped = self.wrap(cls, rule)
        return wrapped if isinstance(wrapped, type) else cls

    def attribute(self, obj: object, name: str) -> Any:
        """``obj.name`` for a catalogued method name (``__ds_attr__``)."""
        value = getattr(obj, name)
        if name == "__class__":
            return self.class_view_of(value)
        is_class = isinstance(obj, type)
        owner: type = obj if isinstance(obj, type) else type(obj)
        rule = self.rules.for_method(owner, name)
        if rule is None:
            return value
        if rule.when is When.ACCESS:
            raise violation(rule, call=False)
        if rule.when is When.NAIVE and (is_class or getattr(obj, "tzinfo", None) is not None):
            return value  # an aware datetime (or the class itself): no host zone involved
        # Read from the class, an instance method is unbound: its first
        # argument is the instance (a classmethod is bound to the class).
        skip = 1 if is_class and getattr(value, "__self__", None) is not obj else 0
        if self.deterministic and rule.kind is not Kind.POLICY:
            subst = lookup(rule)
            if subst is not None:
                return Substitute(value, rule, subst, skip=skip)
        return Guard(value, rule, skip=skip)

    # -- modules ------------------------------------------------------------

    def template(self, real: ModuleType) -> _Template:
        name = real.__name__
        tpl = self._templates.get(name)
        if tpl is not None and tpl.real is real:
            return tpl
        self.rules.refresh()
        items: dict[str, Any] = {}
        props: dict[str, property] = {}
        live = _LIVE.get(name, frozenset())
        for key, value in list(real.__dict__.items()):
            if key in _SKIPPED or key in live:
                continue
            if key in _METADATA:
                items[key] = value
                continue
            value = substitute(name, value)
            rule, catalogued = self.rules.classify(name, key, value)
            if isinstance(value, ModuleType) and rule is None:
                continue  # resolved on first access, into the Sandbox's own module
            wrapped = self.wrap(value, rule, catalogued)
            if rule is not None and wrapped is _DENY:
                props[key] = _denied_property(rule)
            else:
                items[key] = wrapped
        cls: type[ModuleView] = ModuleView
        if props:
            namespace: dict[str, Any] = {"__slots__": (), **props}
            cls = cast("type[ModuleView]", type(f"{name}_view", (ModuleView,), namespace))
        tpl = _Template(real, cls, items)
        with self._lock:
            self._templates[name] = tpl
        return tpl

    def view(self, real: ModuleType, importer: Importer) -> ModuleView:
        """A new view of ``real`` for the Sandbox of ``importer``."""
        tpl = self.template(real)
        view = tpl.cls.__new__(tpl.cls)
        ns = view.__dict__
        ns.update(tpl.items)
        if "__builtins__" in real.__dict__:
            ns["__builtins__"] = importer.builtins
        state = _STATES[view] = _ViewState(real, importer)
        ns["__getattr__"] = _missing_attribute(view, state)
        return view

    @staticmethod
    def restate(view: ModuleType, real: ModuleType, importer: Importer) -> None:
        """Forget what ``view`` had deleted (after a reload)."""
        state = _STATES[view] = _ViewState(real, importer)
        view.__dict__["__getattr__"] = _missing_attribute(view, state)

    def adapt_builtin(self, name: str, value: object) -> object | None:
        """What sandboxed code sees for builtin ``name``; None if it is refused outright."""
        if name in _METADATA:
            return value
        rule, catalogued = self.rules.classify("builtins", name, value)
        wrapped = self.wrap(value, rule, catalogued)
        return None if rule is not None and wrapped is _DENY else wrapped


_VIEWS: dict[tuple[object, ...], Views] = {}
_VIEWS_LOCK = threading.Lock()


# The last policy asked about, weakly, and its Views: a Sandbox is usually
# made with the same Policy object as the one before, and this skips
# building and hashing its restrictions key.
_last: tuple[weakref.ref[Policy], Views] | None = None


def views_for(policy: Policy) -> Views:
    """The shared Views of ``policy``: one per ``policy.restrictions``."""
    global _last
    last = _last
    if last is not None and last[0]() is policy:
        return last[1]
    key = policy.restrictions
    views = _VIEWS.get(key)
    if views is None:
        with _VIEWS_LOCK:
            views = _VIEWS.get(key)
            if views is None:
                views = _VIEWS[key] = Views(rules_for(policy), policy)
    _last = (weakref.ref(policy), views)
    return views
