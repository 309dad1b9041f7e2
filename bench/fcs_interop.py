"""Checks that an FCS 3.1 file written by the engine reads back identically in fcsparser and FlowIO.

Usage: fcs_interop.py TESSERA_BINARY FILE  (FILE written by `tessera fcs synth`). Exits non-zero on
any difference; compares every event as float32 (the file's data type).
"""
import json
import subprocess
import sys

import fcsparser
import flowio
import numpy as np

binary, path = sys.argv[1], sys.argv[2]
_, frame = fcsparser.parse(path, reformat_meta=False)
via_fcsparser = frame.to_numpy(np.float32)
fd = flowio.FlowData(path)
via_flowio = np.asarray(fd.events, dtype=np.float32).reshape(-1, fd.channel_count)
total = via_fcsparser.shape[0]
rows = []
for offset in range(0, total, 10_000):
    page = json.loads(subprocess.check_output(
        [binary, "fcs", "events", path, "--limit", "10000", "--offset", str(offset)]))
    rows.extend(list(event.values()) for event in page["events"])
via_engine = np.array(rows, dtype=np.float32)
same = np.array_equal(via_engine, via_fcsparser) and np.array_equal(via_engine, via_flowio)
print(f"interop: {total} events x {via_engine.shape[1]} parameters written by tessera-fcs; "
      f"fcsparser and FlowIO read identical values: {same}")
sys.exit(0 if same else 1)
