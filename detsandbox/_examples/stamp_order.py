"""Workflow code with a bug strict mode catches: it reads the host clock."""

import datetime


def run(order_id: int) -> str:
    stamped = datetime.datetime.now()  # nondeterministic: differs on every replay
    return f"order {order_id} shipped at {stamped:%H:%M}"
