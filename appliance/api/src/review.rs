//! Review with clients: timestamped comments, versions of a track, upload links, who listened
//! to what, and the owner's notifications. Owners reach these under `/api`, recipients through
//! their share link under `/s/{link}`, clients with an upload link under `/u/{link}`.

use serde::{Deserialize, Serialize};

/// Who wrote a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentAuthor {
    /// `owner` or `recipient`.
    pub kind: String,
    /// The owner's display name (or e-mail), or the recipient's name as the owner gave it.
    pub name: String,
}

/// A comment pinned to a moment (or a span) of one version of a track.
///
/// Owners: `GET /api/tracks/{id}/comments` (every thread), `POST` the same path
/// ([`NewComment`]), `POST /api/comments/{id}` ([`CommentChange`]), `DELETE /api/comments/{id}`.
/// Recipients: `GET /s/{link}/comments/{track}` (their share's thread, and the comments the
/// owner made shared), `POST` the same path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentView {
    pub id: String,
    /// The version it is on.
    pub track: String,
    /// The share whose thread it is in; none for the owner's own notes.
    pub share: Option<String>,
    /// The recipient whose thread it is; none for the owner's notes and comments the owner
    /// posted to every recipient of a share.
    pub recipient: Option<String>,
    pub author: CommentAuthor,
    pub at_secs: f64,
    /// The end of a span, if the comment is on one.
    pub end_secs: Option<f64>,
    pub text: String,
    /// The comment this one replies to (replies are one level deep).
    pub parent: Option<String>,
    pub resolved: bool,
    /// Whether every recipient of the share sees the thread.
    pub shared: bool,
    pub created_at: i64,
}

/// `POST /api/tracks/{id}/comments` and `POST /s/{link}/comments/{track}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub text: String,
    /// Seconds from the start; a reply takes its parent's time when absent.
    #[serde(default)]
    pub at_secs: Option<f64>,
    #[serde(default)]
    pub end_secs: Option<f64>,
    /// A comment id: this is a reply in that comment's thread.
    #[serde(default)]
    pub parent: Option<String>,
    /// Owners only: a share of this track, to post to all of its recipients (a new thread,
    /// shared).
    #[serde(default)]
    pub share: Option<String>,
}

/// `POST /api/comments/{id}`: the owner resolves or reopens a thread, or makes it shared with
/// every recipient of its share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentChange {
    #[serde(default)]
    pub resolved: Option<bool>,
    #[serde(default)]
    pub shared: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentList {
    pub comments: Vec<CommentView>,
}

/// One version of a track, as `GET /api/tracks/{id}/versions` lists them (oldest first) and
/// the portal's state carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub id: String,
    /// 1, 2, 3…
    pub number: u32,
    /// "Mix 3", or the track's name when it is the only version.
    pub label: String,
    pub name: String,
    pub duration_secs: Option<f64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionList {
    pub versions: Vec<VersionView>,
}

/// What a recipient heard of one track (`GET /api/shares/{id}/listening`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackListening {
    pub track: String,
    pub name: String,
    pub duration_secs: Option<f64>,
    /// Seconds heard in each of [`HEAT_BUCKETS`] equal parts of the track, from the start.
    pub heat: Vec<f32>,
    /// Seconds of the track played, counted once per part heard again.
    pub listened_secs: f64,
    /// Listening sessions: plays with no gap of more than half an hour, as the server saw the
    /// audio requested.
    pub sessions: u32,
    /// The share of the track heard at least once, 0 to 1.
    pub coverage: f32,
    pub played_to_end: bool,
    pub last_listen: Option<i64>,
}

/// How many parts a track's heat map has.
pub const HEAT_BUCKETS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientListening {
    pub recipient: String,
    pub name: String,
    pub listened_secs: f64,
    pub last_listen: Option<i64>,
    pub tracks: Vec<TrackListening>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareListening {
    pub share: String,
    pub recipients: Vec<RecipientListening>,
}

/// `POST /s/{link}/listen/{track}`: the portal's player reports a span it played.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenReport {
    pub from_secs: f64,
    pub to_secs: f64,
    /// The track played through to its end.
    #[serde(default)]
    pub ended: bool,
}

/// An upload link, as its owner sees it (`GET /api/upload-links`, `POST /api/upload-links`,
/// `DELETE /api/upload-links/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadLinkView {
    pub id: String,
    /// Who it is for, or what it is for.
    pub name: String,
    /// The folder of the library its files arrive in.
    pub folder: String,
    /// A path on this appliance (`/u/…`).
    pub link: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `active`, `expired`, `full` or `revoked`.
    pub status: String,
    pub password: bool,
    pub max_files: u32,
    pub max_bytes: u64,
    pub files_received: u32,
    pub bytes_received: u64,
    /// The tracks received, newest last.
    pub tracks: Vec<String>,
}

/// `POST /api/upload-links`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadLink {
    pub name: String,
    /// Defaults to "From {name}".
    #[serde(default)]
    pub folder: Option<String>,
    /// Unix ms; 7 days when absent, at most the share policy's longest expiry.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Files the link takes in all (default 20, at most 500).
    #[serde(default)]
    pub max_files: Option<u32>,
    /// Bytes the link takes in all (default 5 GiB); the owner's quota applies as well.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadLinkList {
    pub links: Vec<UploadLinkView>,
}

/// What `POST /u/{link}/files` answers for each file received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedFile {
    pub name: String,
    pub size_bytes: u64,
    pub files_left: u32,
    pub bytes_left: u64,
}

/// One notification of the owner (`GET /api/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: String,
    pub at: i64,
    /// `opened` (a recipient's first visit), `played_to_end`, `downloaded`, `commented`,
    /// `uploaded` (files arrived through an upload link).
    pub kind: String,
    /// One line for people, e.g. "Ana Label played Mix 2 to the end".
    pub summary: String,
    pub share: Option<String>,
    pub track: Option<String>,
    pub comment: Option<String>,
    pub read: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationList {
    pub unread: u32,
    pub notifications: Vec<NotificationView>,
    /// `immediate`, `digest` or `off`: how the owner is told by e-mail.
    pub mail: String,
}

/// `POST /api/notifications/read`: marks these (or, when absent, all) as read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

/// `PUT /api/notifications/mail`: `immediate`, `digest` (one mail a day) or `off`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationMail {
    pub mail: String,
}
