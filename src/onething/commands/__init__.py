"""CLI command groups by context. Each module exposes ``register(app: typer.Typer) -> None``; cli.py calls
every module listed in ``MODULES`` that exists."""

MODULES = ("accounts", "cases", "exchange", "bench", "delivery", "hub", "oidc")
