//! The timestamps of a streaming detector: the grid step and the gaps a new point skipped.

/// A detector's clock: the grid step (given, or the smallest delta seen so far) and the last
/// timestamp.
#[derive(Debug, Clone)]
pub(crate) struct GridClock {
    last: Option<i64>,
    step: Option<i64>,
    /// The step was given: deltas never shrink it.
    fixed: bool,
}

impl GridClock {
    pub(crate) fn new(step: Option<i64>) -> Self {
        GridClock {
            last: None,
            step,
            fixed: step.is_some(),
        }
    }

    /// Moves to `timestamp`: `None` if it is not after the previous one (the point is to be
    /// ignored), otherwise the number of grid steps skipped before it, at most `cap`.
    pub(crate) fn advance(&mut self, timestamp: i64, cap: usize) -> Option<usize> {
        let Some(last) = self.last else {
            self.last = Some(timestamp);
            return Some(0);
        };
        if timestamp <= last {
            return None;
        }
        self.last = Some(timestamp);
        let delta = timestamp - last;
        let step = *self.step.get_or_insert(delta);
        let step = if !self.fixed && delta < step {
            self.step = Some(delta);
            delta
        } else {
            step
        };
        // A delta shorter than a given step skips nothing (not -1, which would read as "all").
        let missing = usize::try_from((delta / step).saturating_sub(1).max(0)).unwrap_or(usize::MAX);
        Some(missing.min(cap))
    }
}

#[cfg(test)]
mod tests {
    use super::GridClock;

    #[test]
    fn steps_gaps_and_out_of_order_points() {
        let mut c = GridClock::new(None);
        assert_eq!(c.advance(1_000, 100), Some(0));
        assert_eq!(c.advance(1_000, 100), None);
        assert_eq!(c.advance(2_000, 100), Some(0));
        // Two steps skipped; a smaller delta then becomes the step.
        assert_eq!(c.advance(5_000, 100), Some(2));
        assert_eq!(c.advance(5_500, 100), Some(0));
        assert_eq!(c.advance(7_500, 2), Some(2));
        let mut fixed = GridClock::new(Some(1_000));
        assert_eq!(fixed.advance(0, 100), Some(0));
        assert_eq!(fixed.advance(500, 100), Some(0));
        assert_eq!(fixed.advance(3_500, 100), Some(2));
    }
}
