//! Forms over the case records' JSON bodies. A form's fields are described once ([`Spec`]); the
//! page shows each with its label, its current value and, after a refusal, the service's message
//! next to it (the service's messages start with the field's name: `date_of_birth cannot be in
//! the future`). What was typed is kept; nothing is lost to a refusal.
//!
//! Submitted fields become the API's body as JSON (`serde_json` into the same `Deserialize`
//! types), so the console cannot drift from the API's rules: an empty optional field is absent
//! on create and cleared on edit; a list is one item per line.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Date,
    Time,
    Email,
    Tel,
    Number,
    /// Typed but never shown back (a client secret).
    Secret,
    /// One of the listed values (an empty choice when not required).
    Choice(&'static [&'static str]),
    /// Free text over several lines.
    Area,
    /// A list: one item per line.
    Lines,
}

/// One field of a form.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The API's name for it.
    pub name: &'static str,
    /// What the form calls it.
    pub label: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// A field as the template draws it.
pub struct FieldView {
    pub name: &'static str,
    /// The control's id (and its error's, with `-error`): the name, unless a page with two
    /// forms sharing a field name prefixes one of them.
    pub id: String,
    pub label: &'static str,
    /// `text`, `date`, `time`, `email`, `tel`, `number`, `password`, `select` or `textarea`.
    pub control: &'static str,
    pub value: String,
    /// For `select`: (value, selected).
    pub options: Vec<(&'static str, bool)>,
    pub required: bool,
    pub hint: &'static str,
    pub error: Option<String>,
}

/// What a form was sent: each field's text, as typed.
#[derive(Debug, Default, Clone)]
pub struct Entered(pub HashMap<String, String>);

impl Entered {
    /// The fields of a submitted form (repeated names: the last wins), without the CSRF token.
    pub fn read(fields: Vec<(String, String)>) -> (Entered, String) {
        let mut entered = HashMap::new();
        let mut csrf = String::new();
        for (name, value) in fields {
            if name == "csrf" {
                csrf = value;
            } else {
                entered.insert(name, value);
            }
        }
        (Entered(entered), csrf)
    }

    /// The current values of a stored record, from its JSON form (lists one item per line).
    pub fn of(record: &impl serde::Serialize, specs: &[Spec]) -> Entered {
        let json = serde_json::to_value(record).unwrap_or(Value::Null);
        let text = |value: &Value| match value {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        };
        Entered(
            specs
                .iter()
                .map(|spec| {
                    (
                        spec.name.to_owned(),
                        json.get(spec.name).map(text).unwrap_or_default(),
                    )
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The body for the service: on create (`editing` false) an empty field is left out, on
    /// edit it is cleared (`null`, or an empty list).
    pub fn body<T: DeserializeOwned>(&self, specs: &[Spec], editing: bool) -> Result<T, String> {
        let mut body = Map::new();
        for spec in specs {
            let raw = self.get(spec.name).trim();
            let value = match spec.kind {
                Kind::Lines => {
                    let items: Vec<Value> = raw
                        .lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .map(|line| Value::String(line.to_owned()))
                        .collect();
                    if items.is_empty() && !editing {
                        continue;
                    }
                    Value::Array(items)
                }
                Kind::Number if !raw.is_empty() => match raw.parse::<i64>() {
                    Ok(number) => Value::from(number),
                    Err(_) => return Err(format!("{} must be a whole number", spec.name)),
                },
                _ if raw.is_empty() && !editing => continue,
                _ if raw.is_empty() && !spec.required => Value::Null,
                _ => Value::String(raw.to_owned()),
            };
            body.insert(spec.name.to_owned(), value);
        }
        serde_json::from_value(Value::Object(body)).map_err(|error| error.to_string())
    }

    /// The fields to draw, with `error` next to the field it names (or to none).
    pub fn fields(&self, specs: &[Spec], error: Option<&str>) -> Vec<FieldView> {
        let named = error.map(field_named);
        specs
            .iter()
            .map(|spec| FieldView {
                name: spec.name,
                id: spec.name.to_owned(),
                label: spec.label,
                control: match spec.kind {
                    Kind::Text => "text",
                    Kind::Date => "date",
                    Kind::Time => "time",
                    Kind::Email => "email",
                    Kind::Tel => "tel",
                    Kind::Number => "number",
                    Kind::Secret => "password",
                    Kind::Choice(_) => "select",
                    Kind::Area | Kind::Lines => "textarea",
                },
                value: self.get(spec.name).to_owned(),
                options: match spec.kind {
                    Kind::Choice(choices) => choices
                        .iter()
                        .map(|choice| (*choice, self.get(spec.name) == *choice))
                        .collect(),
                    _ => Vec::new(),
                },
                required: spec.required,
                hint: if spec.kind == Kind::Lines {
                    "One per line."
                } else {
                    ""
                },
                error: (named == Some(spec.name)).then(|| error.unwrap_or_default().to_owned()),
            })
            .collect()
    }

    /// `error` when it names none of `specs`' fields: said above the form instead.
    pub fn unplaced(specs: &[Spec], error: Option<&str>) -> Option<String> {
        let error = error?;
        let named = field_named(error);
        (!specs.iter().any(|spec| spec.name == named)).then(|| error.to_owned())
    }
}

/// The field a message is about: its first word (`national_id`, `date_of_birth`…).
fn field_named(message: &str) -> &str {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec {
            name: "first_name",
            label: "First name",
            kind: Kind::Text,
            required: true,
        },
        Spec {
            name: "notes",
            label: "Notes",
            kind: Kind::Area,
            required: false,
        },
        Spec {
            name: "allergies",
            label: "Allergies",
            kind: Kind::Lines,
            required: false,
        },
    ];

    fn entered(pairs: &[(&str, &str)]) -> Entered {
        Entered(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn empty_fields_are_left_out_on_create_and_cleared_on_edit() {
        let form = entered(&[
            ("first_name", " Layla "),
            ("notes", ""),
            ("allergies", "nuts\n\n dust "),
        ]);
        let create: Value = form.body(SPECS, false).unwrap();
        assert_eq!(
            create,
            serde_json::json!({"first_name": "Layla", "allergies": ["nuts", "dust"]})
        );
        let edit: Value = entered(&[("first_name", "L")]).body(SPECS, true).unwrap();
        assert_eq!(
            edit,
            serde_json::json!({"first_name": "L", "notes": null, "allergies": []})
        );
    }

    #[test]
    fn a_refusal_goes_next_to_the_field_it_names() {
        let form = entered(&[("first_name", "")]);
        let fields = form.fields(SPECS, Some("first_name is required"));
        assert_eq!(fields[0].error.as_deref(), Some("first_name is required"));
        assert!(fields[1].error.is_none());
        assert_eq!(
            Entered::unplaced(SPECS, Some("first_name is required")),
            None
        );
        assert_eq!(
            Entered::unplaced(SPECS, Some("Busy")),
            Some("Busy".to_owned())
        );
    }
}
