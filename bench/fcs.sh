#!/usr/bin/env bash
# FCS benchmark: this engine against fcsparser 0.2.8 and FlowIO 1.4.0 (Python, bench-only
# virtualenv from PyPI), in one run on the same files:
#   (a) parse of the DxFLEX sample (../shared/data/fcs/dxflex_clearllab_10c_t_tube.fcs)
#   (b) parse + all-channel statistics of a generated 1,000,000 × 26 float32 file (~104 MB)
#   (c) issue 13: whole-process `tessera fcs stats` on that file against fcsparser + numpy and
#       FlowIO + numpy in-process (min, max, mean, median, std), best of 3, and its peak RSS
# Reports median wall times and ratios. RUNS (default 7) runs per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-7}"
VENV="${FCS_BENCH_VENV:-bench/.venv-fcs}"
OUT=bench/results
mkdir -p "$OUT"
SAMPLE=../shared/data/fcs/dxflex_clearllab_10c_t_tube.fcs
[ -f "$SAMPLE" ] || { echo "missing $SAMPLE" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q fcsparser==0.2.8 flowio==1.4.0 numpy six
fi

cargo build --release -q -p tessera-fcs --example bench_compare
RUST=target/release/examples/bench_compare
BIG=$(mktemp -d)/float32_1M_x_26.fcs
trap 'rm -rf "$(dirname "$BIG")"' EXIT
"$RUST" generate "$BIG" 1000000 26

# The engine's writer: what it writes, fcsparser and FlowIO must read back to identical values.
cargo build --release -q -p tessera
target/release/tessera fcs synth "$(dirname "$BIG")/synthetic.fcs" >/dev/null
"$VENV/bin/python" bench/fcs_interop.py target/release/tessera "$(dirname "$BIG")/synthetic.fcs"

RESULTS="$OUT/fcs-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
{
  "$RUST" time "$RUNS" "$SAMPLE" "$BIG" | sed 's/^{/{"tool":"tessera-fcs",/'
  "$VENV/bin/python" bench/fcs_python.py "$RUNS" "$SAMPLE" "$BIG"
} | tee "$RESULTS"

"$VENV/bin/python" bench/fcs_process.py target/release/tessera "$BIG" 3 | tee -a "$RESULTS"

python3 - "$RESULTS" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
rows = [r for r in lines if "tool" in r]
process = [r for r in lines if "speedup" in r]
by = {(r["tool"], r["file"]): r for r in rows if "error" not in r}
files = sorted({r["file"] for r in rows}, key=lambda f: "float32" in f)
print()
print(f"{'file':<34} {'tool':<12} {'parse ms':>10} {'parse+stats ms':>15} {'x slower than tessera-fcs (parse, +stats)':>44}")
for f in files:
    ours = by.get(("tessera-fcs", f))
    for tool in ("tessera-fcs", "fcsparser", "flowio"):
        r = by.get((tool, f))
        if not r:
            print(f"{f.split('/')[-1]:<34} {tool:<12} {'error':>10}")
            continue
        ratio = "" if tool == "tessera-fcs" else f"{r['parse_ms']/ours['parse_ms']:.1f}x, {r['parse_stats_ms']/ours['parse_stats_ms']:.1f}x"
        print(f"{f.split('/')[-1]:<34} {tool:<12} {r['parse_ms']:>10.1f} {r['parse_stats_ms']:>15.1f} {ratio:>44}")
    if ours and "bytes" in ours:
        print(f"{'':<34} {'':<12} tessera-fcs parse throughput: {ours['bytes'] / ours['parse_ms'] / 1e6:.2f} GB/s")
for r in process:
    print()
    print(f"whole-process tessera fcs stats: {r['tessera_fcs_stats_ms']} ms, peak RSS "
          f"{r['tessera_peak_rss_bytes'] / 1e6:.0f} MB ({r['rss_over_file']}x the file); "
          f"{r['faster_python']} + numpy {r['python_ms'][r['faster_python']]} ms: {r['speedup']}x")
PY
