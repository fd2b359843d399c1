"""Policy: frozen, keyword-only, validated once, with messages that show the fix."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from detsandbox import Limits, Policy, PolicyError, Sandbox, SandboxError

FIELDS = (
    "mode",
    "passthrough",
    "isolate",
    "allow",
    "deny",
    "seed",
    "start",
    "timezone",
    "record",
    "journal",
    "untrusted",
    "limits",
)


# -- shape: frozen, keyword-only, presets ----------------------------------------------


ALL_FIELDS = (
    "allow, deny, isolate, journal, limits, mode, passthrough, record, seed, start, timezone, "
    "untrusted"
)


def test_fields_and_defaults() -> None:
    policy = Policy()
    assert tuple(f.name for f in dataclasses.fields(Policy)) == FIELDS
    assert (policy.mode, policy.passthrough, policy.isolate, policy.allow, policy.deny) == (
        "strict",
        (),
        (),
        (),
        (),
    )
    assert (policy.seed, policy.start, policy.timezone, policy.record, policy.journal) == (
        0,
        datetime(2000, 1, 1, tzinfo=UTC),
        "UTC",
        False,
        None,
    )
    assert repr(policy) == (
        "Policy(mode='strict', passthrough=(), isolate=(), allow=(), deny=(), seed=0, "
        "start=datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), "
        "timezone='UTC', record=False, journal=None, untrusted=False, "
        "limits=Limits(timeout=None, instructions=None, memory=None, recursion=None, output=None))"
    )


def test_strict_preset_is_the_default(backend: str) -> None:
    assert Policy.strict() == Policy()
    assert Policy.strict().mode == "strict"
    assert Sandbox(backend=backend).policy == Policy.strict()
    assert Sandbox(None, backend=backend).policy == Policy.strict()


def test_strict_preset_takes_changes() -> None:
    policy = Policy.strict(allow=("time.monotonic",), passthrough=("pydantic",))
    assert policy == Policy(allow=("time.monotonic",), passthrough=("pydantic",))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: Policy("strict"),
            "Policy.__init__() takes 1 positional argument but 2 were given",
        ),
        (
            lambda: Policy.strict("x"),
            "Policy.strict() takes 1 positional argument but 2 were given",
        ),
        (
            lambda: Policy().evolve(("a",)),
            "Policy.evolve() takes 1 positional argument but 2 were given",
        ),
    ],
    ids=["Policy()", "Policy.strict()", "evolve()"],
)
def test_positional_arguments_are_rejected(call: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message


@pytest.mark.parametrize("field", FIELDS)
def test_policy_is_frozen(field: str) -> None:
    policy = Policy.strict(allow=("time.time",))
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        setattr(policy, field, getattr(policy, field))
    assert str(info.value) == f"cannot assign to field {field!r}"
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        delattr(policy, field)
    assert str(info.value) == f"cannot delete field {field!r}"
    assert policy.allow == ("time.time",)


def test_setting_an_unknown_attribute_is_a_frozen_instance_error() -> None:
    policy = Policy()
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        policy.extra = 1  # type: ignore[attr-defined]
    assert str(info.value) == "cannot assign to field 'extra'"
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        del policy.extra  # type: ignore[attr-defined]
    assert str(info.value) == "cannot delete field 'extra'"
    assert not hasattr(policy, "extra")


def test_policy_is_a_frozen_dataclass_without_slots() -> None:
    assert dataclasses.is_dataclass(Policy)
    assert "__slots__" not in vars(Policy)
    policy = Policy.strict(allow=("time.time",))
    # Its instance dict holds exactly the fields, and cannot be written through
    # attribute assignment.
    assert vars(policy) == {
        "mode": "strict",
        "passthrough": (),
        "isolate": (),
        "allow": ("time.time",),
        "deny": (),
        "seed": 0,
        "start": datetime(2000, 1, 1, tzinfo=UTC),
        "timezone": "UTC",
        "record": False,
        "journal": None,
        "untrusted": False,
        "limits": Limits(),
    }


# -- evolve ---------------------------------------------------------------------------------


def test_evolve_returns_a_new_policy_and_leaves_the_old_one() -> None:
    base = Policy.strict()
    evolved = base.evolve(allow=("time.time",), deny=("json.dumps",))
    assert evolved is not base
    assert (evolved.allow, evolved.deny) == (("time.time",), ("json.dumps",))
    assert (base.allow, base.deny) == ((), ())
    assert evolved.evolve(allow=()).allow == ()
    assert evolved.evolve(allow=()).deny == ("json.dumps",)


def test_evolve_without_changes_returns_the_same_policy() -> None:
    policy = Policy.strict(allow=("time.time",))
    assert policy.evolve() is policy


def test_evolve_validates_the_result() -> None:
    base = Policy.strict(allow=("time.time",))
    with pytest.raises(PolicyError) as info:
        base.evolve(deny=("time.time",))
    assert str(info.value) == (
        "Policy names 'time.time' in both allow and deny; keep it in one of them"
    )
    with pytest.raises(PolicyError) as info:
        base.evolve(allow="os.getpid")
    assert str(info.value) == (
        "Policy.allow must be a tuple of names, got the str 'os.getpid': write allow=('os.getpid',)"
    )
    with pytest.raises(PolicyError):
        dataclasses.replace(base, mode="lax")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"bogus": 1},
            "Policy has no field 'bogus'; fields are: " + ALL_FIELDS,
        ),
        (
            {"zeta": 1, "alpha": 2},
            "Policy has no field 'alpha'; fields are: " + ALL_FIELDS,
        ),
        (
            {"allows": ("time.time",)},
            "Policy has no field 'allows'; fields are: " + ALL_FIELDS,
        ),
    ],
    ids=["one", "first in order", "typo"],
)
def test_unknown_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.strict().evolve(**changes)
    assert str(info.value) == message
    with pytest.raises(PolicyError) as info:
        Policy.strict(**changes)
    assert str(info.value) == message


# -- malformed entries ---------------------------------------------------------------------

EXAMPLES = {
    "passthrough": "pydantic",
    "isolate": "logging",
    "allow": "time.monotonic",
    "deny": "os.environ",
}
KIND = {
    "passthrough": "module names such as",
    "isolate": "module names such as",
    "allow": "qualified names such as",
    "deny": "qualified names such as",
}


@pytest.mark.parametrize("field", list(EXAMPLES))
def test_a_bare_str_is_rejected_with_the_tuple_to_write(field: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**{field: "json"})
    assert str(info.value) == (
        f"Policy.{field} must be a tuple of names, got the str 'json': write {field}=('json',)"
    )


@pytest.mark.parametrize("value", [5, None, 1.5], ids=["int", "None", "float"])
@pytest.mark.parametrize("field", list(EXAMPLES))
def test_a_non_iterable_is_rejected(field: str, value: object) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**{field: value})
    assert str(info.value) == (
        f"Policy.{field} must be a tuple of names, got {type(value).__name__}: "
        f"write {field}=({EXAMPLES[field]!r},)"
    )


BAD_ENTRIES = [
    pytest.param("os/path", id="slash"),
    pytest.param("", id="empty"),
    pytest.param("time..x", id="empty part"),
    pytest.param(".time", id="leading dot"),
    pytest.param("time.", id="trailing dot"),
    pytest.param("a.*.b", id="star in the middle"),
    pytest.param("*", id="bare star"),
    pytest.param("os.*.*", id="double star"),
    pytest.param("1abc", id="not an identifier"),
    pytest.param("my-pkg", id="dash"),
    pytest.param(" time", id="space"),
    pytest.param(1, id="int entry"),
    pytest.param(None, id="None entry"),
    pytest.param(b"os", id="bytes entry"),
    pytest.param(("os",), id="nested tuple"),
]


@pytest.mark.parametrize("entry", BAD_ENTRIES)
@pytest.mark.parametrize("field", list(EXAMPLES))
def test_malformed_entries_are_rejected(field: str, entry: object) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**{field: ("json", entry)})
    assert str(info.value) == (
        f"Policy.{field} entries must be {KIND[field]} {EXAMPLES[field]!r}, got {entry!r}"
    )


@pytest.mark.parametrize("field", ["passthrough", "isolate"])
def test_module_fields_reject_patterns(field: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**{field: ("os.*",)})
    assert str(info.value) == (
        f"Policy.{field} entries must be module names such as {EXAMPLES[field]!r}, got 'os.*'"
    )


@pytest.mark.parametrize("field", ["allow", "deny"])
def test_name_fields_accept_names_modules_and_patterns(field: str) -> None:
    entries = ("time.monotonic", "socket", "os.*", "datetime.datetime.now", "_thread.get_ident")
    assert getattr(Policy(**{field: entries}), field) == tuple(sorted(entries))


def test_entries_are_normalised_to_sorted_tuples_without_duplicates() -> None:
    policy = Policy(allow=["b", "a", "b"], passthrough=iter(["pkg.sub", "pkg", "pkg"]))
    assert policy.allow == ("a", "b")
    assert policy.passthrough == ("pkg", "pkg.sub")
    assert policy == Policy(allow=("b", "a"), passthrough=("pkg", "pkg.sub"))
    assert repr(policy).startswith(
        "Policy(mode='strict', passthrough=('pkg', 'pkg.sub'), isolate=(), allow=('a', 'b'), "
        "deny=(), seed=0, "
    )


@pytest.mark.parametrize("field", ["passthrough", "isolate", "allow", "deny"])
def test_entry_order_carries_no_meaning(backend: str, field: str) -> None:
    names = ("zlib_pkg", "alpha", "mid.sub") if field != "isolate" else ("json", "csv", "fractions")
    forward = Policy(**{field: names})
    backward = Policy(**{field: names[::-1]})
    assert forward == backward and hash(forward) == hash(backward)
    assert getattr(forward, field) == tuple(sorted(names))
    assert Sandbox(forward, backend=backend).policy == Sandbox(backward, backend=backend).policy


def test_the_first_malformed_entry_is_reported() -> None:
    with pytest.raises(PolicyError) as info:
        Policy(deny=("ok.name", "bad/one", "bad/two"))
    assert str(info.value) == (
        "Policy.deny entries must be qualified names such as 'os.environ', got 'bad/one'"
    )


# -- conflicts and names the sandbox owns -----------------------------------------------------


def test_same_entry_in_allow_and_deny() -> None:
    with pytest.raises(PolicyError) as info:
        Policy(allow=("time.time", "os.*"), deny=("os.*", "time.time"))
    assert str(info.value) == "Policy names 'os.*' in both allow and deny; keep it in one of them"


def test_same_module_in_passthrough_and_isolate() -> None:
    with pytest.raises(PolicyError) as info:
        Policy(passthrough=("pkg", "logging"), isolate=("logging",))
    assert str(info.value) == (
        "Policy names 'logging' in both passthrough and isolate; keep it in one of them"
    )


def test_overlapping_but_different_entries_are_fine() -> None:
    policy = Policy(
        allow=("os.*",), deny=("os.getpid",), passthrough=("pkg",), isolate=("pkg.sub",)
    )
    assert policy.deny == ("os.getpid",)


@pytest.mark.parametrize("name", ["sys", "builtins", "importlib", "__main__"])
@pytest.mark.parametrize("field", ["passthrough", "isolate"])
def test_sandbox_owned_modules_cannot_be_named(field: str, name: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**{field: ("json", name)})
    assert str(info.value) == (
        f"Policy.{field} cannot name {name!r}: the sandbox provides its own view of it"
    )


@pytest.mark.parametrize("name", ["time", "itertools", "posix", "_io", "_thread"])
def test_isolate_rejects_modules_built_into_the_interpreter(name: str) -> None:
    assert name in sys.builtin_module_names
    with pytest.raises(PolicyError) as info:
        Policy(isolate=("json", name))
    assert str(info.value) == (
        f"Policy.isolate cannot name {name!r}: it is built into CPython and cannot run fresh"
    )
    # Sharing one is allowed, and changes nothing: the standard library is shared.
    assert Policy(passthrough=(name,)).passthrough == (name,)


@pytest.mark.parametrize("name", ["detsandbox", "detsandbox._views", "detsandbox.errors"])
def test_isolate_rejects_detsandbox_itself(name: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(isolate=(name,))
    assert str(info.value) == (
        f"Policy.isolate cannot name {name!r}: detsandbox is always shared with the host"
    )


def test_isolate_accepts_pure_python_stdlib_modules_and_submodules() -> None:
    policy = Policy(isolate=("json.decoder", "fractions", "calendar"))
    assert policy.isolate == ("calendar", "fractions", "json.decoder")


@pytest.mark.parametrize("mode", ["lax", "STRICT", "", None, 1])
def test_bad_mode(mode: object) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(mode=mode)  # type: ignore[arg-type]
    assert (
        str(info.value)
        == f"Policy.mode must be one of 'strict', 'deterministic', 'replay', got {mode!r}"
    )


def test_mode_is_checked_before_the_other_fields() -> None:
    with pytest.raises(PolicyError) as info:
        Policy(mode="lax", allow="x")  # type: ignore[arg-type]
    assert str(info.value) == (
        "Policy.mode must be one of 'strict', 'deterministic', 'replay', got 'lax'"
    )


@pytest.mark.parametrize(
    ("policy", "type_name"),
    [("strict", "str"), ({"mode": "strict"}, "dict"), (Policy, "type"), (0, "int")],
    ids=["str", "dict", "the class", "int"],
)
def test_sandbox_requires_a_policy_instance(backend: str, policy: object, type_name: str) -> None:
    message = (
        f"Sandbox() expects a detsandbox.Policy, got {type_name}; build one with Policy.strict()"
    )
    with pytest.raises(PolicyError) as info:
        Sandbox(policy=policy, backend=backend)  # type: ignore[arg-type]
    assert str(info.value) == message
    with pytest.raises(PolicyError) as info:
        Sandbox(policy, backend=backend)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_policy_error_is_a_value_error_and_a_sandbox_error() -> None:
    with pytest.raises(ValueError):
        Policy(mode="lax")  # type: ignore[arg-type]
    with pytest.raises(SandboxError):
        Policy(allow="x")


# -- equality, hashing, copying -----------------------------------------------------------


def test_equal_policies_are_equal_and_hash_alike() -> None:
    first = Policy.strict(allow=("time.time",), deny=("json.dumps",), passthrough=("pkg",))
    second = Policy(passthrough=["pkg"], deny=["json.dumps"], allow=["time.time"])
    assert first == second
    assert hash(first) == hash(second)
    assert {first: "a"}[second] == "a"
    third = Policy.strict().evolve(allow=("time.time",), passthrough=("pkg",), deny=("json.dumps",))
    assert len({first, second, third}) == 1


def test_different_policies_are_not_equal() -> None:
    base = Policy.strict()
    others = [
        base.evolve(allow=("time.time",)),
        base.evolve(deny=("time.time",)),
        base.evolve(passthrough=("pkg",)),
        base.evolve(isolate=("logging",)),
    ]
    assert all(other != base for other in others)
    assert len(set(others)) == len(others)
    assert base != "strict"


def test_policies_copy_and_pickle_as_values() -> None:
    policy = Policy.strict(allow=("os.*",), deny=("os.getpid",), isolate=("logging",))
    assert copy.copy(policy) == policy
    assert copy.deepcopy(policy) == policy
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(policy, protocol))
        assert again == policy
        assert hash(again) == hash(policy)


def test_sandboxes_keep_the_policy_they_were_given(backend: str) -> None:
    policy = Policy.strict(allow=("time.time",))
    sb = Sandbox(policy, backend=backend)
    assert sb.policy is policy
    assert repr(sb).startswith("<detsandbox.Sandbox strict, ")
