#!/usr/bin/env bash
# Fuzzes the real server against its own OpenAPI document with schemathesis: every answer must be
# documented (status, content type, body schema) and none may be a server error.
#
# Starts target/debug/tessera (built here if needed) on a free loopback port, SQLite in a
# temporary data directory (or the empty PostgreSQL database SCHEMATHESIS_DATABASE_URL names); makes an admin with the CLI, logs it in for a JWT, mints a PAT holding
# every scope, and runs schemathesis once with each credential for a fixed time budget: the PAT
# first (it can reach no route that ends the JWT's session, and its own rotation is left out), then
# the JWT (whose run may revoke or regenerate tokens, the PAT among them).
#
#   scripts/schemathesis.sh                    # both runs, SCHEMATHESIS_SECONDS (120) each
#   SCHEMATHESIS_SECONDS=30 scripts/schemathesis.sh
#   SCHEMATHESIS_RUNS=jwt scripts/schemathesis.sh   # only one of: pat, jwt
#   SCHEMATHESIS_BUILD=0 scripts/schemathesis.sh    # use target/debug/tessera as it is
#   SCHEMATHESIS_DATABASE_URL=postgres://…/empty_db scripts/schemathesis.sh   # on PostgreSQL
#
# Nothing leaves the machine: provider endpoints (GOOGLE_*_URL) and an HTTP(S) proxy for every
# other provider call (OAuth clients the fuzzer creates name public hosts) point at a loopback
# port where nothing listens, so a provider call fails with "connection refused" (the refresh
# rules' 502) and no DNS lookup of a client-named host is made.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="$PWD/.venv-test" # the test venv of scripts/test.sh (PyJWT)
BUDGET="${SCHEMATHESIS_SECONDS:-120}"
RUNS="${SCHEMATHESIS_RUNS:-pat jwt}"
BIN="$PWD/target/debug/tessera"
BACKEND="$([ -n "${SCHEMATHESIS_DATABASE_URL:-}" ] && echo postgres || echo sqlite)"
REPORTS="$PWD/target/schemathesis/$BACKEND"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

# What schemathesis 4.32.5 installed (pip freeze), pinned so that a run is the same run next month.
SCHEMATHESIS_PINS=(
  anyio==4.16.0 certifi==2026.10.19.post1 charset-normalizer==3.5.3 click==8.5.1
  graphql-core==3.3.2 harfile==0.6.0 hypothesis==6.170.17 hypothesis-graphql==0.13.5 idna==3.20
  iniconfig==2.3.1 jsonschema_rs==0.60.3 markdown-it-py==4.3.0 MarkupSafe==3.0.4 mdurl==0.1.2
  packaging==26.4 pluggy==1.7.0 Pygments==2.21.0 pyrate-limiter==4.5.1 pytest==9.2.0
  PyYAML==6.0.4 requests==2.34.2 rich==15.0.0 sortedcontainers==2.4.0 typing_extensions==4.16.0
  urllib3==2.8.0 Werkzeug==3.1.9
)

ensure_schemathesis() {
  if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    local constraints
    constraints="$(mktemp)"
    printf '%s\n' "${SCHEMATHESIS_PINS[@]}" >"$constraints"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" \
      "schemathesis==$SCHEMATHESIS_VERSION"
    rm -f "$constraints"
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json FIELD.PATH < body: one value out of a JSON document.
json() {
  "$VENV/bin/python" -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value if isinstance(value, str) else json.dumps(value))' "$1"
}

ensure_schemathesis
[ "${SCHEMATHESIS_BUILD:-1}" = 0 ] || cargo build --quiet -p tessera

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(free_port)"
DEAD_PORT="$(free_port)" # bound and released: nothing listens there
BASE="http://127.0.0.1:$PORT"
DEAD="http://127.0.0.1:$DEAD_PORT"
mkdir -p "$REPORTS"

# The server's environment: nothing inherited may point it elsewhere.
export TESSERA_ADDR="127.0.0.1:$PORT"
export TESSERA_DATA_DIR="$WORK/data"
export DATABASE_URL="${SCHEMATHESIS_DATABASE_URL:-sqlite://$WORK/data/tessera.db}"
export SECRET_KEY="schemathesis-run-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
unset TOKEN_ENCRYPTION_KEYS FCS_SAMPLE_PATH TRUSTED_PROXIES REGISTRATION
export LOG_FORMAT=json RUST_LOG=info
# The fuzzer must not be rate limited (429 is still documented and checked by the tests).
export RATE_LIMIT_PER_MINUTE=10000000
# The fuzzer sends many failed logins: no growing delay, so the time budget goes on requests.
export LOGIN_MAX_DELAY_MS=0
export JWT_TTL_SECONDS=3600
export GOOGLE_AUTH_URL="$DEAD/authorize" GOOGLE_TOKEN_URL="$DEAD/token" GOOGLE_REVOKE_URL="$DEAD/revoke"
export OAUTH_ALLOW_PRIVATE_ENDPOINTS=false OAUTH_REFRESH_RETRIES=0 OAUTH_HTTP_TIMEOUT_SECONDS=2
# Endpoints the fuzzer registers are stored and listed, never posted to: nothing leaves the machine.
export WEBHOOK_ALLOW_PRIVATE_ENDPOINTS=false WEBHOOK_DELIVERY=false
# Only the server's: curl and schemathesis talk to the server directly.
PROXY_ENV=(HTTPS_PROXY="$DEAD" HTTP_PROXY="$DEAD" ALL_PROXY="$DEAD" https_proxy="$DEAD" http_proxy="$DEAD" all_proxy="$DEAD")
unset NO_PROXY no_proxy HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy
mkdir -p "$TESSERA_DATA_DIR"

ADMIN=schemathesis-admin
ADMIN_PASSWORD="pw-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Run from the work directory, so that no .env of the checkout's is read.
cd "$WORK"
if ! { "$BIN" migrate && TESSERA_PASSWORD="$ADMIN_PASSWORD" "$BIN" users create \
  --username "$ADMIN" --email "$ADMIN@example.com" --role admin; } >"$WORK/cli.log" 2>&1; then
  echo "making the admin failed:" >&2
  cat "$WORK/cli.log" >&2
  exit 1
fi

(exec env "${PROXY_ENV[@]}" "$BIN") >"$REPORTS/server.log" 2>&1 &
SERVER_PID=$!
ready=""
for _ in $(seq 1 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  if curl -fsS --max-time 2 -o /dev/null "$BASE/ready" 2>/dev/null; then ready=1; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "the server did not start; its log:" >&2
  cat "$REPORTS/server.log" >&2
  exit 1
fi

JWT="$(curl -fsS "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"$ADMIN\",\"password\":\"$ADMIN_PASSWORD\"}" | json data.access_token)"
# Every scope there is: the document's PAT scheme lists them.
SCOPES="$(curl -fsS "$BASE/openapi.json" | "$VENV/bin/python" -c 'import json, sys
text = json.load(sys.stdin)["components"]["securitySchemes"]["pat"]["description"]
print(json.dumps([s.strip() for s in text.split(": ", 1)[1].split(",")]))')"
PAT="$(curl -fsS "$BASE/api/v1/tokens" -H "authorization: Bearer $JWT" -H 'content-type: application/json' \
  -d "{\"name\":\"schemathesis\",\"scopes\":$SCOPES,\"expires_in_days\":1}" | json data.token)"
echo "admin JWT and a PAT with $SCOPES"

# Records for the fuzzer to find: generated ids almost always answer 404, so half of the ids it
# sends to a route are these (a schemathesis dictionary per kind of id, probability 0.5). DELETE
# routes get records of their own, so that deleting one leaves the others for the reads; and each
# run gets fresh ones (a run deletes what it finds through lists too). seed_records RUN writes
# $WORK/RUN.toml, the run's schemathesis configuration.
# api METHOD PATH [JSON BODY]: the answer's body; the admin's JWT unless CREDENTIAL is set.
api() {
  local body=()
  [ $# -ge 3 ] && body=(-H 'content-type: application/json' -d "$3")
  curl -fsS -X "$1" "$BASE$2" -H "authorization: Bearer ${CREDENTIAL:-$JWT}" "${body[@]}"
}
beneficiary() {
  api POST /api/v1/beneficiaries "{\"national_id\":\"SEED-$1\",\"first_name\":\"Layla\",
    \"last_name\":\"Haddad\",\"date_of_birth\":\"2015-04-30\",\"gender\":\"female\",
    \"guardian_name\":\"Omar Haddad\",\"guardian_phone\":\"+44 20 7946 0958\"}" | json data.id
}
oauth_client() {
  api POST /api/v1/oauth-clients "{\"client_id\":\"$1.apps.googleusercontent.com\",
    \"client_secret\":\"seed-secret\",\"redirect_uri\":\"https://tessera.example/api/v1/oauth/callback\"}" | json data.id
}
branch() {
  api POST /api/v1/branches "{\"branch_id\":\"$1\",\"name\":\"Seed $1\",\"client_id\":\"$CLIENT\"}" | json data.id
}
token() {
  api POST /api/v1/tokens "{\"name\":\"$1\",\"scopes\":[\"fcs:read\"],\"expires_in_days\":1}" | json data.id
}
"$BIN" fcs synth "$WORK/seed.fcs" >/dev/null
upload() {
  curl -fsS "$BASE/api/v1/fcs/upload" -H "authorization: Bearer $PAT" -F "file=@$WORK/seed.fcs" | json data.file_id
}
# seed CONFIG PATH-REGEX PARAMETER DICTIONARY [METHOD]: bind a parameter of the matching
# operations (all but DELETE, or only METHOD) to a dictionary half of the time.
seed() {
  local method_filter='exclude-method = "DELETE"'
  [ -n "${5:-}" ] && method_filter="include-method = \"$5\""
  printf '\n[[operations]]\ninclude-path-regex = %s\n%s\nparameters = { "%s" = { dictionary = "%s", probability = 0.5 } }\n' \
    "'$2'" "$method_filter" "$3" "$4" >>"$1"
}
# allow_unreachable_provider CONFIG: the operations that call the provider answer their documented
# 502 when it cannot be reached, and here it never can (GOOGLE_*_URL name a dead port). The fuzzer
# does reach them: it starts flows itself, and once (CI, stop 27) sent a live state on to the
# callback. A 502 there is the contract, not a server fault; any other 5xx still fails.
# (schemathesis merges every [[operations]] entry that matches, so the seeds above still apply.)
allow_unreachable_provider() {
  local operation
  for operation in "GET /api/v1/oauth/callback" "GET /api/v1/branches/{id}/token" \
    "POST /api/v1/branches/{id}/token/refresh"; do
    printf '\n[[operations]]\ninclude-name = "%s"\nchecks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]\n' \
      "$operation" >>"$1"
  done
}
seed_records() {
  local run="$1" config="$WORK/$1.toml" day
  # A day of its own per run (the admin, as therapist, may not be booked twice at once), counted
  # from today so that it stays in the future.
  day="$(date -u -d "+$([ "$run" = pat ] && echo 30 || echo 31) days" +%F)"
  BENEFICIARY="$(beneficiary "$run-1")"
  BENEFICIARY_DOOMED="$(beneficiary "$run-2")"
  SESSION="$(api POST "/api/v1/beneficiaries/$BENEFICIARY/sessions" "{\"session_type\":\"speech\",
    \"session_date\":\"$day\",\"start_time\":\"10:00\",\"end_time\":\"11:00\"}" | json data.id)"
  CLIENT="$(oauth_client "seed-$run-client")"
  CLIENT_DOOMED="$(oauth_client "seed-$run-doomed")"
  BRANCH="$(branch "seed-$run-01")"
  BRANCH_DOOMED="$(branch "seed-$run-02")"
  TOKEN="$(token "seed-$run")"
  TOKEN_DOOMED="$(token "seed-$run-doomed")"
  MEMBER="$(api POST /api/v1/auth/register "{\"username\":\"seed-$run-member\",
    \"email\":\"seed-$run-member@example.com\",\"password\":\"correct horse battery\"}" | json data.id)"
  FCS_FILE="$(upload)"
  FCS_FILE_DOOMED="$(upload)"

  cat >"$config" <<TOML
[dictionaries]
beneficiary = { values = ["$BENEFICIARY"] }
beneficiary-doomed = { values = ["$BENEFICIARY_DOOMED"] }
session = { values = ["$SESSION"] }
client = { values = ["$CLIENT"] }
client-doomed = { values = ["$CLIENT_DOOMED"] }
google-client-id = { values = ["seed-$run-client.apps.googleusercontent.com"] }
branch = { values = ["$BRANCH"] }
branch-doomed = { values = ["$BRANCH_DOOMED"] }
branch-name = { values = ["seed-$run-01"] }
token = { values = ["$TOKEN"] }
token-doomed = { values = ["$TOKEN_DOOMED"] }
member = { values = ["$MEMBER"] }
fcs-file = { values = ["$FCS_FILE", "sample"] }
fcs-file-doomed = { values = ["$FCS_FILE_DOOMED"] }
TOML
  seed "$config" '^/api/v1/beneficiaries/\{id\}' path.id beneficiary
  seed "$config" '^/api/v1/beneficiaries/\{id\}$' path.id beneficiary-doomed DELETE
  seed "$config" '^/api/v1/sessions/\{id\}' path.id session
  seed "$config" '^/api/v1/oauth-clients/\{id\}$' path.id client
  seed "$config" '^/api/v1/oauth-clients/\{id\}$' path.id client-doomed DELETE
  seed "$config" '^/api/v1/branches$' query.client_id client
  seed "$config" '^/api/v1/branches/\{id\}' path.id branch
  seed "$config" '^/api/v1/branches/\{id\}' path.id branch-doomed DELETE
  seed "$config" '^/api/v1/branches/by-branch-id/' path.branch_id branch-name
  seed "$config" '^/token-management/tokens/\{branch_id\}$' path.branch_id branch-name
  seed "$config" '^/token-management/oauth/login/' path.client_id google-client-id
  seed "$config" '^/api/v1/tokens/\{id\}' path.id token
  seed "$config" '^/api/v1/tokens/\{id\}$' path.id token-doomed DELETE
  seed "$config" '^/api/v1/users/\{id\}/role$' path.id member
  seed "$config" '^/api/v1/fcs/(events|parameters|statistics)$' query.file_id fcs-file
  seed "$config" '^/api/v1/fcs/files/\{id\}$' path.id fcs-file-doomed DELETE
  allow_unreachable_provider "$config"
  echo "seeded for the $run run: beneficiaries, a session, OAuth clients, branches, tokens, a member, FCS uploads"
}

run() {
  local name="$1" credential="$2"
  shift 2
  echo "== schemathesis ($name on $BACKEND, ${BUDGET}s)"
  local start=$SECONDS rc=0
  # From the reports directory: schemathesis keeps its cache in ./.schemathesis.
  (cd "$REPORTS" && "$VENV/bin/schemathesis" --config-file "$WORK/$name.toml" \
    run "$BASE/openapi.json" --url "$BASE" \
    --checks "$CHECKS" \
    --max-time "$BUDGET" \
    --header "Authorization: Bearer $credential" \
    --generation-database none \
    --report junit --report-junit-path "$REPORTS/$name.xml" \
    --no-color \
    "$@") || rc=$?
  echo "schemathesis ($name on $BACKEND) took $((SECONDS - start)) s"
  return "$rc"
}

status=0
passed=0
failed=0
for which in $RUNS; do
  seed_records "$which" # here, not inside `run … || status=1`, where `set -e` is off
  case "$which" in
    # Logging the run's own credential out would turn every later request into a 401: the routes
    # that end the caller's sessions are left out of the JWT run (tests/api/accounts.rs covers them).
    # Nothing else is: a password change ends only the *other* sessions.
    jwt) run jwt "$JWT" \
      --exclude-path /api/v1/auth/logout \
      --exclude-path /api/v1/auth/logout-all \
      --exclude-path '/api/v1/auth/sessions/{id}' && passed=$((passed + 1)) || { status=1; failed=$((failed + 1)); } ;;
    # A PAT can rotate itself: with no grace its secret stops at once, and every later request
    # (this run's, and the JWT run's seeding uploads) would be a 401. That route is left out here
    # (tests/api/tokens_renewal.rs covers it); nothing else is.
    pat) run pat "$PAT" \
      --exclude-path /api/v1/tokens/self/rotate && passed=$((passed + 1)) || { status=1; failed=$((failed + 1)); } ;;
    *) echo "unknown run: $which" >&2; exit 2 ;;
  esac
done
# A plain closing line (one per credential run), so the log does not end on schemathesis's
# pytest-like "N warnings in …" line, which reads as a run of no tests.
echo "schemathesis runs on $BACKEND: $passed passed, $failed failed"
if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures; the server's log: $REPORTS/server.log" >&2
fi
exit "$status"
