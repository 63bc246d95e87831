//! Request rates for what writes on every call and has no credential to throttle: a share
//! recipient's play URLs (each a play counted or continued), download URLs and comments, each
//! a recipient event, an audited record and a notification of the owner. A link holder looping
//! them would grow the audit log and keep the store's writer busy; a listener never comes near
//! the rate ([`PLAY_URLS_BURST`] of each at once, then one each [`PLAY_URL_EVERY`]: switching
//! between versions every second for half a minute is fine).
//!
//! A token bucket per key, in memory; keys are hashed, as in `throttle.rs`, so the map holds no
//! link or recipient id.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Play URLs a recipient may ask for at once.
pub const PLAY_URLS_BURST: u32 = 30;
/// Then one more each this long.
pub const PLAY_URL_EVERY: Duration = Duration::from_secs(2);

/// Buckets beyond this are pruned of the full ones (idle keys); a flood of keys cannot grow the
/// map unbounded.
const PRUNE_ABOVE: usize = 10_000;

/// Token buckets, one per key.
#[derive(Debug)]
pub struct RequestRate {
    burst: f64,
    every: Duration,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RequestRate {
    /// `burst` requests at once, then one each `every`.
    pub fn new(burst: u32, every: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            every: every.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Share recipients' play and download URLs and comments, each kind keyed apart.
    pub fn recipient_requests() -> Self {
        Self::new(PLAY_URLS_BURST, PLAY_URL_EVERY)
    }

    /// Takes one request's token for `key` at `now`; when there is none, answers the whole
    /// seconds until there is.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| self.refilled(*b, now) < self.burst);
        }
        let bucket = buckets.entry(hash).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        *bucket = Bucket { tokens, at: now };
        let wait = self.every.as_secs_f64() * (1.0 - tokens);
        Err((wait.ceil() as u64).max(1))
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed / self.every.as_secs_f64()).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_per_interval_and_keys_are_apart() {
        let rate = RequestRate::new(3, Duration::from_secs(2));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(rate.take("ana", start), Ok(()));
        }
        assert_eq!(rate.take("ana", start), Err(2), "the burst is spent");
        assert_eq!(rate.take("ben", start), Ok(()), "another key has its own");
        assert_eq!(rate.take("ana", start + Duration::from_secs(1)), Err(1));
        assert_eq!(rate.take("ana", start + Duration::from_secs(2)), Ok(()));
        assert!(rate.take("ana", start + Duration::from_secs(2)).is_err());
        // Idle, the bucket fills up to the burst and no further.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(rate.take("ana", later), Ok(()));
        }
        assert!(rate.take("ana", later).is_err());
    }
}
