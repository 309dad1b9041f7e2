//! `GET /api/v1/fcs/plot`: a histogram, dot plot or density plot as an SVG image, drawn from
//! the same counts the histogram and density routes answer, or that image rasterised to PNG.
//!
//! Axes are labelled `$PnN ($PnS)`. A transformed axis is still read in data units: its ticks
//! sit at 0 and the powers of ten (`10³`, `−10²`) where the transform puts them, as cytometry
//! software draws logicle and arcsinh axes; an untransformed axis gets round linear ticks.
//! A dot plot is a density at (at most) one cell per pixel, drawn one colour; a density
//! colours each cell by the logarithm of its count.

use std::sync::{Arc, OnceLock};

use askama::Template;
use resvg::{tiny_skia, usvg};
use tessera_fcs::binning::{self, Bins};
use tessera_fcs::{FcsError, Parameter, Transform};

/// Least pixels a side may have: below it the axes' labels no longer fit. (The most is
/// `FCS_MAX_PLOT_PIXELS`.)
pub const MIN_SIDE_PIXELS: u32 = 160;
/// Margins around the plot area, in pixels: room for tick labels and axis titles.
const LEFT: f64 = 72.0;
const BOTTOM: f64 = 48.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 16.0;
/// Closest two tick labels may sit, in pixels.
const TICK_SPACING: f64 = 28.0;

/// What to draw.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    /// One channel's distribution.
    Histogram,
    /// Two channels, every event a dot.
    Scatter,
    /// Two channels, cells coloured by how many events they hold.
    Density,
}

/// One axis: its span on the plotted (possibly transformed) scale and how to label it.
pub struct Axis<'a> {
    pub min: f64,
    pub max: f64,
    pub label: String,
    /// The transform of the channel, if any: ticks are then placed at data values.
    pub transform: Option<&'a Transform>,
}

struct Tick {
    at: f64,
    label: String,
}

struct Cell {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    fill: &'static str,
}

#[derive(Template)]
#[template(path = "fcs/plot.svg")]
struct PlotSvg {
    title: String,
    width: u32,
    height: u32,
    left: f64,
    top: f64,
    plot_width: f64,
    plot_height: f64,
    cells: Vec<Cell>,
    outline: String,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    x_label: String,
    y_label: String,
}

/// The plot of `x_values` (and `y_values` for two-channel kinds) as SVG, `width` × `height`
/// pixels (checked against [`MIN_SIDE_PIXELS`] and `FCS_MAX_PLOT_PIXELS` by the caller).
pub fn render(
    kind: PlotKind,
    title: String,
    (x_axis, x_values): (&Axis<'_>, &[f64]),
    y: Option<(&Axis<'_>, &[f64])>,
    (width, height): (u32, u32),
) -> Result<String, FcsError> {
    let plot_width = f64::from(width) - LEFT - RIGHT;
    let plot_height = f64::from(height) - TOP - BOTTOM;
    let mut svg = PlotSvg {
        title,
        width,
        height,
        left: LEFT,
        top: TOP,
        plot_width,
        plot_height,
        cells: Vec::new(),
        outline: String::new(),
        x_ticks: ticks(x_axis, plot_width, false),
        y_ticks: Vec::new(),
        x_label: x_axis.label.clone(),
        y_label: String::new(),
    };
    match (kind, y) {
        (PlotKind::Histogram, _) => {
            let bins = ((plot_width / 2.0) as usize).clamp(1, 256);
            let counts =
                binning::histogram(x_values, &Bins::new(x_axis.min, x_axis.max, bins)?).bins;
            let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
            let count_axis = Axis {
                min: 0.0,
                max: top * 1.05,
                label: "events".to_owned(),
                transform: None,
            };
            let (origin, size) = ((0.0, plot_height), (plot_width, plot_height));
            svg.outline = step_outline(&counts, count_axis.max, origin, size);
            svg.y_ticks = ticks(&count_axis, plot_height, true);
            svg.y_label = count_axis.label;
        }
        (PlotKind::Scatter | PlotKind::Density, Some((y_axis, y_values))) => {
            let per_pixel = kind == PlotKind::Scatter;
            let cell = if per_pixel { 1.0 } else { 3.0 };
            let x_bins = ((plot_width / cell) as usize).clamp(1, 1024);
            let y_bins = ((plot_height / cell) as usize).clamp(1, 1024);
            let x_grid = Bins::new(x_axis.min, x_axis.max, x_bins)?;
            let y_grid = Bins::new(y_axis.min, y_axis.max, y_bins)?;
            let counts = binning::histogram2d(x_values, y_values, &x_grid, &y_grid);
            svg.cells = cells(
                &counts,
                (x_bins, y_bins),
                (plot_width, plot_height),
                per_pixel,
            );
            svg.y_ticks = ticks(y_axis, plot_height, true);
            svg.y_label = y_axis.label.clone();
        }
        (_, None) => {
            return Err(FcsError::argument(
                "y",
                "is required: a scatter or density plot shows two channels",
            ))
        }
    }
    svg.render()
        .map_err(|error| FcsError::InvalidInput(format!("the plot could not be drawn: {error}")))
}

/// `svg` (one of [`render`]'s) as a PNG of the same size. Text is set in DejaVu Sans, built
/// into the binary: a server has no fonts to count on, and a plot without its labels is no
/// plot.
pub fn to_png(svg: &str) -> Result<Vec<u8>, FcsError> {
    let failed = |error: &dyn std::fmt::Display| {
        FcsError::InvalidInput(format!("the plot could not be drawn as PNG: {error}"))
    };
    let options = usvg::Options {
        fontdb: Arc::clone(fonts()),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| failed(&e))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| failed(&"the image has no pixels"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| failed(&e))
}

/// The embedded faces, loaded once; every family the plots name resolves to them.
fn fonts() -> &'static Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS.get_or_init(|| {
        let mut fonts = usvg::fontdb::Database::new();
        for face in [dejavu::sans::regular(), dejavu::sans::bold()] {
            fonts.load_font_source(usvg::fontdb::Source::Binary(Arc::new(face)));
        }
        fonts.set_sans_serif_family("DejaVu Sans");
        Arc::new(fonts)
    })
}

/// A histogram's bins as one closed step outline, from `(left, base)` rightwards over `width`:
/// a bin rises `count / peak × height` above the base. Only numbers and path commands, so a
/// template may write it unescaped. The console's file page draws its histograms with it too.
pub fn step_outline(
    counts: &[u64],
    peak: f64,
    (left, base): (f64, f64),
    (width, height): (f64, f64),
) -> String {
    use std::fmt::Write;

    let step = width / counts.len().max(1) as f64;
    // About 20 characters a bin: one allocation for the whole path.
    let mut d = String::with_capacity(32 + 20 * counts.len());
    let _ = write!(d, "M{left:.1} {base:.1}");
    for (bin, &count) in counts.iter().enumerate() {
        let y = base - count as f64 / peak * height;
        let x0 = left + bin as f64 * step;
        let _ = write!(d, "L{x0:.1} {y:.1}H{:.1}", x0 + step);
    }
    let _ = write!(d, "L{:.1} {base:.1}Z", left + width);
    d
}

/// Palette from few events to many (viridis, five stops).
const PALETTE: [&str; 5] = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

fn cells(
    counts: &[u64],
    (x_bins, y_bins): (usize, usize),
    (width, height): (f64, f64),
    one_colour: bool,
) -> Vec<Cell> {
    let (cell_width, cell_height) = (width / x_bins as f64, height / y_bins as f64);
    let top = (counts.iter().copied().max().unwrap_or(0) as f64)
        .ln_1p()
        .max(f64::MIN_POSITIVE);
    let mut cells = Vec::new();
    for i in 0..x_bins {
        for j in 0..y_bins {
            let count = counts[i * y_bins + j];
            if count == 0 {
                continue;
            }
            let fill = if one_colour {
                "#1f4e79"
            } else {
                let shade = (count as f64).ln_1p() / top;
                PALETTE
                    [((shade * (PALETTE.len() - 1) as f64).round() as usize).min(PALETTE.len() - 1)]
            };
            cells.push(Cell {
                x: i as f64 * cell_width,
                y: height - (j + 1) as f64 * cell_height,
                width: cell_width,
                height: cell_height,
                fill,
            });
        }
    }
    cells
}

/// Tick marks along an axis of `length` pixels (`upward`: the y axis, drawn from the bottom).
fn ticks(axis: &Axis<'_>, length: f64, upward: bool) -> Vec<Tick> {
    let span = axis.max - axis.min;
    let place = |plotted: f64| {
        let along = (plotted - axis.min) / span * length;
        if upward {
            length - along
        } else {
            along
        }
    };
    let candidates: Vec<(f64, String)> = match axis.transform {
        Some(transform) => decades()
            .map(|(value, label)| (transform.apply(value), label))
            .collect(),
        None => linear_ticks(axis.min, axis.max),
    };
    let mut ticks: Vec<Tick> = Vec::new();
    let inside = candidates
        .into_iter()
        .filter(|(plotted, _)| plotted.is_finite() && *plotted >= axis.min && *plotted <= axis.max);
    // Candidates come most important first (zero, then the largest decades): where a logicle
    // axis crowds near zero, the small decades are the ones dropped.
    for (plotted, label) in inside {
        let at = place(plotted);
        if ticks
            .iter()
            .all(|t: &Tick| (t.at - at).abs() >= TICK_SPACING)
        {
            ticks.push(Tick { at, label });
        }
    }
    ticks.sort_by(|a, b| a.at.total_cmp(&b.at));
    ticks
}

/// 0 and ±10^k in data units, labelled `0`, `10³`, `−10²`.
fn decades() -> impl Iterator<Item = (f64, String)> {
    const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let power = |k: i32| format!("10{}", SUPERSCRIPTS[k as usize]);
    std::iter::once((0.0, "0".to_owned()))
        .chain((0..=9).rev().map(move |k| (10f64.powi(k), power(k))))
        .chain(
            (0..=9)
                .rev()
                .map(move |k| (-(10f64.powi(k)), format!("−{}", power(k)))),
        )
}

/// Round linear ticks (1, 2 or 5 × 10^k apart), five or so over `[min, max]`.
fn linear_ticks(min: f64, max: f64) -> Vec<(f64, String)> {
    let rough = (max - min) / 5.0;
    if !(rough.is_finite() && rough > 0.0) {
        return Vec::new();
    }
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let value = k as f64 * step;
            (value, compact(value))
        })
        .collect()
}

/// `$PnN ($PnS)`, or `$PnN` alone when the label says nothing more: how an axis names its
/// channel.
pub fn channel_label(parameter: &Parameter) -> String {
    match parameter.pns.as_deref() {
        Some(label) if !label.trim().is_empty() && label != parameter.pnn => {
            format!("{} ({label})", parameter.pnn)
        }
        _ => parameter.pnn.clone(),
    }
}

/// A number short enough for an axis: `0`, `512`, `2.5k`, `1M`, `9G`.
pub fn compact(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_fcs::TransformSpec;

    #[test]
    fn linear_ticks_are_round() {
        let labels: Vec<String> = linear_ticks(0.0, 1000.0)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(labels, ["0", "200", "400", "600", "800", "1k"]);
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(2500.0), "2.5k");
        assert_eq!(compact(1_048_576.0), "1M");
        assert_eq!(compact(-262_144.0), "-262.1k");
        assert_eq!(compact(9e9), "9G");
    }

    #[test]
    fn a_logicle_axis_is_ticked_at_decades_in_data_units() {
        let logicle = Transform::new(TransformSpec::Logicle {
            t: 262_144.0,
            w: 0.5,
            m: 4.5,
            a: 0.0,
        })
        .unwrap();
        let axis = Axis {
            min: 0.0,
            max: 1.0,
            label: "FL1-A".to_owned(),
            transform: Some(&logicle),
        };
        let ticks = ticks(&axis, 400.0, false);
        let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
        for decade in ["0", "10³", "10⁴", "10⁵"] {
            assert!(labels.contains(&decade), "{labels:?}");
        }
        let at = |label: &str| ticks.iter().find(|t| t.label == label).unwrap().at;
        assert!((at("10⁵") - 400.0 * logicle.apply(1e5)).abs() < 1e-9);
        assert!(ticks
            .windows(2)
            .all(|w| (w[1].at - w[0].at).abs() >= TICK_SPACING));
    }

    #[test]
    fn a_histogram_renders_with_its_labels_escaped() {
        let axis = Axis {
            min: 0.0,
            max: 10.0,
            label: "CD4 <PE>".to_owned(),
            transform: None,
        };
        let values: Vec<f64> = (0..100).map(|i| f64::from(i % 10)).collect();
        let svg = render(
            PlotKind::Histogram,
            "t".to_owned(),
            (&axis, &values),
            None,
            (400, 300),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("CD4 &#60;PE&#62;"), "{svg}");
        assert!(svg.contains("<path d=\"M0.0 240.0L"));
        let missing_y = render(
            PlotKind::Density,
            "t".to_owned(),
            (&axis, &values),
            None,
            (400, 300),
        );
        assert!(missing_y.unwrap_err().to_string().starts_with("y: "));
    }
}
