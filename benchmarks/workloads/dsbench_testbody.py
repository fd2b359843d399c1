"""Workload: the body of a test that reads the clock and randomness (bench_compare.py)."""

import datetime
import random
import time


def body():
    return time.time(), datetime.datetime.now(), random.random()


def reads(n):
    for _ in range(n):
        time.time()
