#!/usr/bin/env bash
# Console page benchmark (issue 12): every page rendered server-side at a fixed 50 pages/s on
# SQLite, side by side with GET /health at the same rate, in one run against a release build;
# and each page's weight with its assets (the stylesheet and the one script), raw and gzipped.
# Targets: p99 < 20 ms per page; no page heavier than 150 KB with its assets.
# Needs hey (Debian: apt-get install hey).
#
#   bench/console.sh               # 10 s per page
#   DURATION=30 bench/console.sh   # longer runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
RATE=50 # pages per second: 5 workers × 10 each
PORT="${PORT:-18081}"
BASE="http://127.0.0.1:$PORT"
OUT="bench/results"
mkdir -p "$OUT"
BIN=target/release/tessera
source bench/lib.sh
require_tools hey curl python3 gzip

cargo build --release -q
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null' EXIT
if curl -s "$BASE/health" >/dev/null; then echo "port $PORT is taken; set PORT" >&2; exit 1; fi

DATA=$(mktemp -d)
URL="sqlite://$DATA/bench.db"
export TESSERA_DATA_DIR="$DATA" DATABASE_URL="$URL" SECRET_KEY=bench-secret-bench-secret-bench-secret-42
PASSWORD="correct horse battery"
"$BIN" migrate >/dev/null
TESSERA_PASSWORD="$PASSWORD" "$BIN" users create --username admin --email admin@example.com --role admin >/dev/null
start_server "$URL" "$DATA"

# api METHOD PATH [JSON] with the admin's JWT: the answer's data as JSON.
JWT=$(curl -sf -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["data"]["access_token"])')
api() {
  curl -sf -X "$1" "$BASE$2" -H "authorization: Bearer $JWT" ${3:+-H 'content-type: application/json' -d "$3"} |
    python3 -c 'import sys,json;d=json.load(sys.stdin)["data"];print(d.get("id",""))'
}
field() { python3 -c "import sys,json;print(json.load(sys.stdin)[\"data\"][\"$1\"])"; }

# Something on every page: a token with 100 audit entries, a beneficiary with 20 sessions, an
# OAuth client and 5 branches.
TOKEN_JSON=$(curl -sf -XPOST "$BASE/api/v1/tokens" -H "authorization: Bearer $JWT" -H 'content-type: application/json' \
  -d '{"name":"plate reader","scopes":["workspaces:read","fcs:read"],"expires_in_days":30}')
TOKEN_ID=$(echo "$TOKEN_JSON" | field id)
PAT=$(echo "$TOKEN_JSON" | field token)
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/api/v1/workspaces" -H "authorization: Bearer $PAT"; done
BENEFICIARY=$(api POST /api/v1/beneficiaries '{"national_id":"B-1","first_name":"Layla","last_name":"Haddad",
  "date_of_birth":"2015-04-30","gender":"female","guardian_name":"Omar Haddad","guardian_phone":"+44 20 7946 0958"}')
for i in $(seq 1 20); do
  day=$(python3 -c "import datetime;print(datetime.date.today()+datetime.timedelta(days=$i))")
  api POST "/api/v1/beneficiaries/$BENEFICIARY/sessions" \
    "{\"session_type\":\"speech\",\"session_date\":\"$day\",\"start_time\":\"10:00\",\"end_time\":\"10:45\"}" >/dev/null
done
CLIENT=$(api POST /api/v1/oauth-clients '{"client_id":"bench.apps.googleusercontent.com","client_secret":"s",
  "redirect_uri":"https://tessera.example/branches/callback"}')
for i in $(seq 1 5); do
  api POST /api/v1/branches "{\"branch_id\":\"branch-$i\",\"name\":\"Branch $i\",\"client_id\":\"$CLIENT\"}" >/dev/null
done

# Sign in to the console like a browser; the cookies go with every page request.
JAR="$DATA/cookies"
curl -sf -o /dev/null -c "$JAR" -H "Origin: $BASE" --data-urlencode login=admin \
  --data-urlencode "password=$PASSWORD" "$BASE/sign-in"
COOKIE=$(python3 -c 'import sys
print("; ".join(f"{p[5]}={p[6]}" for p in (l.rstrip("\n").split("\t") for l in open(sys.argv[1]))
      if len(p) == 7 and not p[0].startswith("# ") and p[5]))' "$JAR")
COOKIE=${COOKIE//#HttpOnly_/}

PAGES=(/ /tokens /tokens/new "/tokens/$TOKEN_ID" /fcs /fcs/sample /beneficiaries
  "/beneficiaries/$BENEFICIARY" "/beneficiaries/$BENEFICIARY/log" /sessions /profile /users /branches)

# hey at RATE/s → "achieved_rps p50_ms p99_ms"
fixed_rate() {
  hey -z "${DURATION}s" -c 5 -q $((RATE / 5)) -H "Cookie: $COOKIE" -H "Accept: text/html" "$BASE$1" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict((k, float(v) * 1000) for k, v in re.findall(r"\s(50|99)%+ in ([\d.]+) secs", text))
codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
bad = [c for c in codes if c[0] != "200"]
if bad: print("WARNING: non-200 responses:", bad, file=sys.stderr)
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))'
}

# bytes PATH → "raw gzip" of the page itself
bytes() {
  curl -sf -H "Cookie: $COOKIE" -H "Accept: text/html" "$BASE$1" -o "$DATA/page"
  echo "$(wc -c <"$DATA/page") $(gzip -c "$DATA/page" | wc -c)"
}
read -r css_raw css_gz < <(bytes /console.css)
read -r js_raw js_gz < <(bytes /console.js)

RESULTS="$OUT/console-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, SQLite, ${DURATION}s per page at $RATE pages/s, $(git rev-parse --short HEAD)"
  printf '%-34s %7s %8s %8s %12s %12s\n' page "req/s" "p50 ms" "p99 ms" "KB+assets" "gzip KB"
} | tee "$RESULTS"
read -r rps p50 p99 < <(fixed_rate /health)
printf '%-34s %7s %8s %8s %12s %12s\n' "GET /health (reference)" "$rps" "$p50" "$p99" - - | tee -a "$RESULTS"
worst=0
for page in "${PAGES[@]}"; do
  bytes "$page" >/dev/null # warm: the FCS sample's statistics and histograms are computed once
  read -r raw gz < <(bytes "$page")
  read -r rps p50 p99 < <(fixed_rate "$page")
  name=${page//$TOKEN_ID/{id\}}
  name=${name//$BENEFICIARY/{id\}}
  printf '%-34s %7s %8s %8s %12.1f %12.1f\n' "GET $name" "$rps" "$p50" "$p99" \
    "$(python3 -c "print(($raw + $css_raw + $js_raw) / 1024)")" "$(python3 -c "print(($gz + $css_gz + $js_gz) / 1024)")" |
    tee -a "$RESULTS"
  worst=$(python3 -c "print(max($worst, $p99))")
done
python3 -c "print(f'slowest page p99: {$worst:.2f} ms (target < 20 ms)')" | tee -a "$RESULTS"
stop_server
rm -rf "$DATA"
echo "results in $RESULTS"
