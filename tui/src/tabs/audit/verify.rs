//! Verification of the hash chain: the box while the server checks, its report, the first
//! broken record if there is one, and the word the status line keeps about the last check.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use studiovault_api::admin::{AuditEntry, AuditProblemKind, AuditVerifyReport};

use super::Pending;
use super::accounts::Accounts;
use super::record;
use crate::format;
use crate::request::{ApiCall, Ctx, InFlight};
use crate::theme::Theme;
use crate::widgets::{Dialog, Hint};

const DONE_KEYS: [Hint; 2] = [("Esc", "close"), ("v", "verify again")];

#[derive(Debug, Clone, PartialEq)]
pub enum BrokenRecord {
    Loading,
    // Boxed: a record is large, and the other states carry nothing.
    Found(Box<AuditEntry>),
    /// The record is gone (a missing or truncated chain).
    Absent,
}

#[derive(Debug)]
pub enum Verification {
    /// The server is checking; closing the box does not stop it.
    Running,
    Done {
        report: AuditVerifyReport,
        /// The first broken record, when the chain is broken.
        broken: Option<BrokenRecord>,
    },
}

impl Verification {
    /// The server's report. A broken chain's first broken record is asked for, to show it.
    pub fn done(report: AuditVerifyReport, requests: &mut InFlight<Pending>, ctx: &mut Ctx) -> Self {
        let broken = report.first_problem.as_ref().map(|problem| {
            let seq = problem.seq;
            let path = format!("/v1/audit?before={}&limit=1", seq + 1);
            requests.send(ctx, ApiCall::get(path), Pending::Broken(seq));
            BrokenRecord::Loading
        });
        Self::Done { report, broken }
    }

    /// What the server sent for record `seq`: the record itself, unless it is gone.
    pub fn show_broken(&mut self, seq: u64, found: Vec<AuditEntry>) {
        if let Self::Done { broken, .. } = self {
            *broken = Some(match found.into_iter().next() {
                Some(e) if e.seq == seq => BrokenRecord::Found(Box::new(e)),
                _ => BrokenRecord::Absent,
            });
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        match self {
            Self::Running => vec![("Esc", "close (the check goes on)")],
            Self::Done { .. } => DONE_KEYS.to_vec(),
        }
    }

    pub fn draw(&self, accounts: &Accounts, frame: &mut Frame, area: Rect, theme: Theme) {
        let dialog = match self {
            Self::Running => Dialog::new("Verifying the audit chain", 60)
                .text(
                    "The server is re-hashing every record and checking the signed checkpoints. A long log takes a while; the console stays usable.",
                    theme.text(),
                )
                .keys(vec![("Esc", "close")]),
            Self::Done { report, broken } => report_dialog(report, broken.as_ref(), accounts, theme),
        };
        dialog.draw(frame, area, theme);
    }
}

fn report_dialog(
    report: &AuditVerifyReport,
    broken: Option<&BrokenRecord>,
    accounts: &Accounts,
    theme: Theme,
) -> Dialog {
    let checkpoints = match report.last_checkpoint_seq {
        Some(seq) => format!(
            "{} (the newest covers record #{seq})",
            format::count(report.checkpoints)
        ),
        None => format::count(report.checkpoints),
    };
    let Some(problem) = &report.first_problem else {
        return Dialog::new("Audit chain verified", 72)
            .text("✓ The chain is intact: every record hashes to its stored hash, links to the one before, and the signed checkpoints verify.", theme.ok())
            .blank()
            .field("Records", format::count(report.records), theme.text())
            .field("Checkpoints", checkpoints, theme.text())
            .field("Signing key", report.public_key.clone(), theme.dim())
            .keys(DONE_KEYS.to_vec());
    };
    let mut dialog = Dialog::new("Audit chain BROKEN", 76)
        .text(format!("✗ The chain is broken at record #{}.", problem.seq), theme.error())
        .blank()
        .field("Problem", format!("{}: {}", kind_text(problem.kind), problem.message), theme.text())
        .field("Records", format::count(report.records), theme.text())
        .field("Checkpoints", checkpoints, theme.text())
        .blank();
    dialog = match broken {
        Some(BrokenRecord::Found(e)) => {
            let record = record::fields(String::new(), e, accounts, theme);
            dialog
                .text(format!("First broken record, #{}:", e.seq), theme.title())
                .append(record)
        }
        // A record too damaged to parse is skipped by the log's listing: it is there.
        Some(BrokenRecord::Absent) if problem.kind == AuditProblemKind::Unreadable => dialog.text(
            format!("Record #{} is there, but too damaged to be read.", problem.seq),
            theme.warn(),
        ),
        Some(BrokenRecord::Absent) => dialog.text(
            format!("Record #{} cannot be read back: it is gone.", problem.seq),
            theme.warn(),
        ),
        Some(BrokenRecord::Loading) | None => {
            dialog.text(format!("Loading record #{} …", problem.seq), theme.dim())
        }
    };
    dialog.keys(DONE_KEYS.to_vec())
}

fn kind_text(kind: AuditProblemKind) -> &'static str {
    match kind {
        AuditProblemKind::Altered => "altered",
        AuditProblemKind::BrokenLink => "broken link",
        AuditProblemKind::Missing => "missing record",
        AuditProblemKind::Truncated => "truncated",
        AuditProblemKind::BadCheckpoint => "bad checkpoint",
        AuditProblemKind::Unreadable => "unreadable",
    }
}

/// What the last verification found, for the status line.
#[derive(Debug, Clone, Copy)]
pub struct LastVerify {
    at_ms: i64,
    broken_at: Option<u64>,
}

impl LastVerify {
    pub fn new(report: &AuditVerifyReport, at_ms: i64) -> Self {
        Self {
            at_ms,
            broken_at: report.first_problem.as_ref().map(|p| p.seq),
        }
    }

    pub fn span(&self, theme: Theme) -> Span<'static> {
        match self.broken_at {
            None => Span::styled(
                format!("chain OK at {} UTC", format::clock(self.at_ms)),
                theme.ok(),
            ),
            Some(seq) => Span::styled(format!("chain BROKEN at #{seq}"), theme.error()),
        }
    }
}
