"""Workload: module state (bench_compare.py's isolation probe).

Every import of this module that runs its body starts the count at zero; a
second run that sees 2 shared the first run's module.
"""

count = 0


def bump():
    global count
    count += 1
    return count
