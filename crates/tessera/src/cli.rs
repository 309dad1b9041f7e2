//! The `tessera` command line: `serve` (the default), `migrate`, and operator commands that work
//! on the database directly (`users create|list|set-role|disable|enable|unlock|reset-link|invite`,
//! `tokens create|list|revoke`, `service-accounts create|list|delete|token`). Operator commands
//! reuse the API's services, so what is made here obeys the same rules as over HTTP, and their
//! security events say "by an operator (CLI)".
//!
//! `tessera fcs info|stats|events FILE` read a local FCS file with the engine and print the same
//! JSON the HTTP endpoints answer (without the envelope; `file_id` is the path), so a file can be
//! checked before it is uploaded; `tessera fcs synth OUT` writes the synthetic sample.

use crate::tokens::service::{revoke, RevokedBy};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;
use tessera_fcs::FcsFile;
use uuid::Uuid;

use crate::accounts::keys::{retired_key_grace, SigningKeys};
use crate::accounts::password::PasswordHasher;
use crate::accounts::routes::UserView;
use crate::accounts::service::{create_account, RegisterRequest};
use crate::admin::routes::AdminUserView;
use crate::admin::service::{self as admin, Administrator};
use crate::service_accounts::routes::ServiceAccountView;
use crate::service_accounts::service::{self as service_account, CreateServiceAccount, Manager};
use crate::tokens::cache::token_cache;
use crate::types::{Role, Timestamp};

use crate::config::{Config, LogFormat};
use crate::resources::fcs::analysis::{bin_count, histogram_of, PipelineQuery};
use crate::resources::fcs::export::{Export, ExportFormat};
use crate::resources::fcs::service::FcsService;
use crate::resources::fcs::view::{
    select_channels, EventsView, FcsData, KeywordsView, ParametersView, StatisticsView,
};
use crate::server::{shutdown_signal, Server};
use crate::store::{AccountOrigin, RoleChange, Store};
use crate::tokens::ceiling::{tokens_beyond_role, warn_of_tokens_beyond_role};
use crate::tokens::routes::{CreatedToken, TokenList};
use crate::tokens::service::{issue_token, list_tokens, CreateTokenRequest};

/// Tessera: accounts, personal access tokens and the resources they guard.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage service accounts (tokens owned by the lab, not by a person).
    #[command(subcommand)]
    ServiceAccounts(ServiceAccountsCommand),
    /// Manage the Ed25519 keys access JWTs are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the OAuth connections' sealed secrets.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Inspect FCS files with the engine (no database needed), or check the stored uploads.
    #[command(subcommand)]
    Fcs(FcsCommand),
}

#[derive(Debug, Subcommand)]
enum FcsCommand {
    /// Print the parameters and counts of FILE's first dataset.
    Info { file: PathBuf },
    /// Print per-channel statistics of FILE.
    Stats {
        file: PathBuf,
        /// Comma-separated `$PnN`s (default: all).
        #[arg(long)]
        channels: Option<String>,
    },
    /// Print a page of FILE's events (raw values).
    Events {
        file: PathBuf,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Comma-separated `$PnN`s (default: all).
        #[arg(long)]
        channels: Option<String>,
    },
    /// Print the keywords and spillover matrix of one dataset of FILE.
    Keywords {
        file: PathBuf,
        /// Dataset of a file holding several, from 0.
        #[arg(long, default_value_t = 0)]
        dataset: usize,
    },
    /// Print a histogram of one channel of FILE through the value pipeline, counted as
    /// numpy.histogram counts with the same edges.
    Hist {
        file: PathBuf,
        /// The channel (`$PnN`).
        #[arg(long)]
        channel: String,
        /// Number of bins, 1 to FCS_MAX_BINS.
        #[arg(long, default_value_t = 256)]
        bins: usize,
        /// Left edge (default: the channel's range on the pipeline).
        #[arg(long, allow_negative_numbers = true)]
        min: Option<f64>,
        /// Right edge (default: likewise).
        #[arg(long, allow_negative_numbers = true)]
        max: Option<f64>,
        #[command(flatten)]
        pipeline: PipelineQuery,
    },
    /// Write channels of FILE through the value pipeline to OUT as FCS 3.1 (float32) or CSV,
    /// keywords carried over where still true (as `GET /api/v1/fcs/export`).
    Export {
        file: PathBuf,
        /// Where to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "fcs")]
        format: ExportFormat,
        /// Comma-separated `$PnN`s (default: all).
        #[arg(long)]
        channels: Option<String>,
        #[command(flatten)]
        pipeline: PipelineQuery,
    },
    /// Write the synthetic DxFLEX-like sample (34,297 events × 26 parameters) to OUT.
    Synth { out: PathBuf },
    /// Read every stored upload as the server would, under the current limits, and list (JSON)
    /// those that no longer read, with what a read answers: e.g. files stored before a limit
    /// was tightened. Their owners can still list and delete them.
    Check,
}

#[derive(Debug, Subcommand)]
enum ConnectionsCommand {
    /// Re-seal every client secret and token under the first key of TOKEN_ENCRYPTION_KEYS (after
    /// adding a new key in front). Old keys can be removed once this reports nothing left.
    Rekey,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new signing key and retire the current one. Running instances pick it up within
    /// 30 s; tokens signed by the old key stay valid until they expire.
    Rotate,
    /// List the keys that still verify tokens (never the private halves).
    List,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an account. The password is read from TESSERA_PASSWORD or prompted on stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The account's role: a staff role for case records; `admin` may change other users'
        /// roles. The default reaches no case record.
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: Role,
    },
    /// List accounts with their role and how they were made (`registration`, `operator`, or null
    /// for accounts made before this was recorded), e.g. `--role data_entry` after upgrading.
    List {
        /// Only accounts with this role.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
    },
    /// Give an existing account a role (e.g. the first admin of an existing database).
    SetRole {
        /// Username or email.
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Disable an account: its sessions end, it cannot sign in, its tokens are refused.
    Disable {
        /// Username or email.
        #[arg(long)]
        user: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Username or email.
        #[arg(long)]
        user: String,
    },
    /// Clear an account's login lock and its count of failed logins.
    Unlock {
        /// Username or email.
        #[arg(long)]
        user: String,
    },
    /// Print a one-time link that sets a new password for the account (and ends its sessions).
    /// The link's address is PUBLIC_URL, or TESSERA_ADDR when that is unset.
    ResetLink {
        /// Username or email.
        #[arg(long)]
        user: String,
        /// 5–1440.
        #[arg(long, default_value_t = 60)]
        expires_in_minutes: i64,
    },
    /// Print a one-time link that creates an account with this email and role.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// 5–20160.
        #[arg(long, default_value_t = 4320)]
        expires_in_minutes: i64,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceAccountsCommand {
    /// Make a service account: it holds tokens and cannot sign in.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Its role on the case records (any but admin).
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List the service accounts.
    List,
    /// Delete a service account; its tokens are revoked.
    Delete {
        /// Its name or id.
        #[arg(long)]
        account: String,
    },
    /// Mint a token for a service account; prints it once.
    Token {
        /// Its name or id.
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// Comma-separated scopes.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value_t = 90)]
        expires_in_days: i64,
        /// Optional comma-separated CIDRs the token may be used from.
        #[arg(long, value_delimiter = ',')]
        allowed_ips: Option<Vec<String>>,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
        .map_err(|e: crate::types::UnknownRole| e.to_string())
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Mint a token for a user; prints it once.
    Create {
        /// Username or email of the owner.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Comma-separated scopes, e.g. `workspaces:read,fcs:analyze`.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value_t = 90)]
        expires_in_days: i64,
        /// Optional comma-separated CIDRs the token may be used from.
        #[arg(long, value_delimiter = ',')]
        allowed_ips: Option<Vec<String>>,
    },
    /// List a user's tokens (never the secrets); with `--over-privileged`, the live tokens
    /// holding scopes beyond their owner's role, of one user or of everyone.
    List {
        /// Username or email.
        #[arg(long, required_unless_present = "over_privileged")]
        user: Option<String>,
        /// Only live tokens whose scopes exceed what their owner's role may hold.
        #[arg(long)]
        over_privileged: bool,
    },
    /// Revoke a token by id, or with `--over-privileged` every live token beyond its owner's
    /// role (of one user, or of everyone).
    Revoke {
        /// Username or email of the owner.
        #[arg(long, required_unless_present = "over_privileged")]
        user: Option<String>,
        /// Token id.
        #[arg(
            required_unless_present = "over_privileged",
            conflicts_with = "over_privileged"
        )]
        id: Option<Uuid>,
        /// Every live token whose scopes exceed what its owner's role may hold.
        #[arg(long)]
        over_privileged: bool,
    },
}

/// Parses the command line and runs it.
pub async fn run() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    init_tracing(&cli.config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => {
            let store = connect(&cli.config).await?;
            println!("migrations applied to {}", describe(&store));
            Ok(())
        }
        Command::Users(command) => users(cli.config, command).await,
        Command::ServiceAccounts(command) => service_accounts(cli.config, command).await,
        Command::Tokens(command) => tokens(cli.config, command).await,
        Command::Keys(command) => keys(cli.config, command).await,
        Command::Connections(ConnectionsCommand::Rekey) => {
            let store = connect(&cli.config).await?;
            let secret = cli.config.resolve_secret_key()?;
            let vault = crate::connections::vault::Vault::new(
                cli.config.token_encryption_keys.as_ref(),
                &secret,
            )?;
            let report = crate::connections::vault::rekey(&store, &vault).await?;
            print_json(&report)
        }
        Command::Fcs(command) => fcs(cli.config, command).await,
    }
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let default = if config.debug {
        "tessera=debug,tower_http=debug,info"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let configured = config.addr;
    let app = Server::build(config).await?;
    let listener = tokio::net::TcpListener::bind(configured).await?;
    // The bound address, not the configured one: with port 0 the OS chooses, and whoever started
    // the server (the browser tests do this) learns the port here.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?app.state.store.kind(), "listening; API docs at /docs");
    app.serve(listener, shutdown_signal()).await
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url(), 2).await?;
    store.migrate().await?;
    Ok(store)
}

fn describe(store: &Store) -> &'static str {
    match store.kind() {
        crate::store::BackendKind::Sqlite => "SQLite",
        crate::store::BackendKind::Postgres => "PostgreSQL",
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("TESSERA_PASSWORD") {
        return Ok(password);
    }
    eprint!("password: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    match command {
        UsersCommand::Create {
            username,
            email,
            role,
        } => {
            let password = read_password()?;
            let hasher = PasswordHasher::new(1, 1)?;
            let user = create_account(
                &store,
                &hasher,
                RegisterRequest {
                    username,
                    email,
                    password,
                },
                role,
                AccountOrigin::Operator,
            )
            .await?;
            print_json(&UserView::from(user))?;
        }
        UsersCommand::List { role } => print_json(&store.list_accounts(role).await?)?,
        UsersCommand::SetRole { user, role } => {
            let id = user_id(&store, &user).await?;
            match store.change_role(id, role).await? {
                RoleChange::Changed { previous } => {
                    println!("{user}: {previous} → {role}");
                    // The role has changed: a failed review must not make the command look failed.
                    match warn_of_tokens_beyond_role(&store, id).await {
                        Ok(0) => {}
                        Ok(beyond) => eprintln!(
                            "{beyond} of {user}'s tokens now hold scopes beyond the role: \
                             see `tessera tokens list --over-privileged --user {user}`"
                        ),
                        Err(error) => eprintln!(
                            "reviewing {user}'s tokens failed ({error:#}): run \
                             `tessera tokens list --over-privileged --user {user}`"
                        ),
                    }
                }
                RoleChange::LastAdmin => anyhow::bail!("{user} is the last admin"),
                RoleChange::NoSuchUser => anyhow::bail!("no user `{user}`"),
            }
        }
        UsersCommand::Disable { user } => {
            let id = user_id(&store, &user).await?;
            // This process's cache is its own; running servers hear of it through the change feed.
            let cache = token_cache(true);
            let disabled = admin::disable_user(
                &store,
                &cache,
                Administrator::Operator,
                id,
                Timestamp::now(),
            )
            .await?;
            eprintln!(
                "{user}: disabled; {} session(s) ended",
                disabled.sessions_ended
            );
            print_json(&AdminUserView::from(disabled.account))?;
        }
        UsersCommand::Enable { user } => {
            let id = user_id(&store, &user).await?;
            let cache = token_cache(true);
            let account = admin::enable_user(
                &store,
                &cache,
                Administrator::Operator,
                id,
                Timestamp::now(),
            )
            .await?;
            print_json(&AdminUserView::from(account))?;
        }
        UsersCommand::Unlock { user } => {
            let id = user_id(&store, &user).await?;
            let account =
                admin::unlock_user(&store, Administrator::Operator, id, Timestamp::now()).await?;
            print_json(&AdminUserView::from(account))?;
        }
        UsersCommand::ResetLink {
            user,
            expires_in_minutes,
        } => {
            let id = user_id(&store, &user).await?;
            let request = admin::ResetLinkRequest {
                expires_in_minutes: Some(expires_in_minutes),
            };
            let link = admin::create_reset_link(
                &store,
                Administrator::Operator,
                id,
                &request,
                Timestamp::now(),
            )
            .await?;
            print_link(&config, admin::RESET_PAGE, &link)?;
        }
        UsersCommand::Invite {
            email,
            role,
            expires_in_minutes,
        } => {
            let request = admin::InviteRequest {
                email,
                role,
                expires_in_minutes: Some(expires_in_minutes),
            };
            let (link, _, _) =
                admin::create_invite(&store, Administrator::Operator, &request, Timestamp::now())
                    .await?;
            print_link(&config, admin::INVITE_PAGE, &link)?;
        }
    }
    Ok(())
}

/// Prints a one-time link as JSON: `{url, expires_at}`.
fn print_link(config: &Config, page: &str, link: &admin::IssuedLink) -> anyhow::Result<()> {
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.addr));
    print_json(&serde_json::json!({
        "url": admin::link_url(&base, page, &link.secret),
        "expires_at": link.expires_at,
    }))
}

async fn service_accounts(config: Config, command: ServiceAccountsCommand) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    let now = Timestamp::now();
    let by = Manager::operator();
    match command {
        ServiceAccountsCommand::Create {
            name,
            description,
            role,
        } => {
            let hasher = PasswordHasher::new(1, 1)?;
            let request = CreateServiceAccount {
                name,
                description,
                role: Some(role),
            };
            let account = service_account::create(&store, &hasher, by, &request, now).await?;
            print_json(&ServiceAccountView::from(account))?;
        }
        ServiceAccountsCommand::List => {
            let accounts: Vec<ServiceAccountView> = service_account::list(&store, now)
                .await?
                .into_iter()
                .map(ServiceAccountView::from)
                .collect();
            print_json(&accounts)?;
        }
        ServiceAccountsCommand::Delete { account } => {
            let id = service_account_id(&store, &account, now).await?;
            let revoked = service_account::delete(&store, &token_cache(true), by, id, now).await?;
            println!("{account}: deleted; {revoked} token(s) revoked");
        }
        ServiceAccountsCommand::Token {
            account,
            name,
            scopes,
            expires_in_days,
            allowed_ips,
        } => {
            let id = service_account_id(&store, &account, now).await?;
            let request = CreateTokenRequest {
                name,
                scopes,
                expires_in_days: Some(expires_in_days),
                expires_at: None,
                allowed_ips,
            };
            let issued = service_account::mint_token(&store, by, id, &request, now).await?;
            print_json(&CreatedToken::from(issued))?;
        }
    }
    Ok(())
}

/// The service account named `name` (or with that id).
async fn service_account_id(store: &Store, name: &str, now: Timestamp) -> anyhow::Result<Uuid> {
    service_account::list(store, now)
        .await?
        .into_iter()
        .find(|account| account.name.eq_ignore_ascii_case(name) || account.id.to_string() == name)
        .map(|account| account.id)
        .ok_or_else(|| anyhow::anyhow!("no service account `{name}`"))
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    match command {
        KeysCommand::Rotate => {
            let kid = SigningKeys::rotate(&store, &config.resolve_secret_key()?).await?;
            println!("new signing key {kid}; the previous key verifies until its tokens expire");
        }
        KeysCommand::List => {
            let grace = retired_key_grace(config.jwt_ttl_seconds);
            let grace = time::Duration::try_from(grace).context("the key grace")?;
            let keys = store.verifying_keys(Timestamp::now() + -grace).await?;
            let listed: Vec<_> = keys
                .iter()
                .map(|key| {
                    serde_json::json!({
                        "kid": key.kid,
                        "created_at": key.created_at.to_rfc3339(),
                        "retired_at": key.retired_at.map(Timestamp::to_rfc3339),
                    })
                })
                .collect();
            print_json(&listed)?;
        }
    }
    Ok(())
}

async fn user_id(store: &Store, login: &str) -> anyhow::Result<Uuid> {
    Ok(store
        .find_user_by_login(login)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user `{login}`"))?
        .id)
}

/// The user named by `login`, if one was named.
async fn optional_user_id(store: &Store, login: Option<&str>) -> anyhow::Result<Option<Uuid>> {
    match login {
        Some(login) => Ok(Some(user_id(store, login).await?)),
        None => Ok(None),
    }
}

async fn tokens(config: Config, command: TokensCommand) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    match command {
        TokensCommand::Create {
            user,
            name,
            scopes,
            expires_in_days,
            allowed_ips,
        } => {
            let owner = user_id(&store, &user).await?;
            let request = CreateTokenRequest {
                name,
                scopes,
                expires_in_days: Some(expires_in_days),
                expires_at: None,
                allowed_ips,
            };
            let issued = issue_token(&store, owner, &request, Timestamp::now()).await?;
            print_json(&CreatedToken::from(issued))?;
            eprintln!("The token is shown once; store it now.");
        }
        TokensCommand::List {
            user,
            over_privileged,
        } => {
            let owner = optional_user_id(&store, user.as_deref()).await?;
            match (owner, over_privileged) {
                (owner, true) => print_json(&tokens_beyond_role(&store, owner).await?)?,
                (Some(owner), false) => {
                    let tokens = list_tokens(&store, owner).await?;
                    print_json(&TokenList::new(tokens, Timestamp::now()))?;
                }
                (None, false) => unreachable!("clap requires --user without --over-privileged"),
            }
        }
        TokensCommand::Revoke {
            user,
            id,
            over_privileged,
        } => {
            let owner = optional_user_id(&store, user.as_deref()).await?;
            if over_privileged {
                let now = Timestamp::now();
                for token in tokens_beyond_role(&store, owner).await? {
                    revoke(
                        &store,
                        Some(token.user_id),
                        token.id,
                        RevokedBy::Operator,
                        now,
                    )
                    .await?;
                    println!(
                        "revoked {} ({}) of {}: {} beyond the role {}",
                        token.id,
                        token.name,
                        token.owner,
                        token.beyond_role.join(", "),
                        token.role
                    );
                }
                return Ok(());
            }
            let (Some(owner), Some(user), Some(id)) = (owner, user, id) else {
                anyhow::bail!("give --user and a token id, or --over-privileged");
            };
            match revoke(
                &store,
                Some(owner),
                id,
                RevokedBy::Operator,
                Timestamp::now(),
            )
            .await?
            {
                Some((revoked, _)) => println!("revoked {id} at {}", revoked.at.to_rfc3339()),
                None => anyhow::bail!("`{user}` has no token {id}"),
            }
        }
    }
    Ok(())
}

async fn check_stored_fcs(config: Config) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    let fcs = FcsService::new(&config);
    let unreadable = fcs.unreadable_uploads(&store).await?;
    eprintln!("{} stored FCS file(s) no longer read", unreadable.len());
    print_json(&unreadable)
}

async fn fcs(config: Config, command: FcsCommand) -> anyhow::Result<()> {
    match command {
        FcsCommand::Info { file } => {
            let data = decode_fcs(&file)?;
            print_json(&ParametersView::new(file.display().to_string(), &data))
        }
        FcsCommand::Stats { file, channels } => {
            let opened = FcsFile::open_for_scan(&file)?;
            let dataset = opened.first();
            let selected = select_channels(dataset.parameters(), channels.as_deref())?;
            let id = file.display().to_string();
            print_json(&StatisticsView::streamed(id, dataset, &selected)?)
        }
        FcsCommand::Events {
            file,
            limit,
            offset,
            channels,
        } => {
            let data = decode_fcs(&file)?;
            let selected = data.select(channels.as_deref())?;
            let id = file.display().to_string();
            print_json(&EventsView::new(id, &data, &selected, limit, offset))
        }
        FcsCommand::Keywords { file, dataset } => {
            let opened = FcsFile::open_for_scan(&file)?;
            print_json(&KeywordsView::of(
                file.display().to_string(),
                &opened,
                dataset,
            )?)
        }
        FcsCommand::Hist {
            file,
            channel,
            bins,
            min,
            max,
            pipeline: choice,
        } => {
            let bins = bin_count(Some(bins), bins, max_bins(&config))?;
            let data = decode_dataset(&file, choice.dataset())?;
            let channel = data.channel("channel", &channel)?;
            let pipeline = choice.pipeline(&data)?;
            let values = pipeline.evaluate(&data.source(), &[channel]).remove(0);
            let id = file.display().to_string();
            let view = histogram_of(&data, id, &pipeline, (channel, &values), bins, (min, max))?;
            print_json(&view)
        }
        FcsCommand::Export {
            file,
            out,
            format,
            channels,
            pipeline: choice,
        } => {
            let data = decode_dataset(&file, choice.dataset())?;
            let selected = data.select(channels.as_deref())?;
            let pipeline = choice.pipeline(&data)?;
            let parameters = selected.len();
            let export = Export::new(std::sync::Arc::new(data), selected, pipeline, None);
            let events = export.events();
            let writer = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            export
                .write(format, std::io::BufWriter::with_capacity(1 << 20, writer))
                .with_context(|| format!("writing {}", out.display()))?;
            print_json(&serde_json::json!({
                "path": out.display().to_string(),
                "format": format,
                "total_events": events,
                "total_parameters": parameters,
            }))
        }
        FcsCommand::Check => check_stored_fcs(config).await,
        FcsCommand::Synth { out } => {
            tessera_fcs::synth::write_dxflex_like_sample(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            let data = decode_fcs(&out)?;
            print_json(&serde_json::json!({
                "path": out.display().to_string(),
                "synthetic": true,
                "total_events": data.event_count(),
                "total_parameters": data.parameters.len(),
            }))
        }
    }
}

fn decode_fcs(path: &Path) -> anyhow::Result<FcsData> {
    decode_dataset(path, 0)
}

fn decode_dataset(path: &Path, dataset: usize) -> anyhow::Result<FcsData> {
    let file = FcsFile::open(path)?;
    Ok(FcsData::decode(&file, dataset)?)
}

fn max_bins(config: &Config) -> usize {
    usize::try_from(config.fcs_max_bins).unwrap_or(usize::MAX)
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
