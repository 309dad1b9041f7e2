//! Resources guarded by PATs. Each handler names its scope in its `Pat<…>` argument.
//!
//! The workspaces and users stubs of the PAT contract, and the FCS endpoints. Case records follow.

pub mod fcs;
pub mod stubs;
