//! Token buckets keyed by client address or tenant: failed authentications per client IP, samples
//! per second per tenant. Each key has its own bucket behind one short-held lock, so a key that
//! runs dry costs the others nothing but that lock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most keys remembered; beyond, full (idle) buckets are forgotten first, which is harmless: a
/// full bucket is what a new key gets.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-key token buckets of `burst` tokens refilled at `rate` per second.
#[derive(Debug)]
pub struct Buckets<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Default for Buckets<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// No buckets yet: every key starts full.
    pub fn new() -> Self {
        Buckets {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens from `key`'s bucket of size `burst` refilled at `rate`/s. `Err` is how
    /// long until `n` tokens will be there (a take larger than `burst` waits for a full bucket and
    /// then succeeds, leaving the bucket in debt, so big writes are slowed rather than refused
    /// forever).
    pub fn take(&self, key: &K, n: f64, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock();
        let b = refilled(&mut map, key, rate, burst, now);
        let need = n.min(burst);
        if b.tokens >= need {
            b.tokens -= n;
            Ok(())
        } else if rate > 0.0 {
            Err(Duration::from_secs_f64((need - b.tokens) / rate))
        } else {
            Err(Duration::from_secs(3600))
        }
    }

    /// Takes `n` tokens from `key`'s bucket whatever it holds (it may go into debt): the cost of
    /// work already done, such as the samples of a write that was let in by
    /// [`Buckets::has_token`].
    pub fn charge(&self, key: &K, n: f64, rate: f64, burst: f64, now: Instant) {
        let mut map = self.buckets.lock();
        refilled(&mut map, key, rate, burst, now).tokens -= n;
    }

    /// Whether `key` has at least one token now, without taking it.
    pub fn has_token(&self, key: &K, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let map = self.buckets.lock();
        let Some(b) = map.get(key) else { return Ok(()) };
        let tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(burst);
        if tokens >= 1.0 {
            Ok(())
        } else if rate > 0.0 {
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// `key`'s bucket refilled up to `now` (a new key's is full), forgetting idle keys when the map is
/// full.
fn refilled<'m, K: Hash + Eq + Clone>(
    map: &'m mut HashMap<K, Bucket>,
    key: &K,
    rate: f64,
    burst: f64,
    now: Instant,
) -> &'m mut Bucket {
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        map.retain(|_, b| b.tokens + rate * now.saturating_duration_since(b.at).as_secs_f64() < burst);
    }
    let b = map.entry(key.clone()).or_insert(Bucket { tokens: burst, at: now });
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate).min(burst);
    b.at = now;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let b = Buckets::new();
        let t0 = Instant::now();
        for _ in 0..3 {
            b.take(&"ip", 1.0, 1.0, 3.0, t0).unwrap();
        }
        let wait = b.take(&"ip", 1.0, 1.0, 3.0, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(b.has_token(&"ip", 1.0, 3.0, t0).is_err());
        assert!(b.take(&"other", 1.0, 1.0, 3.0, t0).is_ok(), "keys are independent");
        b.take(&"ip", 1.0, 1.0, 3.0, t0 + Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn a_charge_goes_into_debt() {
        let b = Buckets::new();
        let t0 = Instant::now();
        assert!(b.has_token(&1, 100.0, 100.0, t0).is_ok());
        b.charge(&1, 300.0, 100.0, 100.0, t0);
        assert_eq!(
            b.has_token(&1, 100.0, 100.0, t0).unwrap_err(),
            Duration::from_millis(2010)
        );
        assert!(b.has_token(&1, 100.0, 100.0, t0 + Duration::from_millis(2020)).is_ok());
    }

    #[test]
    fn a_take_larger_than_the_burst_waits_for_a_full_bucket() {
        let b = Buckets::new();
        let t0 = Instant::now();
        b.take(&1, 250.0, 100.0, 100.0, t0).unwrap();
        // 150 in debt: 2.5 s until the next sample.
        assert_eq!(
            b.take(&1, 1.0, 100.0, 100.0, t0).unwrap_err(),
            Duration::from_millis(1510)
        );
    }
}
