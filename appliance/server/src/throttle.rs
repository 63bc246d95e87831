//! Sign-in throttling: failures counted per account and per client within a sliding window.
//! Kept in memory only; the keys are hashed, so the map holds no e-mail or address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Entries beyond this are pruned of expired windows; a flood cannot grow the map unbounded.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    max_per_account: u32,
    max_per_client: u32,
    failures: Mutex<HashMap<[u8; 32], Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

fn key(kind: &str, value: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    h.finalize().into()
}

impl LoginThrottle {
    pub fn new(window: Duration, max_per_account: u32, max_per_client: u32) -> Self {
        Self {
            window,
            max_per_account,
            max_per_client,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, client: &str) -> [([u8; 32], bool); 2] {
        [
            (key("account", &email.trim().to_ascii_lowercase()), true),
            (key("client", client), false),
        ]
    }

    /// `Err(seconds)` while either the account or the client is over its limit.
    pub fn check(&self, email: &str, client: &str, now: Instant) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = 0;
        for (k, is_account) in Self::keys(email, client) {
            let limit = if is_account {
                self.max_per_account
            } else {
                self.max_per_client
            };
            if let Some(w) = map.get(&k) {
                let elapsed = now.saturating_duration_since(w.started);
                if elapsed < self.window && w.count >= limit {
                    wait = wait.max((self.window - elapsed).as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&self, email: &str, client: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            let window = self.window;
            map.retain(|_, w| now.saturating_duration_since(w.started) < window);
        }
        for (k, _) in Self::keys(email, client) {
            let w = map.entry(k).or_insert(Window {
                started: now,
                count: 0,
            });
            if now.saturating_duration_since(w.started) >= self.window {
                *w = Window {
                    started: now,
                    count: 0,
                };
            }
            w.count += 1;
        }
    }

    /// A successful sign-in clears the account's count (not the client's: one good password
    /// must not reset a client that is guessing others).
    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key("account", &email.trim().to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_lock_after_their_limit_and_reopen_after_the_window() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(t.check("a@x.io", "c1", start).is_ok());
            t.record_failure("a@x.io", "c1", start);
        }
        // Every client is refused for that account, whatever the case of the e-mail.
        assert_eq!(
            t.check("A@X.io", "c2", start + Duration::from_secs(10)),
            Err(50)
        );
        assert!(
            t.check("b@x.io", "c1", start).is_ok(),
            "other accounts are unaffected"
        );
        assert!(
            t.check("a@x.io", "c1", start + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn clients_lock_across_accounts() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 4);
        let now = Instant::now();
        for i in 0..4 {
            t.record_failure(&format!("u{i}@x.io"), "guesser", now);
        }
        assert!(t.check("fresh@x.io", "guesser", now).is_err());
        assert!(t.check("fresh@x.io", "someone-else", now).is_ok());
    }

    #[test]
    fn success_clears_the_account_only() {
        let t = LoginThrottle::new(Duration::from_secs(60), 2, 3);
        let now = Instant::now();
        t.record_failure("a@x.io", "c", now);
        t.record_failure("a@x.io", "c", now);
        assert!(t.check("a@x.io", "other", now).is_err());
        t.record_success("a@x.io");
        assert!(t.check("a@x.io", "other", now).is_ok());
        t.record_failure("z@x.io", "c", now);
        assert!(
            t.check("q@x.io", "c", now).is_err(),
            "the client still has 3 failures"
        );
    }
}
