#!/usr/bin/env bash
# Response compression (issue 10): bytes and time of one 10,000-event FCS page
# (`GET /api/v1/fcs/events?limit=10000`, all 26 channels of the synthetic sample) without and with
# each encoding, side by side in one run against a release build on SQLite (compression does not
# depend on the backend). Time is curl's total on loopback, so it is the server's cost of
# building (and compressing) the page; the "at 100 Mbit/s" column adds the wire time such a link
# would take for those bytes, which is what compression is for.
#
#   bench/compression.sh            # 15 fetches per encoding
#   RUNS=30 bench/compression.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-15}"
PORT="${PORT:-18083}"
BASE="http://127.0.0.1:$PORT"
OUT="bench/results"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/tessera"
mkdir -p "$OUT"
source bench/lib.sh
require_tools curl python3

cargo build --release -q --bin tessera
SERVER=
DATA=$(mktemp -d)
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT
if curl -s "$BASE/health" >/dev/null; then echo "port $PORT is taken; set PORT" >&2; exit 1; fi
start_server "$(fresh_database sqlite "$DATA")" "$DATA"
JWT=$(register_and_login bench)
PAT=$(make_pat "$JWT" fcs:read)
URL="$BASE/api/v1/fcs/events?limit=10000"
# Warm the decoded-column cache so every measured fetch costs the same.
curl -sf -o /dev/null -H "authorization: Bearer $PAT" "$URL"

RESULTS="$OUT/compression-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, $RUNS fetches per encoding, $(git rev-parse --short HEAD)"
  printf '%-9s %12s %8s %14s %14s %18s\n' encoding bytes ratio "median ms" "p90 ms" "at 100 Mbit/s ms"
} | tee "$RESULTS"
PLAIN_BYTES=
for encoding in identity gzip br zstd; do
  samples=$(for _ in $(seq 1 "$RUNS"); do
    curl -sf -o /dev/null -H "authorization: Bearer $PAT" -H "accept-encoding: $encoding" \
      -w '%{size_download} %{time_total}\n' "$URL"
  done)
  read -r bytes median p90 < <(python3 -c '
import sys, statistics
rows = [line.split() for line in sys.stdin.read().strip().splitlines()]
sizes = {int(r[0]) for r in rows}
times = sorted(float(r[1]) * 1000 for r in rows)
print(max(sizes), "%.1f" % statistics.median(times), "%.1f" % times[int(0.9 * (len(times) - 1))])' <<<"$samples")
  PLAIN_BYTES=${PLAIN_BYTES:-$bytes}
  python3 -c '
import sys
enc, b, plain, med, p90 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
wire = b * 8 / 100e6 * 1000
print("%-9s %12d %7.1f%% %14.1f %14.1f %18.1f" % (enc, b, 100 * b / plain, med, p90, med + wire))' \
    "$encoding" "$bytes" "$PLAIN_BYTES" "$median" "$p90" | tee -a "$RESULTS"
done
echo "results: $RESULTS"
