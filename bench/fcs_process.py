"""The issue 13 figure for bench/fcs.sh: whole-process `tessera fcs stats FILE` against the
faster of fcsparser + numpy and FlowIO + numpy measured in-process, best of RUNS each, with
the peak RSS of the tessera process.

Python computes what the issue names (min, max, mean, median, std per channel) after parsing
into a float64 array, the way a script would. Tessera is timed as a user runs it: exec, open,
statistics, JSON printed (to /dev/null). Prints one JSON line.
"""
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def fcsparser_stats(path):
    import fcsparser

    _, data = fcsparser.parse(path, reformat_meta=False)
    a = data.to_numpy(dtype=np.float64)
    return a.min(0), a.max(0), a.mean(0), np.median(a, 0), a.std(0)


def flowio_stats(path):
    import flowio

    fd = flowio.FlowData(path)
    a = np.asarray(fd.events, dtype=np.float64).reshape(-1, fd.channel_count)
    return a.min(0), a.max(0), a.mean(0), np.median(a, 0), a.std(0)


def best_ms(runs, work):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def main():
    tessera, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(os.devnull, "wb") as sink:
        run = lambda: subprocess.run([tessera, "fcs", "stats", path], stdout=sink, check=True)  # noqa: E731
        tessera_ms = best_ms(runs, run)
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    python = {name: best_ms(runs, lambda: work(path))
              for name, work in (("fcsparser", fcsparser_stats), ("flowio", flowio_stats))}
    faster = min(python, key=python.get)
    print(json.dumps({
        "file": path,
        "file_bytes": os.path.getsize(path),
        "tessera_fcs_stats_ms": round(tessera_ms, 1),
        "tessera_peak_rss_bytes": peak_rss,
        "python_ms": {k: round(v, 1) for k, v in python.items()},
        "faster_python": faster,
        "speedup": round(python[faster] / tessera_ms, 1),
        "rss_over_file": round(peak_rss / os.path.getsize(path), 2),
    }))


if __name__ == "__main__":
    main()
