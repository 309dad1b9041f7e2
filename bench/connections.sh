#!/usr/bin/env bash
# OAuth connections benchmark (issue 5), on SQLite and PostgreSQL, against a release build.
# Needs wrk and hey (apt-get install wrk hey), node and npm (for oauth2-mock-server).
#
# A branch is connected through the real flow against oauth2-mock-server (scripts/oauth-mock.sh);
# its token is then fresh for an hour, so every `GET /api/v1/branches/{id}/token` is answered
# from one indexed read and one decryption, with a PAT (`connections:read`, audit on). Side by
# side in one run: GET /health, the PAT stub route and the token route, with wrk at full speed
# (throughput ratio, target ≥ 40 % of /health) and with hey at 2,000 req/s (latency).
#
#   bench/connections.sh             # 10 s per measurement
#   DURATION=20 bench/connections.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
PG_URL_BASE="${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-18082}"
BASE="http://127.0.0.1:$PORT"
OUT="bench/results"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/tessera"
mkdir -p "$OUT"
source bench/lib.sh
source scripts/oauth-mock.sh
require_tools wrk hey curl python3 node

cargo build --release -q --bin tessera
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; stop_oauth_mock' EXIT
if curl -s "$BASE/health" >/dev/null; then echo "port $PORT is taken; set PORT" >&2; exit 1; fi
start_oauth_mock >/dev/null

json() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }

# connect_branch JWT → prints the id of a branch connected through the mock provider.
connect_branch() {
  local jwt=$1 client branch auth_url back
  client=$(curl -sf -XPOST "$BASE/api/v1/oauth-clients" -H "authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d "{\"client_id\":\"bench\",\"client_secret\":\"bench-secret\",\"redirect_uri\":\"$BASE/api/v1/oauth/callback\"}" | json '["data"]["id"]')
  branch=$(curl -sf -XPOST "$BASE/api/v1/branches" -H "authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d "{\"branch_id\":\"bench\",\"name\":\"Bench\",\"client_id\":\"$client\"}" | json '["data"]["id"]')
  auth_url=$(curl -sf -XPOST "$BASE/api/v1/branches/$branch/oauth/start" -H "authorization: Bearer $jwt" | json '["data"]["auth_url"]')
  back=$(curl -s -o /dev/null -w '%{redirect_url}' "$auth_url")
  curl -sf -H 'accept: application/json' "$back" >/dev/null
  echo "$branch"
}

at_2000() { # $1 = path, $2.. = extra hey args
  local path=$1; shift
  hey -z "${DURATION}s" -c 20 -q 100 "$@" "$BASE$path" | hey_summary
}

RESULTS="$OUT/connections-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, ${DURATION}s per measurement, $(git rev-parse --short HEAD)"
  printf '%-10s %-24s %10s %9s %9s   %s\n' backend route "req/s" "p50 ms" "p99 ms" load
} | tee "$RESULTS"

for backend in sqlite postgres; do
  data_dir=$(mktemp -d)
  url=$(fresh_database "$backend" "$data_dir")
  start_server "$url" "$data_dir" \
    GOOGLE_AUTH_URL="$OAUTH_MOCK_URL/authorize" GOOGLE_TOKEN_URL="$OAUTH_MOCK_URL/token" GOOGLE_REVOKE_URL="$OAUTH_MOCK_URL/revoke"
  jwt=$(register_and_login bench)
  branch=$(connect_branch "$jwt")
  stub=(-H "Authorization: Bearer $(make_pat "$jwt" workspaces:read)")
  consumer=(-H "Authorization: Bearer $(make_pat "$jwt" connections:read)")
  token_path="/api/v1/branches/$branch/token"
  curl -sf "${consumer[@]}" "$BASE$token_path" | json '["data"]["token_type"]' >/dev/null

  # The token route right after /health, as bench/http.sh measures the PAT route: every PAT request
  # adds an audit row, and a table grown by a run before it would make the later run slower.
  read -r h_rps h_p50 h_p99 < <(wrk_max /health)
  read -r t_rps t_p50 t_p99 < <(wrk_max "$token_path" "${consumer[@]}")
  read -r s_rps s_p50 s_p99 < <(wrk_max /api/v1/workspaces "${stub[@]}")
  read -r hf_rps hf_p50 hf_p99 < <(at_2000 /health)
  read -r tf_rps tf_p50 tf_p99 < <(at_2000 "$token_path" "${consumer[@]}")
  stop_server
  {
    row() { printf '%-10s %-24s %10s %9s %9s   %s\n' "$backend" "$@"; }
    row "GET /health" "$h_rps" "$h_p50" "$h_p99" "wrk max"
    row "GET /workspaces (PAT)" "$s_rps" "$s_p50" "$s_p99" "wrk max"
    row "GET /branches/{id}/token" "$t_rps" "$t_p50" "$t_p99" "wrk max"
    row "GET /health" "$hf_rps" "$hf_p50" "$hf_p99" "hey 2000/s"
    row "GET /branches/{id}/token" "$tf_rps" "$tf_p50" "$tf_p99" "hey 2000/s"
    python3 -c "print(f'{\"$backend\":<10} token route / health throughput: {$t_rps / $h_rps * 100:.1f} %  (target ≥ 40 %); PAT stub: {$s_rps / $h_rps * 100:.1f} %')"
  } | tee -a "$RESULTS"
  rm -rf "$data_dir"
done
echo "results in $RESULTS"
