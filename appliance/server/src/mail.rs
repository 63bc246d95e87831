//! The mail executor: sends the outbox's messages (`studiovault_vault::outbox`) through the
//! relay of `[mail]`, paced to `mail.per_minute`, one job per message. A relay that refuses for
//! now (4xx, unreachable) is retried with the job's backoff; a permanent refusal (5xx, a bad
//! address or template) ends the message as failed. Never on a request path: requests queue.

use std::sync::Arc;
use std::time::Duration;

use studiovault_mail::{MailError, Mailer};
use studiovault_vault::{Delivery, JobKind, Lease, Vault};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::jobs::{Executor, Progress};

pub struct MailExecutor {
    mailer: Mailer,
    /// The appliance's public origin, the `origin` value of every message.
    origin: String,
    /// When the next message may go.
    next_send: Mutex<Instant>,
    spacing: Duration,
}

impl MailExecutor {
    pub fn new(mailer: Mailer, per_minute: u32, origin: String) -> Self {
        Self {
            mailer,
            origin,
            next_send: Mutex::new(Instant::now()),
            spacing: Duration::from_secs(60) / per_minute.max(1),
        }
    }

    /// Waits for this message's turn under the rate limit.
    async fn pace(&self) {
        let mut next = self.next_send.lock().await;
        let now = Instant::now();
        let at = (*next).max(now);
        *next = at + self.spacing;
        drop(next);
        tokio::time::sleep_until(at).await;
    }
}

impl Executor for MailExecutor {
    fn kind(&self) -> JobKind {
        JobKind::Mail
    }

    async fn execute(self: Arc<Self>, vault: Vault, lease: Lease, _progress: Arc<Progress>) {
        let (v, l) = (vault.clone(), lease.clone());
        let message = match tokio::task::spawn_blocking(move || v.mail_to_send(&l)).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a mail job's message could not be read");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "a mail job's task failed");
                return;
            }
        };
        self.pace().await;
        let mut values = message.value_pairs();
        values.push(("origin", &self.origin));
        let sent = self
            .mailer
            .send(
                &message.id.to_string(),
                &message.to,
                &message.template,
                &values,
            )
            .await;
        let outcome = tokio::task::spawn_blocking(move || match sent {
            Ok(()) => vault.mail_sent(&lease).map(|()| None),
            Err(e) => {
                let retry = matches!(
                    e,
                    MailError::Send {
                        permanent: false,
                        ..
                    }
                );
                let reason = match &e {
                    MailError::Address(_) => "the recipient's address is not valid".to_owned(),
                    other => other.to_string(),
                };
                vault
                    .mail_failed(&lease, &reason, retry)
                    .map(|state| Some((e, state)))
            }
        })
        .await;
        match outcome {
            Ok(Ok(None)) => tracing::info!(template = %message.template, "mail sent"),
            Ok(Ok(Some((e, state)))) => {
                // The relay's answer may quote the recipient's address: it stays in the outbox
                // row the admin reads, out of the log.
                let permanent = !matches!(
                    e,
                    MailError::Send {
                        permanent: false,
                        ..
                    }
                );
                let outcome = match state {
                    Delivery::Failed { .. } => "given up",
                    _ => "to be retried",
                };
                tracing::warn!(template = %message.template, relay = %self.mailer.relay(), permanent, outcome, "mail not sent")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "recording a mail's delivery failed"),
            Err(e) => tracing::error!(error = %e, "recording a mail's delivery failed"),
        }
    }
}
