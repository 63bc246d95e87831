//! The adapter-level half of the tenant-isolation suite: what one tenant's scope can reach.

use std::io::Read;

use super::*;
use crate::testutil::TestVault;
use crate::{MasterKey, Policy, Vault, VaultError};

fn upload(lib: &Library<'_>, name: &str, bytes: &[u8]) -> TrackRecord {
    let mut w = lib.begin_upload().unwrap();
    w.write(bytes).unwrap();
    let sealed = w.finish().unwrap();
    let info = TrackInfo {
        name: name.into(),
        original_filename: format!("{name}.wav"),
        container: "wav".into(),
        ..Default::default()
    };
    lib.commit_upload(sealed, info, Default::default(), &ClientInfo::default())
        .unwrap()
}

fn q(
    sort: TrackSort,
    descending: bool,
    search: Option<&str>,
    offset: u64,
    limit: u64,
) -> TrackQuery {
    TrackQuery {
        sort,
        descending,
        search: search.map(str::to_owned),
        offset,
        limit,
        ..TrackQuery::default()
    }
}

fn files_under(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        n += if p.is_dir() { files_under(&p) } else { 1 };
    }
    n
}

#[test]
fn uploads_round_trip_and_are_listed() {
    let t = TestVault::new();
    let (_, scope) = t.user("ana@studio.test");
    let lib = t.vault.library(&scope);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let rec = upload(&lib, "Take 1", &data);
    assert_eq!(rec.size_bytes, data.len() as u64);
    assert_eq!(
        rec.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
    );
    let (_, mut reader) = lib
        .open_audio(rec.id, "full", &ClientInfo::default())
        .unwrap();
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    let (page, total) = lib
        .list(&q(TrackSort::Created, false, None, 0, 50))
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(
        t.vault.account(&scope).me().unwrap().used_bytes,
        data.len() as u64
    );
}

#[test]
fn another_tenant_reaches_nothing() {
    let t = TestVault::new();
    let (_, alice) = t.user("alice@studio.test");
    let (_, bob) = t.user("bob@studio.test");
    let a = t.vault.library(&alice);
    let b = t.vault.library(&bob);
    let track = upload(&a, "Secret demo", b"RIFF....WAVEfmt secret bytes");
    let c = ClientInfo::default();

    assert!(matches!(b.get(track.id), Err(VaultError::NotFound)));
    assert!(matches!(
        b.open_audio(track.id, "", &c),
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        b.rename(track.id, "mine now", &c),
        Err(VaultError::NotFound)
    ));
    assert!(matches!(b.delete(track.id, &c), Err(VaultError::NotFound)));
    assert_eq!(
        b.list(&q(TrackSort::Name, false, None, 0, 1000)).unwrap().1,
        0
    );
    assert_eq!(
        b.list(&q(TrackSort::Name, false, Some("secret"), 0, 1000))
            .unwrap()
            .1,
        0
    );

    // Alice's track is untouched by all of that.
    let still = a.get(track.id).unwrap();
    assert_eq!(still.info.name, "Secret demo");
    let mut bytes = Vec::new();
    a.open_audio(track.id, "", &c)
        .unwrap()
        .1
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, b"RIFF....WAVEfmt secret bytes");
}

#[test]
fn a_tenants_blob_does_not_open_under_another_tenants_key() {
    let t = TestVault::new();
    let (_, alice) = t.user("alice@studio.test");
    let (_, bob) = t.user("bob@studio.test");
    let track = upload(&t.vault.library(&alice), "x", &[7u8; 100_000]);
    // Forge a track row for Bob that points at Alice's blob: the bytes still do not decrypt.
    let forged = TrackRecord {
        owner: bob.owner(),
        ..track.clone()
    };
    let txn = t.vault.db().begin_write().unwrap();
    txn.open_table(TRACKS)
        .unwrap()
        .insert(track_key(bob.owner(), track.id), encode(&forged).as_slice())
        .unwrap();
    txn.commit().unwrap();
    let src = t.vault.blob_path(alice.owner(), track.blob);
    let dst = t.vault.blob_path(bob.owner(), track.blob);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(&src, &dst).unwrap();
    let (_, mut reader) = t
        .vault
        .library(&bob)
        .open_audio(track.id, "", &ClientInfo::default())
        .unwrap();
    assert!(reader.read(&mut [0u8; 64]).is_err());
}

#[test]
fn an_upload_commits_only_into_the_library_that_began_it() {
    let t = TestVault::new();
    let (_, alice) = t.user("alice@studio.test");
    let (_, bob) = t.user("bob@studio.test");
    let mut w = t.vault.library(&alice).begin_upload().unwrap();
    w.write(b"RIFF....WAVE").unwrap();
    let sealed = w.finish().unwrap();
    let err = t
        .vault
        .library(&bob)
        .commit_upload(
            sealed,
            TrackInfo::default(),
            Default::default(),
            &ClientInfo::default(),
        )
        .unwrap_err();
    assert!(matches!(err, VaultError::NotFound));
    assert_eq!(
        t.vault
            .library(&bob)
            .list(&q(TrackSort::Created, false, None, 0, 10))
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        files_under(&t.vault.tmp_dir()),
        0,
        "the refused blob is dropped"
    );
}

#[test]
fn quota_is_enforced_and_a_refused_upload_leaves_nothing() {
    let t = TestVault::new();
    let (_, scope) = t.user("quota@studio.test");
    t.vault
        .admin()
        .set_plan_and_quota(scope.owner(), None, Some(Some(150_000)))
        .unwrap();
    let lib = t.vault.library(&scope);
    upload(&lib, "fits", &[1u8; 100_000]);
    assert_eq!(lib.remaining_quota().unwrap(), 50_000);
    let mut w = lib.begin_upload().unwrap();
    w.write(&[2u8; 60_000]).unwrap();
    let sealed = w.finish().unwrap();
    let err = lib
        .commit_upload(
            sealed,
            TrackInfo::default(),
            Default::default(),
            &ClientInfo::default(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        VaultError::QuotaExceeded {
            quota: 150_000,
            used: 100_000,
            needed: 60_000
        }
    ));
    assert_eq!(
        lib.list(&q(TrackSort::Created, false, None, 0, 10))
            .unwrap()
            .1,
        1
    );
    assert_eq!(files_under(&t.vault.blob_root()), 1);
    assert_eq!(files_under(&t.vault.tmp_dir()), 0);
}

#[test]
fn delete_frees_quota_and_the_file() {
    let t = TestVault::new();
    let (_, scope) = t.user("del@studio.test");
    let lib = t.vault.library(&scope);
    let rec = upload(&lib, "gone", &[3u8; 70_000]);
    assert!(t.vault.blob_path(scope.owner(), rec.blob).exists());
    lib.delete(rec.id, &ClientInfo::default()).unwrap();
    assert!(!t.vault.blob_path(scope.owner(), rec.blob).exists());
    assert!(matches!(lib.get(rec.id), Err(VaultError::NotFound)));
    assert_eq!(t.vault.account(&scope).me().unwrap().used_bytes, 0);
    assert!(matches!(
        lib.delete(rec.id, &ClientInfo::default()),
        Err(VaultError::NotFound)
    ));
}

#[test]
fn listing_sorts_searches_and_pages() {
    let t = TestVault::new();
    let (_, scope) = t.user("list@studio.test");
    let lib = t.vault.library(&scope);
    for (i, name) in ["bravo", "Alpha", "charlie", "alpha two"]
        .iter()
        .enumerate()
    {
        t.advance_secs(1);
        upload(&lib, name, &vec![0u8; 1000 * (i + 1)]);
    }
    let names = |sort, desc, search: Option<&str>, off, lim| {
        lib.list(&q(sort, desc, search, off, lim))
            .unwrap()
            .0
            .into_iter()
            .map(|r| r.info.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(TrackSort::Name, false, None, 0, 10),
        ["Alpha", "alpha two", "bravo", "charlie"]
    );
    assert_eq!(
        names(TrackSort::Created, true, None, 0, 2),
        ["alpha two", "charlie"]
    );
    assert_eq!(
        names(TrackSort::Created, true, None, 2, 2),
        ["Alpha", "bravo"]
    );
    assert_eq!(
        names(TrackSort::Size, true, Some("ALPHA"), 0, 10),
        ["alpha two", "Alpha"]
    );
}

#[test]
fn names_come_from_the_last_path_component_and_stay_text() {
    assert_eq!(
        names_from_filename("../../etc/passwd"),
        ("passwd".into(), "passwd".into())
    );
    assert_eq!(
        names_from_filename("C:\\mixes\\Song (final).wav"),
        ("Song (final)".into(), "Song (final).wav".into())
    );
    assert_eq!(
        names_from_filename("a\u{0}b\nc.flac"),
        ("abc".into(), "abc.flac".into())
    );
    assert_eq!(names_from_filename(".wav"), (".wav".into(), ".wav".into()));
    assert_eq!(names_from_filename("/"), ("Untitled".into(), String::new()));
}

#[test]
fn a_lost_metadata_store_stops_the_open_and_removes_no_file() {
    let t = TestVault::new();
    let (_, scope) = t.user("lost@studio.test");
    let kept = upload(&t.vault.library(&scope), "acknowledged", &[9u8; 10_000]);
    let blob = t.vault.blob_path(scope.owner(), kept.blob);
    let path = t.vault.data_dir().to_owned();
    let TestVault { vault, _dir, .. } = t;
    drop(vault);
    std::fs::rename(path.join("vault.redb"), path.join("vault.redb.moved")).unwrap();
    let opened = Vault::open(
        &path,
        MasterKey::from_hex(&"5a".repeat(32)).unwrap(),
        Policy::default(),
    );
    assert!(
        matches!(opened, Err(VaultError::StoreMissing { files: 1 })),
        "{opened:?}"
    );
    assert!(blob.exists(), "the audio is still there");
    assert!(!path.join("vault.redb").exists(), "no empty store was made");
    // Put back, it opens as before.
    std::fs::rename(path.join("vault.redb.moved"), path.join("vault.redb")).unwrap();
    let vault = Vault::open(
        &path,
        MasterKey::from_hex(&"5a".repeat(32)).unwrap(),
        Policy::default(),
    )
    .unwrap();
    assert_eq!(vault.library(&scope).get(kept.id).unwrap().id, kept.id);
    assert!(blob.exists());
}

#[test]
fn a_crash_before_the_metadata_commit_leaves_nothing_visible() {
    let t = TestVault::new();
    let (_, scope) = t.user("crash@studio.test");
    let lib = t.vault.library(&scope);
    let kept = upload(&lib, "acknowledged", &[9u8; 10_000]);
    // A blob renamed into place whose transaction never committed, and a half-written temp file.
    let mut w = lib.begin_upload().unwrap();
    w.write(&[1u8; 5000]).unwrap();
    let orphan = w.finish().unwrap();
    let orphan_path = t.vault.blob_path(scope.owner(), orphan.blob);
    orphan.persist(&orphan_path).unwrap();
    let mut partial = lib.begin_upload().unwrap();
    partial.write(&[2u8; 5000]).unwrap();
    std::mem::forget(partial);
    assert_eq!(files_under(&t.vault.tmp_dir()), 1);
    // A backup killed while it read the staged snapshot: the copy and every tenant key stay.
    let staged = t.vault.stage_snapshot().unwrap();
    assert!(staged.dir.exists() && staged.keyring_dir.exists());

    let path = t.vault.data_dir().to_owned();
    let now = t.now.clone();
    let reopened = {
        let TestVault { vault, _dir, .. } = t;
        drop(vault);
        let v = TestVault::open_at(
            &path,
            Policy {
                bcrypt_cost: 4,
                ..Policy::default()
            },
            now,
        );
        (v, _dir)
    };
    let vault = &reopened.0;
    assert!(!orphan_path.exists(), "the orphan blob is swept");
    assert_eq!(files_under(&path.join("tmp")), 0, "temp files are swept");
    assert!(
        !staged.dir.exists() && !staged.keyring_dir.exists(),
        "the staged snapshot and keyring are swept"
    );
    assert!(vault.blob_path(scope.owner(), kept.blob).exists());
    let (page, total) = vault
        .library(&scope)
        .list(&q(TrackSort::Created, false, None, 0, 10))
        .unwrap();
    assert_eq!((total, page[0].id), (1, kept.id));
}

#[test]
fn listing_filters_by_length_and_date_added() {
    let t = TestVault::new();
    let (_, scope) = t.user("filters@studio.test");
    let lib = t.vault.library(&scope);
    let mut added = Vec::new();
    for (name, secs) in [
        ("sketch", Some(45.0)),
        ("song", Some(210.0)),
        ("stem", None),
    ] {
        t.advance_secs(3600);
        let mut w = lib.begin_upload().unwrap();
        w.write(name.as_bytes()).unwrap();
        let info = TrackInfo {
            name: name.into(),
            duration_secs: secs,
            ..Default::default()
        };
        added.push(
            lib.commit_upload(
                w.finish().unwrap(),
                info,
                Default::default(),
                &ClientInfo::default(),
            )
            .unwrap()
            .created_at_ms,
        );
    }
    let names = |query: TrackQuery| {
        let mut out: Vec<String> = lib
            .list(&TrackQuery { limit: 10, ..query })
            .unwrap()
            .0
            .into_iter()
            .map(|r| r.info.name)
            .collect();
        out.sort();
        out
    };
    let length = |lo, hi| TrackQuery {
        duration: Some((lo, hi)),
        ..TrackQuery::default()
    };
    assert_eq!(names(length(0.0, 60.0)), ["sketch"]);
    assert_eq!(
        names(length(60.0, f64::MAX)),
        ["song"],
        "unknown lengths never match"
    );
    let since = |lo, hi| TrackQuery {
        added: Some((lo, hi)),
        ..TrackQuery::default()
    };
    assert_eq!(names(since(added[1], i64::MAX)), ["song", "stem"]);
    assert_eq!(names(since(i64::MIN, added[0])), ["sketch"]);
}
