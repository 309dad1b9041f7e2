//! The integration tests: one binary, a module per capability, against the real app (or the real
//! binary, where a test is about the process) on SQLite, or on PostgreSQL when
//! `TEST_DATABASE_URL=postgres://…` is set. Helpers are in [`support`].

mod support;

mod accounts;
mod admin_links;
mod admin_security_events;
mod admin_tokens;
mod admin_users;
mod bad_input;
mod case_records;
mod cli;
mod connections;
mod connections_e2e;
mod connections_secrets;
mod console;
mod durability;
mod fcs;
mod fcs_export;
mod fcs_gates;
mod fcs_limits;
mod fcs_pipeline;
mod fcs_reference;
mod metrics;
mod operations;
mod pat_contract;
mod service_accounts;
mod tokens_renewal;
mod tokens_self;
mod webhooks;
