use super::*;
use crate::jobs::JobKind;
use crate::library::Placement;
use crate::records::ReviewMail;
use crate::shares::{MediaKind, NewRecipient, NewShare, RecipientGrant};
use crate::testutil::TestVault;
use crate::{ClientInfo, OwnerScope, TrackId, TrackRecord, VaultError};

fn version_of(t: &TestVault, scope: &OwnerScope, parent: TrackId, bytes: &[u8]) -> TrackRecord {
    version_of_result(t, scope, parent, bytes).unwrap()
}

fn share(t: &TestVault, scope: &OwnerScope, track: TrackId, follow: bool) -> RecipientGrant {
    let detail = t
        .vault
        .shares(scope)
        .create(
            NewShare {
                title: "Mixes".into(),
                tracks: vec![track],
                recipients: vec![NewRecipient {
                    name: "Ana".into(),
                    email: None,
                }],
                follow_latest: follow,
                ..NewShare::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    t.vault.open_link(&detail.recipients[0].1).unwrap()
}

#[test]
fn a_share_that_follows_versions_reaches_every_version_and_a_pinned_one_only_its_own() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let first = t.upload(&scope, b"mix one");
    let second = version_of(&t, &scope, first.id, b"mix two");
    // A version of the second is the third of the same family.
    let third = version_of(&t, &scope, second.id, b"mix three");
    assert_eq!(
        third.version.map(|v| (v.family, v.number)),
        Some((first.id, 3))
    );
    let versions = t.vault.library(&scope).versions(second.id).unwrap();
    let numbers: Vec<u32> = versions.iter().map(|v| v.version.unwrap().number).collect();
    assert_eq!(numbers, [1, 2, 3]);

    let following = share(&t, &scope, first.id, true);
    let view = following.view(&t.vault).unwrap();
    assert_eq!(view.tracks[0].id, third.id, "the newest plays first");
    assert_eq!(view.versions[0].len(), 3);
    for v in [first.id, second.id, third.id] {
        following
            .media_url(&t.vault, v, MediaKind::Play, &ClientInfo::default())
            .unwrap();
    }
    let pinned = share(&t, &scope, first.id, false);
    assert_eq!(pinned.view(&t.vault).unwrap().versions[0].len(), 1);
    assert!(matches!(
        pinned.media_url(&t.vault, third.id, MediaKind::Play, &ClientInfo::default()),
        Err(VaultError::NotFound)
    ));
    // A parent that is not in the library is refused.
    assert!(matches!(
        version_of_result(&t, &scope, TrackId::random(), b"x"),
        Err(VaultError::Invalid { .. })
    ));
}

#[test]
fn a_share_that_follows_versions_keeps_the_piece_when_the_version_it_names_is_deleted() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let first = t.upload(&scope, b"mix one");
    let second = version_of(&t, &scope, first.id, b"mix two");
    // Shared when the second mix was the newest (the share picker offers the newest alone).
    let following = share(&t, &scope, second.id, true);
    let pinned = share(&t, &scope, second.id, false);
    let third = version_of(&t, &scope, second.id, b"mix three");
    t.vault
        .library(&scope)
        .delete(second.id, &ClientInfo::default())
        .unwrap();

    let view = following.view(&t.vault).unwrap();
    let offered: Vec<TrackId> = view.versions[0].iter().map(|v| v.id).collect();
    assert_eq!(offered, [first.id, third.id]);
    assert_eq!(view.tracks[0].id, third.id, "the newest plays first");
    for v in [first.id, third.id] {
        following
            .media_url(&t.vault, v, MediaKind::Play, &ClientInfo::default())
            .unwrap();
    }
    // A share pinned to the deleted version offers nothing more.
    assert!(pinned.view(&t.vault).unwrap().tracks.is_empty());
    assert!(matches!(
        pinned.media_url(&t.vault, third.id, MediaKind::Play, &ClientInfo::default()),
        Err(VaultError::NotFound)
    ));
}

fn version_of_result(
    t: &TestVault,
    scope: &OwnerScope,
    parent: TrackId,
    bytes: &[u8],
) -> Result<TrackRecord> {
    let lib = t.vault.library(scope);
    let mut w = lib.begin_upload().unwrap();
    w.write(bytes).unwrap();
    lib.commit_upload(
        w.finish().unwrap(),
        Default::default(),
        Placement {
            version_of: Some(parent),
            folder: None,
        },
        &ClientInfo::default(),
    )
}

#[test]
fn deleting_a_track_drops_its_comments_and_what_was_heard_of_it() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let track = t.upload(&scope, b"a take");
    let grant = share(&t, &scope, track.id, true);
    grant
        .media_url(&t.vault, track.id, MediaKind::Play, &ClientInfo::default())
        .unwrap();
    grant
        .report_listening(&t.vault, track.id, 0.0, 0.5, false)
        .unwrap();
    grant
        .add_comment(
            &t.vault,
            track.id,
            NewCommentInput {
                text: "nice".into(),
                at_secs: Some(0.1),
                ..Default::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    let export = t.vault.review_export(scope.owner()).unwrap();
    assert_eq!((export.comments.len(), export.listening.len()), (1, 1));
    t.vault
        .library(&scope)
        .delete(track.id, &ClientInfo::default())
        .unwrap();
    let export = t.vault.review_export(scope.owner()).unwrap();
    assert!(export.comments.is_empty() && export.listening.is_empty());
}

/// A recipient's comment at 0:00 on `track`.
fn comment(t: &TestVault, grant: &RecipientGrant, track: TrackId, text: &str) {
    grant
        .add_comment(
            &t.vault,
            track,
            NewCommentInput {
                text: text.into(),
                at_secs: Some(0.0),
                ..Default::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
}

#[test]
fn a_digest_gathers_a_day_of_notifications_into_one_mail() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    t.vault
        .notifications(&scope)
        .set_mail(ReviewMail::Digest, &ClientInfo::default())
        .unwrap();
    let track = t.upload(&scope, b"a take");
    let grant = share(&t, &scope, track.id, true);
    grant.open(&t.vault, &ClientInfo::default()).unwrap();
    for text in ["first", "second"] {
        comment(&t, &grant, track.id, text);
    }
    let mails = || t.vault.jobs_of(JobKind::Mail).unwrap().len();
    assert_eq!(mails(), 0, "a digest owner gets no mail per event");
    assert_eq!(t.vault.send_review_digests().unwrap(), 1);
    assert_eq!(mails(), 1);
    let digest = t
        .vault
        .messages_about(&format!("review-digest/{}", scope.owner()))
        .unwrap();
    let items = &digest[0]
        .values
        .iter()
        .find(|(k, _)| k == "items")
        .unwrap()
        .1;
    assert!(
        items.contains("Ana opened Mixes") && items.contains("\"second\""),
        "{items}"
    );
    // Nothing new, or less than a day since: no second digest.
    assert_eq!(t.vault.send_review_digests().unwrap(), 0);
    comment(&t, &grant, track.id, "third");
    assert_eq!(t.vault.send_review_digests().unwrap(), 0);
    t.advance_secs(24 * 3600);
    assert_eq!(t.vault.send_review_digests().unwrap(), 1);
    let (all, mail) = t.vault.notifications(&scope).list().unwrap();
    assert_eq!(mail, ReviewMail::Digest);
    assert!(all.iter().all(|n| n.mailed));
}

#[test]
fn mail_at_once_is_a_few_an_hour_and_what_comes_past_that_is_told_together() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let track = t.upload(&scope, b"a take");
    let grant = share(&t, &scope, track.id, true);
    let comment = |text: &str| comment(&t, &grant, track.id, text);
    // The messages queued from each template.
    let mails = |template: &str| {
        let txn = redb::ReadableDatabase::begin_read(t.vault.db()).unwrap();
        let table = txn.open_table(crate::store::OUTBOX).unwrap();
        table
            .iter()
            .unwrap()
            .filter(|row| {
                let raw = row.as_ref().unwrap().1.value().to_vec();
                let m: crate::outbox::MessageRecord = crate::store::decode("outbox", &raw).unwrap();
                m.template == template
            })
            .count()
    };
    // A recipient posts 200 comments in a row: the owner hears of the first few at once.
    for i in 0..200 {
        comment(&format!("comment {i}"));
    }
    assert_eq!(mails("review-activity"), 6);
    assert_eq!(mails("review-burst"), 0);
    let (all, _) = t.vault.notifications(&scope).list().unwrap();
    assert_eq!(all.iter().filter(|n| !n.mailed).count(), 194);
    // Within the hour nothing more goes; after it, one mail tells the rest.
    assert_eq!(t.vault.send_review_digests().unwrap(), 0);
    t.advance_secs(3600);
    assert_eq!(t.vault.send_review_digests().unwrap(), 1);
    assert_eq!(mails("review-burst"), 1);
    let burst = t
        .vault
        .messages_about(&format!("review-digest/{}", scope.owner()))
        .unwrap();
    let count = &burst[0]
        .values
        .iter()
        .find(|(k, _)| k == "count")
        .unwrap()
        .1;
    assert_eq!(count, "194");
    let (all, _) = t.vault.notifications(&scope).list().unwrap();
    assert!(all.iter().all(|n| n.mailed));
    // The next comment, with the hour's allowance back, is mailed at once again.
    comment("one more");
    assert_eq!(mails("review-activity"), 7);
}

#[test]
fn an_upload_link_counts_its_files_in_the_commit_and_refuses_past_its_caps() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let (link, token) = t
        .vault
        .upload_links(&scope)
        .create(
            NewUploadLink {
                name: "Cleo".into(),
                max_files: Some(1),
                max_bytes: Some(1000),
                ..Default::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    let grant = t.vault.open_upload_link(&token).unwrap();
    let send = |bytes: &[u8]| {
        let mut w = grant.begin_upload(&t.vault).unwrap();
        w.write(bytes).unwrap();
        grant.commit_upload(
            &t.vault,
            w.finish().unwrap(),
            Default::default(),
            &ClientInfo::default(),
        )
    };
    let (track, after) = send(b"stem one").unwrap();
    assert_eq!(track.folder.as_deref(), Some("From Cleo"));
    assert_eq!(
        (after.files_received, after.status(t.vault.now_ms())),
        (1, "full")
    );
    assert!(matches!(
        send(b"stem two"),
        Err(VaultError::LimitReached(_))
    ));
    // A forged or revoked link opens nothing.
    assert!(t.vault.open_upload_link("AAAA").is_err());
    t.vault
        .upload_links(&scope)
        .revoke(link.id, &ClientInfo::default())
        .unwrap();
    assert!(matches!(
        t.vault.open_upload_link(&token),
        Err(VaultError::NotFound)
    ));
}

/// Ana's link to a share of `tracks` (following their versions) with a limit on plays.
fn ana_with_play_limit(
    t: &TestVault,
    scope: &OwnerScope,
    tracks: Vec<TrackId>,
    plays: u32,
) -> RecipientGrant {
    let detail = t
        .vault
        .shares(scope)
        .create(
            NewShare {
                title: "Mixes".into(),
                tracks,
                recipients: vec![NewRecipient {
                    name: "Ana".into(),
                    email: None,
                }],
                follow_latest: true,
                play_limit: Some(plays),
                ..NewShare::default()
            },
            &ClientInfo::default(),
        )
        .unwrap();
    t.vault.open_link(&detail.recipients[0].1).unwrap()
}

#[test]
fn switching_versions_continues_a_play_and_replaying_spends_one() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let first = t.upload(&scope, b"mix one");
    let second = version_of(&t, &scope, first.id, b"mix two");
    let other = t.upload(&scope, b"another song");
    let grant = ana_with_play_limit(&t, &scope, vec![first.id, other.id], 2);
    let play = |track| grant.media_url(&t.vault, track, MediaKind::Play, &ClientInfo::default());
    play(second.id).unwrap();
    // A/B: back and forth between the versions spends nothing more.
    for v in [first.id, second.id, first.id] {
        play(v).unwrap();
    }
    assert_eq!(grant.view(&t.vault).unwrap().recipient.plays, 1);
    // Another song is a new play, and then the limit is reached.
    play(other.id).unwrap();
    assert!(matches!(play(other.id), Err(VaultError::LimitReached(_))));
    // Past a play URL's life, a switch is a new play too.
    t.advance_secs(crate::shares::PLAY_URL_SECS + 1);
    assert!(matches!(play(first.id), Err(VaultError::LimitReached(_))));
}

/// A recipient who paused for longer than a play URL lives gets a fresh URL for the play in
/// progress without spending another, for two hours from the play that counted; a replay asked
/// as a resume after that, or of another piece, is a new play.
#[test]
fn a_long_pause_resumes_the_play_without_spending_another() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let first = t.upload(&scope, b"mix one");
    let other = t.upload(&scope, b"another song");
    let grant = ana_with_play_limit(&t, &scope, vec![first.id, other.id], 2);
    let client = ClientInfo::default();
    let plays = || grant.view(&t.vault).unwrap().recipient.plays;
    grant
        .media_url(&t.vault, first.id, MediaKind::Play, &client)
        .unwrap();
    t.advance_secs(40 * 60);
    grant.resumed_play_url(&t.vault, first.id, &client).unwrap();
    t.advance_secs(40 * 60);
    grant.resumed_play_url(&t.vault, first.id, &client).unwrap();
    assert_eq!(plays(), 1, "a play resumed twice is still one");
    // Asked as a resume, another piece is a new play.
    grant.resumed_play_url(&t.vault, other.id, &client).unwrap();
    assert_eq!(plays(), 2);
    // Two hours after that play counted, a resume is a new play: the limit is reached.
    t.advance_secs(crate::shares::PLAY_RESUME_SECS);
    assert!(matches!(
        grant.resumed_play_url(&t.vault, other.id, &client),
        Err(VaultError::LimitReached(_))
    ));
}

/// Each switch used to restart the comparison window, so switching every few minutes kept one
/// play going for ever.
#[test]
fn switching_back_and_forth_does_not_stretch_a_play_past_its_window() {
    let t = TestVault::new();
    let (_, scope) = t.user("mixer@studio.test");
    let first = t.upload(&scope, b"mix one");
    let second = version_of(&t, &scope, first.id, b"mix two");
    let grant = ana_with_play_limit(&t, &scope, vec![first.id], 1);
    let play = |track| grant.media_url(&t.vault, track, MediaKind::Play, &ClientInfo::default());
    play(first.id).unwrap();
    let step = crate::shares::PLAY_URL_SECS / 3;
    t.advance_secs(step);
    play(second.id).unwrap();
    t.advance_secs(step);
    play(first.id).unwrap();
    t.advance_secs(step);
    assert!(
        matches!(play(second.id), Err(VaultError::LimitReached(_))),
        "a play URL's life after the counted play, a switch is a new play"
    );
    assert_eq!(grant.view(&t.vault).unwrap().recipient.plays, 1);
}
