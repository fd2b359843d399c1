"""A small order workflow: pure logic that a workflow engine could replay."""

from __future__ import annotations

import dataclasses
import enum
import itertools

_ids = itertools.count(1)  # module state: fresh in every Sandbox
ORDERS: dict[int, Order] = {}  # a registry: never shared between Sandboxes


class Status(enum.Enum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"


@dataclasses.dataclass
class Order:
    customer: str
    items: dict[str, int]
    id: int = dataclasses.field(default_factory=lambda: next(_ids))
    status: Status = Status.PLACED

    def total(self, prices: dict[str, int]) -> int:
        return sum(prices[name] * qty for name, qty in self.items.items())


def run(customer: str, items: dict[str, int], prices: dict[str, int]) -> dict[str, object]:
    """Place, pay and ship one order; return a summary."""
    order = Order(customer, items)
    ORDERS[order.id] = order
    for status in (Status.PAID, Status.SHIPPED):
        order.status = status
    return {"id": order.id, "total": order.total(prices), "status": order.status.value}
