"""Reads a file Tessera exported with independent tools and prints what they read, as JSON.

Usage: read_export.py EXPORT.fcs EXPORT.csv

The FCS file is read by fcsparser and by FlowIO (raw values: an export is float data, which
neither scales); the CSV by Python's csv module. tests/api/fcs_export.rs compares the three
with the events Tessera answers for the same query.
"""

import csv
import json
import sys
import warnings

import fcsparser
import flowio

warnings.simplefilter("ignore")


def number(v):
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def main(fcs_path, csv_path):
    meta, frame = fcsparser.parse(fcs_path, reformat_meta=False, channel_naming="$PnN")
    flow = flowio.FlowData(fcs_path)
    events = flow.as_array(preprocess=False)
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    json.dump({
        "fcsparser": {
            "channels": list(frame.columns),
            "columns": [[number(float(v)) for v in frame[c]] for c in frame.columns],
            "keywords": {k: str(v) for k, v in meta.items() if isinstance(v, (str, int, float))},
        },
        "flowio": {
            "channels": list(flow.pnn_labels),
            "columns": [[number(float(v)) for v in events[:, i]] for i in range(events.shape[1])],
        },
        "csv": {
            "header": rows[0],
            "columns": [[number(float(row[i])) for row in rows[1:]] for i in range(len(rows[0]))],
        },
    }, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
