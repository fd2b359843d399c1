"""Workload: a tiny module (memory per Sandbox with one small module imported)."""


def double(x):
    return 2 * x


def run(x):
    return double(x) + 1
