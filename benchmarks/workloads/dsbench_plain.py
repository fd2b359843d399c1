"""Workload: a stdlib-free module of plain classes and functions.

Nothing is imported, so executing it costs only what its own statements do;
the benchmark compares that cost (the "floor") with a new Sandbox importing
it fresh and calling ``run`` once.
"""


class Account:
    """A small mutable record with a few methods."""

    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    def deposit(self, amount):
        self.balance += amount
        self.history.append(("deposit", amount))
        return self.balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
        self.history.append(("withdraw", amount))
        return self.balance


class SavingsAccount(Account):
    rate = 0.02

    def accrue(self):
        interest = int(self.balance * self.rate)
        return self.deposit(interest)


class Ledger:
    def __init__(self):
        self.accounts = {}

    def open(self, owner, kind=Account):
        account = self.accounts[owner] = kind(owner)
        return account

    def total(self):
        return sum(a.balance for a in self.accounts.values())


def transfer(source, target, amount):
    source.withdraw(amount)
    target.deposit(amount)
    return source.balance, target.balance


def run(x):
    ledger = Ledger()
    alice = ledger.open("alice", SavingsAccount)
    bob = ledger.open("bob")
    alice.deposit(100 * x)
    transfer(alice, bob, 30)
    alice.accrue()
    return ledger.total()
