"""Benchmarks (性能基准): submission over real HTTP against its raw-insert ceiling, the audit chain's append and
verify rates, and the checked data fetch. ``onething bench …`` (``onething.commands.bench``) runs them;
``benchmarks/`` holds the scripts and ``docs/performance.md`` the figures.

Each bench builds its own throwaway database (a SQLite file under a temporary folder, or a fresh database on
a PostgreSQL server that is dropped afterwards), sets it up through the services, and returns a plain dict
of figures so that scripts can read ``--json``. Loops are bounded by time and by count; sockets are
127.0.0.1 only.
"""
