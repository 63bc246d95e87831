//! A store in a temp directory with a clock the test moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use studiovault_api::Plan;

use crate::{ClientInfo, Clock, MasterKey, OwnerScope, Policy, TrackInfo, TrackRecord, Vault};

pub(crate) const PASSWORD: &str = "correct horse battery";

struct TestClock(Arc<AtomicI64>);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct TestVault {
    pub vault: Vault,
    pub now: Arc<AtomicI64>,
    pub _dir: tempfile::TempDir,
}

impl TestVault {
    pub fn new() -> Self {
        Self::with_policy(|_| {})
    }

    pub fn with_policy(edit: impl FnOnce(&mut Policy)) -> Self {
        Self::build(edit, |now| Box::new(TestClock(now)))
    }

    /// With a clock of the test's own over the time in `now` (which `advance_secs` moves).
    pub fn with_clock(clock: impl FnOnce(Arc<AtomicI64>) -> Box<dyn Clock>) -> Self {
        Self::build(|_| {}, clock)
    }

    fn build(
        edit: impl FnOnce(&mut Policy),
        clock: impl FnOnce(Arc<AtomicI64>) -> Box<dyn Clock>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_795_442_399_000));
        let mut policy = Policy {
            bcrypt_cost: 4,
            ..Policy::default()
        };
        edit(&mut policy);
        let vault = Self::open_with(dir.path(), policy, clock(now.clone()));
        Self {
            vault,
            now,
            _dir: dir,
        }
    }

    pub fn open_at(path: &std::path::Path, policy: Policy, now: Arc<AtomicI64>) -> Vault {
        Self::open_with(path, policy, Box::new(TestClock(now)))
    }

    fn open_with(path: &std::path::Path, policy: Policy, clock: Box<dyn Clock>) -> Vault {
        Vault::open_with_clock(
            path,
            MasterKey::from_hex(&"5a".repeat(32)).unwrap(),
            policy,
            clock,
        )
        .unwrap()
    }

    pub fn advance_secs(&self, secs: i64) {
        self.now.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    /// Creates a user and signs in; answers the token and scope.
    pub fn user(&self, email: &str) -> (String, OwnerScope) {
        self.vault
            .admin()
            .create_user(email, Some(PASSWORD), Plan::Pro)
            .unwrap();
        let (token, auth) = self
            .vault
            .login(email, PASSWORD, None, &ClientInfo::default())
            .unwrap();
        (token, auth.scope)
    }

    /// Uploads `bytes` as a track of the scope's owner.
    pub fn upload(&self, scope: &OwnerScope, bytes: &[u8]) -> TrackRecord {
        let lib = self.vault.library(scope);
        let mut w = lib.begin_upload().unwrap();
        w.write(bytes).unwrap();
        lib.commit_upload(
            w.finish().unwrap(),
            TrackInfo::default(),
            Default::default(),
            &ClientInfo::default(),
        )
        .unwrap()
    }
}
