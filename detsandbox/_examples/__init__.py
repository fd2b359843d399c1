"""Built-in examples for ``python -m detsandbox demo``."""
