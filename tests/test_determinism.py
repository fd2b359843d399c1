"""Determinism, tested the trio way: N runs, one distinct result.

Across processes too: each child gets a different PYTHONHASHSEED, so any
result that depended on str hashing (set order) would differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from detsandbox import Sandbox

PRICES = {"apple": 3, "pear": 5}
WORKFLOW = "detsandbox._examples.order_workflow"

CHILD = f"""
import json
from detsandbox import Sandbox
runs = []
for customer in ("ada", "bob", "cyd"):
    sb = Sandbox()
    wf = sb.import_module({WORKFLOW!r})
    runs.append(sb.call(wf.run, customer, {{"apple": 2, "pear": 1}}, {PRICES!r}))
print(json.dumps(runs, sort_keys=True))
"""


def _one_run(backend: str) -> str:
    sb = Sandbox(backend=backend)
    wf = sb.import_module(WORKFLOW)
    first = sb.call(wf.run, "ada", {"apple": 2, "pear": 1}, PRICES)
    second = sb.call(wf.run, "bob", {"pear": 3}, PRICES)
    return json.dumps([first, second], sort_keys=True)


def test_same_result_every_run_in_process(backend: str) -> None:
    results = {_one_run(backend) for _ in range(20)}
    assert len(results) == 1
    assert json.loads(results.pop())[1]["id"] == 2


def test_same_result_across_processes_and_hash_seeds() -> None:
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1
    assert [r["id"] for r in json.loads(outputs.pop())] == [1, 1, 1]
