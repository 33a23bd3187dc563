#!/usr/bin/env bash
# Install what the test suite drives for real, where it is missing:
#  - Debian's chromium (Playwright launches /usr/bin/chromium; no browser download) and a Chinese font,
#  - PostgreSQL: a server on 127.0.0.1:5432, or local binaries for a throwaway cluster (tests/pg.py),
#  - axe-core and oidc-provider from npm (accessibility checks inside the browser tests; the OpenID Provider the
#    sign-in tests run, tests/oidc/provider.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || { echo "apt-get not found: install $* yourself" >&2; return 1; }
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  apt_install chromium || echo "WARNING: chromium missing; e2e tests will fail" >&2
fi

# A CJK font, so that the screenshots the browser tests save show Chinese text rather than empty boxes.
if ! fc-list :lang=zh 2>/dev/null | grep -q . ; then
  echo "installing a Chinese font (fonts-wqy-microhei) for readable screenshots"
  apt_install fonts-wqy-microhei || echo "WARNING: no Chinese font; screenshots will show boxes" >&2
fi

pg_answers() { .venv/bin/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test', connect_timeout=3).close()" 2>/dev/null; }
if [ -z "${ONETHING_TEST_DATABASE_URL:-}" ] && ! pg_answers; then
  if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "no PostgreSQL server answers and initdb is missing: installing Debian's postgresql"
    apt_install postgresql || echo "WARNING: PostgreSQL unavailable; PostgreSQL tests will fail in CI" >&2
  fi
fi

if [ -f package.json ] && { [ ! -f node_modules/axe-core/axe.min.js ] || [ ! -f node_modules/oidc-provider/package.json ]; }; then
  if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi
fi
