"""Workload: a stdlib-only module built on dataclasses and enum.

``dataclasses`` and ``enum`` are passthrough modules (views of the host's),
so a Sandbox pays for its views of them plus the class creation itself.
"""

import dataclasses
import enum
from dataclasses import dataclass, field


class Status(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Key:
    namespace: str
    name: str


@dataclass
class Step:
    name: str
    attempts: int = 0
    status: Status = Status.PENDING


@dataclass
class Plan:
    key: Key
    steps: list[Step] = field(default_factory=list)

    def advance(self):
        for step in self.steps:
            if step.status is Status.PENDING:
                step.status = Status.RUNNING
                step.attempts += 1
                return step
        return None

    def finish(self, name):
        for step in self.steps:
            if step.name == name:
                step.status = Status.DONE
        return all(s.status is Status.DONE for s in self.steps)


def make_plan(x):
    return Plan(Key("bench", f"plan-{x}"), [Step("fetch"), Step("parse"), Step("store")])


def run(x):
    plan = make_plan(x)
    while (step := plan.advance()) is not None:
        plan.finish(step.name)
    return dataclasses.asdict(plan)["key"]["name"]
