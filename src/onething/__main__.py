"""`python -m onething` runs the CLI."""

from onething.cli import app

app()
