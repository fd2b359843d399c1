"""The public namespace is small, curated, and says detsandbox.X in tracebacks."""

from __future__ import annotations

import detsandbox
import detsandbox.errors

PINNED = {
    "Sandbox",
    "Policy",
    "SandboxError",
    "RestrictedAccessError",
    "RestrictedImportError",
}


def test_pinned_names_are_exported() -> None:
    assert set(detsandbox.__all__) >= PINNED
    for name in detsandbox.__all__:
        assert hasattr(detsandbox, name), name


def test_no_private_module_leaks_into_all() -> None:
    assert all(not name.startswith("_") for name in detsandbox.__all__)
    assert sorted(detsandbox.__all__) == detsandbox.__all__


def test_public_objects_say_detsandbox() -> None:
    for name in detsandbox.__all__:
        obj = getattr(detsandbox, name)
        assert obj.__module__ == "detsandbox", name


def test_errors_module_lists_every_exception_once() -> None:
    exported = {n for n in detsandbox.__all__ if n.endswith("Error")}
    assert exported == set(detsandbox.errors.__all__)
    for name in exported:
        assert getattr(detsandbox, name) is getattr(detsandbox.errors, name)
