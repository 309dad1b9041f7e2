"""Times fcsparser and FlowIO on FCS files, for bench/fcs.sh.

For each file and tool prints one JSON line: the median wall time in milliseconds of RUNS runs of
(a) parse into a float array and (b) parse + numpy statistics per channel (min, max, mean, median,
std, 5th/95th percentiles), the same statistics the Rust engine computes.
"""
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def parse_fcsparser(path):
    import fcsparser

    _, data = fcsparser.parse(path, reformat_meta=False)
    return data.to_numpy(dtype=np.float64)


def parse_flowio(path):
    import flowio

    fd = flowio.FlowData(path)
    return np.asarray(fd.events, dtype=np.float64).reshape(-1, fd.channel_count)


def statistics(a):
    return (a.min(axis=0), a.max(axis=0), a.mean(axis=0), np.median(a, axis=0), a.std(axis=0),
            np.percentile(a, [5, 95], axis=0))


def median_ms(runs, work):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


def main():
    runs = int(sys.argv[1])
    for path in sys.argv[2:]:
        for name, parse in (("fcsparser", parse_fcsparser), ("flowio", parse_flowio)):
            try:
                parse_ms = median_ms(runs, lambda: parse(path))
                stats_ms = median_ms(runs, lambda: statistics(parse(path)))
            except Exception as error:  # a tool that cannot read the file is reported, not fatal
                print(json.dumps({"file": path, "tool": name, "error": str(error)[:200]}))
                continue
            print(json.dumps({"file": path, "tool": name, "parse_ms": round(parse_ms, 3),
                              "parse_stats_ms": round(stats_ms, 3)}))


if __name__ == "__main__":
    main()
