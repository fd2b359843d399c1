"""Workload: the steady-state loop (dsbench_loop) inside Temporal's sandbox (needs temporalio).

dsbench_loop is not passed through, so Temporal re-imports it in each
workflow instance, as it would the user's own helper modules.
"""

import dsbench_loop
from temporalio import workflow


@workflow.defn
class Loop:
    @workflow.run
    async def run(self, n: int) -> int:
        return dsbench_loop.loop(n)
