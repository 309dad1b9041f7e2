//! A channel's histogram as SVG geometry for the file page's template: a filled step outline
//! (one `<path>`, so a page with every channel's plot stays light), the axes' ticks and labels.
//! The template draws it; the stylesheet colours it (no inline style: the CSP forbids it).

use tessera_fcs::{Display, Histogram, Parameter};

use crate::resources::fcs::plot::{channel_label, compact, step_outline};

/// The plot's size in SVG units, and the margins that hold the axes' labels.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 210.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 46.0;

/// One tick of an axis: where (along the axis, in SVG units) and its label.
pub struct Tick {
    pub at: String,
    pub label: String,
}

/// What the template needs to draw one channel.
pub struct Plot {
    /// Unique on the page (the `<title>`'s id).
    pub id: String,
    /// What the plot shows, for screen readers (the SVG's title).
    pub title: String,
    /// `$PnN`, with `$PnS` when the file has a different one, and the scale.
    pub x_label: String,
    /// The filled outline of the bins.
    pub area: String,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// Events off the axis, when any.
    pub note: String,
    /// The frame: left and right x, top and bottom y, and the labels' places.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub width: f64,
    pub height: f64,
    pub x_label_y: f64,
    pub tick_label_y: f64,
    pub y_label_x: f64,
    pub y_label_y: f64,
}

/// The plot of `parameter`'s `histogram`; `index` makes its ids unique on the page.
pub fn plot(index: usize, parameter: &Parameter, histogram: &Histogram) -> Plot {
    let name = channel_label(parameter);
    let scale = match histogram.scale {
        Display::Lin => "linear",
        Display::Log => "log",
    };
    let shown: u64 = histogram.counts.iter().sum();
    let mut off = Vec::new();
    if histogram.below > 0 {
        off.push(format!(
            "{} below {}",
            histogram.below,
            compact(histogram.low)
        ));
    }
    if histogram.above > 0 {
        off.push(format!(
            "{} above {}",
            histogram.above,
            compact(histogram.high)
        ));
    }
    Plot {
        id: format!("plot-{index}"),
        title: format!(
            "Histogram of {name}, {scale} scale: {shown} events in {} bins",
            histogram.counts.len()
        ),
        x_label: format!("{name} · {scale}"),
        area: area(histogram),
        x_ticks: x_ticks(histogram),
        y_ticks: y_ticks(histogram.peak()),
        note: if off.is_empty() {
            String::new()
        } else {
            format!("Off the axis: {}.", off.join(", "))
        },
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
        width: WIDTH,
        height: HEIGHT,
        x_label_y: HEIGHT - 8.0,
        tick_label_y: HEIGHT - BOTTOM + 16.0,
        y_label_x: -(TOP + (HEIGHT - BOTTOM - TOP) / 2.0),
        y_label_y: 14.0,
    }
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// The bins as one closed step outline along the x axis.
fn area(histogram: &Histogram) -> String {
    let peak = histogram.peak().max(1) as f64;
    let origin = (LEFT, HEIGHT - BOTTOM);
    step_outline(
        &histogram.counts,
        peak,
        origin,
        (plot_width(), plot_height()),
    )
}

/// Five even ticks on a linear axis; one per decade on a log axis.
fn x_ticks(histogram: &Histogram) -> Vec<Tick> {
    let values: Vec<f64> = match histogram.scale {
        Display::Lin => (0..=4)
            .map(|k| histogram.low + (histogram.high - histogram.low) * f64::from(k) / 4.0)
            .collect(),
        Display::Log => {
            let first = histogram.low.log10().ceil() as i32;
            let last = histogram.high.log10().floor() as i32;
            (first..=last).map(|k| 10f64.powi(k)).collect()
        }
    };
    values
        .into_iter()
        .map(|value| Tick {
            at: format!("{:.1}", LEFT + histogram.position(value) * plot_width()),
            label: compact(value),
        })
        .collect()
}

/// 0, half the peak and the peak, from the bottom up.
fn y_ticks(peak: u64) -> Vec<Tick> {
    let base = HEIGHT - BOTTOM;
    [0.0, 0.5, 1.0]
        .into_iter()
        .map(|share| Tick {
            at: format!("{:.1}", base - share * plot_height()),
            label: compact((peak as f64 * share).round()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_axis_has_a_tick_per_decade_and_the_outline_closes() {
        let histogram = tessera_fcs::histogram(&[10.0, 100.0, 5000.0], 10_000.0, Display::Log, 4);
        let labels: Vec<String> = x_ticks(&histogram).into_iter().map(|t| t.label).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k"]);
        let d = area(&histogram);
        assert!(d.starts_with("M52.0 164.0") && d.ends_with("Z"), "{d}");
        assert_eq!(d.matches('H').count(), 4, "one step per bin");
        // The template writes it unescaped: nothing but numbers and path commands.
        assert!(d.chars().all(|c| "0123456789. -MLHZ".contains(c)), "{d}");
    }
}
