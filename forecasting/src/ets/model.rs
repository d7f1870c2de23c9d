//! The model's shared vocabulary: which variant ([`ModelSpec`]), its smoothing parameters
//! (public [`Params`], internal [`P`]), the filter [`State`] and a raw fit ([`RawFit`]). A leaf:
//! every other ETS module imports these types and this one imports none of them, which keeps the
//! module graph a DAG.

use std::fmt;

/// Trend component of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trend {
    /// No trend: the level alone carries forward.
    None,
    /// Additive (linear) trend.
    Additive,
    /// Additive trend damped by `phi` in [0.8, 0.98]: forecasts flatten out.
    Damped,
}

/// Seasonal component of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seasonality {
    /// No seasonal component.
    None,
    /// Seasonal effects added to the level.
    Additive,
    /// Seasonal effects multiplying the level (needs strictly positive data).
    Multiplicative,
}

/// One ETS model variant (the error is always additive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// Trend component.
    pub trend: Trend,
    /// Seasonal component.
    pub seasonality: Seasonality,
}

impl ModelSpec {
    /// A model from its two components.
    pub const fn new(trend: Trend, seasonality: Seasonality) -> Self {
        Self { trend, seasonality }
    }

    /// Simple exponential smoothing, ETS(A,N,N).
    pub const SIMPLE: Self = Self::new(Trend::None, Seasonality::None);

    pub(super) fn has_trend(self) -> bool {
        self.trend != Trend::None
    }

    pub(super) fn is_seasonal(self) -> bool {
        self.seasonality != Seasonality::None
    }

    pub(super) fn is_linear(self) -> bool {
        self.seasonality != Seasonality::Multiplicative
    }

    pub(super) fn n_smoothing(self) -> usize {
        1 + usize::from(self.has_trend()) + usize::from(self.is_seasonal()) + usize::from(self.trend == Trend::Damped)
    }

    /// The next simpler model tried when a fit fails.
    pub(super) fn simpler(self) -> Option<Self> {
        use Seasonality as S;
        use Trend as T;
        match (self.trend, self.seasonality) {
            (t, S::Multiplicative) => Some(Self::new(t, S::Additive)),
            (T::Damped, s) => Some(Self::new(T::Additive, s)),
            (t, S::Additive) => Some(Self::new(t, S::None)),
            (T::Additive, S::None) => Some(Self::SIMPLE),
            (T::None, S::None) => None,
        }
    }

    pub(super) fn all() -> [Self; 9] {
        use Seasonality as S;
        use Trend as T;
        let mut out = [Self::SIMPLE; 9];
        let mut i = 0;
        for s in [S::None, S::Additive, S::Multiplicative] {
            for t in [T::None, T::Additive, T::Damped] {
                out[i] = Self::new(t, s);
                i += 1;
            }
        }
        out
    }
}

impl fmt::Display for ModelSpec {
    /// ETS notation: `ETS(A,Ad,M)` = additive error, damped trend, multiplicative season.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.trend {
            Trend::None => "N",
            Trend::Additive => "A",
            Trend::Damped => "Ad",
        };
        let s = match self.seasonality {
            Seasonality::None => "N",
            Seasonality::Additive => "A",
            Seasonality::Multiplicative => "M",
        };
        write!(f, "ETS(A,{t},{s})")
    }
}

/// Fitted smoothing parameters (error-correction form; `None` when the component is absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Level smoothing, in (0, 1).
    pub alpha: f64,
    /// Trend smoothing, in [0, alpha].
    pub beta: Option<f64>,
    /// Seasonal smoothing, in [0, 1 - alpha].
    pub gamma: Option<f64>,
    /// Damping factor, in [0.8, 0.98].
    pub phi: Option<f64>,
}

/// Internal parameters with absent components neutralised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct P {
    pub(super) alpha: f64,
    pub(super) beta: f64,
    pub(super) gamma: f64,
    pub(super) phi: f64,
}

/// Filter state in normalised units; `season[phase]` is the seasonal state used by the next point.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) level: f64,
    pub(crate) trend: f64,
    pub(crate) season: Vec<f64>,
    /// Phase of the next point, `t mod m` (kept incrementally: a division per step is costly).
    pub(crate) phase: usize,
}

impl State {
    pub(super) fn zero(m: usize, seasonal: bool) -> Self {
        Self {
            level: 0.0,
            trend: 0.0,
            season: if seasonal { vec![0.0; m] } else { Vec::new() },
            phase: 0,
        }
    }

    pub(super) fn add_scaled(&mut self, other: &State, c: f64) {
        self.level += c * other.level;
        self.trend += c * other.trend;
        for (a, b) in self.season.iter_mut().zip(&other.season) {
            *a += c * b;
        }
    }

    pub(super) fn is_finite(&self) -> bool {
        self.level.is_finite() && self.trend.is_finite() && self.season.iter().all(|v| v.is_finite())
    }
}

/// Result of fitting one variant in normalised units.
#[derive(Debug, Clone)]
pub(super) struct RawFit {
    pub(super) p: P,
    pub(super) init: State,
    pub(super) sse: f64,
}
