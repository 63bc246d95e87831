//! The answer to a leak trace (`TraceView`), the same for the owners' API and the admin socket
//! but for the owner's e-mail, which only the admin sees.

use studiovault_api::public::{
    RecipientEventView, RecipientView, Suspect, TraceView, TracedCopy, TracedShare,
};
use studiovault_vault::{RecipientRecord, ShareRecord, TraceOutcome, TraceReport, Vault};

/// A recipient as the owner sees them, with the link that reaches their portal.
pub fn recipient_view(rec: &RecipientRecord, link_token: &str) -> RecipientView {
    RecipientView {
        id: rec.id.to_string(),
        name: rec.name.clone(),
        email: rec.email.clone(),
        link: format!("/s/{link_token}"),
        revoked_at: rec.revoked_at_ms,
        plays: rec.plays,
        downloads: rec.downloads,
        events: rec
            .events
            .iter()
            .map(|e| RecipientEventView {
                at: e.at_ms,
                kind: serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                track: e.track.map(|t| t.to_string()),
            })
            .collect(),
    }
}

fn traced_share(share: &ShareRecord) -> TracedShare {
    TracedShare {
        id: share.id.to_string(),
        title: share.title.clone(),
        created_at: share.created_at_ms,
    }
}

/// The answer to a trace; `owner_email` only for the admin.
pub fn trace_view(
    vault: &Vault,
    payload: Option<u64>,
    outcome: &TraceOutcome,
    threshold: Option<f64>,
    for_admin: bool,
) -> TraceView {
    let link = |r: &TraceReport| {
        let mut view = recipient_view(&r.recipient, &vault.link_token(r.recipient.id));
        // The admin investigates: a working link would let them play as the recipient, with
        // their plays logged against the person under investigation.
        if for_admin {
            view.link.clear();
        }
        view
    };
    let decoded = outcome.decoded.as_ref();
    TraceView {
        found: decoded.is_some() || !outcome.suspects.is_empty(),
        // An owner reads the payload of their own recipients' copies only: another owner's
        // told them that this appliance marked the file.
        payload: payload
            .filter(|_| for_admin || decoded.is_some())
            .map(|p| format!("{p:016x}")),
        owner_email: decoded
            .or(outcome.suspects.first().map(|(r, _)| r))
            .filter(|_| for_admin)
            .map(|r| r.owner_email.clone()),
        share: decoded.map(|r| traced_share(&r.share)),
        recipient: decoded.map(link),
        copies: decoded
            .map(|r| {
                r.copies
                    .iter()
                    .map(|(track, name, at)| TracedCopy {
                        track: track.to_string(),
                        name: name.clone(),
                        issued_at: *at,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        suspects: outcome
            .suspects
            .iter()
            .map(|(r, score)| Suspect {
                share: traced_share(&r.share),
                recipient: link(r),
                score: *score,
            })
            .collect(),
        threshold,
    }
}
