"""Workload: runs one bench_compare.py probe inside Temporal's sandbox (needs temporalio).

The probe's source is the workflow's argument; it runs with ``exec`` inside
the workflow, so its imports go through Temporal's sandboxed importer and its
calls meet Temporal's restrictions, as workflow code would.
"""

from typing import Any

from temporalio import workflow


@workflow.defn
class Probe:
    @workflow.run
    async def run(self, source: str) -> Any:
        namespace: dict[str, Any] = {"__name__": "probe"}
        exec(compile(source, "probe.py", "exec"), namespace)
        return namespace["probe"]()
