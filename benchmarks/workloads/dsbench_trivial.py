"""Workload: detsandbox's side of the trivial-workflow comparison with Temporal.

Same shape as dsbench_temporal_trivial.Trivial, without the Temporal
decorators: a class whose async ``run`` returns at once.
"""


class Trivial:
    async def run(self, x: int) -> int:
        return x + 1
