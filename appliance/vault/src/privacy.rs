//! Data minimisation (invariant 5): client IPs and user agents are stored only as HMACs under a
//! salt that changes every UTC day; salts older than the retention are deleted, after which no
//! stored hash can be linked back to an address, even by someone holding the whole store.

use hmac::{Hmac, Mac};
use rand::RngCore;
use redb::{ReadableDatabase, ReadableTable};
use sha2::Sha256;

use crate::error::Result;
use crate::store::SALTS;
use crate::{ClientInfo, Vault};

/// Hashed client identity, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientHashes {
    pub ip: Option<String>,
    pub agent: Option<String>,
}

const MS_PER_DAY: i64 = 86_400_000;

fn day_label(ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn keyed_hash(salt: &[u8; 32], domain: &[u8], value: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt) else {
        return String::new();
    };
    mac.update(domain);
    mac.update(value);
    hex::encode(&mac.finalize().into_bytes()[..16])
}

impl Vault {
    fn todays_salt(&self) -> Result<[u8; 32]> {
        let today = day_label(self.now_ms());
        let mut cache = self
            .inner
            .salt_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((_, salt)) = cache.as_ref().filter(|(day, _)| *day == today) {
            return Ok(*salt);
        }
        let existing = {
            let txn = self.db().begin_read()?;
            txn.open_table(SALTS)?
                .get(today.as_str())?
                .map(|v| v.value())
        };
        let salt = match existing {
            Some(salt) => salt,
            None => {
                let txn = self.begin_write()?;
                let salt = {
                    let mut table = txn.open_table(SALTS)?;
                    let current = table.get(today.as_str())?.map(|v| v.value());
                    match current {
                        Some(salt) => salt,
                        None => {
                            let mut salt = [0u8; 32];
                            rand::rngs::OsRng.fill_bytes(&mut salt);
                            table.insert(today.as_str(), salt)?;
                            salt
                        }
                    }
                };
                txn.commit()?;
                salt
            }
        };
        *cache = Some((today, salt));
        Ok(salt)
    }

    pub(crate) fn hash_client(&self, client: &ClientInfo) -> Result<ClientHashes> {
        if client.ip.is_none() && client.user_agent.is_none() {
            return Ok(ClientHashes::default());
        }
        let salt = self.todays_salt()?;
        Ok(ClientHashes {
            ip: client
                .ip
                .map(|ip| keyed_hash(&salt, b"ip\0", ip.to_string().as_bytes())),
            agent: client
                .user_agent
                .as_deref()
                .map(|ua| keyed_hash(&salt, b"ua\0", ua.as_bytes())),
        })
    }

    /// Deletes the salts of the days that began at least the retention ago, that day's
    /// included: a hash stays linkable for the retention at most (keeping that day's salt kept
    /// a hash made early in it linkable a day longer). Answers how many went.
    pub fn prune_salts(&self) -> Result<usize> {
        let cutoff = day_label(self.now_ms() - self.inner.policy.salt_retention_days * MS_PER_DAY);
        let txn = self.begin_write()?;
        let removed = {
            let mut table = txn.open_table(SALTS)?;
            let old: Vec<String> = table
                .range::<&str>(..=cutoff.as_str())?
                .map(|r| r.map(|(k, _)| k.value().to_owned()))
                .collect::<Result<_, _>>()?;
            for day in &old {
                table.remove(day.as_str())?;
            }
            old.len()
        };
        txn.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::testutil::TestVault;

    #[test]
    fn hashes_change_daily_and_old_salts_are_deleted() {
        let t = TestVault::with_policy(|p| p.salt_retention_days = 2);
        let (vault, now) = (&t.vault, &t.now);
        let client = ClientInfo {
            ip: Some("203.0.113.9".parse().unwrap()),
            user_agent: None,
        };
        let day1 = vault.hash_client(&client).unwrap().ip.unwrap();
        assert_eq!(vault.hash_client(&client).unwrap().ip.unwrap(), day1);
        assert!(!day1.contains("203.0.113.9"));
        now.fetch_add(MS_PER_DAY, Ordering::SeqCst);
        let day2 = vault.hash_client(&client).unwrap().ip.unwrap();
        assert_ne!(day1, day2, "a new day, a new salt");
        now.fetch_add(3 * MS_PER_DAY, Ordering::SeqCst);
        assert_eq!(
            vault.prune_salts().unwrap(),
            2,
            "both old days are past retention"
        );
        assert_eq!(vault.prune_salts().unwrap(), 0);
    }

    #[test]
    fn a_hash_stays_linkable_for_the_retention_and_no_day_longer() {
        let t = TestVault::with_policy(|p| p.salt_retention_days = 1);
        let (vault, now) = (&t.vault, &t.now);
        // Just after midnight UTC of day X.
        let start = now.load(Ordering::SeqCst);
        now.store(start - start % MS_PER_DAY + 60_000, Ordering::SeqCst);
        let client = ClientInfo {
            ip: Some("203.0.113.9".parse().unwrap()),
            user_agent: None,
        };
        vault.hash_client(&client).unwrap();
        // A day later, day X's salt goes: the hash made with it can no longer be matched.
        now.fetch_add(MS_PER_DAY, Ordering::SeqCst);
        assert_eq!(vault.prune_salts().unwrap(), 1);
    }

    #[test]
    fn day_labels_are_utc_dates() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(day_label(1_795_442_399_000), "2026-11-23");
    }
}
