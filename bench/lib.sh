# Shared helpers for the HTTP benchmark scripts (sourced, not run).
# Expects BIN, PORT, BASE and OUT to be set by the caller.

require_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk hey)" >&2; exit 1; }
  done
}

# start_server URL DATA_DIR [VAR=value ...]: extra settings go into the server's environment.
start_server() {
  local url=$1 dir=$2; shift 2
  env RATE_LIMIT_PER_MINUTE=1000000000 DATABASE_URL="$url" TESSERA_DATA_DIR="$dir" TESSERA_ADDR="127.0.0.1:$PORT" \
    SECRET_KEY=bench-secret-bench-secret-bench-secret-42 LOG_FORMAT=json "$@" "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && return 0; sleep 0.1; done
  echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1
}

stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

# fresh_database BACKEND DATA_DIR → prints the database URL (a new PostgreSQL database or SQLite file).
fresh_database() {
  if [ "$1" = sqlite ]; then
    echo "sqlite://$2/bench.db"
  else
    psql "$PG_URL_BASE/postgres" -q -c "DROP DATABASE IF EXISTS tessera_bench WITH (FORCE)" -c "CREATE DATABASE tessera_bench" >/dev/null
    echo "$PG_URL_BASE/tessera_bench"
  fi
}

# register_and_login USER → prints an access JWT.
register_and_login() {
  curl -sf -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct horse battery\"}" >/dev/null
  curl -sf -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" |
    python3 -c 'import sys,json;print(json.load(sys.stdin)["data"]["access_token"])'
}

# make_pat JWT SCOPE → prints a new PAT.
make_pat() {
  curl -sf -XPOST "$BASE/api/v1/tokens" -H "authorization: Bearer $1" -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"scopes\":[\"$2\"]}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["data"]["token"])'
}

# hey_summary: reads hey's report on stdin → "achieved_rps p50_ms p99_ms"; warns on unexpected codes.
# EXPECT_CODE (default 200) is the status every response should have.
hey_summary() {
  EXPECT_CODE="${EXPECT_CODE:-200}" python3 -c '
import os, re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict((k, float(v) * 1000) for k, v in re.findall(r"\s(50|99)%+ in ([\d.]+) secs", text))
codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
bad = [c for c in codes if c[0] != os.environ["EXPECT_CODE"]]
if bad: print("WARNING: unexpected responses:", bad, file=sys.stderr)
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))'
}

# wrk_max PATH [wrk args] → "rps p50_ms p99_ms": wrk with 2 threads and 64 connections for
# DURATION seconds, as fast as the server goes; warns on non-2xx answers.
wrk_max() {
  local path=$1; shift
  wrk -t2 -c64 -d"${DURATION}s" --latency "$@" "$BASE$path" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict((k, ms(v, u)) for k, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: print("WARNING: non-2xx responses:", errors.group(1), file=sys.stderr)
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))'
}
