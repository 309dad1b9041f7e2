#!/usr/bin/env bash
# Login benchmark, on SQLite and PostgreSQL, against a release build. Needs hey (apt-get install hey).
#
# 1. Isolation: with 200 concurrent wrong-password logins in flight (lockout thresholds raised so
#    every attempt runs argon2: the worst case), GET /health and a PAT route are driven at a
#    fixed 500 req/s each; their p99 must stay under 50 ms. The same routes are measured without
#    the flood first, for comparison.
# 2. Throughput: correct logins from 32 workers against the bound cores ÷ hash time, where the
#    hash time is one argon2id verification on one thread (examples/hash_time.rs). Target ≥ 80 %.
#
#   bench/login.sh               # 10 s per measurement
#   DURATION=20 bench/login.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
PG_URL_BASE="${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-18081}"
BASE="http://127.0.0.1:$PORT"
OUT="bench/results"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/tessera"
mkdir -p "$OUT"
source bench/lib.sh
require_tools hey curl python3

cargo build --release -q --bin tessera --example hash_time
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null' EXIT
if curl -s "$BASE/health" >/dev/null; then echo "port $PORT is taken; set PORT" >&2; exit 1; fi

# The flood targets another account than the correct logins, so that its thousands of failures
# do not put brute-force delays in front of the throughput measurement.
WRONG='{"username":"flooded","password":"wrong password"}'
RIGHT='{"username":"bench","password":"correct horse battery"}'
login_load() { # $1 = workers, $2 = seconds, $3 = body
  hey -z "$2s" -c "$1" -m POST -T application/json -d "$3" "$BASE/api/v1/auth/login"
}
at_500() { # $1 = path, $2.. = extra hey args
  local path=$1; shift
  hey -z "${DURATION}s" -c 10 -q 50 "$@" "$BASE$path" | hey_summary
}

RESULTS="$OUT/login-$(date -u +%Y%m%dT%H%M%SZ).txt"
CORES=$(nproc)
HASH_MS=$("$TARGET/release/examples/hash_time")
{
  echo "# $(date -u +%FT%TZ) $CORES cores, ${DURATION}s per measurement, $(git rev-parse --short HEAD)"
  echo "# argon2id verification (m=19 MiB, t=2, p=1) on one thread: $HASH_MS ms"
  printf '%-10s %-34s %9s %9s %9s\n' backend measurement "req/s" "p50 ms" "p99 ms"
} | tee "$RESULTS"

for backend in sqlite postgres; do
  data_dir=$(mktemp -d)
  url=$(fresh_database "$backend" "$data_dir")
  start_server "$url" "$data_dir" LOGIN_LOCK_THRESHOLD=10000 LOGIN_IP_LOCK_THRESHOLD=1000000
  jwt=$(register_and_login bench)
  auth=(-H "Authorization: Bearer $(make_pat "$jwt" workspaces:read)")

  read -r hq_rps hq_p50 hq_p99 < <(at_500 /health)
  read -r pq_rps pq_p50 pq_p99 < <(at_500 /api/v1/workspaces "${auth[@]}")
  login_load 200 $((2 * DURATION + 6)) "$WRONG" >"$OUT/flood.txt" &
  FLOOD=$!
  sleep 3 # let the flood reach 200 requests in flight
  read -r hf_rps hf_p50 hf_p99 < <(at_500 /health)
  read -r pf_rps pf_p50 pf_p99 < <(at_500 /api/v1/workspaces "${auth[@]}")
  wait "$FLOOD"
  read -r fl_rps fl_p50 fl_p99 < <(EXPECT_CODE=401 hey_summary <"$OUT/flood.txt")
  read -r lg_rps lg_p50 lg_p99 < <(login_load 32 "$DURATION" "$RIGHT" | hey_summary)
  stop_server
  {
    row() { printf '%-10s %-34s %9s %9s %9s\n' "$backend" "$@"; }
    row "GET /health, quiet, 500/s" "$hq_rps" "$hq_p50" "$hq_p99"
    row "GET /workspaces (PAT), quiet, 500/s" "$pq_rps" "$pq_p50" "$pq_p99"
    row "wrong logins, 200 in flight" "$fl_rps" "$fl_p50" "$fl_p99"
    row "GET /health during flood, 500/s" "$hf_rps" "$hf_p50" "$hf_p99"
    row "GET /workspaces (PAT) during flood" "$pf_rps" "$pf_p50" "$pf_p99"
    row "correct logins, 32 workers" "$lg_rps" "$lg_p50" "$lg_p99"
    python3 -c "
bound = $CORES / ($HASH_MS / 1000)
print(f'{\"$backend\":<10} flood p99: /health {$hf_p99:.1f} ms, PAT {$pf_p99:.1f} ms (target < 50 ms)')
print(f'{\"$backend\":<10} logins/s {$lg_rps:.0f} vs bound {bound:.0f} = {$lg_rps / bound * 100:.1f} %  (target ≥ 80 %)')"
  } | tee -a "$RESULTS"
  rm -rf "$data_dir"
done
echo "results in $RESULTS"
