//! [`AppState`]: the built services and the configuration, which every handler receives.
//!
//! [`Services::build`] connects to the database, runs the migrations and constructs each service.
//! It starts nothing: the background work (the audit writer, key reloads, cache invalidation, the
//! OAuth keep-alive, the FCS warm-up) is started by `crate::server`, so building state for a
//! test or a CLI command runs no task.

use crate::accounts::login_guard::LoginCounters;
use crate::connections::service::RefreshCounters;
use crate::metrics::{Counted, Metrics};
use crate::webhooks::service::AttemptCounters;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;

use crate::accounts::jwt::AccessTokens;
use crate::accounts::keys::{retired_key_grace, SigningKeys};
use crate::accounts::lockout::LockoutPolicy;
use crate::accounts::login_guard::LoginGuard;
use crate::accounts::password::PasswordHasher;
use crate::accounts::sessions::LoginSessions;
use crate::clock::Clock;
use crate::config::Config;
use crate::connections::Connections;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::IpRateLimit;
use crate::resources::fcs::service::FcsService;
use crate::store::{BackendKind, Store};
use crate::tokens::audit::{AuditLog, AuditWriterToStart};
use crate::tokens::cache::{token_cache, TokenCache};
use crate::webhooks::Webhooks;

/// Everything a handler may need; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The shared parts of [`AppState`].
pub struct AppInner {
    /// The database.
    pub store: Store,
    /// Password hashing with bounded concurrency.
    pub passwords: PasswordHasher,
    /// Access JWTs: issuing and verifying with the shared Ed25519 keys.
    pub jwt: AccessTokens,
    /// Password checks under the brute-force rules (login, password change).
    pub login_guard: LoginGuard,
    /// Login sessions: starting them and spending their refresh tokens.
    pub login_sessions: LoginSessions,
    /// The PAT audit log (its writer runs in the server).
    pub audit: AuditLog,
    /// Authenticated tokens, emptied by any revocation.
    pub token_cache: TokenCache,
    /// The per-IP rate limiter.
    pub rate_limit: IpRateLimit,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// OAuth connections: vault, provider client and refresher.
    pub connections: Arc<Connections>,
    /// FCS files: the sample, uploads and decoded data.
    pub fcs: FcsService,
    /// The configuration the app was built with.
    pub config: Config,
    /// "Now", for every rule that depends on time; tests move it forward.
    pub clock: Clock,
    /// The Prometheus metrics (served on `METRICS_ADDR`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Webhook endpoints and their deliveries (the worker runs in the server).
    pub webhooks: Webhooks,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// What [`Services::build`] makes: the state, and what only the server runs.
pub struct Services {
    /// The shared state.
    pub state: AppState,
    /// The audit writer, to be started by the server.
    pub audit_writer: AuditWriterToStart,
}

impl Services {
    /// Connects to the database, runs the migrations and constructs every service.
    pub async fn build(config: Config) -> anyhow::Result<Services> {
        let store = Store::connect(&config.database_url(), config.database_max_connections).await?;
        store.migrate().await.context("running migrations")?;
        let secret = config.resolve_secret_key()?;
        let clock = Clock::default();
        let metrics = Arc::new(Metrics::new());
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute)
            .context("RATE_LIMIT_PER_MINUTE must be at least 1")?;
        let (audit, audit_writer) = AuditLog::new(
            store.clone(),
            config.audit_commits_in_flight.map(usize::from),
        );
        let audit_writer = audit_writer.observing(metrics.audit_batches());
        let signing_keys = Arc::new(
            SigningKeys::load(
                store.clone(),
                &secret,
                retired_key_grace(config.jwt_ttl_seconds),
            )
            .await?,
        );
        let passwords = PasswordHasher::new(
            hashing_threads(&config),
            config.password_hash_queue as usize,
        )?;
        let login_guard = LoginGuard::new(
            store.clone(),
            passwords.clone(),
            LockoutPolicy::from_config(&config),
        )
        .counting(LoginCounters {
            failures: metrics.counter(Counted::LoginFailure),
            account_locks: metrics.counter(Counted::LoginLock("account")),
            address_locks: metrics.counter(Counted::LoginLock("client_ip")),
        });
        let jwt = AccessTokens::new(signing_keys, &config.jwt_issuer, config.jwt_ttl_seconds);
        let login_sessions =
            LoginSessions::new(store.clone(), jwt.clone(), config.refresh_ttl_seconds);
        let mut connections = Connections::new(store.clone(), &config, &secret)?;
        connections.cache = connections.cache.clone().counting(
            metrics.counter(Counted::ConnectionCache(true)),
            metrics.counter(Counted::ConnectionCache(false)),
        );
        connections.refreshes = RefreshCounters {
            refreshed: metrics.counter(Counted::OAuthRefresh("refreshed")),
            grant_dead: metrics.counter(Counted::OAuthRefresh("grant_dead")),
            failed: metrics.counter(Counted::OAuthRefresh("failed")),
        };
        let connections = Arc::new(connections);
        let mut webhooks = Webhooks::new(store.clone(), connections.vault.clone(), &config)?;
        webhooks.attempts = AttemptCounters {
            delivered: metrics.counter(Counted::WebhookAttempt("delivered")),
            retrying: metrics.counter(Counted::WebhookAttempt("retrying")),
            failed: metrics.counter(Counted::WebhookAttempt("failed")),
        };
        let state = AppState(Arc::new(AppInner {
            passwords,
            login_guard,
            login_sessions,
            jwt,
            trusted_proxies: TrustedProxies::new(
                config.trusted_proxies.clone(),
                config.rate_limit_ipv6_prefix,
            ),
            // On PostgreSQL other instances may revoke tokens: trust the cache only once the
            // listener runs.
            token_cache: token_cache(store.kind() == BackendKind::Sqlite).counting(
                metrics.counter(Counted::PatCache(true)),
                metrics.counter(Counted::PatCache(false)),
            ),
            connections,
            webhooks,
            fcs: FcsService::new(&config),
            rate_limit: IpRateLimit::new(per_minute, clock.clone()),
            clock,
            metrics,
            audit,
            store,
            config,
        }));
        Ok(Services {
            state,
            audit_writer,
        })
    }
}

/// `PASSWORD_HASH_CONCURRENCY`, or one thread per core.
fn hashing_threads(config: &Config) -> usize {
    config.password_hash_concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}
