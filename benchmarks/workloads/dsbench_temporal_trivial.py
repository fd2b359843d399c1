"""Workload: Temporal's side of the trivial-workflow comparison (needs temporalio)."""

from temporalio import workflow


@workflow.defn
class Trivial:
    @workflow.run
    async def run(self, x: int) -> int:
        return x + 1


@workflow.defn
class Pinger:
    """Waits forever; each ``ping`` signal is one activation (per-activation cost)."""

    def __init__(self) -> None:
        self.pings = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.pings < 0)
        return self.pings

    @workflow.signal
    def ping(self) -> None:
        self.pings += 1
