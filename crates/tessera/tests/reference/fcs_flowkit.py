"""Reference values of the FCS value pipeline, computed by independent tools.

Reads every file of the FCS corpus with FlowIO (scaled events: `as_array(preprocess=True)`),
compensates with FlowKit's `Matrix` (the file's own spillover keyword), transforms with
FlowKit's GatingML transforms and gates with FlowKit's `RectangleGate` and `PolygonGate`;
histograms and densities are numpy's. Prints one JSON document:
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
import pandas as pd

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


CHOSEN = "count,min,max,mean,median,stddev,cv,mad,geomean,robust_cv,quantile:0.05,quantile:0.95"


def summary(values):
    """The default statistics and those `stats=CHOSEN` names, by numpy over the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    mean, median, std = finite.mean(), np.median(finite), finite.std()
    q25, q75, q05, q95 = np.percentile(finite, [25, 75, 5, 95])
    positive = finite[finite > 0]
    number = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(mean),
        "median": float(median),
        "std": float(std),
        "chosen": {
            "count": int(finite.size),
            "min": float(finite.min()),
            "max": float(finite.max()),
            "mean": float(mean),
            "median": float(median),
            "stddev": float(std),
            "cv": number(100 * std / abs(mean)) if mean != 0 else None,
            "mad": float(np.median(np.abs(finite - median))),
            "geomean": float(np.exp(np.log(positive).mean())) if positive.size else None,
            "robust_cv": number(100 * 0.7413 * (q75 - q25) / median) if median != 0 else None,
            "quantile:0.05": float(q05),
            "quantile:0.95": float(q95),
        },
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
        "chosen": CHOSEN,
    }
    # Raw and scaled values are exact in both tools, so ranges and gate edges can sit on event
    # values and test which side an edge belongs to. Compensated and transformed values are
    # not bit for bit: numpy solves each event by LU decomposition where Tessera multiplies by
    # the inverted matrix (1e-15 apart); Tessera's logicle reads a table within 2e-10 of the
    # root, and numpy's arcsinh may be a SIMD routine an ulp from libm's. An edge on such a
    # value would test rounding, not binning, so there edges sit between neighbouring values.
    on_values = "compensation" not in query and "transform" not in query
    if finite_columns:
        x = finite_columns[-1]
        y = finite_columns[0]
        out["histogram"] = histogram(names[x], events[:, x], on_values)
        out["density"] = density(names[x], events[:, x], names[y], events[:, y], on_values)
        if names.count(names[x]) == 1 and names.count(names[y]) == 1 and x != y:
            out["gates"] = gates(names[x], events[:, x], names[y], events[:, y], on_values)
    return out


def inner_range(values, on_values=True):
    """A range inside the values (1st to 99th percentile), so under- and overflow occur; its
    ends moved off the values unless `on_values`."""
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [1, 99])
    if not on_values:
        low, high = off_values(finite, low), off_values(finite, high)
    if not low < high:
        low, high = float(finite.min()) - 0.5, float(finite.max()) + 0.5
    return float(low), float(high)


def histogram(channel, values, on_values):
    low, high = inner_range(values, on_values)
    counts, edges = np.histogram(values[np.isfinite(values)], bins=HISTOGRAM_BINS, range=(low, high))
    return {"channel": channel, "bins": HISTOGRAM_BINS, "min": low, "max": high,
            "counts": counts.tolist(), "edges": edges.tolist()}


def density(x_name, x, y_name, y, on_values):
    (x_low, x_high), (y_low, y_high) = inner_range(x, on_values), inner_range(y, on_values)
    keep = np.isfinite(x) & np.isfinite(y)
    counts, x_edges, y_edges = np.histogram2d(
        x[keep], y[keep], bins=DENSITY_BINS, range=[[x_low, x_high], [y_low, y_high]])
    return {"x": x_name, "y": y_name, "bins": DENSITY_BINS,
            "x_min": x_low, "x_max": x_high, "y_min": y_low, "y_max": y_high,
            "counts": counts.astype(int).tolist()}


def off_values(values, edge):
    """The midpoint between `edge` and the next larger value; past the largest, a millionth
    beyond it (far more than the two tools' rounding apart)."""
    above = values[values > edge]
    return (edge + above.min()) / 2 if above.size else edge + max(abs(edge), 1.0) * 1e-6


def gates(x_name, x, y_name, y, on_values):
    """A rectangle, a convex polygon, a self-crossing star and the star inside the rectangle,
    placed on the values' percentiles, with the members FlowKit counts.

    With `on_values`, the rectangle's edges are event values where the percentile falls on
    one, which tests min-inclusive, max-exclusive; otherwise they sit between neighbouring
    values (see `case`)."""
    frame = pd.DataFrame({x_name: x, y_name: y})
    (x10, x40, x70), (y10, y40, y70) = (
        np.percentile(v[np.isfinite(v)], [10, 40, 70]).tolist() for v in (x, y))
    if not on_values:
        x10, x70 = off_values(x, x10), off_values(x, x70)
        y10, y70 = off_values(y, y10), off_values(y, y70)
    (x_low, x_high), (y_low, y_high) = inner_range(x), inner_range(y)
    if not x10 < x70:  # a channel mostly one value: the inner range instead
        x10, x70 = x_low, x_high
    if not y10 < y70:
        y10, y70 = y_low, y_high
    dimensions = lambda **bounds: [  # noqa: E731
        fk.Dimension(x_name, range_min=bounds.get("x_min"), range_max=bounds.get("x_max")),
        fk.Dimension(y_name, range_min=bounds.get("y_min"), range_max=bounds.get("y_max"))]
    rectangle = fk.gates.RectangleGate(
        "rectangle", dimensions(x_min=x10, x_max=x70, y_min=y10, y_max=y70))
    centre, radius = (x40, y40), ((x_high - x_low) / 2, (y_high - y_low) / 2)
    hexagon = [[centre[0] + radius[0] * np.cos(a), centre[1] + radius[1] * np.sin(a)]
               for a in np.linspace(0, 2 * np.pi, 7)[:-1] + 0.1]
    star = [[centre[0] + radius[0] * np.cos(np.pi / 2 + k * 4 * np.pi / 5),
             centre[1] + radius[1] * np.sin(np.pi / 2 + k * 4 * np.pi / 5)] for k in range(5)]
    inside = {
        "rectangle": rectangle.apply(frame),
        "hexagon": fk.gates.PolygonGate("hexagon", dimensions(), hexagon).apply(frame),
        "star": fk.gates.PolygonGate("star", dimensions(), star).apply(frame),
    }
    return {
        "x": x_name, "y": y_name,
        "rectangle": {"min": [x10, y10], "max": [x70, y70], "count": int(inside["rectangle"].sum())},
        "hexagon": {"vertices": hexagon, "count": int(inside["hexagon"].sum())},
        "star": {"vertices": star, "count": int(inside["star"].sum()),
                 "in_rectangle": int((inside["star"] & inside["rectangle"]).sum())},
    }


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
