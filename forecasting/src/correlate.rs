//! Lagged correlation: which of many candidate series moved with a target, and how many steps
//! before or after it ("which metric moved first").
//!
//! All series lie on one step grid: the same length, index = step, NaN (any non-finite value)
//! where a step has no point. Each series is first transformed ([`Transform`]: first differences
//! by default, so that two series which merely both trend are not called related), optionally
//! replaced by its ranks ([`CorrelationMethod::Spearman`]), and then Pearson's coefficient is computed at
//! every lag in `-max_lag..=max_lag` over the pairs of steps where both series have a point.
//!
//! **Lag sign.** At lag `k` the candidate's step `t` is paired with the target's step `t + k`:
//! a positive lag means the candidate moves `k` steps *before* the target (it leads), a negative
//! one that it follows.
//!
//! **Speed.** Every sum a coefficient needs (pairs, sums, sums of squares, cross products over the
//! overlap) is a cross-correlation, so all lags come from FFTs in O(n log n) per candidate rather
//! than O(n · lags). When neither series has a gap only the cross products need an FFT (the rest
//! come from prefix sums), and two candidates share one complex FFT, one as its real part and one
//! as its imaginary part. [`Correlator::correlate_all`] spreads candidates over rayon's threads.
//!
//! **Significance.** Neighbouring steps of a series are rarely independent, and the best of many
//! lags is larger than any one lag's coefficient by chance. So the p-value of the best lag is
//! Fisher's z test (`atanh(r) * sqrt(n_eff - 3)`, two-sided, normal) with the effective sample
//! size `n_eff = n (1 - a b) / (1 + a b)` (Bretherton et al., 1999, from the lag-1
//! autocorrelations `a`, `b` of the two transformed series, at most `n`), then corrected for the
//! number `L` of lags searched with Šidák's `1 - (1 - p)^L`. It is not corrected for the number of
//! candidates: with many candidates, compare it with `alpha / candidates`.
//!
//! ```
//! use foresight_forecasting::{CorrelateOptions, Correlator};
//!
//! // The candidate is the target 3 steps earlier: it leads by 3.
//! let wave = |t: usize| ((t * t) % 17) as f64 + (t as f64 / 5.0).sin();
//! let target: Vec<f64> = (0..200).map(|t| wave(t + 10)).collect();
//! let leader: Vec<f64> = (0..200).map(|t| wave(t + 13)).collect();
//! let options = CorrelateOptions { max_lag: 10, ..CorrelateOptions::default() };
//! let correlator = Correlator::new(&target, &options)?;
//! let found = correlator.correlate(&leader).expect("enough points");
//! assert_eq!(found.lag, 3);
//! assert!(found.coefficient > 0.999);
//! assert!(found.p_value < 1e-9);
//! # Ok::<(), foresight_forecasting::ForecastError>(())
//! ```

use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::error::{ForecastError, Result};
use crate::math::erfc;

/// What each series is turned into before it is correlated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transform {
    /// First differences (`x[t+1] - x[t]`, one point fewer): changes are correlated, not levels.
    #[default]
    Diff,
    /// The series minus its least-squares straight line.
    Detrend,
    /// The values as they are.
    None,
}

/// How the coefficient is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorrelationMethod {
    /// Pearson's coefficient of the transformed values.
    #[default]
    Pearson,
    /// Spearman's: Pearson's of the ranks of the transformed values (ties get their average
    /// rank). Each series is ranked once over the whole range, not again for every lag's overlap,
    /// the usual approximation for lagged rank correlation; at lag 0 without gaps it is exactly
    /// Spearman's rho.
    Spearman,
}

/// Fewest overlapping points [`CorrelateOptions::min_overlap`] may ask for (Fisher's z needs
/// more than 3).
pub const MIN_OVERLAP: usize = 4;

/// What [`Correlator`] computes.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelateOptions {
    /// Transform applied to every series first.
    pub transform: Transform,
    /// Pearson or Spearman.
    pub method: CorrelationMethod,
    /// Largest lag searched, in steps, in both directions.
    pub max_lag: usize,
    /// Fewest pairs of points a lag needs to be considered (at least [`MIN_OVERLAP`]).
    pub min_overlap: usize,
}

impl Default for CorrelateOptions {
    fn default() -> Self {
        CorrelateOptions {
            transform: Transform::Diff,
            method: CorrelationMethod::Pearson,
            max_lag: 10,
            min_overlap: 10,
        }
    }
}

/// The best lag of one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlation {
    /// Lag in steps with the largest |coefficient|; positive: the candidate leads the target.
    /// Among equal coefficients the smallest |lag| wins.
    pub lag: i64,
    /// The coefficient at that lag, in [-1, 1].
    pub coefficient: f64,
    /// The coefficient at lag 0, `None` when lag 0 has too few pairs or no variance.
    pub coefficient_at_zero: Option<f64>,
    /// Pairs of points behind `coefficient`.
    pub overlap: usize,
    /// The effective number of independent pairs used for the p-value.
    pub effective_n: f64,
    /// Lags that had enough pairs and variance to give a coefficient.
    pub lags_tested: usize,
    /// Two-sided p-value of `coefficient`, corrected for the `lags_tested` lags searched (see the
    /// module documentation).
    pub p_value: f64,
}

/// Why a candidate has no [`Correlation`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NoCorrelation {
    /// The candidate is not on the target's grid.
    #[error("{got} points where the target has {expected}")]
    LengthMismatch {
        /// The target's length.
        expected: usize,
        /// The candidate's.
        got: usize,
    },
    /// No lag has `min_overlap` pairs of points.
    #[error("too few overlapping points: {best} at the best lag, {needed} needed")]
    TooFewPoints {
        /// Most pairs at any lag.
        best: usize,
        /// [`CorrelateOptions::min_overlap`].
        needed: usize,
    },
    /// Every lag with enough pairs has a constant side (after the transform).
    #[error("constant over every overlap with the target, after the transform")]
    Constant,
}

/// A target prepared once (transformed, its spectra computed), against which any number of
/// candidates are correlated. Immutable and `Sync`: share it between threads.
pub struct Correlator {
    options: CorrelateOptions,
    /// Length of the raw series.
    len: usize,
    /// The target after transform, ranks and standardisation.
    target: Prepared,
    /// Prefix sums of the target and its square (used when it has no gap).
    target_prefix: Prefix,
    /// FFT length: at least `m + max_lag`, so no lag wraps around ([`fft_size`]).
    size: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// Spectra of the target (gaps as 0), its square and its presence mask.
    spec_x: Vec<Complex<f64>>,
    spec_x2: Vec<Complex<f64>>,
    spec_mask: Vec<Complex<f64>>,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("options", &self.options)
            .field("len", &self.len)
            .field("fft_size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A series after transform, ranks and standardisation (mean 0, variance 1 over its points),
/// NaN where it has no point.
#[derive(Debug, Clone)]
struct Prepared {
    values: Vec<f64>,
    /// No NaN.
    complete: bool,
    /// Lag-1 autocorrelation, for the effective sample size.
    lag1: f64,
}

/// `sum[i]` = sum of the first `i` values, `sq[i]` of their squares.
#[derive(Debug, Clone, Default)]
struct Prefix {
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Prefix {
    fn new(v: &[f64]) -> Self {
        let mut p = Prefix {
            sum: Vec::with_capacity(v.len() + 1),
            sq: Vec::with_capacity(v.len() + 1),
        };
        let (mut s, mut q) = (0.0, 0.0);
        p.sum.push(0.0);
        p.sq.push(0.0);
        for &x in v {
            s += x;
            q += x * x;
            p.sum.push(s);
            p.sq.push(q);
        }
        p
    }

    /// Sum and sum of squares over `lo..hi`.
    fn range(&self, lo: usize, hi: usize) -> (f64, f64) {
        let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        (
            at(&self.sum, hi) - at(&self.sum, lo),
            at(&self.sq, hi) - at(&self.sq, lo),
        )
    }
}

/// The sums over one lag's overlapping pairs (x: target, y: candidate).
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

/// Below this variance per pair (the series are standardised to 1) a side counts as constant:
/// far above the FFT's rounding, far below any real variation.
const CONSTANT_VARIANCE: f64 = 1e-9;

impl Sums {
    /// Pearson's coefficient, `None` below `min_overlap` pairs or without variance.
    fn pearson(&self, min_overlap: usize) -> Option<f64> {
        let n = self.n;
        if n < min_overlap as f64 {
            return None;
        }
        let vx = self.sxx - self.sx * self.sx / n;
        let vy = self.syy - self.sy * self.sy / n;
        if !(vx > CONSTANT_VARIANCE * n && vy > CONSTANT_VARIANCE * n) {
            return None;
        }
        let r = (self.sxy - self.sx * self.sy / n) / (vx * vy).sqrt();
        r.is_finite().then(|| r.clamp(-1.0, 1.0))
    }
}

/// Per-thread buffers: four FFT-sized vectors and the FFT's scratch.
#[derive(Debug)]
struct Scratch {
    a: Vec<Complex<f64>>,
    b: Vec<Complex<f64>>,
    c: Vec<Complex<f64>>,
    d: Vec<Complex<f64>>,
    fft: Vec<Complex<f64>>,
}

impl Correlator {
    /// Prepares `target` for correlation with `options`.
    ///
    /// Errors when `min_overlap` is below [`MIN_OVERLAP`], when the target (after the
    /// transform) has fewer than `min_overlap` points or is constant, and when `max_lag` leaves
    /// fewer than `min_overlap` steps of overlap.
    pub fn new(target: &[f64], options: &CorrelateOptions) -> Result<Self> {
        if options.min_overlap < MIN_OVERLAP {
            return Err(ForecastError::InvalidParameter {
                name: "min_overlap",
                reason: format!("{} is below {MIN_OVERLAP}", options.min_overlap),
            });
        }
        let prepared = prepare(target, options);
        let m = prepared.values.len();
        let observed = prepared.values.iter().filter(|v| v.is_finite()).count();
        if observed < options.min_overlap {
            return Err(ForecastError::NotEnoughData {
                needed: options.min_overlap + usize::from(options.transform == Transform::Diff),
                got: target.iter().filter(|v| v.is_finite()).count(),
            });
        }
        if prepared.values.iter().all(|v| !v.is_finite() || *v == 0.0) {
            return Err(ForecastError::InvalidParameter {
                name: "target",
                reason: "constant after the transform: nothing to correlate with".into(),
            });
        }
        if options.max_lag.saturating_add(options.min_overlap) > m {
            return Err(ForecastError::InvalidParameter {
                name: "max_lag",
                reason: format!(
                    "{} steps leaves fewer than {} overlapping points of {m}",
                    options.max_lag, options.min_overlap
                ),
            });
        }
        let size = fft_size(m + options.max_lag);
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let spectrum = |f: &dyn Fn(f64) -> f64| {
            let mut buf = vec![Complex::default(); size];
            for (b, &v) in buf.iter_mut().zip(&prepared.values) {
                b.re = if v.is_finite() { f(v) } else { 0.0 };
            }
            forward.process(&mut buf);
            buf
        };
        let spec_x = spectrum(&|v| v);
        let spec_x2 = spectrum(&|v| v * v);
        let spec_mask = spectrum(&|_| 1.0);
        let target_prefix = if prepared.complete {
            Prefix::new(&prepared.values)
        } else {
            Prefix::default()
        };
        Ok(Correlator {
            options: options.clone(),
            len: target.len(),
            target: prepared,
            target_prefix,
            size,
            forward,
            inverse,
            spec_x,
            spec_x2,
            spec_mask,
        })
    }

    /// The options this correlator was made with.
    pub fn options(&self) -> &CorrelateOptions {
        &self.options
    }

    /// The best lag of one candidate.
    pub fn correlate(&self, candidate: &[f64]) -> std::result::Result<Correlation, NoCorrelation> {
        let mut scratch = self.scratch();
        let y = self.prepare_candidate(candidate)?;
        let sums = self.lag_sums(&y, None, &mut scratch).0;
        self.conclude(&y, &sums)
    }

    /// The best lag of every candidate, in the candidates' order, computed in parallel (rayon).
    pub fn correlate_all<S>(&self, candidates: &[S]) -> Vec<std::result::Result<Correlation, NoCorrelation>>
    where
        S: AsRef<[f64]> + Sync,
    {
        // Candidates without gaps go two to an FFT; the others one at a time.
        let (complete, gappy): (Vec<usize>, Vec<usize>) =
            (0..candidates.len()).partition(|&i| candidates[i].as_ref().iter().all(|v| v.is_finite()));
        let mut jobs: Vec<(usize, Option<usize>)> = complete
            .chunks(2)
            .map(|c| (c.first().copied().unwrap_or(0), c.get(1).copied()))
            .collect();
        jobs.extend(gappy.into_iter().map(|i| (i, None)));
        let done: Vec<(usize, std::result::Result<Correlation, NoCorrelation>)> = jobs
            .into_par_iter()
            .map_init(
                || self.scratch(),
                |scratch, (i, j)| {
                    let a = self.prepare_candidate(candidates[i].as_ref());
                    let b = j.map(|j| self.prepare_candidate(candidates[j].as_ref()));
                    let mut out = Vec::with_capacity(2);
                    match (a, b) {
                        (Ok(a), Some(Ok(b))) => {
                            let (sa, sb) = self.lag_sums(&a, Some(&b), scratch);
                            out.push((i, self.conclude(&a, &sa)));
                            if let (Some(j), Some(sb)) = (j, sb) {
                                out.push((j, self.conclude(&b, &sb)));
                            }
                        }
                        (a, b) => {
                            for (k, y) in std::iter::once((i, a)).chain(j.zip(b)) {
                                out.push((
                                    k,
                                    y.and_then(|y| {
                                        let sums = self.lag_sums(&y, None, scratch).0;
                                        self.conclude(&y, &sums)
                                    }),
                                ));
                            }
                        }
                    }
                    out
                },
            )
            .flatten()
            .collect();
        let mut results: Vec<std::result::Result<Correlation, NoCorrelation>> =
            vec![Err(NoCorrelation::Constant); candidates.len()];
        for (i, r) in done {
            if let Some(slot) = results.get_mut(i) {
                *slot = r;
            }
        }
        results
    }

    /// The coefficient at every lag from `-max_lag` to `max_lag` (index `lag + max_lag`); `None`
    /// where a lag has fewer than `min_overlap` pairs or a constant side.
    pub fn coefficients(&self, candidate: &[f64]) -> std::result::Result<Vec<Option<f64>>, NoCorrelation> {
        let mut scratch = self.scratch();
        let y = self.prepare_candidate(candidate)?;
        let sums = self.lag_sums(&y, None, &mut scratch).0;
        Ok(sums.iter().map(|s| s.pearson(self.options.min_overlap)).collect())
    }

    fn scratch(&self) -> Scratch {
        let buf = vec![Complex::default(); self.size];
        let fft_len = self
            .forward
            .get_inplace_scratch_len()
            .max(self.inverse.get_inplace_scratch_len());
        Scratch {
            a: buf.clone(),
            b: buf.clone(),
            c: buf.clone(),
            d: buf,
            fft: vec![Complex::default(); fft_len],
        }
    }

    fn prepare_candidate(&self, candidate: &[f64]) -> std::result::Result<Prepared, NoCorrelation> {
        if candidate.len() != self.len {
            return Err(NoCorrelation::LengthMismatch {
                expected: self.len,
                got: candidate.len(),
            });
        }
        Ok(prepare(candidate, &self.options))
    }

    /// `max_lag` as a signed lag.
    fn max_lag(&self) -> i64 {
        i64::try_from(self.options.max_lag).unwrap_or(i64::MAX)
    }

    /// Index of `lag` in a circular cross-correlation of length `size`.
    fn wrap(&self, lag: i64) -> usize {
        let size = self.size as i64;
        usize::try_from(lag.rem_euclid(size)).unwrap_or(0)
    }

    /// `out` = the cross-correlation `sum_t a[t] b[t + lag]` of the series whose spectra are
    /// `a` and `b`, unscaled (read it through [`Self::at_lag`]).
    fn cross_correlate(
        &self,
        a: &[Complex<f64>],
        b: &[Complex<f64>],
        out: &mut [Complex<f64>],
        fft: &mut [Complex<f64>],
    ) {
        reversed_product(a, b, out);
        self.inverse.process_with_scratch(out, fft);
    }

    /// The value at `lag` of a cross-correlation from [`Self::cross_correlate`].
    fn at_lag(&self, correlation: &[Complex<f64>], lag: i64) -> Complex<f64> {
        correlation.get(self.wrap(lag)).copied().unwrap_or_default() / self.size as f64
    }

    /// The sums of every lag (index `lag + max_lag`) for `y` and, when given and both it and the
    /// target have no gap, for `z` too from the same FFTs.
    fn lag_sums(&self, y: &Prepared, z: Option<&Prepared>, s: &mut Scratch) -> (Vec<Sums>, Option<Vec<Sums>>) {
        if self.target.complete && y.complete {
            match z {
                Some(z) if z.complete => {
                    let (a, b) = self.complete_sums(y, Some(z), s);
                    (a, b)
                }
                Some(z) => {
                    let a = self.complete_sums(y, None, s).0;
                    (a, Some(self.gappy_sums(z, s)))
                }
                None => (self.complete_sums(y, None, s).0, None),
            }
        } else {
            let a = self.gappy_sums(y, s);
            (a, z.map(|z| self.gappy_sums(z, s)))
        }
    }

    /// Both series without gaps: counts and sums from prefix sums, cross products from one FFT
    /// of `y + i z` (the cross-correlation of a complex series with a real one is the complex
    /// combination of the two real ones).
    fn complete_sums(&self, y: &Prepared, z: Option<&Prepared>, s: &mut Scratch) -> (Vec<Sums>, Option<Vec<Sums>>) {
        let m = y.values.len();
        s.a.fill(Complex::default());
        for (k, (c, &v)) in s.a.iter_mut().zip(&y.values).enumerate() {
            c.re = v;
            c.im = z.and_then(|z| z.values.get(k)).copied().unwrap_or(0.0);
        }
        self.forward.process_with_scratch(&mut s.a, &mut s.fft);
        self.cross_correlate(&s.a, &self.spec_x, &mut s.b, &mut s.fft);
        let py = Prefix::new(&y.values);
        let pz = z.map(|z| Prefix::new(&z.values));
        let k = self.max_lag();
        let mut out_y = Vec::with_capacity(2 * self.options.max_lag + 1);
        let mut out_z = pz.as_ref().map(|_| Vec::with_capacity(2 * self.options.max_lag + 1));
        for lag in -k..=k {
            let shift = usize::try_from(lag.unsigned_abs()).unwrap_or(m).min(m);
            // Target steps paired at this lag, and the candidate's.
            let (tx, ty) = if lag >= 0 {
                ((shift, m), (0, m - shift))
            } else {
                ((0, m - shift), (shift, m))
            };
            let (sx, sxx) = self.target_prefix.range(tx.0, tx.1);
            let cross = self.at_lag(&s.b, lag);
            let n = (m - shift) as f64;
            let (sy, syy) = py.range(ty.0, ty.1);
            out_y.push(Sums {
                n,
                sx,
                sy,
                sxx,
                syy,
                sxy: cross.re,
            });
            if let (Some(out), Some(pz)) = (out_z.as_mut(), pz.as_ref()) {
                let (sz, szz) = pz.range(ty.0, ty.1);
                out.push(Sums {
                    n,
                    sx,
                    sy: sz,
                    sxx,
                    syy: szz,
                    sxy: cross.im,
                });
            }
        }
        (out_y, out_z)
    }

    /// Any gaps: every sum is a cross-correlation with the presence masks. With `y0` the
    /// candidate with gaps as 0 and `my` its mask, two forward FFTs (`y0 + i my`, `y0^2`) and
    /// four inverse ones give the six sums.
    fn gappy_sums(&self, y: &Prepared, s: &mut Scratch) -> Vec<Sums> {
        s.a.fill(Complex::default());
        s.b.fill(Complex::default());
        for ((a, b), &v) in s.a.iter_mut().zip(s.b.iter_mut()).zip(&y.values) {
            if v.is_finite() {
                *a = Complex::new(v, 1.0);
                b.re = v * v;
            }
        }
        self.forward.process_with_scratch(&mut s.a, &mut s.fft);
        self.forward.process_with_scratch(&mut s.b, &mut s.fft);
        let k = self.max_lag();
        let mut sums = vec![Sums::default(); 2 * self.options.max_lag + 1];
        // (y0 + i my) with x: re = sxy, im = sx; with the mask: re = sy, im = n.
        self.cross_correlate(&s.a, &self.spec_x, &mut s.c, &mut s.fft);
        self.cross_correlate(&s.a, &self.spec_mask, &mut s.d, &mut s.fft);
        for (sum, lag) in sums.iter_mut().zip(-k..=k) {
            let (c, d) = (self.at_lag(&s.c, lag), self.at_lag(&s.d, lag));
            (sum.sxy, sum.sx, sum.sy, sum.n) = (c.re, c.im, d.re, d.im.round());
        }
        // (y0 + i my) with x^2: im = sxx; y0^2 with the mask: re = syy.
        self.cross_correlate(&s.a, &self.spec_x2, &mut s.c, &mut s.fft);
        self.cross_correlate(&s.b, &self.spec_mask, &mut s.d, &mut s.fft);
        for (sum, lag) in sums.iter_mut().zip(-k..=k) {
            (sum.sxx, sum.syy) = (self.at_lag(&s.c, lag).im, self.at_lag(&s.d, lag).re);
        }
        sums
    }

    /// The best lag from every lag's sums.
    fn conclude(&self, y: &Prepared, sums: &[Sums]) -> std::result::Result<Correlation, NoCorrelation> {
        let min = self.options.min_overlap;
        let k = self.max_lag();
        let at = |lag: i64| {
            usize::try_from(lag + k)
                .ok()
                .and_then(|i| sums.get(i))
                .map(|s| (s, s.pearson(min)))
        };
        let mut best: Option<(i64, f64, usize)> = None;
        let mut tested = 0usize;
        for lag in std::iter::once(0).chain((1..=k).flat_map(|l| [l, -l])) {
            let Some((s, Some(r))) = at(lag) else {
                continue;
            };
            tested += 1;
            if best.is_none_or(|(_, b, _)| r.abs() > b.abs()) {
                best = Some((lag, r, s.n as usize));
            }
        }
        let Some((lag, coefficient, overlap)) = best else {
            let most = sums.iter().map(|s| s.n).fold(0.0, f64::max) as usize;
            return Err(if most < min {
                NoCorrelation::TooFewPoints {
                    best: most,
                    needed: min,
                }
            } else {
                NoCorrelation::Constant
            });
        };
        let effective_n = effective_sample_size(overlap, self.target.lag1, y.lag1);
        Ok(Correlation {
            lag,
            coefficient,
            coefficient_at_zero: at(0).and_then(|(_, r)| r),
            overlap,
            effective_n,
            lags_tested: tested,
            p_value: sidak(fisher_p_value(coefficient, effective_n), tested),
        })
    }
}

/// The smallest length of the form `2^a 3^b` (rustfft's fastest radixes) at least `n`: at most a
/// third above `n` (`3 · 2^(k-1)` lies between `2^k` and `2^(k+1)`), usually far less, where the
/// next power of two can be twice `n` (1,099 -> 1,152, not 2,048).
fn fft_size(n: usize) -> usize {
    let mut best = n.max(1).next_power_of_two();
    let mut three = 1usize;
    while three < best {
        // The smallest power of two times `three` that reaches `n`.
        let mut size = three;
        while size < n {
            size = size.saturating_mul(2);
        }
        best = best.min(size);
        three = three.saturating_mul(3);
    }
    best
}

/// `out[k] = a[-k] * b[k]` (indices modulo the length): the spectrum of the cross-correlation
/// `sum_t a[t] b[t + lag]` of the series behind `a` and `b`.
fn reversed_product(a: &[Complex<f64>], b: &[Complex<f64>], out: &mut [Complex<f64>]) {
    let n = a.len();
    for (k, (o, &bk)) in out.iter_mut().zip(b).enumerate() {
        let rev = if k == 0 { 0 } else { n - k };
        *o = a.get(rev).copied().unwrap_or_default() * bk;
    }
}

/// Transform, ranks (Spearman) and standardisation of one series.
fn prepare(raw: &[f64], options: &CorrelateOptions) -> Prepared {
    let mut v = match options.transform {
        Transform::Diff => raw.windows(2).map(|w| w[1] - w[0]).collect(),
        Transform::Detrend => detrend(raw),
        Transform::None => raw.to_vec(),
    };
    for x in &mut v {
        if !x.is_finite() {
            *x = f64::NAN;
        }
    }
    if options.method == CorrelationMethod::Spearman {
        v = ranks(&v);
    }
    standardise(&mut v);
    let complete = v.iter().all(|x| x.is_finite());
    let lag1 = lag1_autocorrelation(&v);
    Prepared {
        values: v,
        complete,
        lag1,
    }
}

/// The series minus its least-squares line over the step index (NaN stays NaN).
fn detrend(raw: &[f64]) -> Vec<f64> {
    let points = || raw.iter().enumerate().filter(|(_, v)| v.is_finite());
    let n = points().count() as f64;
    if n == 0.0 {
        return vec![f64::NAN; raw.len()];
    }
    let mean_t = points().map(|(t, _)| t as f64).sum::<f64>() / n;
    let mean_v = points().map(|(_, v)| v).sum::<f64>() / n;
    let (mut stt, mut stv) = (0.0, 0.0);
    for (t, v) in points() {
        let dt = t as f64 - mean_t;
        stt += dt * dt;
        stv += dt * (v - mean_v);
    }
    let slope = if stt > 0.0 { stv / stt } else { 0.0 };
    raw.iter()
        .enumerate()
        .map(|(t, v)| v - (mean_v + slope * (t as f64 - mean_t)))
        .collect()
}

/// 1-based ranks of the points, ties sharing their average rank; NaN stays NaN.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_finite()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![f64::NAN; v.len()];
    let mut start = 0;
    while start < order.len() {
        let value = v[order[start]];
        let end = start + order[start..].iter().take_while(|&&i| v[i] == value).count();
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

/// Mean 0 and variance 1 over the points, so the sums stay well scaled (Pearson does not change);
/// a constant series becomes all zeros.
fn standardise(v: &mut [f64]) {
    let n = v.iter().filter(|x| x.is_finite()).count() as f64;
    if n == 0.0 {
        return;
    }
    let mean = v.iter().filter(|x| x.is_finite()).sum::<f64>() / n;
    let var = v
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    let scale = if sd > 0.0 && sd.is_finite() { 1.0 / sd } else { 0.0 };
    for x in v.iter_mut().filter(|x| x.is_finite()) {
        *x = (*x - mean) * scale;
    }
}

/// Lag-1 autocorrelation of a standardised series over consecutive pairs of points.
fn lag1_autocorrelation(v: &[f64]) -> f64 {
    let den: f64 = v.iter().filter(|x| x.is_finite()).map(|x| x * x).sum();
    let num: f64 = v
        .windows(2)
        .filter(|w| w[0].is_finite() && w[1].is_finite())
        .map(|w| w[0] * w[1])
        .sum();
    if den > 0.0 { (num / den).clamp(-1.0, 1.0) } else { 0.0 }
}

/// Bretherton et al.'s effective number of pairs for two autocorrelated series, at most `n`.
fn effective_sample_size(n: usize, a: f64, b: f64) -> f64 {
    let ab = (a * b).clamp(-0.999, 0.999);
    let n = n as f64;
    (n * (1.0 - ab) / (1.0 + ab)).min(n)
}

/// Two-sided p-value of a coefficient by Fisher's z with `n` effective pairs (1 when `n <= 3`).
fn fisher_p_value(r: f64, n: f64) -> f64 {
    if n <= 3.0 {
        return 1.0;
    }
    let z = r.abs().min(1.0 - 1e-16).atanh() * (n - 3.0).sqrt();
    erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Šidák's correction of `p` for the best of `tests` tests.
fn sidak(p: f64, tests: usize) -> f64 {
    if p >= 1.0 {
        return 1.0;
    }
    let tests = tests.max(1) as f64;
    (-(tests * (-p).ln_1p()).exp_m1()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64 as Rng;
    use proptest::prelude::*;

    /// Pearson's coefficient of the pairs `(y[t], x[t + lag])` where both are finite, computed
    /// directly from the prepared series: the reference for the FFT paths.
    fn naive(x: &[f64], y: &[f64], lag: i64, min_overlap: usize) -> Option<f64> {
        let pairs: Vec<(f64, f64)> = (0..y.len() as i64)
            .filter_map(|t| {
                let xi = usize::try_from(t + lag).ok()?;
                let (a, b) = (*x.get(xi)?, *y.get(t as usize)?);
                (a.is_finite() && b.is_finite()).then_some((a, b))
            })
            .collect();
        let n = pairs.len() as f64;
        if pairs.len() < min_overlap {
            return None;
        }
        let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (a, b) in &pairs {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        if sxx <= CONSTANT_VARIANCE * n || syy <= CONSTANT_VARIANCE * n {
            return None;
        }
        Some(sxy / (sxx * syy).sqrt())
    }

    fn random_walk(rng: &mut Rng, n: usize) -> Vec<f64> {
        let mut level = 0.0;
        (0..n)
            .map(|_| {
                level += rng.normal();
                level
            })
            .collect()
    }

    /// Every lag's coefficient from `coefficients` equals the naive one.
    fn check_against_naive(target: &[f64], candidate: &[f64], options: &CorrelateOptions) {
        let c = Correlator::new(target, options).expect("target");
        let got = c.coefficients(candidate).expect("candidate");
        let x = prepare(target, options).values;
        let y = prepare(candidate, options).values;
        let k = options.max_lag as i64;
        for (lag, g) in (-k..=k).zip(&got) {
            let want = naive(&x, &y, lag, options.min_overlap);
            match (g, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "lag {lag}: {g} vs {w}"),
                (None, None) => {}
                other => panic!("lag {lag}: {other:?}"),
            }
        }
    }

    #[test]
    fn fft_paths_match_the_naive_sums() {
        let mut rng = Rng::new(7);
        let target = random_walk(&mut rng, 300);
        let candidate = random_walk(&mut rng, 300);
        let mut gappy = candidate.clone();
        for i in (5..300).step_by(17) {
            gappy[i] = f64::NAN;
        }
        gappy[100..140].fill(f64::NAN);
        let mut gappy_target = target.clone();
        gappy_target[3] = f64::NAN;
        gappy_target[250..260].fill(f64::NAN);
        for transform in [Transform::Diff, Transform::Detrend, Transform::None] {
            for method in [CorrelationMethod::Pearson, CorrelationMethod::Spearman] {
                let options = CorrelateOptions {
                    transform,
                    method,
                    max_lag: 40,
                    min_overlap: 10,
                };
                check_against_naive(&target, &candidate, &options);
                check_against_naive(&target, &gappy, &options);
                check_against_naive(&gappy_target, &candidate, &options);
                check_against_naive(&gappy_target, &gappy, &options);
            }
        }
    }

    #[test]
    fn batches_equal_single_candidates() {
        let mut rng = Rng::new(11);
        let target = random_walk(&mut rng, 200);
        let mut candidates: Vec<Vec<f64>> = (0..7).map(|_| random_walk(&mut rng, 200)).collect();
        candidates[2][50] = f64::NAN;
        candidates[5] = vec![1.0; 200];
        candidates.push(vec![0.0; 10]);
        let options = CorrelateOptions {
            max_lag: 20,
            ..CorrelateOptions::default()
        };
        let c = Correlator::new(&target, &options).expect("target");
        let all = c.correlate_all(&candidates);
        assert_eq!(all.len(), candidates.len());
        for (one, cand) in all.iter().zip(&candidates) {
            let single = c.correlate(cand);
            match (one, &single) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.lag, b.lag);
                    assert!((a.coefficient - b.coefficient).abs() < 1e-12);
                }
                (a, b) => assert_eq!(a, b),
            }
        }
        assert_eq!(all[5], Err(NoCorrelation::Constant));
        assert_eq!(all[7], Err(NoCorrelation::LengthMismatch { expected: 200, got: 10 }));
    }

    #[test]
    fn too_few_points_are_reported_not_dropped() {
        let mut rng = Rng::new(3);
        let target = random_walk(&mut rng, 100);
        let mut sparse = vec![f64::NAN; 100];
        for i in (0..100).step_by(20) {
            sparse[i] = rng.normal();
            sparse[i + 1] = rng.normal();
        }
        let c = Correlator::new(&target, &CorrelateOptions::default()).expect("target");
        assert!(matches!(
            c.correlate(&sparse),
            Err(NoCorrelation::TooFewPoints { best: 5, needed: 10 })
        ));
    }

    #[test]
    fn bad_targets_and_options_are_refused() {
        let options = CorrelateOptions::default();
        let ramp: Vec<f64> = (0..100).map(f64::from).collect();
        assert!(matches!(
            Correlator::new(&ramp, &options),
            Err(ForecastError::InvalidParameter { name: "target", .. })
        ));
        assert!(matches!(
            Correlator::new(&[1.0, 2.0, 4.0], &options),
            Err(ForecastError::NotEnoughData { .. })
        ));
        let wave: Vec<f64> = (0..30).map(|t| f64::from(t).sin()).collect();
        let long_lag = CorrelateOptions {
            max_lag: 25,
            ..options.clone()
        };
        assert!(matches!(
            Correlator::new(&wave, &long_lag),
            Err(ForecastError::InvalidParameter { name: "max_lag", .. })
        ));
        let tiny = CorrelateOptions {
            min_overlap: 2,
            ..options
        };
        assert!(matches!(
            Correlator::new(&wave, &tiny),
            Err(ForecastError::InvalidParameter {
                name: "min_overlap",
                ..
            })
        ));
    }

    #[test]
    fn p_values_separate_signal_from_noise() {
        let mut rng = Rng::new(5);
        let target = random_walk(&mut rng, 500);
        let options = CorrelateOptions {
            max_lag: 50,
            ..CorrelateOptions::default()
        };
        let c = Correlator::new(&target, &options).expect("target");
        // Unrelated random walks: the best of 101 lags is not significant once corrected.
        let noise: Vec<Vec<f64>> = (0..50).map(|_| random_walk(&mut rng, 500)).collect();
        let significant = c
            .correlate_all(&noise)
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.p_value < 0.01))
            .count();
        assert!(significant <= 3, "{significant} of 50 unrelated series at p < 0.01");
        // The target plus as much noise: clearly significant at lag 0.
        let noisy: Vec<f64> = target.iter().map(|v| v + rng.normal()).collect();
        let r = c.correlate(&noisy).expect("related");
        assert_eq!(r.lag, 0);
        assert!(r.p_value < 1e-10, "{r:?}");
        assert_eq!(r.coefficient_at_zero, Some(r.coefficient));
    }

    #[test]
    fn significance_helpers() {
        assert_eq!(fisher_p_value(0.0, 100.0), 1.0);
        // r = 0.2 with 100 pairs: z = atanh(0.2) * sqrt(97) = 1.99668, p = erfc(z / sqrt 2) = 0.0458595.
        assert!((fisher_p_value(0.2, 100.0) - 0.045_859_5).abs() < 1e-7);
        assert_eq!(fisher_p_value(0.9, 3.0), 1.0);
        assert!((sidak(0.01, 1) - 0.01).abs() < 1e-15);
        assert!((sidak(0.01, 21) - (1.0 - 0.99f64.powi(21))).abs() < 1e-12);
        assert!(sidak(1e-300, 1000) > 0.0);
        assert_eq!(effective_sample_size(100, 0.0, 0.9), 100.0);
        assert!((effective_sample_size(100, 0.5, 0.5) - 60.0).abs() < 1e-12);
        assert_eq!(effective_sample_size(100, -0.5, 0.5), 100.0);
    }

    #[test]
    fn fft_sizes_are_small_smooth_numbers() {
        for (n, want) in [
            (0, 1),
            (1, 1),
            (5, 6),
            (1099, 1152),
            (1024, 1024),
            (1025, 1152),
            (2000, 2048),
        ] {
            assert_eq!(fft_size(n), want, "{n}");
        }
        for n in 1..5000 {
            let s = fft_size(n);
            let mut r = s;
            for f in [2, 3] {
                while r.is_multiple_of(f) {
                    r /= f;
                }
            }
            assert!(s >= n && s * 3 <= n * 4 && r == 1, "{n} -> {s}");
        }
    }

    #[test]
    fn ranks_average_ties_and_keep_gaps() {
        let r = ranks(&[3.0, f64::NAN, 1.0, 3.0, 2.0]);
        assert_eq!((r[0], r[2], r[3], r[4]), (3.5, 1.0, 3.5, 2.0));
        assert!(r[1].is_nan());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A candidate that is the target shifted k steps earlier is found at lag k with a
        /// coefficient of 1, whatever the transform and method.
        #[test]
        fn a_shifted_copy_is_found_at_its_lag(
            seed in 0u64..1000,
            k in -15i64..=15,
            transform in prop_oneof![Just(Transform::Diff), Just(Transform::Detrend), Just(Transform::None)],
            spearman in any::<bool>(),
        ) {
            let mut rng = Rng::new(seed);
            let n = 240usize;
            // Detrending is meant for a trend plus noise; a random walk's fitted lines differ
            // from one stretch to the next too much for the copy to stay near 1.
            let base: Vec<f64> = if transform == Transform::Detrend {
                (0..n + 40).map(|t| 0.05 * t as f64 + rng.normal()).collect()
            } else {
                random_walk(&mut rng, n + 40)
            };
            // target[t] = base[t + 20]; candidate[t] = base[t + 20 + k] = target[t + k].
            let target: Vec<f64> = (0..n).map(|t| base[t + 20]).collect();
            let candidate: Vec<f64> = (0..n).map(|t| base[(t as i64 + 20 + k) as usize]).collect();
            let options = CorrelateOptions {
                transform,
                method: if spearman { CorrelationMethod::Spearman } else { CorrelationMethod::Pearson },
                max_lag: 20,
                min_overlap: 10,
            };
            let c = Correlator::new(&target, &options).expect("target");
            let r = c.correlate(&candidate).expect("candidate");
            // Exact for Pearson on differences or levels: the pairs at lag k are equal values.
            // Ranks are taken over each whole series, and detrending fits a line to each
            // series' own stretch, so there the copy is close to 1, not exactly 1.
            let tolerance = match (transform, spearman) {
                (Transform::Detrend, _) => 0.05,
                (_, true) => 0.01,
                _ => 1e-9,
            };
            prop_assert_eq!(r.lag, k);
            prop_assert!(r.coefficient > 1.0 - tolerance, "{:?}", r);
        }

        /// Whatever the lengths, lags and gaps (in either series, at random places), every
        /// lag's coefficient from the FFT paths equals the direct O(n · lags) one.
        #[test]
        fn every_lag_agrees_with_the_direct_sums(
            seed in 0u64..1000,
            n in 20usize..160,
            lag_share in 0.0f64..0.8,
            target_gaps in 0usize..6,
            candidate_gaps in 0usize..6,
            transform in prop_oneof![Just(Transform::Diff), Just(Transform::Detrend), Just(Transform::None)],
            spearman in any::<bool>(),
        ) {
            let mut rng = Rng::new(seed);
            let mut target = random_walk(&mut rng, n);
            let mut candidate = random_walk(&mut rng, n);
            for (series, gaps) in [(&mut target, target_gaps), (&mut candidate, candidate_gaps)] {
                for _ in 0..gaps {
                    let at = rng.below(n);
                    series[at] = f64::NAN;
                }
            }
            let options = CorrelateOptions {
                transform,
                method: if spearman { CorrelationMethod::Spearman } else { CorrelationMethod::Pearson },
                max_lag: ((n - 12) as f64 * lag_share) as usize,
                min_overlap: 5,
            };
            // A target left with too few points or a constant one is refused, which is tested above.
            if Correlator::new(&target, &options).is_ok() {
                check_against_naive(&target, &candidate, &options);
            }
        }
    }
}
