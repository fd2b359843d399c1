"""Workload: an attribute- and item-heavy loop (bench_compare.py's steady-state rows).

Each iteration reads module attributes (``math.pi``, ``json.dumps``,
``datetime.timedelta``), reads and writes dict and list items, calls a small
Python function and ``isinstance``: what sandboxes that proxy modules, patch
builtins or trace calls pay for. Written so that RestrictedPython compiles it
(no names that start with an underscore).
"""

import datetime
import json
import math


def helper(a, b):
    return a + b


def loop(n):
    table = {"a": 1, "b": 2}
    items = [1, 2, 3]
    total = 0
    for i in range(n):
        total = helper(total, items[i % 3])
        table["a"] = table["b"] + 1
        if math.pi > 3 and json.dumps is not None and datetime.timedelta is not None:
            total = total + 1
        if isinstance(total, int):
            total = total - 1
    return total + table["a"]
