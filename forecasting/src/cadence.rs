//! A series' own step, read from its timestamps: calendar months (monthly, quarterly, yearly
//! data stamped on the same day of the month) or a fixed step with jitter and gaps. The samples
//! become a [`Sequence`], one value per step (NaN where a step has no sample, which the models
//! skip and forecast through), whose steps ahead lie on the same calendar.
//!
//! Calendar months come first: every timestamp (UTC) falls on the same day of the month (a day
//! past a month's end is that month's last day, so the 31st reads as every month's end) and the
//! months between them are multiples of one step `k`; the time of day may vary (it is read as
//! jitter) and steps ahead take the first sample's. Otherwise the step is the median gap,
//! refined by least squares over the whole history (and taken round, e.g. 10 s, within 0.1 %);
//! each sample takes the nearest step (jitter of up to about a tenth of a step is read reliably),
//! and at least 90 % of them must lie within a quarter of a step of it (else the timestamps are called irregular). Two samples on one step keep the later.

use foresight_units::{civil_from_days, days_from_civil, days_in_month};

use crate::error::{ForecastError, Result};

const DAY_MS: i64 = 86_400_000;

/// How far apart a series' samples are meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// A fixed step in milliseconds.
    Fixed {
        /// The step.
        step: i64,
    },
    /// Whole calendar months apart (1 monthly, 3 quarterly, 12 yearly), UTC.
    Months {
        /// Months per step.
        months: u32,
        /// Day of the month, clamped to each month's last day (31 = month ends).
        day: u32,
        /// Milliseconds after midnight of the first sample.
        time_of_day: i64,
    },
}

impl Cadence {
    /// The seasonal period the calendar implies: 12 / `months` when that is a whole number of
    /// at least 2 (12 for monthly data, 4 for quarterly); none for a fixed step (detect it).
    pub fn season(&self) -> Option<usize> {
        match *self {
            Cadence::Months { months, .. } if months > 0 && 12 % months == 0 && 12 / months >= 2 => {
                Some((12 / months) as usize)
            }
            _ => None,
        }
    }

    /// The typical length of a step in milliseconds (a calendar month is 30.436875 days).
    pub fn nominal_step(&self) -> i64 {
        match *self {
            Cadence::Fixed { step } => step,
            Cadence::Months { months, .. } => i64::from(months) * 2_629_746_000,
        }
    }
}

/// Samples as a sequence of steps of their [`Cadence`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// The step.
    pub cadence: Cadence,
    /// Time of step 0 (near the first sample: its time less its jitter), in milliseconds.
    pub start: i64,
    /// One value per step, NaN where a step has no sample.
    pub values: Vec<f64>,
    /// Samples dropped because a later one fell on the same step.
    pub merged: usize,
}

impl Sequence {
    /// Detects the cadence of `timestamps` (milliseconds, strictly increasing) and places
    /// `values` on its steps; at most `max_steps` steps from the first sample to the last.
    ///
    /// # Errors
    /// [`ForecastError::InvalidParameter`] when the lengths differ, the timestamps do not
    /// increase, have no regular step, or span more than `max_steps` steps;
    /// [`ForecastError::NotEnoughData`] for fewer than two samples.
    pub fn from_samples(timestamps: &[i64], values: &[f64], max_steps: usize) -> Result<Sequence> {
        let bad = |reason: String| ForecastError::InvalidParameter {
            name: "timestamps",
            reason,
        };
        if timestamps.len() != values.len() {
            return Err(bad(format!(
                "{} timestamps for {} values",
                timestamps.len(),
                values.len()
            )));
        }
        if timestamps.len() < 2 {
            return Err(ForecastError::NotEnoughData {
                needed: 2,
                got: timestamps.len(),
            });
        }
        if let Some(w) = timestamps.windows(2).find(|w| w[1] <= w[0]) {
            return Err(bad(format!("not increasing: {} after {}", w[1], w[0])));
        }
        let (cadence, start, slots) = match months(timestamps) {
            Some((cadence, slots)) => (cadence, timestamps[0], slots),
            None => fixed(timestamps)?,
        };
        let last = slots.last().copied().unwrap_or(0);
        if last >= max_steps {
            return Err(bad(format!(
                "{} steps of {} ms from the first sample to the last, more than the limit of {max_steps}",
                last.saturating_add(1),
                cadence.nominal_step()
            )));
        }
        let mut v = vec![f64::NAN; last + 1];
        let mut merged = 0;
        for (&slot, &x) in slots.iter().zip(values) {
            if let Some(cell) = v.get_mut(slot) {
                merged += usize::from(!cell.is_nan());
                *cell = x;
            }
        }
        Ok(Sequence {
            cadence,
            start,
            values: v,
            merged,
        })
    }

    /// Time of step `i` (past the end too: steps ahead), in milliseconds.
    pub fn time(&self, i: usize) -> i64 {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        match self.cadence {
            Cadence::Fixed { step } => self.start.saturating_add(i.saturating_mul(step)),
            Cadence::Months {
                months,
                day,
                time_of_day,
            } => {
                let (y, m, _) = civil_from_days(self.start.div_euclid(DAY_MS));
                let idx = (y * 12 + i64::from(m) - 1).saturating_add(i.saturating_mul(i64::from(months)));
                let (y, m) = (idx.div_euclid(12), (idx.rem_euclid(12) + 1) as u32);
                let d = day.min(days_in_month(y, m));
                days_from_civil(y, m, d)
                    .saturating_mul(DAY_MS)
                    .saturating_add(time_of_day)
            }
        }
    }
}

/// Calendar months: every sample on the same day of the month (clamped to month ends), the
/// months between them multiples of one step. The slot of each sample.
fn months(ts: &[i64]) -> Option<(Cadence, Vec<usize>)> {
    let dates: Vec<(i64, u32, u32)> = ts.iter().map(|t| civil_from_days(t.div_euclid(DAY_MS))).collect();
    let day = dates.iter().map(|d| d.2).max()?;
    if !dates.iter().all(|&(y, m, d)| d == day.min(days_in_month(y, m))) {
        return None;
    }
    let index: Vec<i64> = dates.iter().map(|&(y, m, _)| y * 12 + i64::from(m) - 1).collect();
    let k = index.windows(2).fold(0, |g, w| gcd(g, w[1] - w[0]));
    if k <= 0 || k > 120 {
        return None;
    }
    let slots = index
        .iter()
        .map(|i| usize::try_from((i - index[0]) / k).ok())
        .collect::<Option<Vec<_>>>()?;
    let cadence = Cadence::Months {
        months: u32::try_from(k).ok()?,
        day,
        time_of_day: ts[0].rem_euclid(DAY_MS),
    };
    Some((cadence, slots))
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// A fixed step with jitter and gaps: the median gap, refined over the whole history; the time
/// of step 0 (the median phase of the samples, so that the first one's jitter does not shift
/// the grid) and the slot of each sample.
fn fixed(ts: &[i64]) -> Result<(Cadence, i64, Vec<usize>)> {
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    // The lower median: with as many long gaps (missing steps) as short ones, the short one.
    let median = gaps[(gaps.len() - 1) / 2] as f64;
    // Steps between neighbours at the median step (0 for two samples on one step), then the
    // least-squares step over the whole history, so that neither a slight bias of the median
    // accumulates nor the end samples' jitter counts more than the others'.
    let mut k = Vec::with_capacity(ts.len());
    let mut at = 0.0;
    k.push(at);
    for w in ts.windows(2) {
        at += ((w[1] - w[0]) as f64 / median).round();
        k.push(at);
    }
    let n = ts.len() as f64;
    let (mk, mt) = (
        k.iter().sum::<f64>() / n,
        ts.iter().map(|&t| (t - ts[0]) as f64).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (&ki, &t) in k.iter().zip(ts) {
        sxy += (ki - mk) * ((t - ts[0]) as f64 - mt);
        sxx += (ki - mk) * (ki - mk);
    }
    let step = if sxx > 0.0 { sxy / sxx } else { median };
    // Jitter leaves the estimate a little off a round step: within 0.1 %, take the round one.
    let step = [DAY_MS, 3_600_000, 60_000, 1000, 1]
        .iter()
        .map(|&unit| unit as f64 * (step / unit as f64).round())
        .find(|&r| r >= 1.0 && (r - step).abs() <= 0.001 * step)
        .unwrap_or(step.round().max(1.0));
    let mut phase: Vec<f64> = ts
        .iter()
        .map(|&t| {
            let x = (t - ts[0]) as f64 / step;
            x - x.round()
        })
        .collect();
    phase.sort_unstable_by(f64::total_cmp);
    let phase = phase[phase.len() / 2];
    let offset = |t: i64| ((t - ts[0]) as f64 / step - phase).max(0.0);
    let slots: Vec<usize> = ts.iter().map(|&t| offset(t).round() as usize).collect();
    let on_step = ts
        .iter()
        .zip(&slots)
        .filter(|&(&t, &s)| (offset(t) - s as f64).abs() <= 0.25)
        .count();
    let step = step as i64;
    if (on_step as f64) < 0.9 * ts.len() as f64 {
        return Err(ForecastError::InvalidParameter {
            name: "timestamps",
            reason: format!(
                "no regular step: only {on_step} of {} samples lie within a quarter step of a {step} ms grid \
                 (median gap {median} ms) and they are not whole calendar months apart",
                ts.len()
            ),
        });
    }
    let start = ts[0] + (phase * step as f64).round() as i64;
    Ok((Cadence::Fixed { step }, start, slots))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    #[test]
    fn month_starts_are_monthly_with_a_season_of_12() {
        let ts: Vec<i64> = (0..30).map(|i| date(2015 + i / 12, (i % 12 + 1) as u32, 1)).collect();
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        let s = Sequence::from_samples(&ts, &v, 1000).unwrap();
        assert_eq!(
            s.cadence,
            Cadence::Months {
                months: 1,
                day: 1,
                time_of_day: 0
            }
        );
        assert_eq!(s.cadence.season(), Some(12));
        assert_eq!(s.values, v);
        assert_eq!(s.time(29), ts[29]);
        assert_eq!((s.time(30), s.time(31)), (date(2017, 7, 1), date(2017, 8, 1)));
    }

    #[test]
    fn quarter_ends_with_a_gap() {
        // Mar 31, Jun 30, Sep 30, Dec 31 ...; one quarter missing.
        let ends = |q: i64| {
            let (y, m) = (2000 + q / 4, (q % 4 * 3 + 3) as u32);
            date(y, m, days_in_month(y, m)) + 3_600_000
        };
        let ts: Vec<i64> = (0..12).filter(|&q| q != 5).map(ends).collect();
        let v = vec![1.0; ts.len()];
        let s = Sequence::from_samples(&ts, &v, 1000).unwrap();
        assert!(matches!(s.cadence, Cadence::Months { months: 3, day: 31, .. }));
        assert_eq!(s.cadence.season(), Some(4));
        assert_eq!(s.values.len(), 12);
        assert!(s.values[5].is_nan());
        assert_eq!((s.time(12), s.time(13)), (ends(12), ends(13)));
        // Yearly: no season.
        let ts: Vec<i64> = (0..5).map(|y| date(2000 + y, 7, 4)).collect();
        let s = Sequence::from_samples(&ts, &[1.0; 5], 10).unwrap();
        assert_eq!(s.cadence.season(), None);
        assert_eq!(s.time(5), date(2005, 7, 4));
    }

    #[test]
    fn jittered_fixed_step_with_gaps_and_duplicates() {
        // 10 s with up to 1 s jitter, steps 50..60 missing, one sample twice on a step.
        let mut ts: Vec<i64> = (0..200)
            .filter(|i| !(50..60).contains(i))
            .map(|i| 1_000_000 + i * 10_000 + (i * 7919 % 21 - 10) * 100)
            .collect();
        ts.insert(3, ts[2] + 500);
        let v: Vec<f64> = (0..ts.len()).map(|i| i as f64).collect();
        let s = Sequence::from_samples(&ts, &v, 1000).unwrap();
        assert_eq!(s.cadence, Cadence::Fixed { step: 10_000 });
        assert_eq!(s.values.len(), 200);
        assert_eq!(s.merged, 1);
        assert_eq!(s.values[2], 3.0, "the later sample on a step is kept");
        assert!(s.values[50..60].iter().all(|x| x.is_nan()));
        assert_eq!(s.values.iter().filter(|x| x.is_finite()).count(), 190);
        // A 30-day step is not a calendar month.
        let ts: Vec<i64> = (0..40).map(|i| date(2020, 1, 1) + i * 30 * DAY_MS).collect();
        let s = Sequence::from_samples(&ts, &[0.0; 40], 100).unwrap();
        assert_eq!(s.cadence, Cadence::Fixed { step: 30 * DAY_MS });
    }

    #[test]
    fn what_cannot_be_placed_is_an_error() {
        let irregular: Vec<i64> = (0..50i64).map(|i| i * i * 1000 + (i % 3) * 777).collect();
        let e = Sequence::from_samples(&irregular, &[0.0; 50], 1_000_000).unwrap_err();
        assert!(e.to_string().contains("no regular step"), "{e}");
        let e = Sequence::from_samples(&[0, 5, 3], &[0.0; 3], 10).unwrap_err();
        assert!(e.to_string().contains("not increasing"), "{e}");
        let e = Sequence::from_samples(&[0, 1, 1_000_000], &[0.0; 3], 1000).unwrap_err();
        assert!(e.to_string().contains("more than the limit of 1000"), "{e}");
        assert!(matches!(
            Sequence::from_samples(&[0], &[0.0], 10),
            Err(ForecastError::NotEnoughData { .. })
        ));
        assert!(Sequence::from_samples(&[0, 1], &[0.0], 10).is_err());
    }
}
