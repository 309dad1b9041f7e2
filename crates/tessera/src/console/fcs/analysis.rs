//! The file page's analysis form: which plot of which channels, through which steps of the
//! value pipeline (scale, compensation, transform with GatingML's default parameters), and
//! for which events (all, or a gate's). It is a plain GET form, so every view has an address
//! to bookmark or send; the page checks the choice as the API would and, when it holds, shows
//! the plot (`/fcs/{id}/plot`) and offers the same events as an FCS or CSV export.

use serde::{Deserialize, Serialize};

use crate::resources::fcs::analysis::{
    CompensationChoice, PipelineQuery, ScaleChoice, TransformChoice, DEFAULT_COFACTOR,
    DEFAULT_DECADES, DEFAULT_TOP, DEFAULT_WIDTH,
};
use crate::resources::fcs::errors::FcsRefusal;
use crate::resources::fcs::plot::{channel_label, PlotKind};
use crate::resources::fcs::view::FcsData;
use tessera_fcs::FcsError;

/// `kind`, `x` and `y` of the form (the pipeline's fields are [`PipelineQuery`]'s).
#[derive(Debug, Default, Deserialize)]
pub struct PlotChoice {
    kind: Option<PlotKind>,
    x: Option<String>,
    y: Option<String>,
}

/// The transform's parameters as the form sends them (`param_t`…): text, blank for the
/// default. They are named apart from the API's `t`, `w`… because a blank one is not a number,
/// and apart from each other's transforms because the form shows them all.
#[derive(Debug, Default, Deserialize)]
pub struct TransformParams {
    param_t: Option<String>,
    param_w: Option<String>,
    param_m: Option<String>,
    param_a: Option<String>,
    param_cofactor: Option<String>,
}

impl TransformParams {
    /// Sets on `pipeline` the parameters its transform takes that the form filled in; a filled
    /// one that is not a number is refused naming it.
    pub fn apply(&self, pipeline: &mut PipelineQuery) -> Result<(), String> {
        let takes = pipeline
            .transform
            .unwrap_or(TransformChoice::None)
            .parameters();
        let fields = [
            ("t", &self.param_t, &mut pipeline.t),
            ("w", &self.param_w, &mut pipeline.w),
            ("m", &self.param_m, &mut pipeline.m),
            ("a", &self.param_a, &mut pipeline.a),
            ("cofactor", &self.param_cofactor, &mut pipeline.cofactor),
        ];
        for (name, text, slot) in fields {
            let Some(text) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
                continue;
            };
            if !takes.contains(&name) {
                continue;
            }
            let value = text
                .parse::<f64>()
                .map_err(|_| format!("{name}: “{text}” is not a number"))?;
            *slot = Some(value);
        }
        Ok(())
    }
}

/// One transform parameter's input: its name, label, value (blank: the default) and default.
pub struct ParamInput {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub default: String,
}

/// One `<option>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// What the template shows of the analysis.
pub struct Analysis {
    pub kinds: Vec<Choice>,
    pub x: Vec<Choice>,
    pub y: Vec<Choice>,
    pub scales: Vec<Choice>,
    pub compensations: Vec<Choice>,
    pub transforms: Vec<Choice>,
    pub gates: Vec<Choice>,
    /// Why the choice cannot be shown, naming the field, when it cannot.
    pub problem: Option<String>,
    /// The plot, when the choice holds.
    pub plot: Option<ShownPlot>,
    /// The exports of the chosen events: (label, address).
    pub exports: Vec<(&'static str, String)>,
    /// The view as query pairs (plot, channels, pipeline, gate): what the gate form carries
    /// so a gate is drawn on what the plot shows.
    pub view: Vec<(&'static str, String)>,
    /// Whether the view is two-channel (a rectangle can be drawn).
    pub two_channels: bool,
    /// The transform's parameters.
    pub params: Vec<ParamInput>,
}

/// The plot the page shows.
pub struct ShownPlot {
    /// Its address (an SVG image).
    pub src: String,
    /// The same plot as a PNG image.
    pub png: String,
    /// What it shows, in words: the image's text alternative.
    pub shown: String,
}

/// A choice's name as it goes in a URL (`scaled`, `logicle`…): its serde name.
pub fn name(value: impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn choices<T: Serialize + Copy + PartialEq>(
    options: &[(T, &str)],
    chosen: Option<T>,
) -> Vec<Choice> {
    options
        .iter()
        .enumerate()
        .map(|(at, &(value, label))| Choice {
            value: name(value),
            label: label.to_owned(),
            selected: chosen.map_or(at == 0, |c| c == value),
        })
        .collect()
}

impl Analysis {
    /// The form for file `id` with `plot` and `pipeline` chosen (defaults where not), and the
    /// plot and exports when the choice holds. `gates` are the file's saved gates
    /// (id, name). Compensation is offered when the dataset has a matrix.
    pub fn new(
        id: &str,
        data: &FcsData,
        plot: &PlotChoice,
        pipeline: &PipelineQuery,
        gates: &[(String, String)],
    ) -> Analysis {
        let kind = plot.kind.unwrap_or(PlotKind::Histogram);
        let parameters = &data.parameters;
        // By default the first fluorescence channel against the first scatter one.
        let first_fluorescence = parameters.iter().position(|p| p.is_fluorescence());
        let default_x = first_fluorescence.unwrap_or(0);
        let default_y = usize::from(default_x == 0);
        // A dataset without parameters has no default: the check below then names `x`.
        let x = plot.x.clone().unwrap_or_else(|| {
            parameters
                .get(default_x)
                .map_or_else(String::new, |p| p.pnn.clone())
        });
        let y = plot.y.clone().unwrap_or_else(|| {
            parameters
                .get(default_y)
                .map_or_else(|| x.clone(), |p| p.pnn.clone())
        });
        let channel_choices = |chosen: &str| -> Vec<Choice> {
            parameters
                .iter()
                .map(|p| Choice {
                    value: p.pnn.clone(),
                    label: channel_label(p),
                    selected: p.pnn == chosen,
                })
                .collect()
        };
        let two_channels = kind != PlotKind::Histogram;
        let mut compensations = vec![(CompensationChoice::None, "None")];
        if pipeline.compensation == Some(CompensationChoice::File) || has_spillover(data) {
            compensations.push((CompensationChoice::File, "The file's spillover matrix"));
        }
        let mut gate_choices = vec![Choice {
            value: String::new(),
            label: "All events".to_owned(),
            selected: pipeline.gate.is_none(),
        }];
        gate_choices.extend(gates.iter().map(|(gate, label)| Choice {
            value: gate.clone(),
            label: label.clone(),
            selected: pipeline.gate.as_deref() == Some(gate.as_str()),
        }));

        let known_gate = pipeline
            .gate
            .as_ref()
            .is_none_or(|gate| gates.iter().any(|(id, _)| id == gate));
        let mut view = vec![("kind", name(kind)), ("x", x.clone()), ("y", y.clone())];
        view.extend(pipeline_pairs(pipeline));
        let checked = if known_gate {
            check(data, &x, two_channels.then_some(y.as_str()), pipeline)
        } else {
            Err(FcsRefusal::Invalid(FcsError::argument(
                "gate",
                "no such gate on this file",
            )))
        };
        let steps = pipeline_pairs(pipeline);
        let (problem, plot, exports) = match checked {
            Err(refusal) => (Some(refusal.to_string()), None, Vec::new()),
            Ok(()) => {
                let mut pairs = vec![("kind", name(kind)), ("x", x.clone())];
                if two_channels {
                    pairs.push(("y", y.clone()));
                }
                pairs.extend(steps.iter().cloned());
                let shown = if two_channels {
                    format!("{} of {x} against {y}", name(kind))
                } else {
                    format!("histogram of {x}")
                };
                let export = |format: &str| {
                    let mut pairs = vec![("format", format.to_owned())];
                    pairs.extend(steps.iter().cloned());
                    format!("/fcs/{id}/export?{}", encode(&pairs))
                };
                let src = format!("/fcs/{id}/plot?{}", encode(&pairs));
                let png = format!("{src}&format=png");
                (
                    None,
                    Some(ShownPlot { src, png, shown }),
                    vec![("FCS 3.1", export("fcs")), ("CSV", export("csv"))],
                )
            }
        };
        Analysis {
            kinds: choices(
                &[
                    (PlotKind::Histogram, "Histogram (x)"),
                    (PlotKind::Scatter, "Dot plot (x, y)"),
                    (PlotKind::Density, "Density (x, y)"),
                ],
                Some(kind),
            ),
            x: channel_choices(&x),
            y: channel_choices(&y),
            scales: choices(
                &[
                    (ScaleChoice::Raw, "Raw"),
                    (ScaleChoice::Scaled, "Scaled ($PnE, $PnG, $TIMESTEP)"),
                ],
                pipeline.scale,
            ),
            compensations: choices(&compensations, pipeline.compensation),
            transforms: choices(
                &[
                    (TransformChoice::None, "None"),
                    (TransformChoice::Logicle, "Logicle"),
                    (TransformChoice::Asinh, "Asinh (GatingML)"),
                    (TransformChoice::Arcsinh, "Arcsinh (cofactor 150)"),
                    (TransformChoice::Log, "Log"),
                ],
                pipeline.transform,
            ),
            gates: gate_choices,
            problem,
            plot,
            exports,
            view,
            two_channels,
            params: param_inputs(pipeline),
        }
    }
}

fn param_inputs(pipeline: &PipelineQuery) -> Vec<ParamInput> {
    let input = |name, label, value: Option<f64>, default: f64| ParamInput {
        name,
        label,
        value: value.map(|v| v.to_string()).unwrap_or_default(),
        default: default.to_string(),
    };
    vec![
        input("t", "T, top of scale", pipeline.t, DEFAULT_TOP),
        input(
            "w",
            "W, linear decades (logicle)",
            pipeline.w,
            DEFAULT_WIDTH,
        ),
        input("m", "M, decades", pipeline.m, DEFAULT_DECADES),
        input("a", "A, extra negative decades", pipeline.a, 0.0),
        input(
            "cofactor",
            "Cofactor (arcsinh)",
            pipeline.cofactor,
            DEFAULT_COFACTOR,
        ),
    ]
}

/// Whether the dataset carries a spillover matrix.
fn has_spillover(data: &FcsData) -> bool {
    tessera_fcs::Spillover::from_keywords(&data.keywords).is_ok_and(|s| s.is_some())
}

/// Checks the choice as the plot route will: channels that exist, a pipeline that holds.
fn check(
    data: &FcsData,
    x: &str,
    y: Option<&str>,
    pipeline: &PipelineQuery,
) -> Result<(), FcsRefusal> {
    data.channel("x", x)?;
    if let Some(y) = y {
        data.channel("y", y)?;
    }
    pipeline.pipeline(data)?;
    Ok(())
}

/// The pipeline's chosen steps as query pairs (the defaults left out).
fn pipeline_pairs(pipeline: &PipelineQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(scale) = pipeline.scale {
        pairs.push(("scale", name(scale)));
    }
    if let Some(compensation) = pipeline.compensation {
        pairs.push(("compensation", name(compensation)));
    }
    if let Some(transform) = pipeline.transform {
        pairs.push(("transform", name(transform)));
    }
    let params = [
        ("t", pipeline.t),
        ("w", pipeline.w),
        ("m", pipeline.m),
        ("a", pipeline.a),
        ("cofactor", pipeline.cofactor),
    ];
    pairs.extend(
        params
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?.to_string()))),
    );
    if let Some(gate) = &pipeline.gate {
        pairs.push(("gate", gate.clone()));
    }
    pairs
}

/// `pairs` as a query string.
pub fn encode(pairs: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
