"""Reference values of the FCS value pipeline, computed by independent tools.

Reads every file of the FCS corpus with FlowIO (scaled events: `as_array(preprocess=True)`),
compensates with FlowKit's `Matrix` (the file's own spillover keyword) and transforms with
FlowKit's GatingML transforms; histograms and densities are numpy's. Prints one JSON document:
a list of cases, each a Tessera query and what it must answer. tests/api/fcs_reference.rs asks
Tessera over HTTP and compares.

Usage: fcs_flowkit.py CORPUS_DIR
"""

import json
import os
import sys
import warnings

import flowio
import flowkit as fk
import flowutils
import numpy as np

warnings.simplefilter("ignore")

FIRST_EVENTS = 200
HISTOGRAM_BINS = 64
DENSITY_BINS = 32

TRANSFORMS = {
    "logicle": lambda: fk.transforms.LogicleTransform(param_t=262144, param_w=0.5, param_m=4.5, param_a=0),
    "asinh": lambda: fk.transforms.AsinhTransform(param_t=262144, param_m=4.5, param_a=0),
    "log": lambda: fk.transforms.LogTransform(param_t=262144, param_m=4.5),
}


def is_fluorescence(name):
    """Tessera's default transform channels: not scatter, time or width (stated in the issue)."""
    u = name.strip().upper()
    scatter = any(u == p or (u.startswith(p) and u[len(p)] in "- _.") for p in ("FSC", "SSC", "FS", "SS"))
    return not (scatter or "TIME" in u or "WIDTH" in u or u.endswith("-W") or u.startswith("HDR"))


def datasets(path):
    """Every dataset FlowIO reads. Offsets one byte off or disagreeing between HEADER and TEXT
    are read as FlowIO's options allow; a `$TIMESTEP` that is a placeholder (`xxxxxxxxx`) is
    dropped, as Tessera ignores it, rather than failing FlowIO's scaling."""
    try:
        found = flowio.read_multiple_data_sets(
            path, ignore_offset_discrepancy=True, ignore_offset_error=True)
    except Exception as error:  # noqa: BLE001 - a file the reference tools cannot read has no reference
        print(f"{os.path.basename(path)}: not read by FlowIO ({error})", file=sys.stderr)
        return []
    for data in found:
        if data.text.get("datatype") in ("F", "D"):
            # FCS 3.1 (and ../shared/docs/fcs.md): floating-point values are already linear and
            # $PnE must read 0,0; FlowIO applies a log amplification written anyway (Guava Muse
            # writes 4,1 on float channels), so the reference follows the standard here.
            for channel in data.channels.values():
                channel["pne"] = (0.0, 0.0)
        step = data.text.get("timestep")
        if step is not None:
            try:
                if float(step) <= 0:
                    raise ValueError(step)
            except ValueError:
                del data.text["timestep"]
    return found


def spill_text(text):
    for key in ("spillover", "spill"):
        if key in text:
            return text[key]
    return None


def summary(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
        "std": float(finite.std()),
    }


def case(name, index, query, names, events):
    """What Tessera must answer for `query`: the first events, per-channel statistics, a
    histogram of one channel and a density of two, on the same values."""
    finite_columns = [i for i in range(events.shape[1]) if np.isfinite(events[:, i]).any()]
    out = {
        "file": name,
        "dataset": index,
        "query": query,
        "channels": names,
        "first_events": [[float(v) if np.isfinite(v) else None for v in row] for row in events[:FIRST_EVENTS]],
        "statistics": {names[i]: summary(events[:, i]) for i in range(len(names))},
    }
    if finite_columns:
        x = finite_columns[-1]
        y = finite_columns[0]
        out["histogram"] = histogram(names[x], events[:, x])
        out["density"] = density(names[x], events[:, x], names[y], events[:, y])
    return out


def inner_range(values):
    """A range inside the values (1st to 99th percentile), so under- and overflow occur."""
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [1, 99])
    if not low < high:
        low, high = float(finite.min()) - 0.5, float(finite.max()) + 0.5
    return float(low), float(high)


def histogram(channel, values):
    low, high = inner_range(values)
    counts, edges = np.histogram(values[np.isfinite(values)], bins=HISTOGRAM_BINS, range=(low, high))
    return {"channel": channel, "bins": HISTOGRAM_BINS, "min": low, "max": high,
            "counts": counts.tolist(), "edges": edges.tolist()}


def density(x_name, x, y_name, y):
    (x_low, x_high), (y_low, y_high) = inner_range(x), inner_range(y)
    keep = np.isfinite(x) & np.isfinite(y)
    counts, x_edges, y_edges = np.histogram2d(
        x[keep], y[keep], bins=DENSITY_BINS, range=[[x_low, x_high], [y_low, y_high]])
    return {"x": x_name, "y": y_name, "bins": DENSITY_BINS,
            "x_min": x_low, "x_max": x_high, "y_min": y_low, "y_max": y_high,
            "counts": counts.astype(int).tolist()}


def compensated(data, scaled):
    """FlowKit's compensation with the dataset's own matrix, or None when it has none."""
    text = spill_text(data.text)
    if text is None:
        return None, None
    detectors = [d.strip() for d in text.split(",")[1:int(text.split(",")[0]) + 1]]
    matrix = fk.Matrix(text, detectors)
    names = data.pnn_labels
    indices = [names.index(d) for d in detectors]
    # What Matrix.apply(sample) does once it has the sample's events.
    return flowutils.compensate.compensate(scaled, matrix.matrix, indices), detectors


def main(corpus):
    cases = []
    for name in sorted(os.listdir(corpus)):
        if not name.endswith((".fcs", ".lmd")):
            continue
        for index, data in enumerate(datasets(os.path.join(corpus, name))):
            names = list(data.pnn_labels)
            try:
                scaled = data.as_array(preprocess=True)
            except Exception as error:  # noqa: BLE001
                print(f"{name}[{index}]: FlowIO cannot scale it ({error})", file=sys.stderr)
                continue
            cases.append(case(name, index, {"scale": "scaled"}, names, scaled))
            try:
                comp, _ = compensated(data, scaled)
            except Exception as error:  # noqa: BLE001
                print(f"{name}[{index}]: FlowKit cannot compensate it ({error})", file=sys.stderr)
                comp = None
            base, base_query = scaled, {"scale": "scaled"}
            if comp is not None:
                cases.append(case(name, index, {"compensation": "file"}, names, comp))
                base, base_query = comp, {"compensation": "file"}
            channels = [n for n in names if is_fluorescence(n)]
            if not channels:
                continue
            picked = [names.index(n) for n in channels]
            for transform, make in TRANSFORMS.items():
                events = base.copy()
                events[:, picked] = make().apply(base[:, picked])
                cases.append(case(name, index, dict(base_query, transform=transform), names, events))
            events = base.copy()
            events[:, picked] = np.arcsinh(base[:, picked] / 150.0)
            cases.append(case(name, index, dict(base_query, transform="arcsinh", cofactor=150), names, events))
    json.dump(cases, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
