//! `studiovault tls …`: the certificate's status, and a renewal now.

use std::process::ExitCode;

use studiovault_api::admin::{CertificateView, TlsStatus};
use studiovault_api::client::AdminClient;

use super::print_json;
use crate::cli::TlsCommand;
use crate::human::when;

fn print_certificate(c: &CertificateView) {
    println!("  subject     {}", c.subject);
    println!("  issuer      {}", c.issuer);
    println!("  names       {}", c.names.join(", "));
    println!(
        "  valid       {} to {}",
        when(c.not_before),
        when(c.not_after)
    );
    println!("  serial      {}", c.serial);
    println!("  sha256      {}", c.sha256);
}

pub async fn tls(client: &AdminClient, cmd: TlsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TlsCommand::Status(out) => {
            let s: TlsStatus = client.get("/v1/tls").await?;
            if out.json {
                print_json(&s)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!("TLS mode {}, HTTPS on {}", s.mode, s.https_listen);
            match &s.certificate {
                Some(c) => print_certificate(c),
                None => println!("  no certificate yet"),
            }
            if let Some(at) = s.next_attempt {
                println!("  next try    {}", when(at));
            }
            if let Some(e) = &s.last_error {
                println!("  last error  {e} ({} failure(s) in a row)", s.failures);
            }
            if let Some(at) = s.ca_wait_until {
                println!("  CA wait     the CA asked for quiet until {}", when(at));
            }
            if let Some(root) = &s.root_certificate {
                println!("  local CA root certificate: {}", root.path);
                println!("  its SHA-256 fingerprint:   {}", root.sha256);
                println!("  install it as a trusted root on the studio's machines once.");
            }
            Ok(if s.last_error.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        TlsCommand::Renew(out) => {
            let c: CertificateView = client.post("/v1/tls/renew", &serde_json::json!({})).await?;
            if out.json {
                print_json(&c)?;
            } else {
                println!("new certificate installed for new connections:");
                print_certificate(&c);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
