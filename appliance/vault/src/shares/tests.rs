//! Shares at the store: links, grants, and every way to misuse a signed media URL.

use std::io::Read;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::Duration;

use studiovault_api::Plan;

use super::*;
use crate::Clock;
use crate::library::{Library, TrackInfo};
use crate::testutil::TestVault;

const DAY_SECS: i64 = 86_400;

fn upload(lib: &Library<'_>, name: &str, bytes: &[u8]) -> TrackRecord {
    let mut w = lib.begin_upload().unwrap();
    w.write(bytes).unwrap();
    let info = TrackInfo {
        name: name.into(),
        original_filename: format!("{name}.wav"),
        mime_type: "audio/wav".into(),
        ..Default::default()
    };
    lib.commit_upload(
        w.finish().unwrap(),
        info,
        Default::default(),
        &ClientInfo::default(),
    )
    .unwrap()
}

struct Fixture {
    t: TestVault,
    scope: OwnerScope,
    tracks: Vec<TrackRecord>,
}

impl Fixture {
    fn new(plan: Plan) -> Self {
        Self::on(TestVault::new(), plan)
    }

    fn on(t: TestVault, plan: Plan) -> Self {
        let (_, scope) = t.user("owner@studio.test");
        let id = scope.owner();
        t.vault
            .admin()
            .set_plan_and_quota(id, Some(plan), None)
            .unwrap();
        let lib = t.vault.library(&scope);
        let tracks = vec![
            upload(&lib, "one", b"first track bytes"),
            upload(&lib, "two", b"second track bytes"),
        ];
        Self { t, scope, tracks }
    }

    fn share(&self, edit: impl FnOnce(&mut NewShare)) -> ShareDetail {
        let mut new = NewShare {
            title: "Album preview".into(),
            tracks: self.tracks.iter().map(|t| t.id).collect(),
            recipients: ["Ana", "Ben", "Cy"]
                .iter()
                .map(|n| NewRecipient {
                    name: (*n).into(),
                    email: None,
                })
                .collect(),
            allow_download: true,
            ..NewShare::default()
        };
        edit(&mut new);
        self.t
            .vault
            .shares(&self.scope)
            .create(new, &ClientInfo::default())
            .unwrap()
    }

    fn grant(&self, detail: &ShareDetail, i: usize) -> RecipientGrant {
        self.t.vault.open_link(&detail.recipients[i].1).unwrap()
    }

    fn url(&self, grant: &RecipientGrant, track: usize, kind: MediaKind) -> MediaUrl {
        grant
            .media_url(
                &self.t.vault,
                self.tracks[track].id,
                kind,
                &ClientInfo::default(),
            )
            .unwrap()
    }

    fn fetch(&self, url: &MediaUrl, method: &str) -> Result<Vec<u8>> {
        let (_, mut source) = self
            .t
            .vault
            .open_media(url, method, &ClientInfo::default())?;
        let mut out = Vec::new();
        source.reader.read_to_end(&mut out)?;
        Ok(out)
    }

    fn refused(&self, case: &str, url: &MediaUrl) {
        match self.fetch(url, "GET") {
            Err(VaultError::Forbidden(_)) => {}
            other => panic!(
                "{case}: expected Forbidden, got {:?}",
                other.map(|b| b.len())
            ),
        }
    }
}

#[test]
fn creation_checks_every_field() {
    let f = Fixture::new(Plan::Pro);
    let (_, other) = f.t.user("other@studio.test");
    let theirs = upload(&f.t.vault.library(&other), "theirs", b"not yours");
    let now = f.t.vault.now_ms();
    type Edit = Box<dyn Fn(&mut NewShare)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("no tracks", Box::new(|s| s.tracks.clear())),
        (
            "another owner's track",
            Box::new(move |s| s.tracks.push(theirs.id)),
        ),
        ("a track twice", Box::new(|s| s.tracks.push(s.tracks[0]))),
        ("no recipients", Box::new(|s| s.recipients.clear())),
        (
            "a nameless recipient",
            Box::new(|s| s.recipients[0].name = " \n".into()),
        ),
        (
            "a bad e-mail",
            Box::new(|s| s.recipients[0].email = Some("not-mail".into())),
        ),
        (
            "expiry in the past",
            Box::new(move |s| s.expires_at_ms = Some(now - 1)),
        ),
        (
            "expiry beyond the maximum",
            Box::new(move |s| s.expires_at_ms = Some(now + 91 * DAY_SECS * 1000)),
        ),
        ("a zero limit", Box::new(|s| s.play_limit = Some(0))),
        (
            "an empty password",
            Box::new(|s| s.password = Some(String::new())),
        ),
    ];
    for (case, edit) in cases {
        let mut new = NewShare {
            tracks: f.tracks.iter().map(|t| t.id).collect(),
            recipients: vec![NewRecipient {
                name: "Ana".into(),
                email: None,
            }],
            ..NewShare::default()
        };
        edit(&mut new);
        assert!(
            matches!(
                f.t.vault
                    .shares(&f.scope)
                    .create(new, &ClientInfo::default()),
                Err(VaultError::Invalid { .. })
            ),
            "{case}"
        );
    }
    assert!(f.t.vault.shares(&f.scope).list().unwrap().is_empty());
}

#[test]
fn each_recipient_has_an_own_link_payload_and_defaults_apply() {
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|_| {});
    assert!(detail.share.watermark, "max plans watermark by default");
    assert_eq!(
        detail.share.expires_at_ms,
        f.t.vault.now_ms() + 14 * DAY_SECS * 1000
    );
    let tokens: std::collections::HashSet<_> = detail.recipients.iter().map(|r| &r.1).collect();
    let payloads: std::collections::HashSet<_> =
        detail.recipients.iter().map(|r| r.0.payload).collect();
    assert_eq!((tokens.len(), payloads.len()), (3, 3));
    for (i, (rec, token)) in detail.recipients.iter().enumerate() {
        assert_eq!(token.len(), 43);
        assert_eq!(f.grant(&detail, i).recipient(), rec.id);
    }
    let pro = Fixture::new(Plan::Pro);
    assert!(!pro.share(|_| {}).share.watermark, "pro plans do not");
}

#[test]
fn links_fail_alike_when_forged_unknown_revoked_or_expired() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let shares = f.t.vault.shares(&f.scope);
    let token = detail.recipients[0].1.clone();
    let mut forged = token.clone().into_bytes();
    forged[40] = if forged[40] == b'A' { b'B' } else { b'A' };
    let unknown = f.t.vault.link_token(RecipientId::random());
    for bad in [
        String::from_utf8(forged).unwrap(),
        token[..42].to_string(),
        String::new(),
        "../../etc/passwd".into(),
        unknown,
    ] {
        assert!(
            matches!(f.t.vault.open_link(&bad), Err(VaultError::NotFound)),
            "{bad}"
        );
    }
    shares
        .revoke_recipient(
            detail.share.id,
            detail.recipients[0].0.id,
            &ClientInfo::default(),
        )
        .unwrap();
    assert!(matches!(
        f.t.vault.open_link(&token),
        Err(VaultError::NotFound)
    ));
    assert!(
        f.t.vault.open_link(&detail.recipients[1].1).is_ok(),
        "others keep access"
    );
    f.t.advance_secs(15 * DAY_SECS);
    assert!(matches!(
        f.t.vault.open_link(&detail.recipients[1].1),
        Err(VaultError::NotFound)
    ));
}

#[test]
fn passwords_unlock_only_their_recipient() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|s| s.password = Some("s3cret".into()));
    let ana = f.grant(&detail, 0);
    let ben = f.grant(&detail, 1);
    assert!(!ana.is_unlocked(&f.t.vault, None).unwrap());
    assert!(matches!(
        ana.unlock(&f.t.vault, "wrong", &ClientInfo::default()),
        Err(VaultError::BadCredentials)
    ));
    let failed =
        f.t.vault
            .audit_query(&Default::default())
            .unwrap()
            .remove(0);
    assert_eq!(failed.action, "share.unlock_failed");
    assert_eq!(failed.actor, format!("recipient:{}", ana.recipient()));
    assert_eq!(failed.owner, Some(f.scope.owner().to_string()));
    assert_eq!(failed.object, Some(format!("share/{}", detail.share.id)));
    let cookie = ana
        .unlock(&f.t.vault, "s3cret", &ClientInfo::default())
        .unwrap();
    assert!(ana.is_unlocked(&f.t.vault, Some(&cookie)).unwrap());
    assert!(
        !ben.is_unlocked(&f.t.vault, Some(&cookie)).unwrap(),
        "bound to Ana"
    );
    let (exp, tag) = cookie.split_once('.').unwrap();
    let longer = format!("{}.{tag}", exp.parse::<i64>().unwrap() + 3600);
    assert!(
        !ana.is_unlocked(&f.t.vault, Some(&longer)).unwrap(),
        "expiry is signed"
    );
    f.t.advance_secs(13 * 3600);
    assert!(
        !ana.is_unlocked(&f.t.vault, Some(&cookie)).unwrap(),
        "unlocks expire"
    );
}

#[test]
fn a_good_url_serves_and_every_tampered_one_is_refused() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let ana = f.grant(&detail, 0);
    let ben = f.grant(&detail, 1);
    let play = f.url(&ana, 0, MediaKind::Play);
    assert_eq!(f.fetch(&play, "GET").unwrap(), b"first track bytes");
    assert_eq!(
        f.fetch(&play, "GET").unwrap(),
        b"first track bytes",
        "a play URL serves the player's repeated range requests"
    );
    let ben_play = f.url(&ben, 1, MediaKind::Play);
    let tweak = |edit: &dyn Fn(&mut MediaUrl)| {
        let mut u = play.clone();
        edit(&mut u);
        u
    };
    let flip = |hex: &str| {
        let mut b = hex.as_bytes().to_vec();
        b[0] = if b[0] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).unwrap()
    };
    let cases: Vec<(&str, MediaUrl)> = vec![
        ("later expiry", tweak(&|u| u.expires += 3600)),
        ("earlier expiry", tweak(&|u| u.expires -= 1)),
        ("other nonce", tweak(&|u| u.nonce = flip(&u.nonce))),
        (
            "flipped signature",
            tweak(&|u| u.signature = flip(&u.signature)),
        ),
        ("short signature", tweak(&|u| u.signature.truncate(62))),
        ("no signature", tweak(&|u| u.signature.clear())),
        ("non-hex nonce", tweak(&|u| u.nonce = "zz".repeat(16))),
        ("other track", tweak(&|u| u.track = f.tracks[1].id)),
        (
            "other recipient's grant",
            tweak(&|u| u.recipient = ben.recipient()),
        ),
        (
            "play turned download",
            tweak(&|u| u.kind = MediaKind::Download),
        ),
        (
            "Ben's signature on Ana's URL",
            tweak(&|u| u.signature = ben_play.signature.clone()),
        ),
        (
            "Ben's URL pointed at Ana",
            MediaUrl {
                recipient: ana.recipient(),
                ..ben_play.clone()
            },
        ),
        (
            "unknown recipient",
            tweak(&|u| u.recipient = RecipientId::random()),
        ),
    ];
    for (case, url) in &cases {
        f.refused(case, url);
    }
    for method in ["POST", "HEAD", "DELETE", "get"] {
        assert!(
            matches!(f.fetch(&play, method), Err(VaultError::Forbidden(_))),
            "method {method}"
        );
    }
}

#[test]
fn downloads_are_single_use_and_limited() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|s| s.download_limit = Some(2));
    let ana = f.grant(&detail, 0);
    let first = f.url(&ana, 0, MediaKind::Download);
    assert_eq!(f.fetch(&first, "GET").unwrap(), b"first track bytes");
    f.refused("replayed download", &first);
    let second = f.url(&ana, 1, MediaKind::Download);
    assert_eq!(f.fetch(&second, "GET").unwrap(), b"second track bytes");
    assert!(matches!(
        ana.media_url(
            &f.t.vault,
            f.tracks[0].id,
            MediaKind::Download,
            &ClientInfo::default()
        ),
        Err(VaultError::LimitReached("downloads"))
    ));
    let view = ana.view(&f.t.vault).unwrap();
    assert_eq!(view.recipient.downloads, 2);
    let ben = f.grant(&detail, 1);
    assert!(
        f.fetch(&f.url(&ben, 0, MediaKind::Download), "GET").is_ok(),
        "limits are per recipient"
    );

    // Spent nonces are kept until their URL expires, then swept; the replay stays refused.
    assert_eq!(
        f.t.vault.sweep_spent_nonces().unwrap(),
        0,
        "not yet expired"
    );
    f.t.advance_secs(24 * 3600);
    assert_eq!(f.t.vault.sweep_spent_nonces().unwrap(), 3);
    f.refused("a replay after the sweep: expired", &first);
}

#[test]
fn stream_only_shares_refuse_downloads_and_play_limits_hold() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|s| {
        s.allow_download = false;
        s.play_limit = Some(1);
    });
    let ana = f.grant(&detail, 0);
    assert!(matches!(
        ana.media_url(
            &f.t.vault,
            f.tracks[0].id,
            MediaKind::Download,
            &ClientInfo::default()
        ),
        Err(VaultError::Forbidden(_))
    ));
    let play = f.url(&ana, 0, MediaKind::Play);
    // A download URL minted by hand from a valid play URL's parts cannot carry a valid tag.
    f.refused(
        "download forged from play",
        &MediaUrl {
            kind: MediaKind::Download,
            ..play.clone()
        },
    );
    assert!(matches!(
        ana.media_url(
            &f.t.vault,
            f.tracks[1].id,
            MediaKind::Play,
            &ClientInfo::default()
        ),
        Err(VaultError::LimitReached("plays"))
    ));
}

#[test]
fn urls_die_with_expiry_revocation_deletion_and_the_owner() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let shares = f.t.vault.shares(&f.scope);
    let ana = f.grant(&detail, 0);
    let ben = f.grant(&detail, 1);

    let play = f.url(&ana, 0, MediaKind::Play);
    f.t.advance_secs(PLAY_URL_SECS + 1);
    f.refused("after the URL's expiry", &play);

    let play = f.url(&ana, 0, MediaKind::Play);
    let download = f.url(&ana, 1, MediaKind::Download);
    shares
        .revoke_recipient(detail.share.id, ana.recipient(), &ClientInfo::default())
        .unwrap();
    f.refused("play after the recipient was revoked", &play);
    f.refused("download after the recipient was revoked", &download);

    let ben_play = f.url(&ben, 1, MediaKind::Play);
    f.t.vault
        .library(&f.scope)
        .delete(f.tracks[1].id, &ClientInfo::default())
        .unwrap();
    f.refused("after the track was deleted", &ben_play);

    let ben_play = f.url(&ben, 0, MediaKind::Play);
    let soon = f.t.vault.now_ms() + 60_000;
    shares
        .set_expiry(detail.share.id, soon, &ClientInfo::default())
        .unwrap();
    f.t.advance_secs(61);
    f.refused("after the share's new expiry", &ben_play);

    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let cy_play = f.url(&f.grant(&detail, 2), 0, MediaKind::Play);
    f.t.vault
        .shares(&f.scope)
        .revoke(detail.share.id, &ClientInfo::default())
        .unwrap();
    f.refused("after the whole share was revoked", &cy_play);

    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let play = f.url(&f.grant(&detail, 0), 0, MediaKind::Play);
    f.t.vault.admin().suspend(f.scope.owner()).unwrap();
    f.refused("after the owner was suspended", &play);
}

#[test]
fn watermarked_shares_serve_only_the_recipients_copy() {
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|_| {});
    let ana = f.grant(&detail, 0);
    let play = f.url(&ana, 0, MediaKind::Play);
    assert!(matches!(f.fetch(&play, "GET"), Err(VaultError::NotReady)));
    let (source, access) = ana.render_access(&f.t.vault, f.tracks[0].id).unwrap();
    let mut reader = access.open().unwrap();
    let mut original = Vec::new();
    reader.read_to_end(&mut original).unwrap();
    assert_eq!(
        original, b"first track bytes",
        "the render reads the source"
    );
    assert_eq!(source.id, f.tracks[0].id);
    ana.store_render(
        &f.t.vault,
        f.tracks[0].id,
        &b"ana's marked copy"[..],
        "audio/flac",
        "one.flac",
    )
    .unwrap();
    assert_eq!(f.fetch(&play, "GET").unwrap(), b"ana's marked copy");
    let ben = f.grant(&detail, 1);
    assert!(
        matches!(
            f.fetch(&f.url(&ben, 0, MediaKind::Play), "GET"),
            Err(VaultError::NotReady)
        ),
        "Ben never gets Ana's copy nor the original"
    );
    assert!(matches!(
        ana.store_render(
            &f.t.vault,
            f.tracks[0].id,
            &b"again"[..],
            "audio/flac",
            "one.flac"
        ),
        Err(VaultError::Invalid { .. })
    ));
    // Deleting the track drops every copy of it, files included.
    f.t.vault
        .library(&f.scope)
        .delete(f.tracks[0].id, &ClientInfo::default())
        .unwrap();
    assert!(ana.view(&f.t.vault).unwrap().rendered.is_empty());
}

#[test]
fn traces_name_the_recipient_to_its_owner_and_the_admin_only() {
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|_| {});
    let ben = f.grant(&detail, 1);
    ben.store_render(
        &f.t.vault,
        f.tracks[1].id,
        &b"ben's copy"[..],
        "audio/flac",
        "two.flac",
    )
    .unwrap();
    let payload = detail.recipients[1].0.payload;
    let query = |p: u64| TraceQuery {
        payload: Some(p),
        suspects: vec![(detail.recipients[2].0.payload, 9.0), (p, 20.0)],
    };
    let outcome =
        f.t.vault
            .shares(&f.scope)
            .trace(&query(payload), &ClientInfo::default())
            .unwrap();
    let report = outcome.decoded.unwrap();
    assert_eq!(report.recipient.name, "Ben");
    assert_eq!(report.share.id, detail.share.id);
    assert_eq!(report.copies.len(), 1);
    assert_eq!(report.copies[0].1, "two");
    assert_eq!(
        outcome.suspects.len(),
        1,
        "the decoded recipient is not repeated"
    );
    assert_eq!(outcome.suspects[0].0.recipient.name, "Cy");
    // Deleting the track drops Ben's copy of it; the trace still says he was given one.
    f.t.vault
        .library(&f.scope)
        .delete(f.tracks[1].id, &ClientInfo::default())
        .unwrap();
    let report =
        f.t.vault
            .shares(&f.scope)
            .trace(&query(payload), &ClientInfo::default())
            .unwrap()
            .decoded
            .unwrap();
    assert_eq!(report.copies.len(), 1);
    assert_eq!(report.copies[0].0, f.tracks[1].id);
    assert_eq!(report.copies[0].1, "(deleted track)");
    let mut candidates = f.t.vault.shares(&f.scope).watermark_candidates().unwrap();
    candidates.sort_unstable();
    let mut expected: Vec<u64> = detail.recipients.iter().map(|r| r.0.payload).collect();
    expected.sort_unstable();
    assert_eq!(candidates, expected);

    let (_, nosy) = f.t.user("nosy@studio.test");
    let theirs =
        f.t.vault
            .shares(&nosy)
            .trace(&query(payload), &ClientInfo::default())
            .unwrap();
    assert!(
        theirs.decoded.is_none() && theirs.suspects.is_empty(),
        "another owner learns nothing"
    );
    assert!(
        f.t.vault
            .shares(&nosy)
            .watermark_candidates()
            .unwrap()
            .is_empty()
    );
    let admin = f.t.vault.trace_any(&query(payload), "cli").unwrap();
    assert_eq!(admin.decoded.unwrap().owner_email, "owner@studio.test");
    let unknown = TraceQuery {
        payload: Some(payload ^ 1),
        suspects: vec![],
    };
    assert!(
        f.t.vault
            .trace_any(&unknown, "cli")
            .unwrap()
            .decoded
            .is_none()
    );
    let log =
        f.t.vault
            .audit_query(&studiovault_api::admin::AuditQuery::default())
            .unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "leak.trace").count(),
        5,
        "every trace is audited"
    );
}

#[test]
fn an_admin_trace_shows_in_the_accessed_view_of_each_owner_it_reached() {
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|_| {});
    let (_, other) = f.t.user("other@studio.test");
    f.t.vault
        .admin()
        .set_plan_and_quota(other.owner(), Some(Plan::Max), None)
        .unwrap();
    let theirs = upload(&f.t.vault.library(&other), "theirs", b"other bytes");
    let their_share =
        f.t.vault
            .shares(&other)
            .create(
                NewShare {
                    title: "Theirs".into(),
                    tracks: vec![theirs.id],
                    recipients: vec![NewRecipient {
                        name: "Dee".into(),
                        email: None,
                    }],
                    ..NewShare::default()
                },
                &ClientInfo::default(),
            )
            .unwrap();
    let (_, bystander) = f.t.user("bystander@studio.test");
    // The owner's own trace is the owner's doing: not in their "accessed" view.
    let ana = detail.recipients[0].0.payload;
    let query = TraceQuery {
        payload: Some(ana),
        suspects: vec![(their_share.recipients[0].0.payload, 12.0)],
    };
    f.t.vault
        .shares(&f.scope)
        .trace(&query, &ClientInfo::default())
        .unwrap();
    let accessed = |scope: &OwnerScope| f.t.vault.account(scope).accessed(None, 100).unwrap();
    assert!(
        accessed(&f.scope).iter().all(|e| e.action != "leak.trace"),
        "{:?}",
        accessed(&f.scope)
    );

    // The admin's trace reached both owners' shares: each sees it, naming only their own.
    f.t.vault.trace_any(&query, "admin socket").unwrap();
    for (scope, share, other_share) in [
        (&f.scope, &detail, &their_share),
        (&other, &their_share, &detail),
    ] {
        let traces: Vec<_> = accessed(scope)
            .into_iter()
            .filter(|e| e.action == "leak.trace")
            .collect();
        assert_eq!(traces.len(), 1, "{traces:?}");
        assert_eq!(traces[0].actor, "admin");
        assert_eq!(traces[0].owner, Some(scope.owner().to_string()));
        let detail = traces[0].detail.clone().unwrap_or_default();
        assert!(
            detail.contains(&share.recipients[0].0.id.to_string()),
            "{detail}"
        );
        assert!(
            !detail.contains(&other_share.recipients[0].0.id.to_string()),
            "one owner's record does not name another's recipient: {detail}"
        );
    }
    let theirs: Vec<String> = accessed(&bystander).into_iter().map(|e| e.action).collect();
    assert_eq!(
        theirs,
        ["user.create"],
        "the admin made the account, and traced nothing of it"
    );
    // Recipients and the system show too; the owner's own uploads do not.
    let grant = f.grant(&detail, 0);
    grant.open(&f.t.vault, &ClientInfo::default()).unwrap();
    let kinds: Vec<String> = accessed(&f.scope).into_iter().map(|e| e.actor).collect();
    assert!(
        kinds.contains(&format!("recipient:{}", grant.recipient())),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .all(|a| *a != format!("user:{}", f.scope.owner()))
    );
    // Paging: `before` goes further back.
    let all = accessed(&f.scope);
    let older =
        f.t.vault
            .account(&f.scope)
            .accessed(Some(all[0].seq), 100)
            .unwrap();
    assert_eq!(older, all[1..].to_vec());
}

/// Once armed, stops the next caller of the clock (on whatever thread) until the test lets it
/// go: a request reads the clock between checking a recipient and writing it, so the test can
/// commit a change in between, without timing.
type Pause = Arc<Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>>;

struct PausingClock {
    now: Arc<AtomicI64>,
    pause: Pause,
}

impl Clock for PausingClock {
    fn now_ms(&self) -> i64 {
        let armed = self.pause.lock().unwrap().take();
        if let Some((reached, resume)) = armed {
            reached.send(()).unwrap();
            // Bounded only so that a request holding the write lock here fails the test
            // instead of hanging it.
            let _ = resume.recv_timeout(Duration::from_secs(30));
        }
        self.now.load(Ordering::SeqCst)
    }
}

/// Runs `request` on another thread, stopped at its first clock read while `meanwhile` runs
/// here; answers what the request answered.
fn interleave<R: Send>(
    pause: &Pause,
    request: impl FnOnce() -> R + Send,
    meanwhile: impl FnOnce(),
) -> R {
    let (reached_tx, reached) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    *pause.lock().unwrap() = Some((reached_tx, resume_rx));
    std::thread::scope(|s| {
        let worker = s.spawn(request);
        reached
            .recv_timeout(Duration::from_secs(30))
            .expect("the request reads the clock");
        meanwhile();
        resume.send(()).expect("the request waited for `meanwhile`");
        worker.join().unwrap()
    })
}

#[test]
fn a_request_in_flight_never_writes_back_a_stale_recipient() {
    let pause = Pause::default();
    let clock_pause = pause.clone();
    let f = Fixture::on(
        TestVault::with_clock(|now| {
            Box::new(PausingClock {
                now,
                pause: clock_pause,
            })
        }),
        Plan::Pro,
    );
    let detail = f.share(|s| s.download_limit = Some(1));
    let shares = f.t.vault.shares(&f.scope);
    let revoke = |i: usize| {
        shares
            .revoke_recipient(
                detail.share.id,
                detail.recipients[i].0.id,
                &ClientInfo::default(),
            )
            .unwrap();
    };
    let stored = |i: usize| shares.get(detail.share.id).unwrap().recipients[i].0.clone();
    let no_client = ClientInfo::default();

    // A page open under way when the owner revokes the recipient.
    let ana = f.grant(&detail, 0);
    let opened = interleave(&pause, || ana.open(&f.t.vault, &no_client), || revoke(0));
    assert!(matches!(opened, Err(VaultError::NotFound)));
    assert!(stored(0).revoked_at_ms.is_some(), "the page un-revoked Ana");

    // A play URL under way when the owner revokes the recipient.
    let cy = f.grant(&detail, 2);
    let play = interleave(
        &pause,
        || cy.media_url(&f.t.vault, f.tracks[0].id, MediaKind::Play, &no_client),
        || revoke(2),
    );
    assert!(matches!(play, Err(VaultError::NotFound)));
    assert!(stored(2).revoked_at_ms.is_some(), "the play un-revoked Cy");

    // A play URL under way while the recipient's one download is served.
    let ben = f.grant(&detail, 1);
    let download = f.url(&ben, 0, MediaKind::Download);
    let play = interleave(
        &pause,
        || ben.media_url(&f.t.vault, f.tracks[0].id, MediaKind::Play, &no_client),
        || assert!(f.fetch(&download, "GET").is_ok()),
    );
    assert!(play.is_ok());
    assert_eq!((stored(1).plays, stored(1).downloads), (1, 1));
    assert!(matches!(
        ben.media_url(&f.t.vault, f.tracks[1].id, MediaKind::Download, &no_client),
        Err(VaultError::LimitReached("downloads"))
    ));
}

#[test]
fn limits_hold_under_parallel_requests() {
    const EACH: usize = 10;
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|s| {
        s.play_limit = Some(1);
        s.download_limit = Some(1);
    });
    let ana = f.grant(&detail, 0);
    let downloads: Vec<MediaUrl> = (0..EACH)
        .map(|_| f.url(&ana, 1, MediaKind::Download))
        .collect();
    let start = &Barrier::new(2 * EACH);
    let f = &f;
    let (plays, fetched) = std::thread::scope(|s| {
        let plays: Vec<_> = (0..EACH)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    ana.media_url(
                        &f.t.vault,
                        f.tracks[0].id,
                        MediaKind::Play,
                        &ClientInfo::default(),
                    )
                    .map(|_| ())
                })
            })
            .collect();
        let fetched: Vec<_> = downloads
            .iter()
            .map(|url| {
                s.spawn(move || {
                    start.wait();
                    f.fetch(url, "GET").map(|_| ())
                })
            })
            .collect();
        let join = |handles: Vec<std::thread::ScopedJoinHandle<'_, Result<()>>>| {
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        };
        (join(plays), join(fetched))
    });
    for (what, results) in [("plays", &plays), ("downloads", &fetched)] {
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{what}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, VaultError::LimitReached(w) if *w == what)),
            "{what}: {results:?}"
        );
    }
    let recipient = ana.view(&f.t.vault).unwrap().recipient;
    assert_eq!((recipient.plays, recipient.downloads), (1, 1));
}

#[test]
fn page_opens_are_logged_at_most_once_an_hour() {
    let f = Fixture::new(Plan::Pro);
    let detail = f.share(|_| {});
    let ana = f.grant(&detail, 0);
    let logged = || {
        let audit =
            f.t.vault
                .audit_query(&studiovault_api::admin::AuditQuery::default())
                .unwrap()
                .iter()
                .filter(|e| e.action == "share.open")
                .count();
        let events = ana
            .view(&f.t.vault)
            .unwrap()
            .recipient
            .events
            .iter()
            .filter(|e| e.kind == RecipientEventKind::Opened)
            .count();
        (audit, events)
    };
    for _ in 0..5 {
        ana.open(&f.t.vault, &ClientInfo::default()).unwrap();
    }
    assert_eq!(logged(), (1, 1));
    f.t.advance_secs(OPEN_LOG_SECS - 1);
    ana.open(&f.t.vault, &ClientInfo::default()).unwrap();
    assert_eq!(logged(), (1, 1), "within the hour");
    f.t.advance_secs(1);
    ana.open(&f.t.vault, &ClientInfo::default()).unwrap();
    assert_eq!(logged(), (2, 2), "an hour after the last one logged");
}

#[test]
fn a_copy_that_failed_for_passing_reasons_is_made_again_when_the_recipient_returns() {
    use crate::jobs::{JobKind, JobState, MAX_ATTEMPTS, RETRY_SPENT_AFTER_MS};
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|new| new.tracks.truncate(1));
    let ana = f.grant(&detail, 0);
    let states = |grant: &RecipientGrant| {
        let view = grant.view(&f.t.vault).unwrap();
        let states = grant.copy_states(&f.t.vault, &view).unwrap();
        states.into_iter().map(|(_, s)| s).collect::<Vec<_>>()
    };
    // Fails every attempt of the copy: `retry` says whether the failure was passing.
    let fail_every_attempt = |retry: bool| {
        let mut attempts = 0;
        while let Some(lease) =
            f.t.vault
                .lease_job(&[JobKind::Render], "w", Duration::from_secs(60))
                .unwrap()
        {
            lease.fail(&f.t.vault, "the disk failed", retry).unwrap();
            f.t.advance_secs(20);
            attempts += 1;
        }
        let expected = if retry { MAX_ATTEMPTS } else { 1 };
        assert_eq!(attempts, expected);
    };

    assert_eq!(states(&ana), vec![CopyState::Queued]);
    fail_every_attempt(true);
    assert_eq!(states(&ana), vec![CopyState::Failed]);
    f.t.advance_secs(RETRY_SPENT_AFTER_MS / 1000 - 20 - 1);
    assert_eq!(
        states(&ana),
        vec![CopyState::Failed],
        "not before its wait is over"
    );
    f.t.advance_secs(1);
    assert_eq!(states(&ana), vec![CopyState::Queued]);
    let job = &f.t.vault.jobs_of(JobKind::Render).unwrap()[0];
    assert!(job.state == JobState::Queued && job.attempts == 0 && job.retry_from_ms.is_none());

    // A copy its source refused stays failed when the recipient comes back, a day later.
    fail_every_attempt(false);
    f.t.advance_secs(DAY_SECS);
    assert_eq!(states(&ana), vec![CopyState::Failed]);
}

#[test]
fn a_copy_finished_after_its_track_or_recipient_went_is_dropped() {
    let f = Fixture::new(Plan::Max);
    let detail = f.share(|_| {});
    let blob_files = || {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .map(|p| if p.is_dir() { count(&p) } else { 1 })
                    .sum()
            })
        }
        count(&f.t._dir.path().join("blobs"))
    };
    let has_render = |grant: &RecipientGrant, track: TrackId| {
        let txn = f.t.vault.db().begin_read().unwrap();
        let renders = txn.open_table(RENDERS).unwrap();
        renders
            .get((grant.recipient().raw(), track.raw()))
            .unwrap()
            .is_some()
    };
    let ana = f.grant(&detail, 0);
    let ben = f.grant(&detail, 1);
    let track = f.tracks[0].id;
    // Both renders began while the track and the recipients were there.
    ana.render_access(&f.t.vault, track).unwrap();
    ben.render_access(&f.t.vault, f.tracks[1].id).unwrap();
    f.t.vault
        .library(&f.scope)
        .delete(track, &ClientInfo::default())
        .unwrap();
    f.t.vault
        .shares(&f.scope)
        .revoke_recipient(detail.share.id, ben.recipient(), &ClientInfo::default())
        .unwrap();
    let files = blob_files();
    for (grant, track) in [(&ana, track), (&ben, f.tracks[1].id)] {
        assert!(matches!(
            grant.store_render(&f.t.vault, track, &b"marked"[..], "audio/flac", "x.flac"),
            Err(VaultError::NotFound)
        ));
        assert!(!has_render(grant, track));
    }
    assert_eq!(blob_files(), files, "the copies' files are removed");
    let ana_events =
        &f.t.vault
            .shares(&f.scope)
            .get(detail.share.id)
            .unwrap()
            .recipients[0]
            .0
            .events;
    assert!(
        ana_events
            .iter()
            .all(|e| e.kind != RecipientEventKind::CopyIssued)
    );
}

#[test]
fn signed_values_have_one_spelling() {
    assert_eq!(canonical_hex::<2>("0aff"), Some([0x0a, 0xff]));
    for other in ["0AFF", "0aFf", "0af", "0aff0", "0agf", "+aff"] {
        assert_eq!(canonical_hex::<2>(other), None, "{other}");
    }
    assert_eq!(canonical_decimal("1796560635"), Some(1_796_560_635));
    assert_eq!(canonical_decimal("0"), Some(0));
    for other in ["+1", "-1", "01", "", "1e3", " 1", "99999999999999999999"] {
        assert_eq!(canonical_decimal(other), None, "{other}");
    }
}
