//! `studiovault mail test ADDRESS`: the relay in `[mail]` checked end to end; `mail retry`:
//! the messages given up on, queued again.

use std::process::ExitCode;

use studiovault_api::admin::{MailRetried, MailRetry};
use studiovault_api::client::AdminClient;
use studiovault_mail::Mailer;

use super::print_json;
use crate::cli::MailCommand;
use crate::config::Config;

pub async fn mail(
    config: &Config,
    client: &AdminClient,
    cmd: MailCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        MailCommand::Retry { topic, out } => {
            let retried: MailRetried = client.post("/v1/mail/retry", &MailRetry { topic }).await?;
            if out.json {
                print_json(&retried)?;
            } else if retried.queued == 0 {
                println!("no message was given up on: nothing to send again");
            } else {
                println!(
                    "{} message(s) queued again; `studiovault status` shows the outbox",
                    retried.queued
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MailCommand::Test { address } => {
            let mailer = Mailer::new(&config.mail)?;
            let sent_at = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let origin = config.public_url();
            let id = hex::encode(rand::random::<[u8; 16]>());
            mailer
                .send(
                    &id,
                    &address,
                    "test",
                    &[
                        ("origin", origin.as_str()),
                        ("sent_at", sent_at.as_str()),
                        ("relay", mailer.relay()),
                    ],
                )
                .await?;
            println!("test message sent to {address} through {}", mailer.relay());
            Ok(ExitCode::SUCCESS)
        }
    }
}
