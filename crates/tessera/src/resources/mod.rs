//! Resources guarded by PATs. Each handler names its scope in its `Pat<…>` argument.
//!
//! For now: the workspaces and users stubs of the PAT contract. FCS and case records follow.

pub mod fcs;
pub mod stubs;
