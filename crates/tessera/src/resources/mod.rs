//! Resources guarded by PATs. Each handler names its scope in its `Pat<…>` argument.
//!
//! The workspaces and users stubs of the PAT contract, the FCS endpoints, and the case records
//! (which also take a staff JWT).

pub mod case_records;
pub mod fcs;
pub mod stubs;
