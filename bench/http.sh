#!/usr/bin/env bash
# HTTP benchmark: GET /health vs GET /api/v1/workspaces with a valid PAT (audit on), on SQLite and
# PostgreSQL, in one run against a release build. Needs wrk and hey (Debian: apt-get install wrk hey).
#
#   bench/http.sh                 # both backends, 10 s per measurement
#   DURATION=20 bench/http.sh     # longer runs
#
# Throughput: wrk, 2 threads, 64 connections, as fast as the server goes.
# Latency at a fixed rate: hey, 20 workers × 100 req/s = 2,000 req/s.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
PG_URL_BASE="${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-18080}"
BASE="http://127.0.0.1:$PORT"
OUT="bench/results"
mkdir -p "$OUT"
source bench/lib.sh

for tool in wrk hey curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk hey)" >&2; exit 1; }
done

cargo build --release -q
BIN=target/release/tessera

start_server() { # $1 = database url, $2 = data dir
  RATE_LIMIT_PER_MINUTE=1000000000 DATABASE_URL="$1" TESSERA_DATA_DIR="$2" TESSERA_ADDR="127.0.0.1:$PORT" \
    SECRET_KEY=bench-secret-bench-secret-bench-secret-42 LOG_FORMAT=json "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && return 0; sleep 0.1; done
  echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1
}

stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null' EXIT
if curl -s "$BASE/health" >/dev/null; then echo "port $PORT is taken; set PORT" >&2; exit 1; fi

make_pat() {
  curl -sf -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"correct horse battery"}' >/dev/null
  local jwt
  jwt=$(curl -sf -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"correct horse battery"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["data"]["access_token"])')
  curl -sf -XPOST "$BASE/api/v1/tokens" -H "authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d '{"name":"bench","scopes":["workspaces:read"]}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["data"]["token"])'
}

# hey at 2,000 req/s → "achieved_rps p50_ms p99_ms"
fixed_rate() { # $1 = path, $2.. = extra hey args
  local path=$1; shift
  hey -z "${DURATION}s" -c 20 -q 100 "$@" "$BASE$path" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict((k, float(v) * 1000) for k, v in re.findall(r"\s(50|99)%+ in ([\d.]+) secs", text))
codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
bad = [c for c in codes if c[0] != "200"]
if bad: print("WARNING: non-200 responses:", bad, file=sys.stderr)
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))'
}

RESULTS="$OUT/http-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, ${DURATION}s per measurement, $(git rev-parse --short HEAD)"
  printf '%-10s %-22s %10s %9s %9s   %s\n' backend route "req/s" "p50 ms" "p99 ms" "load"
} | tee "$RESULTS"

for backend in sqlite postgres; do
  data_dir=$(mktemp -d)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$data_dir/bench.db"
  else
    psql "$PG_URL_BASE/postgres" -q -c "DROP DATABASE IF EXISTS tessera_bench WITH (FORCE)" -c "CREATE DATABASE tessera_bench"
    url="$PG_URL_BASE/tessera_bench"
  fi
  start_server "$url" "$data_dir"
  pat=$(make_pat)
  auth=(-H "Authorization: Bearer $pat")
  read -r h_rps h_p50 h_p99 < <(wrk_max /health)
  read -r p_rps p_p50 p_p99 < <(wrk_max /api/v1/workspaces "${auth[@]}")
  read -r hf_rps hf_p50 hf_p99 < <(fixed_rate /health)
  read -r pf_rps pf_p50 pf_p99 < <(fixed_rate /api/v1/workspaces "${auth[@]}")
  stop_server
  {
    printf '%-10s %-22s %10s %9s %9s   %s\n' "$backend" "GET /health" "$h_rps" "$h_p50" "$h_p99" "wrk max"
    printf '%-10s %-22s %10s %9s %9s   %s\n' "$backend" "GET /workspaces (PAT)" "$p_rps" "$p_p50" "$p_p99" "wrk max"
    printf '%-10s %-22s %10s %9s %9s   %s\n' "$backend" "GET /health" "$hf_rps" "$hf_p50" "$hf_p99" "hey 2000/s"
    printf '%-10s %-22s %10s %9s %9s   %s\n' "$backend" "GET /workspaces (PAT)" "$pf_rps" "$pf_p50" "$pf_p99" "hey 2000/s"
    python3 -c "print(f'{\"$backend\":<10} PAT route / health throughput: {$p_rps / $h_rps * 100:.1f} %  (target ≥ 40 %)')"
  } | tee -a "$RESULTS"
  rm -rf "$data_dir"
done
echo "results in $RESULTS"
