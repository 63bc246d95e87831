//! `GET /v1/shares`: every owner's shares with their recipients and what each did, for the
//! console's Shares tab.

use studiovault_api::admin::{AdminRecipient, AdminShare, AdminShares, OwnerShares};
use studiovault_vault::review::OwnerOverview;
use warp::Filter;

use super::json;
use crate::listener::Routes;
use crate::web::{AppState, blocking, respond, with_state};

fn status(revoked: bool, expires_at_ms: i64, now: i64) -> &'static str {
    if revoked {
        "revoked"
    } else if expires_at_ms <= now {
        "expired"
    } else {
        "active"
    }
}

fn overview(owners: Vec<OwnerOverview>, now: i64) -> AdminShares {
    AdminShares {
        owners: owners
            .into_iter()
            .map(|o| OwnerShares {
                owner: o.owner.to_string(),
                email: o.email,
                shares: o
                    .shares
                    .into_iter()
                    .map(|s| AdminShare {
                        id: s.share.id.to_string(),
                        title: s.share.title.clone(),
                        created_at: s.share.created_at_ms,
                        expires_at: s.share.expires_at_ms,
                        status: status(s.share.revoked_at_ms.is_some(), s.share.expires_at_ms, now)
                            .into(),
                        watermark: s.share.watermark,
                        follow_latest: s.share.follow_latest,
                        allow_download: s.share.allow_download,
                        tracks: s.share.tracks.len() as u32,
                        comments: s.comments,
                        recipients: s
                            .recipients
                            .into_iter()
                            .map(|r| AdminRecipient {
                                id: r.recipient.id.to_string(),
                                name: r.recipient.name.clone(),
                                email: r.recipient.email.clone(),
                                revoked: r.recipient.revoked_at_ms.is_some(),
                                payload: format!("{:016x}", r.recipient.payload),
                                plays: r.recipient.plays,
                                downloads: r.recipient.downloads,
                                copies: r.copies,
                                first_opened: r.first_opened_ms,
                                last_activity: r.recipient.events.last().map(|e| e.at_ms),
                                listened_secs: r.listened_secs,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let list = warp::path!("v1" / "shares")
        .and(warp::get())
        .and(with_state(state))
        .then(|state: AppState| async move {
            let result = async {
                let vault = state.vault.clone();
                let owners = blocking(move || vault.shares_overview()).await?;
                Ok(json(&overview(owners, state.vault.now_ms())))
            };
            respond(result.await)
        });
    vec![list.boxed()]
}
