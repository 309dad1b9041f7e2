//! The refresh rules: how [`Connections`] turns a due or dead token into an answer, by the
//! rules of `oauth-connections.md`.
//!
//! * **Once.** Callers for one branch queue on an in-process lock (single flight), read the row,
//!   and only if it still needs a refresh take the database lock
//!   ([`crate::store::ConnectionLock`]) and re-read it before calling the provider: whoever waited
//!   finds the token the first caller stored and returns it. So 1,000 concurrent requests on an
//!   expired token cost one provider call, on one instance or many. At most a quarter of the
//!   database pool is held by refreshes, at most half of that by one owner and all but one slot
//!   by one provider host ([`RefreshLimits`](super::limits::RefreshLimits)), so one slow token endpoint cannot starve the
//!   others. Each refresh runs in a task of its own, so a client that goes away cannot cut it
//!   off between the provider's answer and the write; a failed write is retried, and shutdown
//!   waits for refreshes in flight ([`Connections::drain`]) before the pool closes.
//! * **In time.** A refresh, waits and retries included, has one [`Deadline`] inside the
//!   request's timeout; each provider attempt is cut to the time left, so the caller gets these
//!   rules' answer, not the router's generic 503.
//! * **Rotation.** A new refresh token replaces the old one in the same write as the new access
//!   token; a response without one keeps the old.
//! * **Dead grants.** `invalid_grant` flips the connection to `needs_reauth` once; from then on
//!   token requests answer 409 without calling the provider.
//! * **Passing faults.** A few retries with doubling back-off, while they fit in the deadline;
//!   then, if the stored token has not expired, it is handed out anyway (not to a forced
//!   refresh, which asked for a new one); else 502 (504 on a timeout). After a failure no new
//!   attempt is made for the connection for `OAUTH_FAILURE_COOLDOWN_SECONDS`.
//! * **No silent immortality.** No `expires_in` → `OAUTH_DEFAULT_TOKEN_LIFETIME_SECONDS`.
//! * **Keep-alive.** [`Connections::keep_alive_once`] refreshes tokens about to expire that
//!   consumers are using, and grants nobody refreshed for a week; the same locks make it safe to
//!   run on every instance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use uuid::Uuid;

use super::errors::ConnectionError;
use super::events;
use super::limits::{refresh_budget, Deadline};
use super::oauth::{ClientCredentials, IssuedTokens, ProviderError};
use super::provider::ResolvedProvider;
use super::service::{AccessToken, Connections};
use super::vault::Slot;
use crate::config::{Config, SecretString};
use crate::store::{
    BranchRecord, ConnectionLock, ConnectionRecord, ConnectionStatus, NewEvent, RefreshResult,
    SealedTokens,
};
use crate::types::Timestamp;

/// Pauses before storing a refresh's outcome again after the write failed.
const WRITE_RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(800),
];

/// The refresh rules' numbers, from configuration.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Tokens valid for less than this are refreshed before they are handed out.
    pub buffer: time::Duration,
    /// Lifetime of a token whose response had no `expires_in`.
    pub default_lifetime: time::Duration,
    /// Extra attempts after a passing fault.
    pub retries: u32,
    /// First back-off; doubles per retry.
    pub backoff: Duration,
    /// No new attempt this long after a failure.
    pub cooldown: time::Duration,
    /// How often the keep-alive task runs (zero: never).
    pub keepalive_interval: Duration,
    /// Refreshes the keep-alive task runs at once.
    pub keepalive_concurrency: usize,
    /// Grants not refreshed for this long are refreshed by the keep-alive task.
    pub idle_after: time::Duration,
    /// The time one refresh may take, waits and retries included (see [`refresh_budget`]).
    pub budget: Duration,
}

impl RefreshPolicy {
    /// The policy of this configuration.
    pub fn from_config(config: &Config) -> RefreshPolicy {
        let seconds = |s: u64| time::Duration::seconds(s as i64);
        RefreshPolicy {
            buffer: seconds(config.token_refresh_buffer_seconds),
            default_lifetime: seconds(config.oauth_default_token_lifetime_seconds),
            retries: config.oauth_refresh_retries,
            backoff: Duration::from_millis(config.oauth_retry_backoff_ms),
            cooldown: seconds(config.oauth_failure_cooldown_seconds),
            keepalive_interval: Duration::from_secs(config.oauth_keepalive_interval_seconds),
            keepalive_concurrency: config.oauth_keepalive_concurrency as usize,
            idle_after: time::Duration::days(config.oauth_idle_refresh_days as i64),
            budget: refresh_budget(Duration::from_secs(config.request_timeout_seconds)),
        }
    }
}

/// When a caller wants a refresh.
#[derive(Debug, Clone, Copy)]
pub(super) enum Need {
    /// Only if the token is due for a refresh at this instant (see [`refresh_due`]).
    DueAt(Timestamp),
    /// Always, unless someone refreshed since this instant (a forced refresh).
    RefreshedBefore(Timestamp),
    /// The keep-alive task: due before the next pass, or not refreshed for a long time.
    KeepAlive {
        due_before: Timestamp,
        idle_before: Timestamp,
    },
}

impl Need {
    fn is_met_by(self, row: &ConnectionRecord, buffer: time::Duration) -> bool {
        let last_refresh = row.last_refresh_at.unwrap_or(row.connected_at);
        match self {
            Need::DueAt(at) => refresh_due(row, buffer) > at,
            Need::RefreshedBefore(at) => last_refresh >= at,
            Need::KeepAlive {
                due_before,
                idle_before,
            } => refresh_due(row, buffer) >= due_before && last_refresh >= idle_before,
        }
    }

    /// A forced refresh wants a new token, not the stored one.
    fn is_forced(self) -> bool {
        matches!(self, Need::RefreshedBefore(_))
    }
}

/// When a stored token stops being handed out: `buffer` before it expires.
///
/// One exception: a token that a *refresh* brought and that lives shorter than the buffer is
/// handed out for the first half of its life. That provider's refreshes bring tokens this
/// short, so refreshing again sooner would only bring another as short, at the cost of a
/// provider call on every request. A token from the code exchange gets no such exception: its
/// lifetime says nothing about what a refresh brings (a grant connected with a token that lives
/// a second is refreshed at once, and every consumer gets the refreshed token).
pub(super) fn refresh_due(row: &ConnectionRecord, buffer: time::Duration) -> Timestamp {
    let by_buffer = row.expires_at - buffer;
    match row.last_refresh_at {
        Some(refreshed) => by_buffer.max(refreshed + (row.expires_at - refreshed) / 2),
        None => by_buffer,
    }
}

/// One refresh to run: which branch, what the caller needs, by when, and (for the keep-alive
/// pass) one more bound on how many run at once.
pub(super) struct RefreshJob {
    pub(super) branch_id: Uuid,
    pub(super) need: Need,
    /// `None` when no caller waits (the keep-alive pass): waiting for a turn is then unbounded
    /// (until shutdown), and the provider calls get the policy's budget from when they start.
    pub(super) deadline: Option<Deadline>,
    pub(super) gate: Option<Arc<Semaphore>>,
}

/// Everything a refresh needs besides the row: the client's provider and credentials, prepared
/// before the row lock is taken.
struct ClientContext {
    owner_id: Uuid,
    /// The branch, to name in the events a refresh raises.
    branch: BranchRecord,
    client_id: String,
    provider: ResolvedProvider,
    secret: SecretString,
}

impl ClientContext {
    /// The token endpoint's host and port: the unit the per-host bound counts.
    fn token_host(&self) -> String {
        let url = &self.provider.token;
        let host = url.host_str().unwrap_or_default();
        match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

impl Connections {
    /// A refresh for a request: due within the policy's budget.
    pub(super) fn job(&self, branch_id: Uuid, need: Need) -> RefreshJob {
        RefreshJob {
            branch_id,
            need,
            deadline: Some(Deadline::after(self.policy.budget)),
            gate: None,
        }
    }

    /// Serialised refresh of one branch: see the module docs.
    pub(super) async fn refresh(
        self: &Arc<Self>,
        job: RefreshJob,
    ) -> Result<AccessToken, ConnectionError> {
        let Some(in_flight) = self.in_flight.enter() else {
            return Err(ConnectionError::ShuttingDown);
        };
        // In a task of its own, so it runs to the end even if the request that started it is
        // dropped (the client went away, the request timed out): a provider that rotated the
        // refresh token must see the new one stored, or the grant is lost.
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let _in_flight = in_flight;
            service.refresh_now(job).await
        })
        .await
        .map_err(|error| ConnectionError::Broken(error.into()))?
    }

    async fn refresh_now(&self, job: RefreshJob) -> Result<AccessToken, ConnectionError> {
        let flight = {
            let mut flights = self.flights.lock().expect("flights lock");
            Arc::clone(flights.entry(job.branch_id).or_default())
        };
        let answer = match self.wait(&job, flight.lock()).await {
            Some(_in_process) => self.refresh_in_flight(&job).await,
            None => self.out_of_time(&job).await,
        };
        let mut flights = self.flights.lock().expect("flights lock");
        // Ours and the map's: nobody else is waiting on this branch.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&job.branch_id);
        }
        answer
    }

    async fn refresh_in_flight(&self, job: &RefreshJob) -> Result<AccessToken, ConnectionError> {
        let (branch_id, need) = (job.branch_id, job.need);
        let buffer = self.policy.buffer;
        // A plain read first: whoever queued behind a refresh finds its result without taking
        // the row lock in turn.
        if let Some(row) = self.store.read_connection(branch_id).await? {
            if usable(&row).is_ok() && need.is_met_by(&row, buffer) {
                return self.stored_token(&row);
            }
        }
        // Prepared before the lock, so no second pool connection (nor a fault of ours) is
        // needed while a connection holds it.
        let context = self.client_context(branch_id).await?;
        let limits = self
            .limits
            .acquire(context.owner_id, context.token_host(), job.gate.clone());
        let Some(_permit) = self.wait(job, limits).await else {
            return self.out_of_time(job).await;
        };
        let Some(locked) = self.wait(job, self.store.lock_connection(branch_id)).await else {
            return self.out_of_time(job).await;
        };
        let (lock, row) = locked?;
        let Some(row) = row else {
            lock.release().await?;
            return Err(ConnectionError::NotConnected { branch_id });
        };
        if let Some(answer) = self.answer_without_calling(&row, need) {
            lock.release().await?;
            return answer;
        }
        let deadline = job
            .deadline
            .unwrap_or_else(|| Deadline::after(self.policy.budget));
        let Some(first_timeout) = deadline.attempt_timeout(self.http.timeout()) else {
            lock.release().await?;
            return self.out_of_time(job).await;
        };
        let outcome = self
            .call_provider(&context, &row, deadline, first_timeout)
            .await;
        let now = Timestamp::now();
        let error = outcome.as_ref().err().cloned();
        let (result, answer) = self.judge(&row, need, outcome, now);
        match &result {
            RefreshResult::Refreshed(_) => self.refreshes.refreshed.inc(),
            RefreshResult::GrantDead { .. } => self.refreshes.grant_dead.inc(),
            RefreshResult::Failed { .. } => self.refreshes.failed.inc(),
        };
        let events = events::of_refresh(&context.branch, &row, &result, error.as_ref(), now);
        let events: Vec<_> = events.iter().map(|event| event.row()).collect();
        self.store_outcome(branch_id, lock, &result, &events, now)
            .await;
        self.changed();
        answer
    }

    /// Under the row lock, the answer when no provider call is to be made: the grant is unusable,
    /// someone met the need meanwhile, the connection is cooling down after a failure, or there
    /// is no refresh token. `None`: call the provider.
    fn answer_without_calling(
        &self,
        row: &ConnectionRecord,
        need: Need,
    ) -> Option<Result<AccessToken, ConnectionError>> {
        if let Err(error) = usable(row) {
            return Some(Err(error));
        }
        if need.is_met_by(row, self.policy.buffer) {
            return Some(self.stored_token(row));
        }
        let now = Timestamp::now();
        let cooling_down = row.next_attempt_at.is_some_and(|at| at > now);
        (cooling_down || row.refresh_token_sealed.is_none())
            .then(|| self.without_refresh(row, now, need.is_forced()))
    }

    /// `future`'s output, unless the job's deadline passes or shutdown begins first (`None`):
    /// only waits for a turn belong here, which are safe to abandon.
    async fn wait<F: std::future::Future>(&self, job: &RefreshJob, future: F) -> Option<F::Output> {
        let bounded = async {
            match job.deadline {
                Some(deadline) => deadline.wait(future).await,
                None => Some(future.await),
            }
        };
        tokio::select! {
            output = bounded => output,
            () = self.in_flight.closed() => None,
        }
    }

    /// What a provider call comes to: the outcome to store, and the caller's answer.
    fn judge(
        &self,
        row: &ConnectionRecord,
        need: Need,
        outcome: Result<(IssuedTokens, SealedTokens), ProviderError>,
        now: Timestamp,
    ) -> (RefreshResult, Result<AccessToken, ConnectionError>) {
        let branch_id = row.branch_id;
        match outcome {
            Ok((tokens, sealed)) => {
                let answer = Ok(AccessToken {
                    access_token: tokens.access_token,
                    token_type: sealed.token_type.clone(),
                    expires_at: sealed.expires_at,
                    scope: sealed.scope.clone(),
                });
                (RefreshResult::Refreshed(sealed), answer)
            }
            Err(error) if error.is_dead_grant() => {
                tracing::warn!(%branch_id, error = %error, "grant is dead: connection needs re-authorization");
                let message = error.to_string();
                (
                    RefreshResult::GrantDead {
                        error: message.clone(),
                    },
                    Err(ConnectionError::NeedsReauth {
                        branch_id,
                        reason: Some(message),
                    }),
                )
            }
            Err(error) => {
                tracing::warn!(%branch_id, error = %error, "token refresh failed");
                let answer = if row.expires_at > now && !need.is_forced() {
                    // Still valid, just inside the buffer: better than failing.
                    self.stored_token(row)
                } else {
                    Err(ConnectionError::Provider {
                        doing: "Refreshing the branch's token failed",
                        error: error.clone(),
                    })
                };
                let result = RefreshResult::Failed {
                    error: error.to_string(),
                    next_attempt_at: now + self.policy.cooldown,
                };
                (result, answer)
            }
        }
    }

    /// Stores a refresh's outcome under the lock; if that fails, again without it (a few times,
    /// with back-off): new tokens that are not stored are a rotated refresh token lost, and the
    /// grant with it. If every attempt fails, says so in the log (never the secret).
    async fn store_outcome(
        &self,
        branch_id: Uuid,
        lock: ConnectionLock,
        result: &RefreshResult,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) {
        let target = lock.target();
        let Err(mut error) = lock.finish(result, events, now).await else {
            return;
        };
        for pause in WRITE_RETRY_PAUSES {
            tracing::warn!(%branch_id, error = %error, "storing a refresh's outcome failed; retrying");
            tokio::time::sleep(pause).await;
            match self
                .store
                .store_refresh_result(target, result, events, now)
                .await
            {
                Ok(()) => return,
                Err(again) => error = again,
            }
        }
        match result {
            RefreshResult::Refreshed(tokens) => tracing::error!(
                %branch_id,
                error = %error,
                rotated_refresh_token = tokens.refresh_token.is_some(),
                "the refreshed tokens could not be stored: if the provider rotated the refresh \
                 token, the grant is lost and the branch must be re-connected"
            ),
            _ => {
                tracing::error!(%branch_id, error = %error, "a refresh's outcome could not be stored")
            }
        }
    }

    /// The answer when the deadline passed (or shutdown began) before a provider call could be
    /// made, while waiting for another refresh of the branch or for a slot: the stored token if
    /// it is what the caller needs or has not expired, else [`ConnectionError::RefreshTimedOut`].
    async fn out_of_time(&self, job: &RefreshJob) -> Result<AccessToken, ConnectionError> {
        if let Some(row) = self.store.read_connection(job.branch_id).await? {
            usable(&row)?;
            let live = row.expires_at > Timestamp::now() && !job.need.is_forced();
            if live || job.need.is_met_by(&row, self.policy.buffer) {
                return self.stored_token(&row);
            }
        }
        Err(ConnectionError::RefreshTimedOut {
            branch_id: job.branch_id,
        })
    }

    /// The branch's client, provider and client secret.
    async fn client_context(&self, branch_id: Uuid) -> Result<ClientContext, ConnectionError> {
        let client = self
            .store
            .client_of_branch(branch_id)
            .await?
            .ok_or(ConnectionError::NotConnected { branch_id })?;
        let branch = self
            .store
            .find_branch(client.owner_id, branch_id)
            .await?
            .ok_or(ConnectionError::NotConnected { branch_id })?;
        let provider = self.presets.resolve(&client)?;
        let secret = self
            .vault
            .open(Slot::ClientSecret(client.id), &client.client_secret_sealed)?;
        Ok(ClientContext {
            owner_id: client.owner_id,
            branch,
            client_id: client.client_id,
            provider,
            secret,
        })
    }

    /// A refresh attempt with retries for passing faults, while they fit before `deadline`; the
    /// first attempt gives up after `timeout`, later ones after the per-call timeout or the time
    /// left, whichever is shorter.
    async fn call_provider(
        &self,
        context: &ClientContext,
        row: &ConnectionRecord,
        deadline: Deadline,
        mut timeout: Duration,
    ) -> Result<(IssuedTokens, SealedTokens), ProviderError> {
        let refresh_token = self
            .vault
            .open(
                Slot::RefreshToken(row.branch_id),
                row.refresh_token_sealed.as_deref().unwrap_or_default(),
            )
            .map_err(|e| {
                tracing::error!(error = %e, branch_id = %row.branch_id, "a stored refresh token does not open");
                ProviderError::Unavailable("the stored refresh token cannot be opened (see the server log)".to_owned())
            })?;
        let credentials = ClientCredentials {
            client_id: &context.client_id,
            client_secret: &context.secret,
        };
        let mut attempt = 0;
        loop {
            let error = match self
                .http
                .refresh(&context.provider, &credentials, &refresh_token, timeout)
                .await
            {
                Ok(tokens) => {
                    let sealed =
                        self.seal_tokens(row.branch_id, &tokens, &row.scope, Timestamp::now());
                    return Ok((tokens, sealed));
                }
                Err(error) => error,
            };
            match self.next_attempt(&error, attempt, deadline).await {
                Some(next) => timeout = next,
                None => return Err(error),
            }
            attempt += 1;
        }
    }

    /// After a failed attempt: pauses and answers the next attempt's timeout, or `None` when
    /// there is to be no next attempt (a refusal, no retries left, or no time left for one).
    async fn next_attempt(
        &self,
        error: &ProviderError,
        attempt: u32,
        deadline: Deadline,
    ) -> Option<Duration> {
        if !error.is_passing() || attempt >= self.policy.retries {
            return None;
        }
        let pause = self.policy.backoff * 2u32.pow(attempt);
        if !deadline.fits_after(pause) {
            return None;
        }
        tokio::time::sleep(pause).await;
        deadline.attempt_timeout(self.http.timeout())
    }

    /// The answer when no provider call may be made (cooling down after a failure, or no refresh
    /// token): the stored token while it has not expired, else a clear error.
    /// A forced refresh gets the error, never the old token.
    fn without_refresh(
        &self,
        row: &ConnectionRecord,
        now: Timestamp,
        forced: bool,
    ) -> Result<AccessToken, ConnectionError> {
        if row.expires_at > now && !forced {
            return self.stored_token(row);
        }
        if row.refresh_token_sealed.is_none() {
            return Err(ConnectionError::NoRefreshToken {
                branch_id: row.branch_id,
            });
        }
        Err(ConnectionError::CoolingDown {
            branch_id: row.branch_id,
            last_error: row
                .last_error
                .clone()
                .unwrap_or_else(|| "unknown error".to_owned()),
            wait_seconds: row
                .next_attempt_at
                .map(|at| (at - now).whole_seconds().max(1))
                .unwrap_or(1),
        })
    }
}

/// Refuses connections that cannot hand out tokens.
pub(super) fn usable(connection: &ConnectionRecord) -> Result<(), ConnectionError> {
    let branch_id = connection.branch_id;
    match connection.status {
        ConnectionStatus::Active => Ok(()),
        ConnectionStatus::NeedsReauth => Err(ConnectionError::NeedsReauth {
            branch_id,
            reason: connection.last_error.clone(),
        }),
        ConnectionStatus::InsufficientScope => Err(ConnectionError::InsufficientScope {
            branch_id,
            missing: connection.last_error.clone().unwrap_or_default(),
        }),
        ConnectionStatus::Revoked => Err(ConnectionError::Disconnected { branch_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(issued: Timestamp, lifetime_s: i64) -> ConnectionRecord {
        ConnectionRecord {
            branch_id: Uuid::nil(),
            access_token_sealed: Vec::new(),
            refresh_token_sealed: None,
            token_type: "Bearer".into(),
            scope: String::new(),
            expires_at: issued + time::Duration::seconds(lifetime_s),
            status: ConnectionStatus::Active,
            connected_at: issued,
            last_refresh_at: None,
            last_attempt_at: None,
            next_attempt_at: None,
            last_used_at: None,
            last_error: None,
            consecutive_failures: 0,
            refresh_count: 0,
        }
    }

    #[test]
    fn a_token_is_due_a_buffer_before_expiry_but_a_short_refreshed_one_at_half_its_life() {
        let buffer = time::Duration::seconds(300);
        let issued = Timestamp::now();
        let hour = row(issued, 3600);
        assert_eq!(refresh_due(&hour, buffer), hour.expires_at - buffer);
        // From the code exchange: refreshed at once, whatever its lifetime.
        let minute = row(issued, 60);
        assert_eq!(refresh_due(&minute, buffer), minute.expires_at - buffer);
        assert!(!Need::DueAt(issued).is_met_by(&minute, buffer));
        // From a refresh: that provider's tokens are this short, so half its life it is handed out.
        let refreshed = ConnectionRecord {
            last_refresh_at: Some(issued),
            ..row(issued, 60)
        };
        assert_eq!(
            refresh_due(&refreshed, buffer),
            issued + time::Duration::seconds(30)
        );
        assert!(Need::DueAt(issued).is_met_by(&refreshed, buffer));
        let refreshed_hour = ConnectionRecord {
            last_refresh_at: Some(issued),
            ..row(issued, 3600)
        };
        assert_eq!(
            refresh_due(&refreshed_hour, buffer),
            refreshed_hour.expires_at - buffer
        );
    }
}
