"""The import system of one Sandbox.

Every route by which sandboxed code reaches a module (``import``,
``__import__``, ``importlib.import_module``, ``importlib.reload``,
``sys.modules``, attributes of modules that are modules) ends in
:meth:`Importer.import_`, which consults this Sandbox's module table first,
as importlib consults ``sys.modules``. A miss is resolved by the policy:

* passthrough (the standard library, ``Policy.passthrough``): the host
  imports it as usual and the table gets a fresh *view* of it (``_views``);
* everything else runs fresh: found on the host's ``sys.path``, compiled
  once per file (``_compile``), executed in a new module whose builtins are
  this Sandbox's.

Passthrough is decided here, before any finder runs, because a host module
served through a loader gets its ``__spec__`` rewritten (see
docs/design.md). The host's ``sys.modules`` only ever gains the passthrough
modules the host's own import of them adds.
"""

from __future__ import annotations

import _thread
import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import (
    ExtensionFileLoader,
    ModuleSpec,
    PathFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
from types import CodeType, ModuleType
from typing import Any, Final

from . import _compile
from ._policy import SANDBOX_OWNED, Policy
from ._views import ModuleView, Views, real_module
from .errors import RestrictedImportError

__all__ = ["Importer", "ModuleTable"]

_MISSING: Final = object()
_dict_get = dict.get
# Always shared with the host: detsandbox's own API must talk to the host's
# Sandbox objects, not to a fresh copy.
_ALWAYS_PASSTHROUGH: Final = frozenset({"detsandbox"})
# Fresh unless Policy.passthrough names them. detsandbox's examples are
# ordinary user code. pathlib's file-system methods call os and io through
# its module globals (and, on 3.13, glob's): run fresh, they reach the
# Sandbox's views (and guards) of os and io, where passed-through copies
# would reach the host's.
DEFAULT_ISOLATED: Final = frozenset({"detsandbox._examples", "glob", "pathlib"})


class ModuleTable(dict[str, Any]):
    """A Sandbox's ``sys.modules``.

    A lookup of a passthrough module the host has already imported fills the
    entry on demand, as if the sandbox had imported it, so code that expects
    ``sys.modules["warnings"]`` to exist finds it.
    """

    __slots__ = ("_importer",)

    # No __init__: made with dict's own constructor (a Python __init__ would
    # cost more than the rest of it), then given its Importer.
    _importer: Importer

    def __missing__(self, name: str) -> Any:
        module = self._importer.lazy_passthrough(name)
        if module is None:
            raise KeyError(name)
        return module

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        return isinstance(name, str) and self._importer.lazy_passthrough(name) is not None


class SandboxLoader:
    """The loader of a fresh module: importlib's loader contract, in the Sandbox.

    ``exec_module`` and ``load_module`` run in the Sandbox that made the
    module; source queries go to the host's loader.
    """

    __slots__ = ("_importer", "_real", "name", "path")

    def __init__(self, importer: Importer, real: Any, name: str, path: str | None) -> None:
        self._importer = importer
        self._real = real
        self.name = name
        self.path = path

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self._importer.exec_fresh(module)

    def load_module(self, fullname: str) -> ModuleType:
        return self._importer.import_(fullname)

    def is_package(self, fullname: str) -> bool:
        return bool(self._real.is_package(fullname)) if self._real is not None else True

    def get_source(self, fullname: str) -> str | None:
        return self._real.get_source(fullname) if self._real is not None else None

    def get_filename(self, fullname: str) -> str | None:
        return self.path

    def __repr__(self) -> str:
        return f"<detsandbox loader for {self.name!r}>"


_SPECS: dict[tuple[str, tuple[str, ...]], ModuleSpec | None] = {}


def _find_spec(name: str, path: Sequence[str]) -> ModuleSpec | None:
    key = (name, tuple(path))
    try:
        return _SPECS[key]
    except KeyError:
        pass
    spec = _path_find(name, path)
    if spec is not None:
        spec.cached  # noqa: B018 - computed once here, copied into every module's spec
    _SPECS[key] = spec
    return spec


def _path_find(name: str, path: Sequence[str]) -> ModuleSpec | None:
    """``PathFinder.find_spec``, minus its ``_NamespacePath``.

    A ``_NamespacePath`` looks its parent up in the host's ``sys.modules``
    (a KeyError for a namespace package nested in a sandboxed one), so
    namespace portions are collected here into a plain list instead.
    """
    finder_for = getattr(PathFinder, "_path_importer_cache", None)
    if finder_for is None:  # pragma: no cover - importlib without the helper
        return PathFinder.find_spec(name, list(path))
    portions: list[str] = []
    for entry in path:
        if not isinstance(entry, str):
            continue
        finder = finder_for(entry)
        if finder is None:
            continue
        spec = finder.find_spec(name)
        if spec is None:
            continue
        if spec.loader is not None:
            return spec  # type: ignore[no-any-return]
        portions.extend(spec.submodule_search_locations or ())
    if not portions:
        return None
    spec = ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = portions
    return spec


def invalidate_caches() -> None:
    """Forget found module locations (new files on ``sys.path`` become visible)."""
    _SPECS.clear()
    PathFinder.invalidate_caches()


def _calc_package(globals: dict[str, Any]) -> str | None:
    package = globals.get("__package__")
    if package is not None:
        return str(package)
    spec = globals.get("__spec__")
    if spec is not None:
        return str(spec.parent)
    package = globals.get("__name__", "")
    if "__path__" not in globals:
        package = package.rpartition(".")[0]
    return str(package)


def _resolve_name(name: str, package: str | None, level: int) -> str:
    if not package:
        raise ImportError("attempted relative import with no known parent package")
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        raise ImportError("attempted relative import beyond top-level package")
    base = bits[0]
    return f"{base}.{name}" if name else base


class Importer:
    """Module table and import machinery of one Sandbox."""

    # Slots: one Importer is made per Sandbox, and a slotted object is made
    # (and, as garbage, traversed and freed) faster than one with a __dict__.
    __slots__ = (
        "__weakref__",
        "_lock",
        "_passthrough",
        "_views",
        "builtins",
        "modules",
        "path",
        "policy",
        "rules",
        "views",
    )

    def __init__(self, views: Views, policy: Policy, builtins: dict[str, Any]) -> None:
        self.views = views
        self.rules = views.rules
        self.policy = policy
        self.builtins = builtins
        self.modules = ModuleTable()
        self.modules._importer = self
        self._views: dict[int, tuple[ModuleType, ModuleView]] = {}
        self._passthrough = views.passthrough
        #: this Sandbox's sys.path: where top-level fresh modules are found
        self.path = list(sys.path)
        self._lock = _thread.RLock()  # what threading.RLock() makes, without its Python frame

    # -- policy -------------------------------------------------------------

    def is_passthrough(self, name: str) -> bool:
        known = self._passthrough.get(name)
        if known is None:
            known = self._passthrough[name] = self._decide_passthrough(name)
        return known

    def _decide_passthrough(self, name: str) -> bool:
        policy = self.policy
        prefix = name
        while prefix:
            if prefix in policy.isolate:
                return False
            if prefix in policy.passthrough:
                return True
            if prefix in DEFAULT_ISOLATED:
                return False
            prefix = prefix.rpartition(".")[0]
        top = name.partition(".")[0]
        return top in sys.stdlib_module_names or top in _ALWAYS_PASSTHROUGH

    def lazy_passthrough(self, name: str) -> ModuleType | None:
        """The view of ``name`` if it is passthrough and the host has it."""
        real = sys.modules.get(name)
        if (
            real is None
            or name in SANDBOX_OWNED
            or not self.is_passthrough(name)
            or self.rules.module_refused(name)
        ):
            return None
        with self._lock:
            module = _dict_get(self.modules, name)
            if module is None:
                module = self.modules[name] = self.view_of(real)
            return module

    # -- the import protocol ------------------------------------------------

    def import_(self, name: str) -> ModuleType:
        """Import absolute ``name`` (and its parents) into this Sandbox."""
        module = _dict_get(self.modules, name, _MISSING)
        if module is _MISSING:
            with self._lock:
                module = _dict_get(self.modules, name, _MISSING)
                if module is _MISSING:
                    return self._load(name)
        if module is None:
            raise ModuleNotFoundError(f"import of {name} halted; None in sys.modules", name=name)
        return module  # type: ignore[no-any-return]

    def __import__(
        self,
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        if not isinstance(name, str):
            raise TypeError("module name must be a string")  # as builtins.__import__ says
        if level < 0:
            raise ValueError("level must be >= 0")
        if level == 0 and not name:
            raise ValueError("Empty module name")
        if level == 0:
            module = self.import_(name)
            if not fromlist:
                if "." not in name:
                    return module
                return self.import_(name.partition(".")[0])
        else:
            package = _calc_package(globals or {})
            module = self.import_(_resolve_name(name, package, level))
            if not fromlist:
                if not name:
                    return module
                cut = len(name) - len(name.partition(".")[0])
                return self.import_(module.__name__[: len(module.__name__) - cut])
        if hasattr(module, "__path__"):
            self._handle_fromlist(module, fromlist)
        return module

    def _handle_fromlist(
        self, module: ModuleType, fromlist: Sequence[str], *, recursive: bool = False
    ) -> None:
        for x in fromlist:
            if not isinstance(x, str):
                where = f"{module.__name__}.__all__" if recursive else "``from list''"
                raise TypeError(f"Item in {where} must be str, not {type(x).__name__}")
            if x == "*":
                if not recursive and hasattr(module, "__all__"):
                    self._handle_fromlist(module, module.__all__, recursive=True)
                continue
            if hasattr(module, x):
                continue
            from_name = f"{module.__name__}.{x}"
            try:
                sub = self.import_(from_name)
            except ModuleNotFoundError as exc:
                if (
                    exc.name == from_name
                    and _dict_get(self.modules, from_name, _MISSING) is not None
                ):
                    continue
                raise
            # CPython's IMPORT_FROM falls back to the host's sys.modules for a
            # submodule still being imported (a cycle); bind it here instead.
            if not hasattr(module, x):
                setattr(module, x, sub)

    def import_module(self, name: str, package: str | None = None) -> ModuleType:
        """``importlib.import_module`` inside this Sandbox."""
        if not isinstance(name, str):
            raise TypeError(f"module name must be str, not {type(name).__name__}")
        level = 0
        if not name:
            raise ValueError("Empty module name")
        if package is not None and not isinstance(package, str):
            raise TypeError("__package__ not set to a string")
        if name.startswith("."):
            if not package:
                raise TypeError(
                    f"the 'package' argument is required to perform a relative import for {name!r}"
                )
            level = len(name) - len(name.lstrip("."))
            name = _resolve_name(name[level:], package, level)
        return self.import_(name)

    def reload(self, module: ModuleType) -> ModuleType:
        """``importlib.reload`` inside this Sandbox.

        A fresh module re-executes its (re-read) source in place; a view is
        reset to the host module's current state, dropping local writes.
        The host's module is never reloaded.
        """
        if not isinstance(module, ModuleType):
            raise TypeError("reload() argument must be a module")
        name = module.__spec__.name if module.__spec__ is not None else module.__name__
        if _dict_get(self.modules, name) is not module and not isinstance(module, ModuleView):
            raise ImportError(f"module {name} not in sys.modules", name=name)
        with self._lock:
            real = real_module(module)
            if real is not None:
                fresh = self.views.view(real, self)
                module.__dict__.clear()
                module.__dict__.update(fresh.__dict__)
                self.views.restate(module, real, self)
                self._views[id(real)] = (real, module)
                return module
            self.exec_fresh(module)
            return self.modules[name]  # type: ignore[no-any-return]

    # -- loading ------------------------------------------------------------

    def _load(self, name: str) -> ModuleType:
        if name.startswith("detsandbox._") and not name.startswith("detsandbox._examples"):
            raise RestrictedImportError(
                f"import of {name!r} is refused: detsandbox's private modules run the "
                "sandbox and are not available inside it; use the public detsandbox API",
                name=name,
            )
        if self.rules.module_refused(name):
            raise RestrictedImportError(
                f"import of {name!r} is refused by this sandbox's policy (Policy.deny); "
                "remove it from Policy.deny to allow it",
                name=name,
            )
        parent_name = name.rpartition(".")[0]
        parent: ModuleType | None = None
        if parent_name:
            parent = self.import_(parent_name)
            module = _dict_get(self.modules, name, _MISSING)
            if module is not _MISSING:  # importing the parent imported us
                return self.import_(name)
        if name in SANDBOX_OWNED:
            return self._owned(name)
        if self.is_passthrough(name):
            real = sys.modules.get(name)
            # importlib's own fast path, without its frames: a module that
            # is still initializing (another thread) goes through the lock.
            if real is None or getattr(getattr(real, "__spec__", None), "_initializing", False):
                real = importlib.import_module(name)
            view = self.view_of(real)
            self.modules[name] = view
            return view
        return self._load_fresh(name, parent)

    def _owned(self, name: str) -> ModuleType:
        if name == "__main__":
            raise ModuleNotFoundError(
                "No module named '__main__' in this sandbox: run code with Sandbox.exec() first",
                name=name,
            )
        # sys and importlib are views with the import routes pointed here.
        real = sys.modules[name]
        view = self.view_of(real)
        ns = view.__dict__
        if name == "sys":
            ns["modules"] = self.modules
            ns["path"] = self.path
            ns["meta_path"] = list(sys.meta_path)
            ns["path_hooks"] = list(sys.path_hooks)
        else:
            ns["import_module"] = self.import_module
            ns["reload"] = self.reload
            ns["__import__"] = self.__import__
            ns["invalidate_caches"] = invalidate_caches
        self.modules[name] = view
        return view

    def _load_fresh(self, name: str, parent: ModuleType | None) -> ModuleType:
        path: Sequence[str] = self.path
        if parent is not None:
            parent_path = getattr(parent, "__path__", None)
            if parent_path is None:
                raise ModuleNotFoundError(
                    f"No module named {name!r}; {parent.__name__!r} is not a package",
                    name=name,
                )
            path = parent_path
        found = _find_spec(name, path)
        if found is None and name in sys.builtin_module_names:
            raise RestrictedImportError(
                self._c_module_advice(name, "built into CPython"), name=name
            )
        if found is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        real_loader = found.loader
        if isinstance(real_loader, ExtensionFileLoader):
            raise RestrictedImportError(
                self._c_module_advice(name, f"a C extension module ({found.origin})"),
                name=name,
                path=found.origin,
            )
        if isinstance(real_loader, SourcelessFileLoader):
            raise RestrictedImportError(
                f"{name!r} has only compiled bytecode ({found.origin}), which a sandbox "
                "cannot check; install it with its source, or share it with the host: "
                f"policy.evolve(passthrough=({name.partition('.')[0]!r},))",
                name=name,
                path=found.origin,
            )
        origin = found.origin if found.has_location else None
        # A copy of the found spec, with this Sandbox's loader: made by a
        # dict copy, which is several times cheaper than ModuleSpec().
        spec = ModuleSpec.__new__(ModuleSpec)
        spec.__dict__.update(found.__dict__)
        loader = SandboxLoader(self, real_loader, name, origin)
        spec.loader = loader  # type: ignore[assignment]
        locations = found.submodule_search_locations
        if locations is not None:
            # A namespace package's _NamespacePath recomputes itself from its
            # parent in the *host's* sys.modules; take the paths it found.
            locations = spec.submodule_search_locations = list(
                getattr(locations, "_path", locations)
            )
        module = ModuleType(name)
        ns = module.__dict__
        ns["__spec__"] = spec
        ns["__loader__"] = loader
        ns["__package__"] = name if locations is not None else name.rpartition(".")[0]
        ns["__builtins__"] = self.builtins
        if locations is not None:
            ns["__path__"] = locations
        if origin is not None:
            ns["__file__"] = origin
            cached = spec.cached  # a property: read once
            if cached:
                ns["__cached__"] = cached
        elif locations is not None:
            ns["__file__"] = None  # a namespace package, as importlib leaves it
        self.modules[name] = module
        # Bound to its parent before its body runs, not after as importlib
        # does: in an import cycle, CPython's IMPORT_FROM falls back to the
        # *host's* sys.modules when the attribute is missing, and could hand
        # out the host's copy of this module.
        child = name.rpartition(".")[2]
        if parent is not None:
            setattr(parent, child, module)
        # Marked initializing while its body runs, as importlib does: CPython
        # then says "partially initialized module" in circular-import errors.
        spec._initializing = True  # type: ignore[attr-defined]
        try:
            if origin is not None and isinstance(real_loader, SourceFileLoader):
                # What exec_fresh() does for a source file, without asking the spec again.
                exec(_compile.compile_file(origin, self.views.hot), ns)
            else:
                self.exec_fresh(module)
        except BaseException:
            if _dict_get(self.modules, name) is module:
                del self.modules[name]
            if parent is not None and getattr(parent, child, None) is module:
                delattr(parent, child)
            raise
        finally:
            spec._initializing = False  # type: ignore[attr-defined]
        module = self.modules[name]
        if parent is not None:
            setattr(parent, child, module)
        return module  # type: ignore[no-any-return]

    def _c_module_advice(self, name: str, what: str) -> str:
        top = name.partition(".")[0]
        isolated = next(
            (p for p in self.policy.isolate if name == p or name.startswith(p + ".")), None
        )
        fix = (
            f"remove {isolated!r} from Policy.isolate"
            if isolated
            else f"share it with the host: policy.evolve(passthrough=({top!r},))"
        )
        return f"{name!r} is {what} and cannot be re-imported fresh in a sandbox; {fix}"

    def exec_fresh(self, module: ModuleType) -> None:
        """Run a fresh module's code in its own namespace."""
        spec = module.__spec__
        code = self._code(spec) if spec is not None else None
        if code is not None:
            exec(code, module.__dict__)

    def _code(self, spec: ModuleSpec) -> CodeType | None:
        loader = spec.loader
        real: Any = loader._real if isinstance(loader, SandboxLoader) else loader
        if real is None or spec.origin is None or not spec.has_location:
            return None  # a namespace package: nothing to run
        if isinstance(real, SourceFileLoader):
            return _compile.compile_file(spec.origin, self.views.hot)
        source = real.get_source(spec.name)  # zip imports and other loaders
        if source is None:
            raise RestrictedImportError(
                f"{spec.name!r} has no source the sandbox can compile ({spec.origin})",
                name=spec.name,
            )
        return _compile.compile_source(source, spec.origin, self.views.hot)

    # -- views --------------------------------------------------------------

    def view_of(self, real: ModuleType) -> ModuleView:
        """This Sandbox's one view of host module ``real``."""
        hit = self._views.get(id(real))
        if hit is not None and hit[0] is real:
            return hit[1]
        view = self.views.view(real, self)
        self._views[id(real)] = (real, view)
        return view

    def module_for(self, real: ModuleType) -> ModuleType:
        """What this Sandbox sees for a host module object found as an attribute."""
        name = getattr(real, "__name__", None)
        if not isinstance(name, str) or sys.modules.get(name) is not real:
            return self.view_of(real)
        if name in SANDBOX_OWNED or self.is_passthrough(name):
            module = _dict_get(self.modules, name)
            if module is None:
                with self._lock:
                    return self._load(name)
            return module  # type: ignore[no-any-return]
        return self.import_(name)
