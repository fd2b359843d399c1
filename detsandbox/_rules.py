"""Rules: the catalogue and a Policy combined into per-name decisions.

A name can be reached under many spellings (``os.urandom`` is
``posix.urandom``; ``datetime.datetime`` is ``_datetime.datetime``), so
catalogue entries are resolved to the objects they name and matched by
identity first, by name second. Resolution never imports anything: an entry
whose module the host has not imported yet is resolved once it has.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Final

from ._catalog import ALIASES, CATALOG, METHOD_OWNERS, SAFE, Kind, When

if TYPE_CHECKING:
    from ._policy import Policy

__all__ = ["Rule", "Rules", "rules_for"]

# Values compared by name only: their identity is shared by unrelated names
# (every module attribute equal to 0 is the same int).
_MEMO_MAX: Final = 4096
_BY_NAME_ONLY: Final = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


@dataclass(frozen=True, slots=True)
class Rule:
    """One refused name: what it is, why it is refused, which uses are."""

    qualname: str
    kind: Kind
    when: When


def _split_owner(qualname: str, owners: frozenset[str]) -> tuple[str, str] | None:
    owner, _, method = qualname.rpartition(".")
    return (owner, method) if owner in owners else None


class _Resolver:
    """Entries resolved to objects as their modules appear in ``sys.modules``."""

    def __init__(self, entries: dict[str, Rule], method_owners: frozenset[str]) -> None:
        self.by_name = entries
        self.patterns = {q[:-2]: r for q, r in entries.items() if q.endswith(".*")}
        self.method_owners = method_owners
        # id -> (object kept alive so the id stays valid, rule)
        # id -> (object, rule, rank of the name: see _resolve)
        self.objects: dict[int, tuple[object, Rule, int]] = {}
        # id(class) -> (class, {method name: (rule, rank)})
        self.methods: dict[int, tuple[type, dict[str, tuple[Rule, int]]]] = {}
        self._pending = [q for q in entries if not q.endswith(".*")]
        self._seen_modules = -1
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Resolve entries whose module the host has imported since last time."""
        if len(sys.modules) == self._seen_modules:
            return
        with self._lock:
            self._seen_modules = len(sys.modules)
            self._pending = [q for q in self._pending if not self._resolve(q)]

    def _resolve(self, qualname: str) -> bool:
        rule = self.by_name[qualname]
        method = _split_owner(qualname, self.method_owners)
        # One object can have several catalogued names (builtins.open,
        # io.open, _io.open): errors name it by the most public one, the same
        # whatever order the host imported the modules in. Found through a
        # C module only ("_random" before "random"), the entry is looked up
        # again once the public module exists, whose object may differ.
        top = qualname.partition(".")[0]
        direct = top in sys.modules
        rank = 0 if not direct else 1 if top in ALIASES else 2
        if method:
            owner = _lookup(method[0])
            if owner is _MISSING:
                return False
            if isinstance(owner, type):
                names = self.methods.setdefault(id(owner), (owner, {}))[1]
                if method[1] not in names or names[method[1]][1] < rank:
                    names[method[1]] = (rule, rank)
                return direct
        obj = _lookup(qualname)
        if obj is _MISSING:
            return False
        if not isinstance(obj, _BY_NAME_ONLY) and not isinstance(obj, ModuleType):
            hit = self.objects.get(id(obj))
            if hit is None or hit[0] is not obj or hit[2] < rank:
                self.objects[id(obj)] = (obj, rule, rank)
        return direct


_MISSING: Final = object()


# "datetime" -> ("_datetime", "_pydatetime"): where else a public module's
# objects live, for when only the C module has been imported.
_HOMES: Final = {
    public: tuple(c for c, p in ALIASES.items() if p == public) for public in set(ALIASES.values())
}


def _lookup(qualname: str) -> object:
    """The object ``qualname`` names, if its module is already imported."""
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:cut])
        module = sys.modules.get(name)
        for home in _HOMES.get(name, ()):
            if module is not None:
                break
            module = sys.modules.get(home)
        if module is None:
            continue
        obj: object = module
        for attr in parts[cut:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


_CATALOG = _Resolver({q: Rule(q, kind, when) for q, (kind, when) in CATALOG.items()}, METHOD_OWNERS)


class Rules:
    """What one Policy refuses. Shared by every Sandbox with an equal Policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._user = [(e, True) for e in policy.allow] + [(e, False) for e in policy.deny]
        denied = {q: Rule(q, Kind.POLICY, When.ALWAYS) for q in policy.deny}
        # A user entry may name a method of any class; which names are
        # methods is only known once resolved, so every last component of a
        # deny entry is treated as a possible method name.
        owners = frozenset(q.rpartition(".")[0] for q in policy.deny if not q.endswith(".*"))
        self._denied = _Resolver(denied, owners)
        self.hot: frozenset[str] = frozenset(
            {"__class__"}
            | {q.rpartition(".")[2] for q in CATALOG if _split_owner(q, METHOD_OWNERS)}
            | {q.rpartition(".")[2] for q in policy.deny if not q.endswith(".*")}
        )
        self._decisions: dict[tuple[str, Rule | None], Rule | None] = {}
        self._memo: dict[tuple[type, str], Rule | None] = {}
        self._modules_seen = -1

    # -- decisions -----------------------------------------------------------

    def _user_verdict(self, qualname: str) -> bool | None:
        """True: allowed by the user; False: denied; None: the user is silent."""
        best: tuple[int, bool] | None = None
        for entry, allowed in self._user:
            if entry.endswith(".*"):
                prefix = entry[:-2]
                if not qualname.startswith(prefix + "."):
                    continue
                score = len(prefix)
            elif qualname == entry or qualname.startswith(entry + "."):
                score = len(entry)
            else:
                continue
            # Most specific wins; on a tie, deny does.
            if best is None or score > best[0] or (score == best[0] and not allowed):
                best = (score, allowed)
        return None if best is None else best[1]

    def decide(self, qualname: str, catalogued: Rule | None) -> Rule | None:
        key = (qualname, catalogued)
        try:
            return self._decisions[key]
        except KeyError:
            pass
        verdict = self._user_verdict(qualname)
        if verdict is True:
            rule = None
        elif verdict is False:
            rule = Rule(qualname, Kind.POLICY, When.ALWAYS)
        else:
            rule = catalogued
        self._decisions[key] = rule
        return rule

    def module_refused(self, name: str) -> bool:
        """Whether importing module ``name`` is refused (``deny=("socket",)``)."""
        for entry in self.policy.deny:
            if not entry.endswith(".*") and (name == entry or name.startswith(entry + ".")):
                return self._user_verdict(name) is False
        return False

    def for_attribute(self, module: str, attr: str, value: object) -> Rule | None:
        """The rule for ``module.attr`` holding ``value``, or None if it is free."""
        return self.classify(module, attr, value)[0]

    def classify(self, module: str, attr: str, value: object) -> tuple[Rule | None, Rule | None]:
        """(the rule that applies, the rule the catalogue alone would apply)."""
        canonical = ALIASES.get(module, module)
        qualname = f"{canonical}.{attr}"
        rule: Rule | None = None
        for resolver in (self._denied, _CATALOG):
            resolver.refresh()
            hit = resolver.objects.get(id(value))
            if hit is not None and hit[0] is value:
                rule = hit[1]
                qualname = rule.qualname
                break
            rule = resolver.by_name.get(qualname) or resolver.by_name.get(f"{module}.{attr}")
            if rule is not None:
                break
            pattern = resolver.patterns.get(canonical) or resolver.patterns.get(module)
            if (
                pattern is not None
                and callable(value)
                and not isinstance(value, type)
                and qualname not in SAFE
                and not (attr.startswith("__") and attr.endswith("__"))
            ):
                rule = Rule(qualname, pattern.kind, When.ALWAYS)
                break
        decided = self.decide(qualname, rule)
        # The user may allow a name under the spelling they use (io.open)
        # where the catalogue knows the object by another (builtins.open).
        local = f"{canonical}.{attr}"
        if decided is not None and local != qualname and self._user_verdict(local) is True:
            decided = None
        return decided, rule

    def for_class(self, cls: type) -> Rule | None:
        """The rule refusing construction of ``cls``, if any."""
        for resolver in (self._denied, _CATALOG):
            hit = resolver.objects.get(id(cls))
            if hit is not None and hit[0] is cls:
                rule = self.decide(hit[1].qualname, hit[1])
                return None if rule is None or rule.when is When.ACCESS else rule
        return None

    def for_method(self, owner: type, name: str) -> Rule | None:
        """The rule for reading attribute ``name`` of ``owner`` or its instances."""
        if len(sys.modules) != self._modules_seen:
            # New modules may hold catalogued classes: resolve, forget answers.
            self._modules_seen = len(sys.modules)
            self.refresh()
            self._memo.clear()
        key = (owner, name)
        try:
            return self._memo[key]
        except KeyError:
            pass
        rule = self._walk(owner, name)
        # Bounded: keys hold classes alive, and sandboxes make new classes.
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[key] = rule
        return rule

    def _walk(self, owner: type, name: str) -> Rule | None:
        for klass in owner.__mro__:
            for resolver in (self._denied, _CATALOG):
                entry = resolver.methods.get(id(klass))
                if entry is not None and entry[0] is klass:
                    found = entry[1].get(name)
                    if found is not None:
                        return self.decide(found[0].qualname, found[0])
        return None

    def refresh(self) -> None:
        self._denied.refresh()
        _CATALOG.refresh()


_RULES: dict[tuple[tuple[str, ...], tuple[str, ...]], Rules] = {}
_RULES_LOCK = threading.Lock()


def rules_for(policy: Policy) -> Rules:
    """The shared Rules of ``policy``: one per (allow, deny)."""
    key = (policy.allow, policy.deny)
    try:
        return _RULES[key]
    except KeyError:
        with _RULES_LOCK:
            return _RULES.setdefault(key, Rules(policy))
