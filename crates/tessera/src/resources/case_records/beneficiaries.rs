//! A beneficiary's fields: what the API shows, what a body may change, and the rules a changed
//! record must keep. A body is applied onto the current values (nothing, on create) by [`apply`],
//! which validates every field and names it in its error. The operations are in `service.rs`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{
    date, email, list, named, not_one_of, one_of, optional, optional_text, phone, required,
    required_text, Field, InvalidField, PageRequest, LONG_TEXT, SHORT_TEXT,
};
use crate::store::{BeneficiaryQuery, BeneficiaryRecord, BeneficiaryStatus, BeneficiaryValues};
use crate::types::{Day, Timestamp};

/// Allowed `disability_type` values.
pub const DISABILITY_TYPES: &[&str] = &["physical", "intellectual", "sensory", "multiple", "other"];
/// Allowed `severity_level` values.
pub const SEVERITY_LEVELS: &[&str] = &["mild", "moderate", "severe", "profound"];

/// `sort_by` values and the expression each sorts by. Names sort case-insensitively, so both
/// backends agree; every order ends with the id, so pages never overlap.
const SORTS: &[(&str, &str)] = &[
    ("created_at", "b.created_at"),
    ("updated_at", "b.updated_at"),
    ("last_name", "lower(b.last_name)"),
    ("first_name", "lower(b.first_name)"),
    ("date_of_birth", "b.date_of_birth"),
    ("registration_date", "b.registration_date"),
    ("national_id", "lower(b.national_id)"),
    ("status", "b.status"),
];

/// A beneficiary as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryView {
    pub id: Uuid,
    /// The stored fields.
    #[serde(flatten)]
    pub values: BeneficiaryValues,
    /// Whole years of age today (UTC).
    pub age: i64,
    /// Number of therapy sessions of any status.
    pub sessions_count: i64,
    /// Who created the record.
    pub created_by: Uuid,
    /// Creation time (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<BeneficiaryRecord> for BeneficiaryView {
    fn from(record: BeneficiaryRecord) -> Self {
        BeneficiaryView {
            id: record.id,
            age: record.values.date_of_birth.years_until(Day::today()),
            values: record.values,
            sessions_count: record.sessions_count,
            created_by: record.created_by,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// Body of create (required fields must be present) and PATCH (absent = unchanged, `null` clears
/// an optional field). Dates are `YYYY-MM-DD`; unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BeneficiaryBody {
    /// Required on create; unique.
    #[schema(value_type = Option<String>)]
    pub national_id: Field<String>,
    /// Required on create.
    #[schema(value_type = Option<String>)]
    pub first_name: Field<String>,
    /// Required on create.
    #[schema(value_type = Option<String>)]
    pub last_name: Field<String>,
    /// Required on create; not in the future.
    #[schema(value_type = Option<String>, example = "2015-04-30")]
    pub date_of_birth: Field<String>,
    /// Required on create: `male` or `female`.
    #[schema(value_type = Option<String>)]
    pub gender: Field<String>,
    /// `physical`, `intellectual`, `sensory`, `multiple` or `other`.
    #[schema(value_type = Option<String>)]
    pub disability_type: Field<String>,
    #[schema(value_type = Option<String>)]
    pub disability_category: Field<String>,
    /// `mild`, `moderate`, `severe` or `profound`.
    #[schema(value_type = Option<String>)]
    pub severity_level: Field<String>,
    #[schema(value_type = Option<String>)]
    pub diagnosis: Field<String>,
    /// Not in the future, not before the date of birth.
    #[schema(value_type = Option<String>)]
    pub diagnosis_date: Field<String>,
    #[schema(value_type = Option<String>)]
    pub phone: Field<String>,
    #[schema(value_type = Option<String>)]
    pub email: Field<String>,
    #[schema(value_type = Option<String>)]
    pub address: Field<String>,
    #[schema(value_type = Option<String>)]
    pub city: Field<String>,
    #[schema(value_type = Option<String>)]
    pub region: Field<String>,
    #[schema(value_type = Option<String>)]
    pub postal_code: Field<String>,
    /// Required on create.
    #[schema(value_type = Option<String>)]
    pub guardian_name: Field<String>,
    #[schema(value_type = Option<String>)]
    pub guardian_relationship: Field<String>,
    /// Required on create.
    #[schema(value_type = Option<String>)]
    pub guardian_phone: Field<String>,
    #[schema(value_type = Option<String>)]
    pub guardian_email: Field<String>,
    #[schema(value_type = Option<String>)]
    pub guardian_national_id: Field<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub medical_history: Field<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub allergies: Field<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub medications: Field<Vec<String>>,
    /// `active` (default), `inactive`, `graduated` or `transferred`.
    #[schema(value_type = Option<String>)]
    pub status: Field<String>,
    /// Defaults to today; not in the future.
    #[schema(value_type = Option<String>)]
    pub registration_date: Field<String>,
    #[schema(value_type = Option<String>)]
    pub notes: Field<String>,
}

fn not_after_today(name: &str, day: Day) -> Result<Day, InvalidField> {
    if day > Day::today() {
        return Err(InvalidField::new(format!("{name} cannot be in the future")));
    }
    Ok(day)
}

/// Applies `body` onto `current` (`None` on create) and validates the result.
pub fn apply(
    body: BeneficiaryBody,
    current: Option<&BeneficiaryValues>,
) -> Result<BeneficiaryValues, InvalidField> {
    let cur = |f: fn(&BeneficiaryValues) -> Option<String>| current.and_then(f);
    let text = |name, field, f: fn(&BeneficiaryValues) -> Option<String>, max| {
        optional_text(name, field, cur(f), max)
    };
    let choice = |name: &'static str,
                  field,
                  allowed: &'static [&'static str],
                  f: fn(&BeneficiaryValues) -> Option<String>| {
        optional(field, cur(f), |raw: String| one_of(name, &raw, allowed))
    };
    let values = BeneficiaryValues {
        national_id: required_text(
            "national_id",
            body.national_id,
            cur(|c| Some(c.national_id.clone())),
            64,
        )?,
        first_name: required_text(
            "first_name",
            body.first_name,
            cur(|c| Some(c.first_name.clone())),
            SHORT_TEXT,
        )?,
        last_name: required_text(
            "last_name",
            body.last_name,
            cur(|c| Some(c.last_name.clone())),
            SHORT_TEXT,
        )?,
        date_of_birth: required(
            "date_of_birth",
            body.date_of_birth,
            current.map(|c| c.date_of_birth),
            |raw| not_after_today("date_of_birth", date("date_of_birth", &raw)?),
        )?,
        gender: required("gender", body.gender, current.map(|c| c.gender), |raw| {
            named("gender", &raw)
        })?,
        disability_type: choice(
            "disability_type",
            body.disability_type,
            DISABILITY_TYPES,
            |c| c.disability_type.clone(),
        )?,
        disability_category: text(
            "disability_category",
            body.disability_category,
            |c| c.disability_category.clone(),
            SHORT_TEXT,
        )?,
        severity_level: choice(
            "severity_level",
            body.severity_level,
            SEVERITY_LEVELS,
            |c| c.severity_level.clone(),
        )?,
        diagnosis: text(
            "diagnosis",
            body.diagnosis,
            |c| c.diagnosis.clone(),
            LONG_TEXT,
        )?,
        diagnosis_date: optional(
            body.diagnosis_date,
            current.and_then(|c| c.diagnosis_date),
            |raw| not_after_today("diagnosis_date", date("diagnosis_date", &raw)?),
        )?,
        phone: optional(body.phone, cur(|c| c.phone.clone()), |raw| {
            phone("phone", raw)
        })?,
        email: optional(body.email, cur(|c| c.email.clone()), |raw| {
            email("email", raw)
        })?,
        address: text("address", body.address, |c| c.address.clone(), LONG_TEXT)?,
        city: text("city", body.city, |c| c.city.clone(), SHORT_TEXT)?,
        region: text("region", body.region, |c| c.region.clone(), SHORT_TEXT)?,
        postal_code: text(
            "postal_code",
            body.postal_code,
            |c| c.postal_code.clone(),
            32,
        )?,
        guardian_name: required_text(
            "guardian_name",
            body.guardian_name,
            cur(|c| Some(c.guardian_name.clone())),
            SHORT_TEXT,
        )?,
        guardian_relationship: text(
            "guardian_relationship",
            body.guardian_relationship,
            |c| c.guardian_relationship.clone(),
            SHORT_TEXT,
        )?,
        guardian_phone: required(
            "guardian_phone",
            body.guardian_phone,
            cur(|c| Some(c.guardian_phone.clone())),
            |raw| phone("guardian_phone", raw),
        )?,
        guardian_email: optional(
            body.guardian_email,
            cur(|c| c.guardian_email.clone()),
            |raw| email("guardian_email", raw),
        )?,
        guardian_national_id: text(
            "guardian_national_id",
            body.guardian_national_id,
            |c| c.guardian_national_id.clone(),
            64,
        )?,
        medical_history: list(
            "medical_history",
            body.medical_history,
            current.map(|c| c.medical_history.clone()),
        )?,
        allergies: list(
            "allergies",
            body.allergies,
            current.map(|c| c.allergies.clone()),
        )?,
        medications: list(
            "medications",
            body.medications,
            current.map(|c| c.medications.clone()),
        )?,
        status: required(
            "status",
            body.status,
            Some(current.map_or(BeneficiaryStatus::Active, |c| c.status)),
            |raw| named("status", &raw),
        )?,
        registration_date: required(
            "registration_date",
            body.registration_date,
            Some(current.map_or_else(Day::today, |c| c.registration_date)),
            |raw| not_after_today("registration_date", date("registration_date", &raw)?),
        )?,
        notes: text("notes", body.notes, |c| c.notes.clone(), LONG_TEXT)?,
    };
    check_dates(&values)?;
    Ok(values)
}

/// Dates that must agree with the date of birth.
fn check_dates(values: &BeneficiaryValues) -> Result<(), InvalidField> {
    if values
        .diagnosis_date
        .is_some_and(|d| d < values.date_of_birth)
    {
        return Err(InvalidField::new(
            "diagnosis_date cannot be before date_of_birth",
        ));
    }
    if values.registration_date < values.date_of_birth {
        return Err(InvalidField::new(
            "registration_date cannot be before date_of_birth",
        ));
    }
    Ok(())
}

/// Names of the fields that differ between `old` and `new` (for the access log; never values).
pub fn changed_fields(old: &BeneficiaryValues, new: &BeneficiaryValues) -> Vec<String> {
    let mut changed = Vec::new();
    macro_rules! compare {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                changed.push(stringify!($field).to_owned());
            }
        )*};
    }
    compare!(
        national_id,
        first_name,
        last_name,
        date_of_birth,
        gender,
        disability_type,
        disability_category,
        severity_level,
        diagnosis,
        diagnosis_date,
        phone,
        email,
        address,
        city,
        region,
        postal_code,
        guardian_name,
        guardian_relationship,
        guardian_phone,
        guardian_email,
        guardian_national_id,
        medical_history,
        allergies,
        medications,
        status,
        registration_date,
        notes
    );
    changed
}

/// Query of `GET /api/v1/beneficiaries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page (default 1).
    pub page: Option<i64>,
    /// Rows per page, 1–100 (default 20).
    pub per_page: Option<i64>,
    /// Case-insensitive substring of first/last/full name, national id or guardian name.
    pub search: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this disability type.
    pub disability_type: Option<String>,
    /// created_at (default), updated_at, last_name, first_name, date_of_birth, registration_date,
    /// national_id or status.
    pub sort_by: Option<String>,
    /// `asc` or `desc` (default).
    pub sort_order: Option<String>,
}

/// Lower-cases `search` and escapes `LIKE`'s wildcards, so `%` and `_` match themselves.
pub fn like_pattern(search: &str) -> String {
    let mut pattern = String::from("%");
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The store query a list request asks for.
pub fn list_query(query: ListQuery, page: PageRequest) -> Result<BeneficiaryQuery, InvalidField> {
    let sort_by = query.sort_by.as_deref().unwrap_or("created_at");
    let sort_column = SORTS
        .iter()
        .find(|(name, _)| *name == sort_by)
        .map(|(_, column)| *column)
        .ok_or_else(|| {
            let names: Vec<&str> = SORTS.iter().map(|(name, _)| *name).collect();
            not_one_of("sort_by", sort_by, &names)
        })?;
    let descending = match query
        .sort_order
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(not_one_of("sort_order", other, &["asc", "desc"])),
    };
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > SHORT_TEXT) {
        return Err(InvalidField::new(format!(
            "search must be at most {SHORT_TEXT} characters"
        )));
    }
    Ok(BeneficiaryQuery {
        search: search.map(like_pattern),
        status: query.status.map(|raw| named("status", &raw)).transpose()?,
        disability_type: query
            .disability_type
            .map(|raw| one_of("disability_type", &raw, DISABILITY_TYPES))
            .transpose()?,
        sort_column,
        descending,
        limit: page.per_page,
        offset: page.offset(),
    })
}

/// What `DELETE` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryDeleted {
    /// The deleted beneficiary.
    pub id: Uuid,
    /// Always true.
    pub deleted: bool,
}
