"""Workload: dsbench_temporal_thirdparty without packaging (fallback pair)."""

import idna
from pygments.lexers.python import PythonLexer
from pygments.token import Keyword
from temporalio import workflow


@workflow.defn
class ThirdParty:
    @workflow.run
    async def run(self, x: int) -> list:
        host = idna.encode("bücher.example").decode()
        return [host, PythonLexer.name, str(Keyword)]
