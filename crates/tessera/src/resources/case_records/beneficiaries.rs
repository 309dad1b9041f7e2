//! Beneficiaries: create, list/search, read, update (partial), delete.
//!
//! A body is applied onto the current values (nothing, on create) by [`apply`], which validates
//! every field and names it in its 422. Each handler checks the role first ([`authorize`]), so a
//! caller who may not act learns nothing from validation; then it writes the change and its
//! access-log entry in one transaction.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{
    date, email, list, one_of, optional, optional_text, phone, required, required_text, Field,
    InvalidField, PageRequest, Paged, LONG_TEXT, SHORT_TEXT,
};
use super::rules::{authorize, Action};
use crate::auth::Caller;
use crate::http::error::ResultExt;
use crate::http::extract::{Json, Path, Query};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::input::echo;
use crate::state::AppState;
use crate::store::{
    AccessEntry, Actor, BeneficiaryQuery, BeneficiaryRecord, BeneficiaryValues, CaseTx,
};
use crate::tokens::scopes::{BeneficiariesDelete, BeneficiariesRead, BeneficiariesWrite};
use crate::types::{Day, Timestamp};

/// Allowed `gender` values.
pub const GENDERS: &[&str] = &["male", "female"];
/// Allowed `disability_type` values.
pub const DISABILITY_TYPES: &[&str] = &["physical", "intellectual", "sensory", "multiple", "other"];
/// Allowed `severity_level` values.
pub const SEVERITY_LEVELS: &[&str] = &["mild", "moderate", "severe", "profound"];
/// Allowed `status` values.
pub const STATUSES: &[&str] = &["active", "inactive", "graduated", "transferred"];

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
    /// Id.
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
#[allow(missing_docs)]
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
) -> Result<BeneficiaryValues, ApiError> {
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
        gender: required(
            "gender",
            body.gender,
            cur(|c| Some(c.gender.clone())),
            |raw| one_of("gender", &raw, GENDERS),
        )?,
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
            Some(cur(|c| Some(c.status.clone())).unwrap_or_else(|| "active".to_owned())),
            |raw| one_of("status", &raw, STATUSES),
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
fn check_dates(values: &BeneficiaryValues) -> Result<(), ApiError> {
    if values
        .diagnosis_date
        .is_some_and(|d| d < values.date_of_birth)
    {
        return Err(ApiError::invalid(
            "diagnosis_date cannot be before date_of_birth",
        ));
    }
    if values.registration_date < values.date_of_birth {
        return Err(ApiError::invalid(
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

fn duplicate_national_id(values: &BeneficiaryValues) -> impl FnOnce(&str) -> String + '_ {
    move |_| {
        format!(
            "A beneficiary with national_id \"{}\" already exists",
            echo(&values.national_id)
        )
    }
}

/// 404 for a beneficiary id that does not exist.
pub fn not_found() -> ApiError {
    ApiError::NotFound("Beneficiary not found".to_owned())
}

fn entry(beneficiary_id: Uuid, actor: Actor, action: &str, fields: Vec<String>) -> AccessEntry<'_> {
    AccessEntry {
        beneficiary_id,
        session_id: None,
        actor,
        action,
        fields,
        at: Timestamp::now(),
    }
}

/// Reads a beneficiary inside `tx` after its change, for the response.
async fn reread(tx: &mut CaseTx, id: Uuid) -> ApiResult<BeneficiaryView> {
    let record = tx.beneficiary(id).await?.ok_or_else(not_found)?;
    Ok(record.into())
}

/// `POST /api/v1/beneficiaries`.
#[utoipa::path(post, path = "/api/v1/beneficiaries", tag = "case-records",
    request_body = BeneficiaryBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 201, description = "Created", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Scope or role does not allow it", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "national_id already taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is missing or invalid (the message names it)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn create(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    body: Result<Json<BeneficiaryBody>, ApiError>,
) -> ApiResult<Success<BeneficiaryView>> {
    let actor = authorize(&caller, &state, Action::CreateBeneficiary).await?;
    let values = apply(body?.0, None)?;
    let id = Uuid::now_v7();
    let mut tx = state.store.begin_case().await?;
    tx.insert_beneficiary(id, &values, actor.user_id, Timestamp::now())
        .await
        .on_unique_violation(duplicate_national_id(&values))?;
    tx.log(&entry(id, actor, "beneficiary.create", Vec::new()))
        .await?;
    let view = reread(&mut tx, id).await?;
    tx.commit().await?;
    Ok(created(view))
}

/// Query of `GET /api/v1/beneficiaries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page (default 1).
    page: Option<i64>,
    /// Rows per page, 1–100 (default 20).
    per_page: Option<i64>,
    /// Case-insensitive substring of first/last/full name, national id or guardian name.
    search: Option<String>,
    /// Only this status.
    status: Option<String>,
    /// Only this disability type.
    disability_type: Option<String>,
    /// created_at (default), updated_at, last_name, first_name, date_of_birth, registration_date,
    /// national_id or status.
    sort_by: Option<String>,
    /// `asc` or `desc` (default).
    sort_order: Option<String>,
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

fn list_query(query: ListQuery, page: PageRequest) -> Result<BeneficiaryQuery, ApiError> {
    let sort_by = query.sort_by.as_deref().unwrap_or("created_at");
    let sort_column = SORTS
        .iter()
        .find(|(name, _)| *name == sort_by)
        .map(|(_, column)| *column)
        .ok_or_else(|| {
            let names: Vec<&str> = SORTS.iter().map(|(name, _)| *name).collect();
            ApiError::from(one_of("sort_by", sort_by, &names).unwrap_err())
        })?;
    let descending = match query
        .sort_order
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(one_of("sort_order", other, &["asc", "desc"])
                .unwrap_err()
                .into())
        }
    };
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > SHORT_TEXT) {
        return Err(ApiError::invalid(format!(
            "search must be at most {SHORT_TEXT} characters"
        )));
    }
    let filter =
        |name, value: Option<String>, allowed| value.map(|v| one_of(name, &v, allowed)).transpose();
    Ok(BeneficiaryQuery {
        search: search.map(like_pattern),
        status: filter("status", query.status, STATUSES)?,
        disability_type: filter("disability_type", query.disability_type, DISABILITY_TYPES)?,
        sort_column,
        descending,
        limit: page.per_page,
        offset: page.offset(),
    })
}

/// `GET /api/v1/beneficiaries`: every beneficiary returned is logged as `beneficiary.list`.
#[utoipa::path(get, path = "/api/v1/beneficiaries", tag = "case-records", params(ListQuery),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "`{success, data: [beneficiary], pagination: {page, per_page, total, pages}}`", body = inline(super::input::Paged<BeneficiaryView>)),
        (status = 403, description = "Your role may not read case records (members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A parameter is out of range or not allowed", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn list_beneficiaries(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Paged<BeneficiaryView>> {
    let actor = authorize(&caller, &state, Action::ReadBeneficiary).await?;
    let page = PageRequest::new(query.page, query.per_page)?;
    let query = list_query(query, page)?;
    let (rows, total) = state.store.list_beneficiaries(&query).await?;
    if !rows.is_empty() {
        let mut tx = state.store.begin_case().await?;
        for row in &rows {
            tx.log(&entry(row.id, actor, "beneficiary.list", Vec::new()))
                .await?;
        }
        tx.commit().await?;
    }
    Ok(Paged {
        success: true,
        data: rows.into_iter().map(BeneficiaryView::from).collect(),
        pagination: page.pagination(total),
    })
}

/// `GET /api/v1/beneficiaries/{id}`: logged as `beneficiary.read`.
#[utoipa::path(get, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "The beneficiary", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Your role may not read case records (members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_beneficiary(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<BeneficiaryView>> {
    let actor = authorize(&caller, &state, Action::ReadBeneficiary).await?;
    let mut tx = state.store.begin_case().await?;
    // The log entry is written first (a write takes SQLite's lock at once); a missing record
    // rolls it back.
    tx.log(&entry(id, actor, "beneficiary.read", Vec::new()))
        .await?;
    let view = reread(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ok(view))
}

/// `PATCH /api/v1/beneficiaries/{id}`: logged as `beneficiary.update` with the changed fields.
#[utoipa::path(patch, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    request_body = BeneficiaryBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 200, description = "The updated beneficiary", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Your role may not update beneficiaries (therapists, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "national_id already taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid or a required one was nulled", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn update_beneficiary(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Result<Json<BeneficiaryBody>, ApiError>,
) -> ApiResult<Success<BeneficiaryView>> {
    let actor = authorize(&caller, &state, Action::UpdateBeneficiary).await?;
    let body = body?.0;
    let mut tx = state.store.begin_case().await?;
    if !tx.lock_beneficiary(id).await? {
        return Err(not_found());
    }
    let current = tx.beneficiary(id).await?.ok_or_else(not_found)?;
    let values = apply(body, Some(&current.values))?;
    let changed = changed_fields(&current.values, &values);
    if !changed.is_empty() {
        tx.update_beneficiary(id, &values, Timestamp::now())
            .await
            .on_unique_violation(duplicate_national_id(&values))?;
    }
    tx.log(&entry(id, actor, "beneficiary.update", changed))
        .await?;
    let view = reread(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ok(view))
}

/// What `DELETE` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryDeleted {
    /// The deleted beneficiary.
    pub id: Uuid,
    /// Always true.
    pub deleted: bool,
}

/// `DELETE /api/v1/beneficiaries/{id}`: deletes the sessions too; the access log is kept.
#[utoipa::path(delete, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    security(("jwt" = []), ("pat" = ["beneficiaries:delete"])),
    responses(
        (status = 200, description = "Deleted with their sessions", body = inline(crate::http::openapi::Enveloped<BeneficiaryDeleted>)),
        (status = 403, description = "Only admins and managers delete", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn delete_beneficiary(
    caller: Caller<BeneficiariesDelete>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<BeneficiaryDeleted>> {
    let actor = authorize(&caller, &state, Action::DeleteBeneficiary).await?;
    let mut tx = state.store.begin_case().await?;
    if !tx.delete_beneficiary(id).await? {
        return Err(not_found());
    }
    tx.log(&entry(id, actor, "beneficiary.delete", Vec::new()))
        .await?;
    tx.commit().await?;
    Ok(ok(BeneficiaryDeleted { id, deleted: true }))
}
