#!/usr/bin/env bash
# The test command: lint, then every test on SQLite, then the integration tests on PostgreSQL.
# Starts PostgreSQL when it is installed but not running (as on a fresh CI machine).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL_BASE="${TEST_PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}"
PG_DB="${TEST_PG_DB:-tessera_test}"

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 1; done
  fi
  echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2
  return 1
}

# Independent implementations the tests check Tessera against, in one venv: PyJWT verifies
# Tessera's JWTs from the JWKS alone (tests/api/accounts.rs), so a mistake shared by our signing
# and our verifying cannot pass unnoticed; FlowIO, FlowKit and numpy compute the FCS value
# pipeline (tests/api/fcs_reference.rs); fcsparser and FlowIO read back what Tessera exports;
# standardwebhooks verifies every webhook delivery's signature (tests/api/webhooks.rs).
ensure_python_references() {
  local venv=.venv-test
  if ! "$venv/bin/python" -c "import jwt, cryptography, flowkit, flowio, fcsparser, standardwebhooks" 2>/dev/null; then
    echo "installing the Python references into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "PyJWT[crypto]==2.15.1" flowkit==1.3.2 flowio==1.4.0 fcsparser==0.2.4 standardwebhooks==1.3.0
  fi
  export TESSERA_TEST_PYTHON="$PWD/$venv/bin/python"
  export TESSERA_REQUIRE_FLOWKIT=1
}

ensure_python_references

# promtool (Debian's prometheus package) checks a scrape of /metrics (tests/api/metrics.rs).
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  echo "installing Debian's prometheus (for promtool)"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus
}
ensure_promtool
export TESSERA_REQUIRE_PROMTOOL=1

# A real third-party authorization server on loopback for tests/connections_e2e.rs.
source scripts/oauth-mock.sh
start_oauth_mock
trap stop_oauth_mock EXIT
export TESSERA_REQUIRE_OAUTH_MOCK=1

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests on SQLite"
cargo test --workspace

# The console in Debian's Chromium: journeys through every page, axe-core's rules on each
# (scripts/browser.sh; screenshots in target/browser/screenshots).
echo "== browser journeys"
scripts/browser.sh

echo "== integration tests on PostgreSQL"
ensure_postgres
psql "$PG_URL_BASE/postgres" -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" >/dev/null
# Only the service's tests touch a store; the FCS engine's (crates/fcs) ran above and have no
# database to vary.
TEST_DATABASE_URL="$PG_URL_BASE/$PG_DB" cargo test -p tessera --tests

# The OpenAPI document against the real server: schemathesis with a PAT holding every scope, then
# with an admin JWT, on each backend, 60 s a run (the four runs are a fifth of the 30-minute CI
# budget); every answer must be documented and none may be a server error (scripts/schemathesis.sh).
echo "== schemathesis"
export SCHEMATHESIS_SECONDS="${SCHEMATHESIS_SECONDS:-60}"
scripts/schemathesis.sh
psql "$PG_URL_BASE/postgres" -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS ${PG_DB}_schemathesis WITH (FORCE)" -c "CREATE DATABASE ${PG_DB}_schemathesis" >/dev/null
SCHEMATHESIS_BUILD=0 SCHEMATHESIS_DATABASE_URL="$PG_URL_BASE/${PG_DB}_schemathesis" scripts/schemathesis.sh

# The FCS engine's fuzz targets, 60 s each from the committed corpus (scripts/fuzz.sh): a smoke
# run that catches a regression the corpus already reaches; the long runs are done by hand.
echo "== fuzz"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh
