//! The in-flight write budget: how many bytes of write bodies (compressed and decompressed) are
//! held in memory at once, bounded by `max-inflight-write-bytes`. A write that would go over it
//! is answered 503 with `Retry-After` instead of queueing, so a database that falls behind pushes
//! back on its clients rather than filling memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes every write request holds together, against a limit. Shared by the write requests;
/// `/metrics` reads it through [`WriteBudget::in_flight`].
#[derive(Debug)]
pub(crate) struct WriteBudget {
    limit: u64,
    in_flight: AtomicU64,
}

impl WriteBudget {
    pub(crate) fn new(limit: u64) -> Self {
        WriteBudget {
            limit,
            in_flight: AtomicU64::new(0),
        }
    }

    /// The limit (`max-inflight-write-bytes`).
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held now (the `foresight_inflight_write_bytes` gauge).
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if that stays within the limit.
    fn try_take(&self, n: u64) -> bool {
        let mut cur = self.in_flight.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(n).filter(|v| *v <= self.limit) else {
                return false;
            };
            match self
                .in_flight
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn give_back(&self, n: u64) {
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One request's bytes reserved against a [`WriteBudget`], given back on drop (however the
/// request ends).
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<WriteBudget>,
    bytes: u64,
}

impl Reservation {
    /// An empty reservation.
    pub(crate) fn new(budget: Arc<WriteBudget>) -> Self {
        Reservation { budget, bytes: 0 }
    }

    /// Reserves `n` more bytes, or returns false (and reserves nothing) over the limit.
    pub(crate) fn grow(&mut self, n: u64) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }

    /// Gives back up to `n` bytes.
    pub(crate) fn shrink(&mut self, n: u64) {
        let n = n.min(self.bytes);
        self.bytes -= n;
        self.budget.give_back(n);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let n = self.bytes;
        self.shrink(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_limit_and_give_back_on_drop() {
        let budget = Arc::new(WriteBudget::new(100));
        let mut a = Reservation::new(budget.clone());
        assert!(a.grow(60));
        let mut b = Reservation::new(budget.clone());
        assert!(!b.grow(41), "60 + 41 is over 100");
        assert_eq!(budget.in_flight(), 60, "a refused grow reserves nothing");
        assert!(b.grow(40));
        a.shrink(1000);
        assert_eq!(budget.in_flight(), 40, "shrink gives back at most what was reserved");
        assert!(!a.grow(u64::MAX), "no overflow");
        drop(b);
        assert_eq!(budget.in_flight(), 0);
        assert_eq!(budget.limit(), 100);
    }
}
