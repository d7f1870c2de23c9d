//! What a tenant's write carries and may add, shared by the write path and the tenant view: the
//! reserved tenant label and the [`Admission`] hook of a tenant's series limit. A leaf module
//! (the write path must not depend on the read view).

/// The reserved label naming a series' tenant (absent for the default tenant).
pub const TENANT_LABEL: &str = "__tenant__";

/// Why a client-sent `__tenant__` is refused (a line's reason, a remote write's 400).
pub const TENANT_LABEL_RESERVED: &str =
    "label __tenant__ is reserved: the tenant comes from the token, a write may not set it";

/// Decides which series a write may add: a tenant's series and label limits. Asked once per
/// distinct series per piece of a line-protocol body (8,192 lines) and per series of a
/// [`crate::SampleBatch`], from the writing thread, before the series reaches its shard.
pub trait Admission: Send + Sync + std::fmt::Debug {
    /// `Ok` when the series whose key hashes to `series_hash` may be written now, or why not (the
    /// reason reported on its lines). `key` is the series' encoded label pairs, sorted, the
    /// tenant label included (`Labels::from_key` reads it).
    fn admit(&self, series_hash: u64, key: &[u8]) -> Result<(), String>;
}
