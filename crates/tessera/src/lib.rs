//! Tessera: accounts, personal access tokens, OAuth connections and the resources they guard,
//! behind one scope model.
//!
//! The crate is organised by capability: [`accounts`], [`tokens`], [`connections`], [`resources`];
//! with the shared
//! HTTP conventions in [`http`], the database boundary in [`store`], settings in [`config`] and
//! the assembly of it all in [`app`].

pub mod accounts;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod http;
pub mod openapi;
pub mod resources;
pub mod router;
pub mod server;
pub mod state;
pub mod store;
pub mod tokens;
pub mod types;
