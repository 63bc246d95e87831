//! The outbox: every e-mail the appliance sends (breach and legal notices, deletion
//! certificates, address confirmations) is a row here and a `mail` job, queued in the write
//! transaction of the change that calls for it. The server's mail runner leases the job,
//! renders the message's template with its values and sends it; the row keeps each
//! recipient's delivery state (queued, sending, sent, failed) for whoever sent the notice.
//!
//! A message to an account belongs to that account: the purge removes it. A message to an
//! address no account holds any more (the deletion certificate) is a job of
//! [`UserId::APPLIANCE`], and its row is removed once it is sent, so the address is not kept.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::Vault;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::{Result, VaultError};
use crate::ids::{MessageId, UserId};
use crate::jobs::{self, JobKind, JobState, JobSubject, Lease};
use crate::store::{OUTBOX, decode, encode};

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct MailDraft {
    pub to: String,
    /// The account the message is for, if it is for one.
    pub account: Option<UserId>,
    /// The template pair's name (`appliance/mail/templates/NAME.{txt,html}`).
    pub template: String,
    pub values: Vec<(String, String)>,
    /// What the message is about (`incident/<id>`, `legal/<id>`, ...): how one notice's
    /// deliveries are listed.
    pub topic: String,
}

/// Where one message stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    Queued,
    /// Handed to the relay by the mail runner now.
    Sending,
    Sent {
        at_ms: i64,
    },
    /// Given up on: the relay refused it for good, or kept failing.
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: MessageId,
    pub account: Option<UserId>,
    pub to: String,
    pub template: String,
    pub values: Vec<(String, String)>,
    pub topic: String,
    pub state: Delivery,
    /// Sending attempts so far.
    pub attempts: u32,
    pub created_at_ms: i64,
    pub last_error: Option<String>,
}

impl MessageRecord {
    /// The values as the mailer takes them.
    pub fn value_pairs(&self) -> Vec<(&str, &str)> {
        self.values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The longest address SMTP carries (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;

/// Queues `draft` for sending, in the caller's transaction (the change that calls for the
/// mail commits it, or neither happens). Answers the message's id.
pub(crate) fn queue_mail(
    txn: &WriteTransaction,
    draft: MailDraft,
    now_ms: i64,
) -> Result<MessageId> {
    let to = draft.to.trim();
    let plausible = to.len() <= MAX_ADDRESS
        && to.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
        })
        && !to.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(VaultError::invalid("to", "not an e-mail address"));
    }
    let id = MessageId::random();
    let record = MessageRecord {
        id,
        account: draft.account,
        to: to.to_owned(),
        template: draft.template,
        values: draft.values,
        topic: draft.topic,
        state: Delivery::Queued,
        attempts: 0,
        created_at_ms: now_ms,
        last_error: None,
    };
    txn.open_table(OUTBOX)?
        .insert(id.raw(), encode(&record).as_slice())?;
    jobs::enqueue(
        txn,
        JobKind::Mail,
        draft.account.unwrap_or(UserId::APPLIANCE),
        JobSubject::Message { message: id },
        now_ms,
    )?;
    Ok(id)
}

fn message_of(lease: &Lease) -> Result<MessageId> {
    match lease.subject {
        JobSubject::Message { message } if lease.kind == JobKind::Mail => Ok(message),
        _ => Err(VaultError::LeaseLost),
    }
}

fn get(table: &impl ReadableTable<u128, &'static [u8]>, id: MessageId) -> Result<MessageRecord> {
    match table.get(id.raw())? {
        Some(v) => decode("outbox", v.value()),
        None => Err(VaultError::NotFound),
    }
}

/// The message's job was given up on without the mail runner (it stopped on its last
/// attempt): the message is failed with `reason`, as [`Vault::mail_failed`] leaves one it gave
/// up on, in the caller's transaction.
pub(crate) fn given_up_in(txn: &WriteTransaction, id: MessageId, reason: &str) -> Result<()> {
    let mut table = txn.open_table(OUTBOX)?;
    let mut message = match get(&table, id) {
        Ok(message) => message,
        Err(VaultError::NotFound) => return Ok(()),
        Err(e) => return Err(e),
    };
    if matches!(message.state, Delivery::Queued | Delivery::Sending) {
        message.state = Delivery::Failed {
            reason: reason.to_owned(),
        };
        message.last_error = Some(reason.to_owned());
        table.insert(id.raw(), encode(&message).as_slice())?;
    }
    Ok(())
}

/// Removes `owner`'s messages: the outbox's part of an account purge (their jobs go with the
/// jobs' part).
pub(crate) fn purge_owner(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let mut table = txn.open_table(OUTBOX)?;
    let doomed: Vec<u128> = all(&table)?
        .into_iter()
        .filter(|m| m.account == Some(owner))
        .map(|m| m.id.raw())
        .collect();
    for id in doomed {
        table.remove(id)?;
    }
    Ok(())
}

fn all(table: &impl ReadableTable<u128, &'static [u8]>) -> Result<Vec<MessageRecord>> {
    table
        .iter()?
        .map(|row| decode("outbox", row?.1.value()))
        .collect()
}

/// How many messages wait to be sent, and how many were given up on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub waiting: u64,
    pub failed: u64,
}

impl Vault {
    /// The message a leased mail job sends, marked as being sent.
    pub fn mail_to_send(&self, lease: &Lease) -> Result<MessageRecord> {
        let id = message_of(lease)?;
        let txn = self.begin_write()?;
        let message = {
            lease.check_held_in(&txn)?;
            let mut table = txn.open_table(OUTBOX)?;
            let mut message = get(&table, id)?;
            message.state = Delivery::Sending;
            message.attempts += 1;
            table.insert(id.raw(), encode(&message).as_slice())?;
            message
        };
        txn.commit()?;
        Ok(message)
    }

    /// The relay took the message: its job ends and the delivery is recorded and audited in
    /// one transaction. A message to no account is removed with its address.
    pub fn mail_sent(&self, lease: &Lease) -> Result<()> {
        let id = message_of(lease)?;
        self.audited(None, |txn, now| {
            lease.finish_in(txn)?;
            let mut table = txn.open_table(OUTBOX)?;
            let mut message = get(&table, id)?;
            if message.account.is_some() {
                message.state = Delivery::Sent { at_ms: now };
                message.last_error = None;
                table.insert(id.raw(), encode(&message).as_slice())?;
            } else {
                table.remove(id.raw())?;
            }
            let event = AuditEvent::new(Actor::System, message.account, AuditAction::MailSent)
                .object(format!("mail/{id}"))
                .detail(format!("{} ({})", message.template, message.topic));
            Ok(((), event))
        })
    }

    /// Sending failed: the job retries after its backoff when `retry` and attempts are left,
    /// else the message is given up on. Each failed attempt is audited, without the relay's
    /// answer (which may quote the address; the row keeps it). Answers the delivery state now.
    pub fn mail_failed(&self, lease: &Lease, reason: &str, retry: bool) -> Result<Delivery> {
        let id = message_of(lease)?;
        let reason: String = reason.chars().take(300).collect();
        self.audited(None, |txn, now| {
            let job = lease.fail_in(txn, now, &reason, retry)?;
            let mut table = txn.open_table(OUTBOX)?;
            let mut message = get(&table, id)?;
            message.last_error = Some(reason.clone());
            let (state, outcome) = match job {
                JobState::Failed { .. } => (
                    Delivery::Failed {
                        reason: reason.clone(),
                    },
                    "given up",
                ),
                _ => (Delivery::Queued, "to be retried"),
            };
            message.state = state.clone();
            table.insert(id.raw(), encode(&message).as_slice())?;
            let event = AuditEvent::new(Actor::System, message.account, AuditAction::MailFailed)
                .object(format!("mail/{id}"))
                .detail(format!(
                    "{} ({}), attempt {}, {outcome}",
                    message.template, message.topic, message.attempts
                ));
            Ok((state, event))
        })
    }

    /// Queues again every message given up on (about `topic` alone, when given): the relay is
    /// back, or its address was mended. Each is sent afresh, with all its attempts; audited as
    /// the admin's `mail.retry`. Answers how many.
    pub fn retry_failed_mail(&self, topic: Option<&str>) -> Result<u64> {
        let queued = self.audited_if_changed(None, |txn, now| {
            let mut table = txn.open_table(OUTBOX)?;
            let failed: Vec<MessageRecord> = all(&table)?
                .into_iter()
                .filter(|m| matches!(m.state, Delivery::Failed { .. }))
                .filter(|m| topic.is_none_or(|t| m.topic == t))
                .collect();
            for mut message in failed.iter().cloned() {
                message.state = Delivery::Queued;
                message.attempts = 0;
                table.insert(message.id.raw(), encode(&message).as_slice())?;
                jobs::enqueue(
                    txn,
                    JobKind::Mail,
                    message.account.unwrap_or(UserId::APPLIANCE),
                    JobSubject::Message {
                        message: message.id,
                    },
                    now,
                )?;
            }
            let count = failed.len() as u64;
            let event = (count > 0).then(|| {
                AuditEvent::new(Actor::Admin, None, AuditAction::MailRetry).detail(format!(
                    "{count} messages given up on, queued again{}",
                    topic.map(|t| format!(" (about {t})")).unwrap_or_default()
                ))
            });
            Ok((count, event))
        })?;
        if queued > 0 {
            self.jobs_queued();
        }
        Ok(queued)
    }

    /// Every message about `topic`, oldest first: one notice's deliveries.
    pub fn messages_about(&self, topic: &str) -> Result<Vec<MessageRecord>> {
        let txn = self.db().begin_read()?;
        let mut found: Vec<MessageRecord> = all(&txn.open_table(OUTBOX)?)?
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect();
        found.sort_by_key(|m| (m.created_at_ms, m.id));
        Ok(found)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let txn = self.db().begin_read()?;
        let mut counts = OutboxCounts::default();
        for m in all(&txn.open_table(OUTBOX)?)? {
            match m.state {
                Delivery::Queued | Delivery::Sending => counts.waiting += 1,
                Delivery::Failed { .. } => counts.failed += 1,
                Delivery::Sent { .. } => {}
            }
        }
        Ok(counts)
    }

    /// Removes the sent messages queued before `before_ms`, with their jobs: an address is kept
    /// no longer than the mail retention (the audit log keeps what was sent). A message to an
    /// account still to be sent, or given up on, stays: pruning it lost a notice not yet sent,
    /// and a register that reads a missing record as sent then showed a failed breach notice
    /// as delivered (an account's purge takes its messages whatever their state). A message to
    /// no account (a purged account's certificate of deletion) goes whatever its state: its
    /// address outlives its account by the retention, no longer. Answers how many went.
    pub fn prune_mail_records(&self, before_ms: i64) -> Result<u64> {
        let txn = self.begin_write()?;
        let old: Vec<MessageId> = all(&txn.open_table(OUTBOX)?)?
            .into_iter()
            .filter(|m| {
                m.created_at_ms < before_ms
                    && (m.account.is_none() || matches!(m.state, Delivery::Sent { .. }))
            })
            .map(|m| m.id)
            .collect();
        for id in &old {
            txn.open_table(OUTBOX)?.remove(id.raw())?;
            jobs::remove(&txn, JobKind::Mail, JobSubject::Message { message: *id })?;
        }
        txn.commit()?;
        Ok(old.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testutil::TestVault;

    const LEASE: Duration = Duration::from_secs(60);

    fn queue(t: &TestVault, account: Option<UserId>, to: &str) -> Result<MessageId> {
        let txn = t.vault.db().begin_write()?;
        let id = queue_mail(
            &txn,
            MailDraft {
                to: to.into(),
                account,
                template: "test".into(),
                values: vec![("name".into(), "Ada".into())],
                topic: "incident/1".into(),
            },
            t.vault.now_ms(),
        )?;
        txn.commit()?;
        Ok(id)
    }

    fn next_lease(t: &TestVault) -> Option<Lease> {
        t.vault.lease_job(&[JobKind::Mail], "mail", LEASE).unwrap()
    }

    #[test]
    fn a_message_is_sent_once_and_its_delivery_kept_for_its_account() {
        let t = TestVault::new();
        let ada = t.user("ada@studio.test").1.owner();
        queue(&t, Some(ada), "ada@studio.test").unwrap();
        let lease = next_lease(&t).unwrap();
        assert_eq!(lease.owner, ada, "an account's mail is its job");
        let message = t.vault.mail_to_send(&lease).unwrap();
        assert_eq!(
            (message.state.clone(), message.attempts),
            (Delivery::Sending, 1)
        );
        assert_eq!(message.value_pairs(), vec![("name", "Ada")]);
        t.vault.mail_sent(&lease).unwrap();
        assert!(matches!(
            t.vault.mail_sent(&lease),
            Err(VaultError::LeaseLost)
        ));
        let listed = t.vault.messages_about("incident/1").unwrap();
        assert!(matches!(listed[0].state, Delivery::Sent { .. }));
        assert!(t.vault.messages_about("incident/2").unwrap().is_empty());
        assert_eq!(t.vault.outbox_counts().unwrap(), OutboxCounts::default());
        t.advance_secs(10);
        assert_eq!(t.vault.prune_mail_records(t.vault.now_ms()).unwrap(), 1);
    }

    #[test]
    fn failures_retry_with_backoff_until_given_up_and_audited() {
        let t = TestVault::new();
        let queued_at = t.vault.now_ms();
        queue(&t, None, "former@studio.test").unwrap();
        for attempt in 1..=jobs::MAIL_ATTEMPTS {
            let lease = next_lease(&t).expect("due again after its backoff");
            assert_eq!(lease.owner, UserId::APPLIANCE);
            t.vault.mail_to_send(&lease).unwrap();
            let state = t.vault.mail_failed(&lease, "421 try later", true).unwrap();
            if attempt < jobs::MAIL_ATTEMPTS {
                assert_eq!(state, Delivery::Queued);
                assert!(next_lease(&t).is_none(), "not before the backoff");
                // 30 s doubling, then hourly.
                t.advance_secs((30i64 << (attempt - 1).min(20)).min(3600));
            } else {
                assert!(matches!(state, Delivery::Failed { .. }));
            }
        }
        // A relay down for a weekend's 72 hours is waited out.
        let waited_hours = (t.vault.now_ms() - queued_at) / 3_600_000;
        assert!((72..=74).contains(&waited_hours), "{waited_hours} h");
        assert_eq!(
            t.vault.outbox_counts().unwrap(),
            OutboxCounts {
                waiting: 0,
                failed: 1
            }
        );
        let failed = t
            .vault
            .audit_query(&studiovault_api::admin::AuditQuery {
                action: Some("mail.failed".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed.len(), jobs::MAIL_ATTEMPTS as usize);
        let last = failed[0].detail.as_deref().unwrap_or_default();
        assert!(last.contains("given up"), "{last}");
    }

    #[test]
    fn pruning_keeps_what_is_unsent_or_given_up_and_a_retry_sends_it_afresh() {
        let t = TestVault::new();
        let ada = t.user("ada@studio.test").1.owner();
        queue(&t, Some(ada), "ada@studio.test").unwrap();
        let lease = next_lease(&t).unwrap();
        t.vault.mail_to_send(&lease).unwrap();
        t.vault
            .mail_failed(&lease, "550 no such mailbox", false)
            .unwrap();
        t.advance_secs(1); // listed oldest first
        let waiting = queue(&t, Some(ada), "ada@studio.test").unwrap();
        t.advance_secs(10);
        assert_eq!(t.vault.prune_mail_records(t.vault.now_ms()).unwrap(), 0);
        let kept = t.vault.messages_about("incident/1").unwrap();
        assert!(matches!(kept[0].state, Delivery::Failed { .. }), "{kept:?}");
        assert_eq!(kept[1].id, waiting);
        let waiting_job = next_lease(&t).expect("the unsent message keeps its job");
        t.vault.mail_to_send(&waiting_job).unwrap();
        t.vault.mail_sent(&waiting_job).unwrap();

        // The relay is mended: the admin queues what was given up on, and it goes out.
        assert_eq!(t.vault.retry_failed_mail(Some("incident/2")).unwrap(), 0);
        assert_eq!(t.vault.retry_failed_mail(Some("incident/1")).unwrap(), 1);
        assert_eq!(
            t.vault.outbox_counts().unwrap(),
            OutboxCounts {
                waiting: 1,
                failed: 0
            }
        );
        let lease = next_lease(&t).expect("queued again");
        t.vault.mail_to_send(&lease).unwrap();
        t.vault.mail_sent(&lease).unwrap();
        assert!(
            t.vault
                .messages_about("incident/1")
                .unwrap()
                .iter()
                .all(|m| matches!(m.state, Delivery::Sent { .. }))
        );
        let retried = t
            .vault
            .audit_query(&studiovault_api::admin::AuditQuery {
                action: Some("mail.retry".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].actor, "admin");
        // Sent, both go once their retention has passed.
        t.advance_secs(10);
        assert_eq!(t.vault.prune_mail_records(t.vault.now_ms()).unwrap(), 2);

        // Mail to no account (a purged account's certificate) keeps its address no longer than
        // the retention, sent or not.
        queue(&t, None, "former@studio.test").unwrap();
        let lease = next_lease(&t).unwrap();
        t.vault.mail_to_send(&lease).unwrap();
        t.vault
            .mail_failed(&lease, "550 mailbox closed", false)
            .unwrap();
        t.advance_secs(10);
        assert_eq!(t.vault.prune_mail_records(t.vault.now_ms()).unwrap(), 1);
        assert!(t.vault.messages_about("incident/1").unwrap().is_empty());
    }

    #[test]
    fn mail_to_no_account_leaves_no_address_once_sent_and_purges_take_an_accounts_mail() {
        let t = TestVault::new();
        queue(&t, None, "former@studio.test").unwrap();
        let lease = next_lease(&t).unwrap();
        t.vault.mail_to_send(&lease).unwrap();
        t.vault.mail_sent(&lease).unwrap();
        assert!(t.vault.messages_about("incident/1").unwrap().is_empty());

        let bo = t.user("bo@studio.test").1.owner();
        queue(&t, Some(bo), "bo@studio.test").unwrap();
        let txn = t.vault.db().begin_write().unwrap();
        purge_owner(&t.vault, &txn, bo).unwrap();
        txn.commit().unwrap();
        assert!(t.vault.messages_about("incident/1").unwrap().is_empty());
    }

    #[test]
    fn addresses_are_checked_before_anything_is_queued() {
        let t = TestVault::new();
        for bad in [
            "",
            "nobody",
            "a@b",
            "a b@c.d",
            "a@c.d\r\nBcc: x@y.z",
            "@c.d",
        ] {
            assert!(
                matches!(queue(&t, None, bad), Err(VaultError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(t.vault.pending_jobs(JobKind::Mail).unwrap(), 0);
    }
}
