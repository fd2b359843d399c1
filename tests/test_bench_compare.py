"""The comparison benchmark's probes agree with the features table in docs/comparison.md.

Every cell of that table was produced by a probe in benchmarks/bench_compare.py.
These tests run the probes again for each tool this environment has and compare
them with the page, so the table cannot drift from what the tools do. A column
whose tool is not installed here is skipped with the reason the benchmark gives.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "comparison.md"


def _load() -> ModuleType:
    path = ROOT / "benchmarks" / "bench_compare.py"
    spec = importlib.util.spec_from_file_location("bench_compare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


def documented() -> dict[str, dict[str, str]]:
    """The features table of docs/comparison.md: column label -> row label -> cell."""
    text = PAGE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("| probe |")]
    assert len(lines) == 1, "docs/comparison.md must hold exactly one features table"
    start = text.splitlines().index(lines[0])
    table = []
    for line in text.splitlines()[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    header, rows = table[0], table[2:]
    return {column: {row[0]: row[i] for row in rows} for i, column in enumerate(header) if i > 0}


DOC = documented()
HARNESSES = {h.label: h for h in bench.harnesses()}
CHILDREN = {"raw subinterpreter (3.13)", "Pyodide in Node"}


@pytest.fixture(scope="module")
def target() -> Iterator[Any]:
    with bench.probe_target() as target:
        yield target


@pytest.fixture(scope="module")
def hash_orders(target: Any) -> Any:
    return bench.hash_orders(target)


def test_the_table_lists_every_probe_and_known_tools() -> None:
    labels = [label for _, label in bench.FEATURE_ROWS]
    for column, cells in DOC.items():
        assert list(cells) == labels, f"{column}: rows differ from the benchmark's probes"
        assert column in HARNESSES or column in CHILDREN, f"unknown tool column {column!r}"
    for always in ("detsandbox strict", "detsandbox deterministic", "RestrictedPython alone"):
        assert always in DOC


@pytest.mark.parametrize("column", [c for c in DOC if c in HARNESSES])
def test_in_process_column_matches_its_probes(column: str, target: Any, hash_orders: Any) -> None:
    harness = HARNESSES[column]
    why = bench.available(harness)
    if why is not None:
        pytest.skip(why)
    outcomes = bench.probe_harness(harness, target, iter(n for n in bench.PROBES if n != "hash"))
    got = {name: bench.classify(name, *runs, target.secret)[0] for name, runs in outcomes.items()}
    first, second = (orders[harness.key] for orders in hash_orders)
    got["hash"] = bench.classify("hash", tuple(first), tuple(second), target.secret)[0]
    got["host"] = bench.probe_host(harness, target)[0]
    got["replay"] = bench.replay_cell(harness.key)[0]
    expected = {name: DOC[column][label] for name, label in bench.FEATURE_ROWS}
    assert got == expected


@pytest.mark.parametrize("column", sorted(c for c in DOC if c in CHILDREN))
def test_child_process_column_matches_its_probes(column: str, target: Any) -> None:
    if column.startswith("Pyodide"):
        runs = bench.pyodide_runs(target, True, bench.PYODIDE_DIR, probes_only=True)
    else:
        runs = bench.subinterpreter_runs(target, True, probes_only=True)
    if isinstance(runs, str):
        pytest.skip(runs)
    key = "pyodide" if column.startswith("Pyodide") else "subinterpreter"
    cells = bench.child_cells(key, runs, target)
    got = {name: cells[name][0] for name, _ in bench.FEATURE_ROWS}
    expected = {name: DOC[column][label] for name, label in bench.FEATURE_ROWS}
    assert got == expected


def test_classify_reads_two_runs() -> None:
    ok, err = "ok", "error"
    assert bench.classify("clock", (ok, 1.0), (ok, 1.0), "s") == ("deterministic", "1.0")
    assert bench.classify("clock", (ok, 1.0), (ok, 2.0), "s") == ("host value", "differs per run")
    assert bench.classify("env", (err, "KeyError: x"), (err, "KeyError: x"), "s") == (
        "raises",
        "KeyError: x",
    )
    assert bench.classify("env", (ok, "s"), (ok, "s"), "s") == ("host value", "read the secret")
    assert bench.classify("env", (ok, None), (ok, None), "s") == ("fake value", "None")
    assert bench.classify("file", (err, "FileNotFoundError: f"), (err, "x"), "s")[0] == (
        "not reachable"
    )
    assert bench.classify("state", (ok, 1), (ok, 1), "s") == ("isolated", "1, 1")
    assert bench.classify("state", (ok, 1), (ok, 2), "s") == ("shared", "1, 2")
    assert bench.classify("hash", (ok, ["a", "b"]), (ok, ["b", "a"]), "s")[0] == "varies"
    assert bench.classify("hostile", (ok, "s"), (ok, "s"), "s") == ("escapes", "read the secret")
    assert bench.classify("hostile", (err, "SyntaxError: no"), (ok, "s"), "s") == (
        "refused",
        "SyntaxError: no",
    )


def test_features_in_progress_are_detected_not_faked() -> None:
    """Untrusted mode, limits and the backends either work or say so; no numbers are made up."""
    try:
        policy = bench.untrusted_policy()
    except bench.Unavailable as exc:
        assert str(exc) == "untrusted mode: not available in this build"
    else:
        assert policy.untrusted
    for limits in ({"timeout": 3600.0}, {"instructions": 10**12}):
        try:
            policy = bench.limited_policy(**limits)()
        except bench.Unavailable as exc:
            assert str(exc).startswith("Limits: not available in this build")
        else:
            assert policy.limits is not None
    for backend in ("process", "subinterpreter"):
        try:
            sb = bench.backend_sandbox(bench.Policy.strict(), backend)
        except bench.Unavailable as exc:  # not in this build, or not on this Python
            assert str(exc).startswith(f"backend={backend!r}: ")
        else:
            with sb:
                assert sb.call(sb.exec("def f():\n    return 1\n")["f"]) == 1


def test_testing_rows_time_every_detsandbox_arm() -> None:
    rows = bench.child_testing(bench.QUICK)
    by_id = {row.id: row for row in rows}
    assert by_id["3a"].what.startswith("bare test, no tool")
    for row in rows:
        if "detsandbox" in row.what or "Sandbox" in row.what:
            assert row.verdict == "info" and row.data["stats"]["median"] > 0, row
    assert re.fullmatch(r"[\d.]+x bare \[[\d.]+-[\d.]+\]", by_id["3f"].result)
