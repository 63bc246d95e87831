//! Throttling of credential checks: sign-ins, the password and code re-checks of signed-in
//! owners, and share passwords. Kept in memory only; the keys are hashes, so the maps hold no
//! e-mail, link or address.
//!
//! An attempt is *reserved* before its password is checked: [`LoginThrottle::begin`] counts it
//! under the lock and refuses once the reserved and failed attempts reach a limit, so parallel
//! guesses cannot all pass a check made before any of them failed. The caller then settles the
//! [`Attempt`] with the outcome; one dropped unsettled counts as a failure.
//!
//! Checks that pass the throttle then queue for a check slot ([`LoginThrottle::check_slot`]):
//! bcrypt at cost 12 holds a core for about a quarter of a second, so a sign-in flood left
//! unbounded would take every core from playback and the API. One core is left to the rest.
//!
//! Three limits apply to each attempt, within one window (`login.window_seconds`):
//!
//! - per subject and client (`login.max_failures_per_account`, 5): the guesser's own lock;
//! - per client across subjects (`login.max_failures_per_client`, 20);
//! - per subject across all clients (`login.max_failures_per_account_all_clients`, 20): a
//!   ceiling on guessing from many addresses. It does not apply to a client that signed in to
//!   that subject within [`KNOWN_CLIENT_TTL`], so strangers guessing cannot lock the owner out
//!   of their own usual address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Entries beyond this are pruned of expired windows; a flood cannot grow the map unbounded.
const PRUNE_ABOVE: usize = 10_000;
/// A client that passed a check for a subject is exempt from that subject's all-clients limit
/// this long (in memory: a restart forgets it).
pub const KNOWN_CLIENT_TTL: Duration = Duration::from_secs(30 * 86_400);

/// What is being guessed at.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An account, by its e-mail (case and surrounding spaces ignored): sign-ins and the
    /// re-checks of its signed-in owner share one count.
    Account(&'a str),
    /// A share recipient's link (its recipient id), whose share password is being guessed.
    Link(&'a str),
}

impl Subject<'_> {
    fn canonical(self) -> String {
        match self {
            Subject::Account(email) => format!("account:{}", email.trim().to_ascii_lowercase()),
            Subject::Link(id) => format!("link:{id}"),
        }
    }
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The credential was right: the (subject, client) count is cleared and the client becomes
    /// known for the subject. Counts other clients built are kept.
    Success,
    /// A wrong password or code: counted against every limit.
    Failure,
    /// No credential was judged (bad input, an inactive account, a store error, a right
    /// password still waiting for its second factor): the reservation is released.
    Inconclusive,
}

#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    max_per_pair: u32,
    max_per_subject: u32,
    max_per_client: u32,
    state: Mutex<State>,
    /// Password and code checks running at once: all cores but one.
    check_slots: Arc<Semaphore>,
    check_slot_wait: Duration,
}

/// How long a check waits for a slot before the client is asked to come back.
const CHECK_SLOT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct State {
    windows: HashMap<[u8; 32], Window>,
    /// When a client last passed a check for a subject, by the hash of the pair.
    known: HashMap<[u8; 32], Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    /// Failures settled within the window.
    failures: u32,
    /// Attempts begun and not yet settled.
    pending: u32,
}

/// The hashed keys of one attempt.
#[derive(Debug, Clone, Copy)]
struct Keys {
    pair: [u8; 32],
    subject: [u8; 32],
    client: [u8; 32],
}

fn key(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl Keys {
    fn new(subject: Subject<'_>, client: &str) -> Self {
        let subject = subject.canonical();
        Self {
            pair: key(&["pair", &subject, client]),
            subject: key(&["subject", &subject]),
            client: key(&["client", client]),
        }
    }
}

/// A reserved attempt. Settle it with [`Attempt::settle`] once the credential is judged; if it
/// is dropped unsettled (a panic, a forgotten branch, a cancelled request) it counts as a
/// failure.
#[derive(Debug)]
#[must_use = "settle the attempt with its outcome; dropped unsettled it counts as a failure"]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    keys: Keys,
    settled: bool,
}

impl Attempt {
    pub fn settle(mut self, outcome: Outcome) {
        self.settle_at(outcome, Instant::now());
    }

    fn settle_at(&mut self, outcome: Outcome, now: Instant) {
        if !self.settled {
            self.settled = true;
            self.throttle.settle(&self.keys, outcome, now);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.settle_at(Outcome::Failure, Instant::now());
    }
}

/// All cores but one, at least one.
fn check_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

impl LoginThrottle {
    /// `max_per_pair` failures per (subject, client), `max_per_subject` per subject across
    /// clients not known to it, `max_per_client` per client across subjects, all per `window`.
    pub fn new(
        window: Duration,
        max_per_pair: u32,
        max_per_subject: u32,
        max_per_client: u32,
    ) -> Self {
        Self {
            window,
            max_per_pair,
            max_per_subject,
            max_per_client,
            state: Mutex::new(State::default()),
            check_slots: Arc::new(Semaphore::new(check_slots())),
            check_slot_wait: CHECK_SLOT_WAIT,
        }
    }

    /// A slot to run one password or code check in, held until the permit drops; `None` when
    /// none came free within [`CHECK_SLOT_WAIT`] (the server is saturated with checks).
    pub async fn check_slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(
            self.check_slot_wait,
            self.check_slots.clone().acquire_owned(),
        )
        .await
        .ok()?
        .ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves an attempt at `subject` from `client`, or answers how many seconds to wait.
    pub fn begin(
        self: &Arc<Self>,
        subject: Subject<'_>,
        client: &str,
        now: Instant,
    ) -> Result<Attempt, u64> {
        let keys = Keys::new(subject, client);
        let mut state = self.lock();
        if state.windows.len() > PRUNE_ABOVE {
            let window = self.window;
            state
                .windows
                .retain(|_, w| w.pending > 0 || now.saturating_duration_since(w.started) < window);
        }
        if state.known.len() > PRUNE_ABOVE {
            state
                .known
                .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_CLIENT_TTL);
        }
        let known = state
            .known
            .get(&keys.pair)
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_CLIENT_TTL);
        let limits = [
            (keys.pair, Some(self.max_per_pair)),
            (keys.subject, (!known).then_some(self.max_per_subject)),
            (keys.client, Some(self.max_per_client)),
        ];
        let mut wait = 0;
        for (k, limit) in limits {
            let (Some(limit), Some(w)) = (limit, state.windows.get_mut(&k)) else {
                continue;
            };
            let elapsed = now.saturating_duration_since(w.started);
            if elapsed >= self.window {
                *w = Window {
                    started: now,
                    failures: 0,
                    pending: w.pending,
                };
            } else if w.failures.saturating_add(w.pending) >= limit {
                wait = wait.max((self.window - elapsed).as_secs().max(1));
            }
        }
        if wait > 0 {
            return Err(wait);
        }
        for (k, _) in limits {
            let w = state.windows.entry(k).or_insert(Window {
                started: now,
                failures: 0,
                pending: 0,
            });
            w.pending += 1;
        }
        Ok(Attempt {
            throttle: Arc::clone(self),
            keys,
            settled: false,
        })
    }

    fn settle(&self, keys: &Keys, outcome: Outcome, now: Instant) {
        let mut state = self.lock();
        for k in [keys.pair, keys.subject, keys.client] {
            let w = state.windows.entry(k).or_insert(Window {
                started: now,
                failures: 0,
                pending: 1,
            });
            w.pending = w.pending.saturating_sub(1);
            match outcome {
                Outcome::Failure => {
                    // A window opens at its first failure.
                    if w.failures == 0 || now.saturating_duration_since(w.started) >= self.window {
                        w.started = now;
                        w.failures = 0;
                    }
                    w.failures += 1;
                }
                Outcome::Success if k == keys.pair => w.failures = 0,
                Outcome::Success | Outcome::Inconclusive => {}
            }
            if w.failures == 0 && w.pending == 0 {
                state.windows.remove(&k);
            }
        }
        if outcome == Outcome::Success {
            state.known.insert(keys.pair, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn checks_wait_for_a_free_slot_and_give_up_when_none_frees() {
        let mut t = LoginThrottle::new(MIN, 5, 20, 20);
        t.check_slot_wait = Duration::from_millis(50);
        let mut held = Vec::new();
        for _ in 0..check_slots() {
            held.push(t.check_slot().await.expect("a free slot"));
        }
        assert!(t.check_slot().await.is_none(), "no slot is free");
        held.pop();
        assert!(t.check_slot().await.is_some(), "a slot freed");
        assert!(check_slots() >= 1);
    }

    fn throttle(pair: u32, subject: u32, client: u32) -> Arc<LoginThrottle> {
        Arc::new(LoginThrottle::new(MIN, pair, subject, client))
    }

    fn fail(t: &Arc<LoginThrottle>, subject: Subject<'_>, client: &str, now: Instant) {
        t.begin(subject, client, now)
            .unwrap()
            .settle_at(Outcome::Failure, now);
    }

    #[test]
    fn parallel_attempts_are_reserved_so_exactly_the_limit_proceeds() {
        let t = throttle(5, 100, 100);
        let now = Instant::now();
        let barrier = Barrier::new(30);
        let proceeded: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..30)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let attempt = t.begin(Subject::Account("a@x.io"), "c1", now);
                        // Every attempt is still being verified while the others begin.
                        barrier.wait();
                        match attempt {
                            Ok(mut a) => {
                                a.settle_at(Outcome::Failure, now);
                                1
                            }
                            Err(wait) => {
                                assert_eq!(wait, 60);
                                0
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(proceeded, 5);
        assert!(
            t.begin(Subject::Account("A@X.io "), "c1", now).is_err(),
            "five failures settled: still locked, whatever the case of the e-mail"
        );
    }

    #[test]
    fn reservations_count_before_they_settle_and_unsettled_ones_are_failures() {
        let t = throttle(2, 100, 100);
        let now = Instant::now();
        let mut a = t.begin(Subject::Account("a@x.io"), "c", now).unwrap();
        let b = t.begin(Subject::Account("a@x.io"), "c", now).unwrap();
        assert!(t.begin(Subject::Account("a@x.io"), "c", now).is_err());
        // Released: no credential was judged, so nothing counts.
        a.settle_at(Outcome::Inconclusive, now);
        drop(a);
        let c = t.begin(Subject::Account("a@x.io"), "c", now).unwrap();
        drop(b);
        drop(c);
        let state = t.lock();
        let w = state.windows[&Keys::new(Subject::Account("a@x.io"), "c").pair];
        assert_eq!(
            (w.failures, w.pending),
            (2, 0),
            "dropped unsettled: failures"
        );
    }

    #[test]
    fn success_clears_the_pair_and_keeps_what_other_clients_built() {
        let t = throttle(3, 100, 4);
        let now = Instant::now();
        fail(&t, Subject::Account("a@x.io"), "c", now);
        fail(&t, Subject::Account("a@x.io"), "c", now);
        t.begin(Subject::Account("a@x.io"), "c", now)
            .unwrap()
            .settle_at(Outcome::Success, now);
        for _ in 0..2 {
            fail(&t, Subject::Account("a@x.io"), "c2", now);
        }
        // The pair starts over; the client's count across accounts does not.
        fail(&t, Subject::Account("a@x.io"), "c", now);
        fail(&t, Subject::Account("z@x.io"), "c", now);
        assert_eq!(
            t.begin(Subject::Account("q@x.io"), "c", now).unwrap_err(),
            60,
            "the client has 4 failures across accounts"
        );
        let state = t.lock();
        assert_eq!(
            state.windows[&Keys::new(Subject::Account("a@x.io"), "c").subject].failures,
            5,
            "the account keeps every failure"
        );
    }

    #[test]
    fn a_guesser_locks_out_only_itself_and_never_the_owners_known_client() {
        let t = throttle(5, 20, 1000);
        let start = Instant::now();
        let owner = Subject::Account("owner@x.io");
        // The owner signed in from home once.
        t.begin(owner, "home", start)
            .unwrap()
            .settle_at(Outcome::Success, start);
        for _ in 0..5 {
            fail(&t, owner, "attacker", start);
        }
        assert_eq!(t.begin(owner, "attacker", start).unwrap_err(), 60);
        assert!(
            t.begin(owner, "new-laptop", start)
                .map(|mut a| a.settle_at(Outcome::Inconclusive, start))
                .is_ok(),
            "one guesser does not lock the account"
        );
        // Guessing from many addresses reaches the account's ceiling...
        for i in 0..15 {
            fail(&t, owner, &format!("bot{i}"), start);
        }
        assert!(t.begin(owner, "new-laptop", start).is_err());
        assert!(t.begin(owner, "bot99", start).is_err());
        // ...which does not apply where the owner already signed in.
        t.begin(owner, "home", start)
            .unwrap()
            .settle_at(Outcome::Success, start);
        // Other accounts and links are untouched, and the window reopens.
        assert!(
            t.begin(Subject::Account("b@x.io"), "attacker", start)
                .is_ok()
        );
        assert!(t.begin(Subject::Link("owner@x.io"), "bot1", start).is_ok());
        assert!(t.begin(owner, "attacker", start + MIN).is_ok());
    }

    #[test]
    fn clients_lock_across_accounts_and_links() {
        let t = throttle(100, 100, 4);
        let now = Instant::now();
        for i in 0..3 {
            fail(&t, Subject::Account(&format!("u{i}@x.io")), "guesser", now);
        }
        fail(&t, Subject::Link("0123"), "guesser", now);
        assert!(
            t.begin(Subject::Account("fresh@x.io"), "guesser", now)
                .is_err()
        );
        assert!(
            t.begin(Subject::Account("fresh@x.io"), "someone-else", now)
                .is_ok()
        );
    }

    #[test]
    fn windows_reopen_and_the_map_stays_small() {
        let t = throttle(1, 100, 100);
        let start = Instant::now();
        fail(&t, Subject::Account("a@x.io"), "c", start);
        assert_eq!(
            t.begin(
                Subject::Account("a@x.io"),
                "c",
                start + Duration::from_secs(10)
            )
            .unwrap_err(),
            50
        );
        let later = start + MIN;
        t.begin(Subject::Account("a@x.io"), "c", later)
            .unwrap()
            .settle_at(Outcome::Success, later);
        assert!(t.lock().windows.is_empty(), "expired windows are dropped");
        fail(&t, Subject::Account("a@x.io"), "c", later);
        t.begin(Subject::Account("a@x.io"), "c", later).unwrap_err();
        t.begin(Subject::Account("a@x.io"), "c2", later)
            .unwrap()
            .settle_at(Outcome::Success, later);
        // The failure still counts for its pair, the account and the client; nothing else is kept.
        assert_eq!(t.lock().windows.len(), 3);
        t.begin(Subject::Account("b@x.io"), "d", later)
            .unwrap()
            .settle_at(Outcome::Inconclusive, later);
        assert_eq!(
            t.lock().windows.len(),
            3,
            "inconclusive attempts leave nothing"
        );
    }
}
