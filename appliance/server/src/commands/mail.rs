//! `studiovault mail test ADDRESS`: the relay in `[mail]` checked end to end.

use std::process::ExitCode;

use studiovault_mail::Mailer;

use crate::cli::MailCommand;
use crate::config::Config;

pub async fn mail(config: &Config, cmd: MailCommand) -> anyhow::Result<ExitCode> {
    match cmd {
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
