//! Review with clients as both surfaces show it: the owners' API and the share portal turn the
//! store's comments, versions and listening records into the same wire types here, and read a
//! new comment the same way.

use studiovault_api::review::{
    CommentAuthor, CommentView, NewComment, NotificationView, TrackListening, VersionView,
};
use studiovault_vault::review::{
    CommentAuthorKind, CommentRecord, ListeningRecord, NewCommentInput, NotificationRecord,
};
use studiovault_vault::{CommentId, ShareId, TrackRecord};

use crate::web::ApiError;

pub fn comment_view(c: &CommentRecord) -> CommentView {
    CommentView {
        id: c.id.to_string(),
        track: c.track.to_string(),
        share: c.share.map(|s| s.to_string()),
        recipient: c.recipient.map(|r| r.to_string()),
        author: CommentAuthor {
            kind: match c.author {
                CommentAuthorKind::Owner => "owner",
                CommentAuthorKind::Recipient(_) => "recipient",
            }
            .into(),
            name: c.author_name.clone(),
        },
        at_secs: c.at_secs,
        end_secs: c.end_secs,
        text: c.text.clone(),
        parent: c.parent.map(|p| p.to_string()),
        resolved: c.resolved_at_ms.is_some(),
        shared: c.shared,
        created_at: c.created_at_ms,
    }
}

/// Versions oldest first, labelled "Mix N" when there is more than one.
pub fn version_views(versions: &[TrackRecord]) -> Vec<VersionView> {
    versions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let number = t.version.map_or(i as u32 + 1, |v| v.number);
            VersionView {
                id: t.id.to_string(),
                number,
                label: if versions.len() > 1 {
                    format!("Mix {number}")
                } else {
                    t.info.name.clone()
                },
                name: t.info.name.clone(),
                duration_secs: t.info.duration_secs,
                created_at: t.created_at_ms,
            }
        })
        .collect()
}

pub fn track_listening(rec: &ListeningRecord, name: String) -> TrackListening {
    TrackListening {
        track: rec.track.to_string(),
        name,
        duration_secs: rec.duration_secs,
        heat: rec.heat.clone(),
        listened_secs: rec.listened_secs,
        sessions: rec.sessions,
        coverage: rec.coverage(),
        played_to_end: rec.played_to_end,
        last_listen: rec.last_listen_ms,
    }
}

pub fn notification_view(n: &NotificationRecord) -> NotificationView {
    NotificationView {
        id: n.id.to_string(),
        at: n.at_ms,
        kind: n.kind.as_str().into(),
        summary: n.summary.clone(),
        share: n.share.map(|s| s.to_string()),
        track: n.track.map(|t| t.to_string()),
        comment: n.comment.map(|c| c.to_string()),
        read: n.read,
    }
}

/// A comment's input as the store takes it; ids in it are checked here.
pub fn comment_input(req: NewComment) -> Result<NewCommentInput, ApiError> {
    let parent = match req.parent.as_deref() {
        Some(p) => Some(
            CommentId::parse(p).ok_or_else(|| ApiError::bad_request("parent: not a comment id"))?,
        ),
        None => None,
    };
    let share = match req.share.as_deref() {
        Some(s) => {
            Some(ShareId::parse(s).ok_or_else(|| ApiError::bad_request("share: not a share id"))?)
        }
        None => None,
    };
    Ok(NewCommentInput {
        text: req.text,
        at_secs: req.at_secs,
        end_secs: req.end_secs,
        parent,
        share,
    })
}
