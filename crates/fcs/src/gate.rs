//! Gates: regions of one or two channels that keep the events inside them, as GatingML 2.0
//! defines them and FlowKit computes them.
//!
//! A [`Gate`] is a [`Region`] over one or two channels, read through the gate's own
//! [`Pipeline`] (a gate drawn on logicle-transformed compensated values judges each event on
//! those values), and possibly inside a parent gate: an event is a member when it is a member
//! of the parent and inside the region.
//!
//! | Region | An event is inside when |
//! |---|---|
//! | [`Region::Range`] | `min ≤ x < max` (either bound may be open) |
//! | [`Region::Rectangle`] | the same on each of its two channels |
//! | [`Region::Polygon`] | its winding number around the point is odd (see below) |
//!
//! The polygon rule is Dan Sunday's winding number, with the parity FlowKit uses
//! (`flowutils.gating.points_in_polygon`): a self-crossing polygon's doubly wound parts are
//! holes, and a point outside the vertices' bounding box is outside. A NaN value is never
//! inside any gate.

use crate::error::{FcsError, Result};
use crate::pipeline::{Pipeline, Source};

/// One channel's bounds: `min` inclusive, `max` exclusive, either open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The smallest value inside; `None` for no lower bound.
    pub min: Option<f64>,
    /// The first value above the interval; `None` for no upper bound.
    pub max: Option<f64>,
}

impl Interval {
    /// Checks that the bounds are numbers, at least one is given and `min < max`.
    pub fn new(min: Option<f64>, max: Option<f64>) -> Result<Interval> {
        for (field, bound) in [("min", min), ("max", max)] {
            if bound.is_some_and(|v| !v.is_finite()) {
                return Err(FcsError::argument(field, "must be a finite number"));
            }
        }
        match (min, max) {
            (None, None) => Err(FcsError::argument(
                "min",
                "give min, max or both: a range with neither keeps everything",
            )),
            (Some(low), Some(high)) if low >= high => {
                Err(FcsError::argument("min", "must be less than max"))
            }
            _ => Ok(Interval { min, max }),
        }
    }

    /// Whether `value` lies inside; NaN never does.
    #[inline]
    pub fn contains(&self, value: f64) -> bool {
        self.min.is_none_or(|low| value >= low) && self.max.is_none_or(|high| value < high)
    }
}

/// The shape of a gate, in the coordinates of its channels after its pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// One channel between two bounds.
    Range(Interval),
    /// Two channels, each between two bounds.
    Rectangle {
        /// Bounds of the first channel.
        x: Interval,
        /// Bounds of the second channel.
        y: Interval,
    },
    /// Two channels, inside a closed polygon (the last vertex joins the first).
    Polygon(Polygon),
}

impl Region {
    /// How many channels the region spans: 1 or 2.
    pub fn dimensions(&self) -> usize {
        match self {
            Region::Range(_) => 1,
            Region::Rectangle { .. } | Region::Polygon(_) => 2,
        }
    }

    /// Whether the point `(x, y)` is inside (`y` is ignored by a range).
    #[inline]
    pub fn contains(&self, x: f64, y: f64) -> bool {
        match self {
            Region::Range(interval) => interval.contains(x),
            Region::Rectangle { x: along, y: up } => along.contains(x) && up.contains(y),
            Region::Polygon(polygon) => polygon.contains(x, y),
        }
    }
}

/// A polygon of at least three vertices, its bounding box kept for a quick refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    vertices: Vec<[f64; 2]>,
    low: [f64; 2],
    high: [f64; 2],
}

impl Polygon {
    /// Checks that there are at least three vertices, every coordinate a finite number. Edges
    /// may cross (the crossing parts are holes, as in FlowKit).
    pub fn new(vertices: Vec<[f64; 2]>) -> Result<Polygon> {
        if vertices.len() < 3 {
            return Err(FcsError::argument(
                "vertices",
                format!(
                    "a polygon needs at least 3 vertices, not {}",
                    vertices.len()
                ),
            ));
        }
        if let Some(at) = vertices
            .iter()
            .position(|v| !v.iter().all(|c| c.is_finite()))
        {
            return Err(FcsError::argument(
                "vertices",
                format!("vertex {at} is not a pair of finite numbers"),
            ));
        }
        let mut low = vertices[0];
        let mut high = vertices[0];
        for vertex in &vertices[1..] {
            for axis in 0..2 {
                low[axis] = low[axis].min(vertex[axis]);
                high[axis] = high[axis].max(vertex[axis]);
            }
        }
        Ok(Polygon {
            vertices,
            low,
            high,
        })
    }

    /// The vertices, in order.
    pub fn vertices(&self) -> &[[f64; 2]] {
        &self.vertices
    }

    /// Whether `(x, y)` is inside: outside the bounding box never; otherwise an odd winding
    /// number. NaN fails every comparison below and so counts no crossing.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        if x < self.low[0] || x > self.high[0] || y < self.low[1] || y > self.high[1] {
            return false;
        }
        let mut winding = 0i64;
        let n = self.vertices.len();
        for i in 0..n {
            let a = self.vertices[i];
            let b = self.vertices[(i + 1) % n];
            if a[1] <= y {
                // An edge going up across the point's height, with the point on its left.
                if y < b[1] && side(a, b, x, y) > 0.0 {
                    winding += 1;
                }
            } else if b[1] <= y && side(a, b, x, y) < 0.0 {
                // An edge going down across it, with the point on its right.
                winding -= 1;
            }
        }
        winding % 2 != 0
    }
}

/// Twice the signed area of the triangle `a, b, (x, y)`: positive when the point is left of
/// the line from `a` to `b`. Written as FlowKit writes it, so the rounding is the same.
#[inline]
fn side(a: [f64; 2], b: [f64; 2], x: f64, y: f64) -> f64 {
    (b[0] - a[0]) * (y - a[1]) - (x - a[0]) * (b[1] - a[1])
}

/// A region over channels of a dataset, read through a pipeline.
#[derive(Debug, Clone)]
pub struct Gate {
    region: Region,
    channels: Vec<usize>,
    pipeline: Pipeline,
}

impl Gate {
    /// A gate of `region` over `channels` (0-based parameter indices, as many as the region
    /// has dimensions), whose values come through `pipeline`.
    pub fn new(region: Region, channels: Vec<usize>, pipeline: Pipeline) -> Result<Gate> {
        if channels.len() != region.dimensions() {
            let field = if channels.len() < region.dimensions() {
                "y"
            } else {
                "x"
            };
            return Err(FcsError::argument(
                field,
                format!(
                    "this gate spans {} channel(s), not {}",
                    region.dimensions(),
                    channels.len()
                ),
            ));
        }
        Ok(Gate {
            region,
            channels,
            pipeline,
        })
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The events of `source` inside the gate and inside `parent` (every event when `None`).
    pub fn members(&self, source: &Source<'_>, parent: Option<&Membership>) -> Membership {
        let values = self.pipeline.evaluate(source, &self.channels);
        let x = &values[0];
        let y = values.get(1).unwrap_or(x);
        let inside = (0..source.event_count())
            .map(|i| parent.is_none_or(|p| p.contains(i)) && self.region.contains(x[i], y[i]))
            .collect();
        Membership::from_flags(inside)
    }
}

/// The events a gate keeps: one flag per event of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    inside: Vec<bool>,
    count: usize,
}

impl Membership {
    /// Every one of `events` events.
    pub fn all(events: usize) -> Membership {
        Membership::from_flags(vec![true; events])
    }

    /// From one flag per event.
    pub fn from_flags(inside: Vec<bool>) -> Membership {
        let count = inside.iter().filter(|&&kept| kept).count();
        Membership { inside, count }
    }

    /// Events kept.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Events of the dataset, kept or not.
    pub fn events(&self) -> usize {
        self.inside.len()
    }

    /// Whether event `event` is kept.
    #[inline]
    pub fn contains(&self, event: usize) -> bool {
        self.inside.get(event).copied().unwrap_or(false)
    }

    /// The kept events' positions, in order.
    pub fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.inside
            .iter()
            .enumerate()
            .filter_map(|(i, &kept)| kept.then_some(i))
    }

    /// The values of the kept events, in order.
    pub fn keep(&self, column: &[f64]) -> Vec<f64> {
        let mut kept = Vec::with_capacity(self.count);
        kept.extend(
            column
                .iter()
                .zip(&self.inside)
                .filter_map(|(&v, &inside)| inside.then_some(v)),
        );
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(min: f64, max: f64) -> Interval {
        Interval::new(Some(min), Some(max)).unwrap()
    }

    #[test]
    fn a_range_keeps_its_minimum_and_not_its_maximum() {
        let range = Region::Range(interval(1.0, 2.0));
        let kept: Vec<bool> = [0.5, 1.0, 1.5, 2.0, f64::NAN]
            .map(|x| range.contains(x, 0.0))
            .to_vec();
        assert_eq!(kept, [false, true, true, false, false]);
        let open = Region::Range(Interval::new(None, Some(0.0)).unwrap());
        assert!(open.contains(f64::NEG_INFINITY, 0.0) && !open.contains(0.0, 0.0));
    }

    #[test]
    fn bad_bounds_and_polygons_name_their_field() {
        let field = |r: Result<Interval>| match r.unwrap_err() {
            FcsError::InvalidArgument { field, .. } => field,
            other => panic!("{other}"),
        };
        assert_eq!(field(Interval::new(Some(2.0), Some(2.0))), "min");
        assert_eq!(field(Interval::new(None, None)), "min");
        assert_eq!(field(Interval::new(Some(1.0), Some(f64::NAN))), "max");
        let polygon = |v: Vec<[f64; 2]>| match Polygon::new(v).unwrap_err() {
            FcsError::InvalidArgument { field, reason } => format!("{field}: {reason}"),
            other => panic!("{other}"),
        };
        assert_eq!(
            polygon(vec![[0.0, 0.0], [1.0, 1.0]]),
            "vertices: a polygon needs at least 3 vertices, not 2"
        );
        assert_eq!(
            polygon(vec![[0.0, 0.0], [1.0, f64::NAN], [1.0, 0.0]]),
            "vertices: vertex 1 is not a pair of finite numbers"
        );
    }

    #[test]
    fn a_square_polygon_keeps_its_inside() {
        let square = Polygon::new(vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]).unwrap();
        assert!(square.contains(2.0, 2.0));
        assert!(!square.contains(5.0, 2.0) && !square.contains(2.0, -0.1));
        assert!(!square.contains(f64::NAN, 2.0));
        // Sunday's half-open rule: the bottom and left edges are in, the top and right out.
        assert!(square.contains(2.0, 0.0) && square.contains(0.0, 2.0));
        assert!(!square.contains(2.0, 4.0) && !square.contains(4.0, 2.0));
    }

    #[test]
    fn a_self_crossing_polygon_has_holes_where_it_winds_twice() {
        // A pentagram traced point to point: the centre pentagon is wound twice.
        let star: Vec<[f64; 2]> = (0..5)
            .map(|k| {
                let angle = std::f64::consts::FRAC_PI_2
                    + f64::from(k * 2) * 2.0 * std::f64::consts::PI / 5.0;
                [10.0 * angle.cos(), 10.0 * angle.sin()]
            })
            .collect();
        let star = Polygon::new(star).unwrap();
        assert!(!star.contains(0.0, 0.0), "the centre is a hole");
        assert!(star.contains(0.0, 7.0), "a point of the star is inside");
    }

    #[test]
    fn membership_keeps_values_in_order() {
        let members = Membership::from_flags(vec![true, false, true, true]);
        assert_eq!(members.count(), 3);
        assert_eq!(members.keep(&[1.0, 2.0, 3.0, 4.0]), [1.0, 3.0, 4.0]);
        assert_eq!(members.positions().collect::<Vec<_>>(), [0, 2, 3]);
        assert!(!members.contains(9));
    }
}
