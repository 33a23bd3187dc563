#!/usr/bin/env bash
# Run the three benches against SQLite and PostgreSQL, write one JSON file per run, print a summary table.
#
#   benchmarks/run_all.sh                       # modest sizes (a few minutes)
#   CLIENTS=50 DURATION=20 ENTRIES=1000000 FETCHES=2000 benchmarks/run_all.sh    # the figures in docs/performance.md
#
# PG_URL names a PostgreSQL server (a fresh database is created on it and dropped); PG_URL= (empty) skips it.
# Results go to OUT (default: a new folder under /tmp). Read ratios, not absolute figures: machines are shared.
set -euo pipefail
cd "$(dirname "$0")/.."
ONETHING=${ONETHING:-.venv/bin/onething}
PYTHON=${PYTHON:-.venv/bin/python}
CLIENTS=${CLIENTS:-20}
DURATION=${DURATION:-10}
SERVERS=${SERVERS:-1}
ENTRIES=${ENTRIES:-100000}
FETCHES=${FETCHES:-1000}
PG_URL=${PG_URL-postgresql+psycopg://postgres@127.0.0.1:5432/test}
OUT=${OUT:-$(mktemp -d /tmp/onething-bench-results.XXXXXX)}
mkdir -p "$OUT"

backends=(sqlite)
if [[ -n "$PG_URL" ]]; then
  if "$PYTHON" -c "import sys, psycopg; psycopg.connect(sys.argv[1].replace('+psycopg', ''), connect_timeout=3).close()" \
      "$PG_URL" 2>/dev/null; then
    backends+=(postgresql)
  else
    echo "PostgreSQL at $PG_URL does not answer: SQLite only" >&2
  fi
fi

for backend in "${backends[@]}"; do
  database=()
  [[ "$backend" == postgresql ]] && database=(--database "$PG_URL")
  echo "== $backend: submit ($CLIENTS clients × ${DURATION} s, $SERVERS server process(es))" >&2
  "$ONETHING" bench submit --clients "$CLIENTS" --duration "$DURATION" --servers "$SERVERS" "${database[@]}" --json \
    > "$OUT/submit-$backend.json"
  echo "== $backend: audit ($ENTRIES entries)" >&2
  "$ONETHING" bench audit --entries "$ENTRIES" "${database[@]}" --json > "$OUT/audit-$backend.json"
  echo "== $backend: fetch ($FETCHES fetches)" >&2
  "$ONETHING" bench fetch --fetches "$FETCHES" "${database[@]}" --json > "$OUT/fetch-$backend.json"
done

echo "results in $OUT" >&2
"$PYTHON" benchmarks/summarize.py "$OUT"
