//! The crate's error type.

/// Everything that can go wrong when fitting, forecasting or scoring.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ForecastError {
    /// The series has too few observed (non-missing, finite) points for what was asked.
    #[error("not enough data: need at least {needed} observed points, got {got}")]
    NotEnoughData {
        /// Points the operation needs.
        needed: usize,
        /// Observed points available.
        got: usize,
    },
    /// A caller-supplied parameter is outside its admissible range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No model variant could be fitted to the data (every fallback failed too).
    #[error("model could not be fitted: {0}")]
    FitFailed(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ForecastError> = std::result::Result<T, E>;
