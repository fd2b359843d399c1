"""Workload: Temporal workflow importing idna, packaging and pygments (needs temporalio).

They are not passthrough modules in Temporal's default restrictions, so the
sandbox re-imports them for every workflow instance.
"""

import idna
import packaging.version
from pygments.lexers.python import PythonLexer
from pygments.token import Keyword
from temporalio import workflow


@workflow.defn
class ThirdParty:
    @workflow.run
    async def run(self, x: int) -> list:
        host = idna.encode("bücher.example").decode()
        newer = packaging.version.Version(f"1.{x}") < packaging.version.Version("1.10")
        return [host, newer, PythonLexer.name, str(Keyword)]
