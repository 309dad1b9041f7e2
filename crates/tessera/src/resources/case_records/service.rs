//! The case records' logic apart from HTTP: every operation on beneficiaries, therapy sessions and
//! the access log. The API (`routes.rs`) calls these with a [`Staff`] (and the console will); each
//! operation checks the role first ([`Staff::may`]), so a caller who may not act learns nothing
//! from validation, then writes its change and its access-log entry in one transaction.
//!
//! Booking rules that need the database run in one transaction that first locks what they depend
//! on, always in the same order (beneficiary → session → therapist, so two requests never wait on
//! each other in a cycle):
//! * a therapist cannot hold two overlapping *scheduled* sessions on a day
//!   ([`CaseRecordsError::TherapistBusy`]): checked after [`Tx::lock_therapist`], so
//!   concurrent bookings for one therapist are serialised;
//! * only a scheduled session can be completed, cancelled or change status
//!   ([`CaseRecordsError::NotScheduled`]): checked after [`Tx::lock_session`].

use uuid::Uuid;

use super::access_log::{AccessLogView, LogPagination, LogQuery};
use super::beneficiaries::{self, BeneficiaryBody, BeneficiaryDeleted, BeneficiaryView, ListQuery};
use super::input::{required_text, Field, InvalidField, Page, PageRequest};
use super::rules::{Action, Staff};
use super::therapy_sessions::{
    self, CancelBody, CompleteBody, SessionBody, SessionListQuery, SessionStatus, SessionView,
    UpcomingQuery,
};
use crate::input::echo;
use crate::store::{unique_violation, AccessEntry, Actor, SessionRecord, SessionValues, Store, Tx};
use crate::types::{ClockTime, Day, Role, Timestamp};

/// Why a case-records operation did not happen. The `Display` text is what a person is shown.
#[derive(Debug, thiserror::Error)]
pub enum CaseRecordsError {
    /// A field or parameter breaks its rule; the text names it.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The caller's role may not take the action (whatever their token's scopes).
    #[error("Your role ({role}) may not {}", .action.phrase())]
    Forbidden {
        /// The role acted with.
        role: Role,
        /// What was tried.
        action: Action,
    },
    /// No beneficiary with this id.
    #[error("Beneficiary not found")]
    BeneficiaryNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// No therapy session with this id.
    #[error("Therapy session not found")]
    SessionNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// Another beneficiary has this national id.
    #[error("A beneficiary with national_id \"{}\" already exists", echo(.national_id))]
    NationalIdTaken {
        /// The national id asked for.
        national_id: String,
    },
    /// The therapist already has a scheduled session overlapping the one asked for.
    #[error(
        "The therapist already has scheduled session {clashing} overlapping {start}–{end} on {day}"
    )]
    TherapistBusy {
        /// The session number of the one in the way.
        clashing: String,
        /// The day asked for.
        day: Day,
        /// The start asked for.
        start: ClockTime,
        /// The end asked for.
        end: ClockTime,
    },
    /// Only a scheduled session can be completed, cancelled or change status.
    #[error("Only a scheduled session can {change}; this one is {status}")]
    NotScheduled {
        /// What was tried: `be completed`, `be cancelled` or `change status`.
        change: &'static str,
        /// Where the session is now.
        status: SessionStatus,
    },
    /// Five random session numbers in a row were taken: something is wrong with the generator.
    #[error("five session-number clashes in a row")]
    SessionNumbersExhausted,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

type Result<T, E = CaseRecordsError> = std::result::Result<T, E>;

/// Registers a beneficiary (logged as `beneficiary.create`).
pub async fn create_beneficiary(
    store: &Store,
    staff: &Staff,
    body: BeneficiaryBody,
) -> Result<BeneficiaryView> {
    let actor = staff.may(Action::CreateBeneficiary)?;
    let values = beneficiaries::apply(body, None)?;
    let id = Uuid::now_v7();
    let mut tx = store.begin().await?;
    tx.insert_beneficiary(id, &values, actor.user_id, Timestamp::now())
        .await
        .map_err(|error| national_id_taken(error, &values.national_id))?;
    tx.log(&beneficiary_entry(
        id,
        actor,
        "beneficiary.create",
        Vec::new(),
    ))
    .await?;
    let view = reread_beneficiary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// A page of beneficiaries; every one returned is logged as `beneficiary.list`.
pub async fn list_beneficiaries(
    store: &Store,
    staff: &Staff,
    query: ListQuery,
) -> Result<Page<BeneficiaryView>> {
    let actor = staff.may(Action::ReadBeneficiary)?;
    let page = PageRequest::new(query.page, query.per_page)?;
    let query = beneficiaries::list_query(query, page)?;
    let (rows, total) = store.list_beneficiaries(&query).await?;
    if !rows.is_empty() {
        let mut tx = store.begin().await?;
        for row in &rows {
            tx.log(&beneficiary_entry(
                row.id,
                actor,
                "beneficiary.list",
                Vec::new(),
            ))
            .await?;
        }
        tx.commit().await?;
    }
    Ok(Page {
        rows: rows.into_iter().map(BeneficiaryView::from).collect(),
        pagination: page.pagination(total),
    })
}

/// One beneficiary (logged as `beneficiary.read`).
pub async fn beneficiary(store: &Store, staff: &Staff, id: Uuid) -> Result<BeneficiaryView> {
    let actor = staff.may(Action::ReadBeneficiary)?;
    let mut tx = store.begin().await?;
    // The log entry is written first (a write takes SQLite's lock at once); a missing record
    // rolls it back.
    tx.log(&beneficiary_entry(
        id,
        actor,
        "beneficiary.read",
        Vec::new(),
    ))
    .await?;
    let view = reread_beneficiary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// One beneficiary with a page of their sessions, as a record's page shows them: the same logs
/// as [`beneficiary`] and [`list_sessions`] (`beneficiary.read`, `session.list`), written in
/// one transaction, so the page costs one commit. The sessions are `None` for a role that may
/// read beneficiaries but not sessions.
pub async fn beneficiary_with_sessions(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    query: SessionListQuery,
) -> Result<(BeneficiaryView, Option<Page<SessionView>>)> {
    let actor = staff.may(Action::ReadBeneficiary)?;
    let sessions = match staff.may(Action::ReadSession) {
        Ok(_) => {
            let page = PageRequest::new(query.page, query.per_page)?;
            Some((page, therapy_sessions::session_query(query, page)?))
        }
        Err(_) => None,
    };
    let mut tx = store.begin().await?;
    tx.log(&beneficiary_entry(
        id,
        actor,
        "beneficiary.read",
        Vec::new(),
    ))
    .await?;
    if sessions.is_some() {
        tx.log(&beneficiary_entry(id, actor, "session.list", Vec::new()))
            .await?;
    }
    let view = reread_beneficiary(&mut tx, id).await?;
    tx.commit().await?;
    let Some((page, query)) = sessions else {
        return Ok((view, None));
    };
    let (rows, total) = store.list_sessions(id, &query).await?;
    let sessions = Page {
        rows: rows.into_iter().map(SessionView::from).collect(),
        pagination: page.pagination(total),
    };
    Ok((view, Some(sessions)))
}

/// Applies a partial change (logged as `beneficiary.update` with the changed fields' names).
pub async fn update_beneficiary(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    body: BeneficiaryBody,
) -> Result<BeneficiaryView> {
    let actor = staff.may(Action::UpdateBeneficiary)?;
    let mut tx = store.begin().await?;
    if !tx.lock_beneficiary(id).await? {
        return Err(CaseRecordsError::BeneficiaryNotFound { id });
    }
    let current = tx
        .beneficiary(id)
        .await?
        .ok_or(CaseRecordsError::BeneficiaryNotFound { id })?;
    let values = beneficiaries::apply(body, Some(&current.values))?;
    let changed = beneficiaries::changed_fields(&current.values, &values);
    if !changed.is_empty() {
        tx.update_beneficiary(id, &values, Timestamp::now())
            .await
            .map_err(|error| national_id_taken(error, &values.national_id))?;
    }
    tx.log(&beneficiary_entry(id, actor, "beneficiary.update", changed))
        .await?;
    let view = reread_beneficiary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Deletes a beneficiary with their sessions; the access log is kept (`beneficiary.delete`).
pub async fn delete_beneficiary(
    store: &Store,
    staff: &Staff,
    id: Uuid,
) -> Result<BeneficiaryDeleted> {
    let actor = staff.may(Action::DeleteBeneficiary)?;
    let mut tx = store.begin().await?;
    if !tx.delete_beneficiary(id).await? {
        return Err(CaseRecordsError::BeneficiaryNotFound { id });
    }
    tx.log(&beneficiary_entry(
        id,
        actor,
        "beneficiary.delete",
        Vec::new(),
    ))
    .await?;
    tx.commit().await?;
    Ok(BeneficiaryDeleted { id, deleted: true })
}

/// Books a session for a beneficiary (logged as `session.create`).
pub async fn book_session(
    store: &Store,
    staff: &Staff,
    beneficiary_id: Uuid,
    body: SessionBody,
) -> Result<SessionView> {
    let actor = staff.may(Action::CreateSession)?;
    let values = therapy_sessions::apply(body, None, actor.user_id)?;
    let id = Uuid::now_v7();
    let mut tx = store.begin().await?;
    if !tx.lock_beneficiary(beneficiary_id).await? {
        return Err(CaseRecordsError::BeneficiaryNotFound { id: beneficiary_id });
    }
    check_availability(&mut tx, id, &values).await?;
    insert_session(&mut tx, id, beneficiary_id, &values, actor).await?;
    let record = reread_session(&mut tx, id).await?;
    tx.log(&session_entry(&record, actor, "session.create", Vec::new()))
        .await?;
    tx.commit().await?;
    Ok(record.into())
}

/// A page of a beneficiary's sessions, newest first (logged as `session.list`).
pub async fn list_sessions(
    store: &Store,
    staff: &Staff,
    beneficiary_id: Uuid,
    query: SessionListQuery,
) -> Result<Page<SessionView>> {
    let actor = staff.may(Action::ReadSession)?;
    let page = PageRequest::new(query.page, query.per_page)?;
    let query = therapy_sessions::session_query(query, page)?;
    let mut tx = store.begin().await?;
    tx.log(&beneficiary_entry(
        beneficiary_id,
        actor,
        "session.list",
        Vec::new(),
    ))
    .await?;
    if tx.beneficiary(beneficiary_id).await?.is_none() {
        return Err(CaseRecordsError::BeneficiaryNotFound { id: beneficiary_id });
    }
    tx.commit().await?;
    let (rows, total) = store.list_sessions(beneficiary_id, &query).await?;
    Ok(Page {
        rows: rows.into_iter().map(SessionView::from).collect(),
        pagination: page.pagination(total),
    })
}

/// One session (logged as `session.read`).
pub async fn session(store: &Store, staff: &Staff, id: Uuid) -> Result<SessionView> {
    let actor = staff.may(Action::ReadSession)?;
    let mut tx = store.begin().await?;
    if !tx
        .log_session(id, actor, "session.read", Timestamp::now())
        .await?
    {
        return Err(CaseRecordsError::SessionNotFound { id });
    }
    let record = reread_session(&mut tx, id).await?;
    tx.commit().await?;
    Ok(record.into())
}

/// Applies a partial change (logged as `session.update` with the changed fields' names).
pub async fn update_session(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    body: SessionBody,
) -> Result<SessionView> {
    let actor = staff.may(Action::UpdateSession)?;
    let mut tx = store.begin().await?;
    let current = locked_session(&mut tx, id).await?;
    let values = therapy_sessions::apply(body, Some(&current.values), actor.user_id)?;
    check_availability(&mut tx, id, &values).await?;
    save(tx, current, values, actor, "session.update").await
}

/// Completes a scheduled session with its rating (logged as `session.complete`).
pub async fn complete_session(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    body: CompleteBody,
) -> Result<SessionView> {
    let actor = staff.may(Action::UpdateSession)?;
    let mut tx = store.begin().await?;
    let current = locked_session(&mut tx, id).await?;
    must_be_scheduled(&current, "be completed")?;
    let values = therapy_sessions::completed(body, &current.values)?;
    save(tx, current, values, actor, "session.complete").await
}

/// Cancels a scheduled session, keeping the reason (logged as `session.cancel`).
pub async fn cancel_session(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    body: CancelBody,
) -> Result<SessionView> {
    let actor = staff.may(Action::UpdateSession)?;
    let reason = required_text("reason", Field::Value(body.reason), None, 1_000)?;
    let mut tx = store.begin().await?;
    let current = locked_session(&mut tx, id).await?;
    must_be_scheduled(&current, "be cancelled")?;
    let values = SessionValues {
        status: SessionStatus::Cancelled,
        cancellation_reason: Some(reason),
        cancelled_at: Some(Timestamp::now()),
        ..current.values.clone()
    };
    save(tx, current, values, actor, "session.cancel").await
}

/// The acting therapist's scheduled sessions from today through `days` ahead, in time order (each
/// logged as `session.upcoming` on its beneficiary's record).
pub async fn upcoming_sessions(
    store: &Store,
    staff: &Staff,
    query: UpcomingQuery,
) -> Result<Vec<SessionView>> {
    let actor = staff.may(Action::ReadSession)?;
    let days = query.days.unwrap_or(7);
    if !(1..=90).contains(&days) {
        return Err(InvalidField::new("days must be between 1 and 90").into());
    }
    let today = Day::today();
    let rows = store
        .upcoming_sessions(actor.user_id, today, today.plus_days(days))
        .await?;
    if !rows.is_empty() {
        let mut tx = store.begin().await?;
        for row in &rows {
            tx.log(&session_entry(row, actor, "session.upcoming", Vec::new()))
                .await?;
        }
        tx.commit().await?;
    }
    Ok(rows.into_iter().map(SessionView::from).collect())
}

/// A page of a beneficiary's access log, newest first. Entries outlive the record on purpose:
/// after a deletion an auditor can still see the deletion and everything before it, so the log
/// of a deleted beneficiary is there; an id never seen is [`CaseRecordsError::BeneficiaryNotFound`].
/// Reading the log is not itself logged (it is not a read of the record).
pub async fn access_log(
    store: &Store,
    staff: &Staff,
    id: Uuid,
    query: LogQuery,
) -> Result<Page<AccessLogView, LogPagination>> {
    staff.may(Action::ReadAccessLog)?;
    let (limit, offset) = query.checked()?;
    if !store.beneficiary_known(id).await? {
        return Err(CaseRecordsError::BeneficiaryNotFound { id });
    }
    let (rows, total) = store.access_log(id, limit, offset).await?;
    Ok(Page {
        rows: rows.into_iter().map(AccessLogView::from).collect(),
        pagination: LogPagination {
            limit,
            offset,
            total,
        },
    })
}

fn national_id_taken(error: sqlx::Error, national_id: &str) -> CaseRecordsError {
    if unique_violation(&error).is_some() {
        return CaseRecordsError::NationalIdTaken {
            national_id: national_id.to_owned(),
        };
    }
    error.into()
}

fn beneficiary_entry(
    beneficiary_id: Uuid,
    actor: Actor,
    action: &str,
    fields: Vec<String>,
) -> AccessEntry<'_> {
    AccessEntry {
        beneficiary_id,
        session_id: None,
        actor,
        action,
        fields,
        at: Timestamp::now(),
    }
}

fn session_entry(
    record: &SessionRecord,
    actor: Actor,
    action: &'static str,
    fields: Vec<String>,
) -> AccessEntry<'static> {
    AccessEntry {
        beneficiary_id: record.beneficiary_id,
        session_id: Some(record.id),
        actor,
        action,
        fields,
        at: Timestamp::now(),
    }
}

/// Reads a beneficiary inside `tx` after its change, for the response.
async fn reread_beneficiary(tx: &mut Tx, id: Uuid) -> Result<BeneficiaryView> {
    let record = tx
        .beneficiary(id)
        .await?
        .ok_or(CaseRecordsError::BeneficiaryNotFound { id })?;
    Ok(record.into())
}

async fn reread_session(tx: &mut Tx, id: Uuid) -> Result<SessionRecord> {
    tx.session(id)
        .await?
        .ok_or(CaseRecordsError::SessionNotFound { id })
}

/// Locks session `id` and reads it.
async fn locked_session(tx: &mut Tx, id: Uuid) -> Result<SessionRecord> {
    if tx.lock_session(id).await?.is_none() {
        return Err(CaseRecordsError::SessionNotFound { id });
    }
    reread_session(tx, id).await
}

fn must_be_scheduled(record: &SessionRecord, change: &'static str) -> Result<()> {
    if record.values.status != SessionStatus::Scheduled {
        return Err(CaseRecordsError::NotScheduled {
            change,
            status: record.values.status,
        });
    }
    Ok(())
}

/// Locks the therapist and refuses a scheduled session that overlaps another of theirs.
async fn check_availability(tx: &mut Tx, id: Uuid, values: &SessionValues) -> Result<()> {
    tx.lock_therapist(values.therapist_id)
        .await
        .map_err(unknown_therapist)?;
    if values.status != SessionStatus::Scheduled {
        return Ok(());
    }
    let clash = tx
        .overlapping_session(
            values.therapist_id,
            values.session_date,
            values.start_time,
            values.end_time,
            id,
        )
        .await?;
    match clash {
        Some(clashing) => Err(CaseRecordsError::TherapistBusy {
            clashing,
            day: values.session_date,
            start: values.start_time,
            end: values.end_time,
        }),
        None => Ok(()),
    }
}

/// A foreign-key violation while locking the therapist: there is no such user.
fn unknown_therapist(error: sqlx::Error) -> CaseRecordsError {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            InvalidField::new("therapist_id must be the id of an existing user").into()
        }
        _ => error.into(),
    }
}

/// Inserts a session, drawing a new number on the (unlikely) clash of a random one.
async fn insert_session(
    tx: &mut Tx,
    id: Uuid,
    beneficiary_id: Uuid,
    values: &SessionValues,
    actor: Actor,
) -> Result<()> {
    for _ in 0..5 {
        if tx
            .insert_session(
                id,
                &therapy_sessions::session_number(),
                beneficiary_id,
                values,
                actor.user_id,
                Timestamp::now(),
            )
            .await?
        {
            return Ok(());
        }
    }
    Err(CaseRecordsError::SessionNumbersExhausted)
}

/// Writes `values` over the locked session `current`, logs `action` with the changed fields and
/// commits; returns the session as stored.
async fn save(
    mut tx: Tx,
    current: SessionRecord,
    values: SessionValues,
    actor: Actor,
    action: &'static str,
) -> Result<SessionView> {
    let changed = therapy_sessions::changed_fields(&current.values, &values);
    if !changed.is_empty() {
        tx.update_session(current.id, &values, Timestamp::now())
            .await?;
    }
    tx.log(&session_entry(&current, actor, action, changed))
        .await?;
    let record = reread_session(&mut tx, current.id).await?;
    tx.commit().await?;
    Ok(record.into())
}
