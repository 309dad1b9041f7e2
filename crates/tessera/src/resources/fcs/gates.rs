//! Gates saved on a file: what a client sends ([`NewGate`]), how it becomes the engine's
//! [`Gate`], and the populations a file's gates keep ([`GateBook`]).
//!
//! A gate is judged on its own pipeline (scale, compensation, transform), the same choices the
//! value routes take as query parameters, so a gate drawn on a logicle plot of compensated
//! values keeps what that plot shows inside it. Its membership is never stored: a gate is a
//! few numbers, its population is derived from the file when first asked for and kept in
//! memory ([`PopulationCache`]) while the budget allows.
//!
//! Refusals name the field at fault as the body names it: `vertices`, `min`, `transform.w`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_fcs::gate::{Gate, Interval, Membership, Polygon, Region};
use tessera_fcs::{FcsError, Pipeline};
use utoipa::ToSchema;
use uuid::Uuid;

use super::analysis::{invalid, CompensationChoice, PipelineQuery, ScaleChoice, TransformChoice};
use super::cache::PopulationCache;
use super::errors::FcsRefusal;
use super::view::FcsData;
use crate::store::FcsGateRecord;

/// Longest gate name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// The region's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GateKind {
    /// `x` between `min[0]` and `max[0]`.
    Range,
    /// `x` and `y` each between `min[i]` and `max[i]`.
    Rectangle,
    /// `(x, y)` inside `vertices`.
    Polygon,
}

/// The transform a gate's values go through (`type` as the `transform=` query parameter).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct GateTransform {
    /// `logicle`, `asinh`, `arcsinh` or `log` (`none`: no transform).
    #[serde(rename = "type")]
    pub kind: Option<TransformChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cofactor: Option<f64>,
    /// Which of the gate's channels are transformed (default: the fluorescence ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

/// A gate's region and the pipeline it is judged on: what is stored, and shown back.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct GateShape {
    #[serde(rename = "type")]
    pub kind: GateKind,
    /// The first channel (`$PnN`).
    pub x: String,
    /// The second channel: required by rectangles and polygons, refused by ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Lower bounds, one per channel (`null`: open); range and rectangle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Vec<Option<f64>>>,
    /// Upper bounds (exclusive), one per channel (`null`: open); range and rectangle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Vec<Option<f64>>>,
    /// `[[x, y], …]`, at least 3; polygon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub vertices: Option<Vec<Vec<Option<f64>>>>,
    /// `raw` (default) or `scaled`.
    #[serde(default)]
    pub scale: Option<ScaleChoice>,
    /// `none` (default) or `file`.
    #[serde(default)]
    pub compensation: Option<CompensationChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<GateTransform>,
}

/// `POST /api/v1/fcs/files/{id}/gates`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewGate {
    /// The population's name, 1–100 characters, unique in the dataset.
    pub name: String,
    /// The dataset it is drawn on (default 0).
    #[serde(default)]
    pub dataset: usize,
    /// The id of the gate it sits inside.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(flatten)]
    pub shape: GateShape,
}

impl NewGate {
    /// The name, trimmed, if it is one.
    pub fn checked_name(&self) -> Result<String, FcsRefusal> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("name", "must not contain control characters"));
        }
        Ok(name.to_owned())
    }

    /// The parent's id, if one is named.
    pub fn parent_id(&self) -> Result<Option<Uuid>, FcsRefusal> {
        self.parent
            .as_deref()
            .map(|id| {
                Uuid::parse_str(id).map_err(|_| invalid("parent", "is not a gate id (a UUID)"))
            })
            .transpose()
    }
}

impl GateShape {
    /// The engine's gate for `data`, every field checked.
    pub fn gate(&self, data: &FcsData) -> Result<Gate, FcsRefusal> {
        let mut channels = vec![data.channel("x", &self.x)?];
        let region = match self.kind {
            GateKind::Range => {
                if self.y.is_some() {
                    return Err(invalid("y", "a range gate spans one channel: leave y out"));
                }
                self.refuse_vertices()?;
                let [x] = self.bounds::<1>()?;
                Region::Range(x)
            }
            GateKind::Rectangle => {
                channels.push(self.y_channel(data)?);
                self.refuse_vertices()?;
                let [x, y] = self.bounds::<2>()?;
                Region::Rectangle { x, y }
            }
            GateKind::Polygon => {
                channels.push(self.y_channel(data)?);
                if self.min.is_some() || self.max.is_some() {
                    return Err(invalid("min", "a polygon has vertices, not min and max"));
                }
                Region::Polygon(self.polygon()?)
            }
        };
        let pipeline = self.pipeline(data).map_err(transform_field)?;
        Gate::new(region, channels, pipeline).map_err(FcsRefusal::Invalid)
    }

    fn y_channel(&self, data: &FcsData) -> Result<usize, FcsRefusal> {
        let y = self.y.as_deref().ok_or_else(|| {
            invalid(
                "y",
                "is required: a rectangle or polygon spans two channels",
            )
        })?;
        data.channel("y", y)
    }

    fn refuse_vertices(&self) -> Result<(), FcsRefusal> {
        match self.vertices {
            Some(_) => Err(invalid("vertices", "only a polygon has vertices")),
            None => Ok(()),
        }
    }

    /// `N` intervals from `min` and `max`, each list holding `N` bounds.
    fn bounds<const N: usize>(&self) -> Result<[Interval; N], FcsRefusal> {
        let list = |field: &str, given: &Option<Vec<Option<f64>>>| match given {
            None => Ok(vec![None; N]),
            Some(bounds) if bounds.len() == N => Ok(bounds.clone()),
            Some(bounds) => Err(invalid(
                field,
                format!("needs {N} bound(s), one per channel, not {}", bounds.len()),
            )),
        };
        let (min, max) = (list("min", &self.min)?, list("max", &self.max)?);
        let mut intervals = [Interval {
            min: None,
            max: None,
        }; N];
        for (i, interval) in intervals.iter_mut().enumerate() {
            *interval = Interval::new(min[i], max[i]).map_err(FcsRefusal::Invalid)?;
        }
        Ok(intervals)
    }

    fn polygon(&self) -> Result<Polygon, FcsRefusal> {
        let given = self
            .vertices
            .as_ref()
            .ok_or_else(|| invalid("vertices", "is required: a polygon's [[x, y], …]"))?;
        let mut vertices = Vec::with_capacity(given.len());
        for (at, vertex) in given.iter().enumerate() {
            match vertex.as_slice() {
                [Some(x), Some(y)] => vertices.push([*x, *y]),
                _ => {
                    return Err(invalid(
                        "vertices",
                        format!("vertex {at} is not a pair of numbers [x, y]"),
                    ))
                }
            }
        }
        Polygon::new(vertices).map_err(FcsRefusal::Invalid)
    }

    /// The gate's pipeline, checked as the query parameters of the value routes are.
    fn pipeline(&self, data: &FcsData) -> Result<Pipeline, FcsRefusal> {
        let transform = self.transform.clone().unwrap_or_default();
        let query = PipelineQuery {
            dataset: None,
            scale: self.scale,
            compensation: self.compensation,
            transform: transform.kind,
            transform_channels: transform.channels.map(|names| names.join(",")),
            t: transform.t,
            w: transform.w,
            m: transform.m,
            a: transform.a,
            cofactor: transform.cofactor,
            gate: None,
        };
        query.pipeline(data)
    }
}

/// In a body, the transform's parameters are fields of `transform`.
fn transform_field(refusal: FcsRefusal) -> FcsRefusal {
    match refusal {
        FcsRefusal::Invalid(FcsError::InvalidArgument { field, reason })
            if ["t", "w", "m", "a", "cofactor", "transform_channels"].contains(&field.as_str()) =>
        {
            let field = if field == "transform_channels" {
                "channels"
            } else {
                &field
            };
            invalid(&format!("transform.{field}"), reason)
        }
        other => other,
    }
}

/// A file's saved gates and the populations they keep, computed parent first, each once
/// while the cache keeps it.
#[derive(Debug, Clone)]
pub struct GateBook {
    records: Vec<FcsGateRecord>,
    cache: Arc<PopulationCache>,
}

/// A gate's population: its members and how many its parent population holds.
#[derive(Debug)]
pub struct Population {
    pub members: Membership,
    pub parent_count: usize,
}

impl Population {
    /// The events of `data` inside `gate` and inside `parent` (all events without one). The one
    /// place a population is computed: saving, listing and `gate=` all come here.
    pub fn inside(gate: &Gate, parent: Option<&Population>, data: &FcsData) -> Population {
        let parent_members = parent.map(|p| &p.members);
        Population {
            members: gate.members(&data.source(), parent_members),
            parent_count: parent_members.map_or(data.event_count(), Membership::count),
        }
    }

    /// Members as a percentage of the parent population; `None` when the parent is empty.
    pub fn percent(&self) -> Option<f64> {
        (self.parent_count > 0)
            .then(|| 100.0 * self.members.count() as f64 / self.parent_count as f64)
    }
}

impl GateBook {
    /// The gates of one file, as the store lists them (parents before children), with the
    /// populations already computed in `cache`.
    pub fn new(records: Vec<FcsGateRecord>, cache: Arc<PopulationCache>) -> GateBook {
        GateBook { records, cache }
    }

    /// The gates, oldest first.
    pub fn records(&self) -> &[FcsGateRecord] {
        &self.records
    }

    /// The gate `id`, if the file has it.
    pub fn find(&self, id: Uuid) -> Option<&FcsGateRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// The population of gate `id`, which needs its parent's, and so on up. Blocking: it
    /// reads the values of the channels of each gate not in the cache.
    pub fn population(&self, id: Uuid, data: &FcsData) -> Result<Arc<Population>, FcsRefusal> {
        // Up the parents to the first population the cache holds (held here, so it cannot
        // leave the cache half-way), then down again computing each.
        let mut missing = Vec::new();
        let mut kept = None;
        let mut next = Some(id);
        while let Some(id) = next {
            if let Some(population) = self.cache.get(id) {
                kept = Some(population);
                break;
            }
            let record = self.find(id).ok_or(FcsRefusal::NotFound)?;
            missing.push(record);
            next = record.parent_id;
        }
        let mut population = kept;
        for record in missing.into_iter().rev() {
            population = Some(self.compute(record, population.as_deref(), data)?);
        }
        population.ok_or(FcsRefusal::NotFound)
    }

    /// The populations of every gate drawn on dataset `data`, each computed at most once.
    pub fn populations(
        &self,
        data: &FcsData,
    ) -> Result<HashMap<Uuid, Arc<Population>>, FcsRefusal> {
        let mut done: HashMap<Uuid, Arc<Population>> = HashMap::new();
        let dataset = i64::try_from(data.dataset).unwrap_or(i64::MAX);
        for record in self.records.iter().filter(|r| r.dataset == dataset) {
            let parent = record.parent_id.and_then(|id| done.get(&id)).cloned();
            let population = self.population_of(record, parent.as_deref(), data)?;
            done.insert(record.id, population);
        }
        Ok(done)
    }

    /// `record`'s population, inside `parent`'s: from the cache, else computed and kept.
    fn population_of(
        &self,
        record: &FcsGateRecord,
        parent: Option<&Population>,
        data: &FcsData,
    ) -> Result<Arc<Population>, FcsRefusal> {
        match self.cache.get(record.id) {
            Some(kept) => Ok(kept),
            None => self.compute(record, parent, data),
        }
    }

    /// `record`'s population inside `parent`'s, computed, and kept in the cache.
    fn compute(
        &self,
        record: &FcsGateRecord,
        parent: Option<&Population>,
        data: &FcsData,
    ) -> Result<Arc<Population>, FcsRefusal> {
        let gate = shape_of(record)?.gate(data)?;
        let population = Arc::new(Population::inside(&gate, parent, data));
        self.cache.insert(record.id, population.clone());
        Ok(population)
    }

    /// Gate `id` and every gate inside it, at any depth: what deleting it deletes.
    pub fn with_descendants(&self, id: Uuid) -> Vec<Uuid> {
        let mut gone = vec![id];
        // Parents come before their children, so one pass in order finds every depth.
        for record in &self.records {
            if record
                .parent_id
                .is_some_and(|parent| gone.contains(&parent))
            {
                gone.push(record.id);
            }
        }
        gone
    }
}

/// The shape a record holds. It was validated when saved; a row that no longer reads is our
/// fault, not the caller's.
pub fn shape_of(record: &FcsGateRecord) -> Result<GateShape, FcsRefusal> {
    serde_json::from_str(&record.definition).map_err(|error| {
        FcsRefusal::Broken(anyhow::Error::new(error).context(format!("gate {}", record.id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Timestamp;
    use tessera_fcs::{FcsFile, WriteParameter};

    /// 1,000 events: A counts 0..1000, B counts down from 1000.
    fn data() -> FcsData {
        let parameters = [
            WriteParameter::new("A", 1024.0),
            WriteParameter::new("B", 1024.0),
        ];
        let a: Vec<f64> = (0..1000).map(f64::from).collect();
        let b: Vec<f64> = (0..1000).map(|e| f64::from(1000 - e)).collect();
        let mut bytes = Vec::new();
        tessera_fcs::write_fcs31(&mut bytes, &parameters, &[a, b], &[] as &[(&str, &str)]).unwrap();
        FcsData::decode(&FcsFile::from_vec(bytes).unwrap(), 0).unwrap()
    }

    /// A range gate on `x` from `min` (inclusive) to `max` (exclusive), inside `parent`.
    fn range(x: &str, (min, max): (f64, f64), parent: Option<Uuid>) -> FcsGateRecord {
        let definition = serde_json::json!({"type": "range", "x": x, "min": [min], "max": [max]});
        FcsGateRecord {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            file_id: None,
            dataset: 0,
            parent_id: parent,
            name: format!("{x} {min}–{max}"),
            definition: definition.to_string(),
            created_at: Timestamp::now(),
        }
    }

    fn count(population: &Population) -> (usize, usize) {
        (population.members.count(), population.parent_count)
    }

    #[test]
    fn populations_are_computed_once_and_then_read_from_the_cache() {
        let data = data();
        let low = range("A", (0.0, 500.0), None);
        let inner = range("B", (600.0, 2000.0), Some(low.id));
        let cache = Arc::new(PopulationCache::new(1 << 20));
        let book = GateBook::new(vec![low.clone(), inner.clone()], cache.clone());

        let first = book.populations(&data).unwrap();
        assert_eq!(count(&first[&low.id]), (500, 1000));
        // B ≥ 600 holds for A ≤ 400: 401 of the 500.
        assert_eq!(count(&first[&inner.id]), (401, 500));
        assert_eq!(cache.used_bytes(), 2 * 1000, "one flag per event per gate");

        // What the cache holds is what is answered: no second computation.
        let again = book.populations(&data).unwrap();
        assert!(Arc::ptr_eq(&first[&inner.id], &again[&inner.id]));
        assert!(Arc::ptr_eq(
            &first[&inner.id],
            &book.population(inner.id, &data).unwrap()
        ));
    }

    #[test]
    fn a_gate_whose_parent_left_the_cache_is_still_judged_inside_it() {
        let data = data();
        let low = range("A", (0.0, 500.0), None);
        let inner = range("B", (600.0, 2000.0), Some(low.id));
        let innermost = range("A", (100.0, 2000.0), Some(inner.id));
        // Room for one population only: each computation evicts the one before.
        let cache = Arc::new(PopulationCache::new(1000));
        let book = GateBook::new(vec![low, inner.clone(), innermost.clone()], cache.clone());
        let expected = count(&book.population(innermost.id, &data).unwrap());
        assert_eq!(expected, (301, 401), "A in 100..=400");
        cache.remove_where(|_| true);
        cache.insert(inner.id, book.population(inner.id, &data).unwrap());
        assert_eq!(
            count(&book.population(innermost.id, &data).unwrap()),
            expected
        );
        cache.remove_where(|_| true);
        assert_eq!(
            count(&book.population(innermost.id, &data).unwrap()),
            expected
        );
    }

    #[test]
    fn deleting_a_gate_deletes_every_gate_inside_it() {
        let a = range("A", (0.0, 500.0), None);
        let b = range("B", (0.0, 500.0), Some(a.id));
        let c = range("A", (0.0, 100.0), Some(b.id));
        let other = range("B", (0.0, 10.0), None);
        let book = GateBook::new(
            vec![a.clone(), b.clone(), c.clone(), other],
            Arc::new(PopulationCache::new(0)),
        );
        assert_eq!(book.with_descendants(a.id), vec![a.id, b.id, c.id]);
        assert_eq!(book.with_descendants(c.id), vec![c.id]);
    }
}
