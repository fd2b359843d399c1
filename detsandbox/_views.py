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
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from ._builtins import builtins_template
from ._catalog import When
from ._guards import Guard, class_view, violation
from ._policy import Policy
from ._rules import Rule, Rules, rules_for
from ._shims import substitute

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

_DENY: Final = object()


class _ViewState:
    """What a view knows and sandboxed code must not: kept outside its dict."""

    __slots__ = ("deleted", "importer", "real")

    def __init__(self, real: ModuleType, importer: Importer) -> None:
        self.real = real
        self.importer = importer
        self.deleted: set[str] = set()


# view -> its state; weak, so a view dies with its Sandbox.
_STATES: weakref.WeakKeyDictionary[ModuleType, _ViewState] = weakref.WeakKeyDictionary()


def real_module(view: ModuleType) -> ModuleType | None:
    """The host module behind ``view``, or None if it is not a view."""
    state = _STATES.get(view)
    return None if state is None else state.real


class ModuleView(ModuleType):
    """A passthrough module as one Sandbox sees it."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names missing from the view's dict: submodules,
        # and attributes the real module gained after the template was made.
        state = _STATES.get(self)
        if state is None or name in state.deleted or (name[:2] == "__" == name[-2:]):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        try:
            value = getattr(state.real, name)
        except AttributeError:
            # Raised afresh: the host's error would carry the real module as .obj.
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {name!r}", name=name, obj=self
            ) from None
        result = state.importer.views.adapt(state.real.__name__, name, value, state.importer)
        self.__dict__[name] = result
        return result

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        state = _STATES.get(self)
        if state is not None:
            state.deleted.add(name)  # not fetched again from the real module

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        state = _STATES.get(self)
        if state is not None:
            state.deleted.discard(name)

    def __dir__(self) -> list[str]:
        state = _STATES.get(self)
        names = set(self.__dict__)
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

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._wrapped: dict[int, tuple[object, object]] = {}
        self._templates: dict[str, _Template] = {}
        self._lock = threading.Lock()
        self.builtins = builtins_template(self)
        #: module name -> shared with the host? (decided by the Importer)
        self.passthrough: dict[str, bool] = {}

    # -- single values ------------------------------------------------------

    def wrap(self, value: object, rule: Rule | None) -> object:
        """What sandboxed code holds for ``value`` under ``rule``."""
        if rule is None:
            return value
        if rule.when is When.ACCESS or not callable(value) or isinstance(value, ModuleType):
            return _DENY
        hit = self._wrapped.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        wrapped: object | None = None
        if isinstance(value, type):
            wrapped = class_view(value, rule)
        if wrapped is None:
            wrapped = Guard(value, rule)
        with self._lock:
            return self._wrapped.setdefault(id(value), (value, wrapped))[1]

    def adapt(self, module: str, name: str, value: object, importer: Importer) -> object:
        """``module.name`` as the Sandbox of ``importer`` sees it."""
        value = substitute(module, value)
        rule = self.rules.for_attribute(module, name, value)
        if isinstance(value, ModuleType) and rule is None:
            return importer.module_for(value)
        wrapped = self.wrap(value, rule)
        if wrapped is _DENY:
            assert rule is not None
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
        skip = 1 if is_class and isinstance(value, FunctionType) else 0
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
        for key, value in list(real.__dict__.items()):
            if key in _SKIPPED:
                continue
            if key in _METADATA:
                items[key] = value
                continue
            value = substitute(name, value)
            rule = self.rules.for_attribute(name, key, value)
            if isinstance(value, ModuleType) and rule is None:
                continue  # resolved on first access, into the Sandbox's own module
            wrapped = self.wrap(value, rule)
            if wrapped is _DENY:
                assert rule is not None
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
        _STATES[view] = _ViewState(real, importer)
        return view

    @staticmethod
    def restate(view: ModuleType, real: ModuleType, importer: Importer) -> None:
        """Forget what ``view`` had deleted (after a reload)."""
        _STATES[view] = _ViewState(real, importer)

    def adapt_builtin(self, name: str, value: object) -> object | None:
        """What sandboxed code sees for builtin ``name``; None if it is refused outright."""
        if name in _METADATA:
            return value
        wrapped = self.wrap(value, self.rules.for_attribute("builtins", name, value))
        return None if wrapped is _DENY else wrapped


_VIEWS: dict[Policy, Views] = {}
_VIEWS_LOCK = threading.Lock()


def views_for(policy: Policy) -> Views:
    """The shared Views of ``policy`` (equal policies share one)."""
    try:
        return _VIEWS[policy]
    except KeyError:
        with _VIEWS_LOCK:
            views = _VIEWS.get(policy)
            if views is None:
                views = _VIEWS[policy] = Views(rules_for(policy))
            return views
