//! Administration: what an admin does to other people's accounts and tokens, for a clinic or a
//! lab that runs Tessera without a database console.
//!
//! [`service`] holds the rules (who may be disabled, what disabling ends) and records every
//! action as a security event naming the admin; [`routes`] is `/api/v1/admin/…`, every route of
//! which takes an [`routes::AdminUser`], so a non-admin is refused before any handler runs. The
//! CLI (`tessera users …`) and the console call the same service.

pub mod retention;
pub mod routes;
pub mod service;
