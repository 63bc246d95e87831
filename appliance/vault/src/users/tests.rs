use totp_rs::{Algorithm, Secret, TOTP};

use super::*;
use crate::testutil::{PASSWORD, TestVault};

fn no_client() -> ClientInfo {
    ClientInfo::default()
}

fn code_at(secret_b32: &str, unix_secs: i64) -> String {
    let secret = Secret::Encoded(secret_b32.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new())
        .generate(unix_secs as u64)
}

fn now_secs(t: &TestVault) -> i64 {
    t.now.load(std::sync::atomic::Ordering::SeqCst) / 1000
}

#[test]
fn accounts_validate_their_input() {
    let t = TestVault::new();
    let admin = t.vault.admin();
    for bad in [
        "",
        "no-at-sign",
        "a@",
        "@b",
        "a b@c.d",
        "a@b@c",
        "a@.b",
        "é@x.org",
    ] {
        assert!(
            matches!(
                admin.create_user(bad, Some(PASSWORD), Plan::Free),
                Err(VaultError::Invalid { field: "email", .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        admin.create_user("a@b.c", Some("short"), Plan::Free),
        Err(VaultError::Invalid {
            field: "password",
            ..
        })
    ));
    assert!(matches!(
        admin.create_user("a@b.c", Some(&"x".repeat(73)), Plan::Free),
        Err(VaultError::Invalid {
            field: "password",
            ..
        })
    ));
    // bcrypt's 72 bytes hold the password and its NUL: 72 bytes is invalid input (it was a
    // hashing error), 71 bytes is taken.
    assert!(matches!(
        admin.create_user("a@b.c", Some(&"x".repeat(72)), Plan::Free),
        Err(VaultError::Invalid {
            field: "password",
            ..
        })
    ));
    admin
        .create_user("long@b.c", Some(&"x".repeat(71)), Plan::Free)
        .unwrap();
    admin
        .create_user("Mix@Example.COM", Some(PASSWORD), Plan::Free)
        .unwrap();
    assert!(matches!(
        admin.create_user("mix@example.com", Some(PASSWORD), Plan::Max),
        Err(VaultError::EmailTaken)
    ));
    assert_eq!(
        admin.find("MIX@example.com").unwrap().email,
        "mix@example.com"
    );
}

#[test]
fn unknown_email_and_wrong_password_answer_alike() {
    let t = TestVault::new();
    t.user("ana@studio.test");
    let unknown = t
        .vault
        .login("nobody@studio.test", PASSWORD, None, &no_client())
        .unwrap_err();
    let wrong = t
        .vault
        .login("ana@studio.test", "wrong password!", None, &no_client())
        .unwrap_err();
    assert_eq!(unknown.to_string(), wrong.to_string());
    assert!(matches!(wrong, VaultError::BadCredentials));
}

#[test]
fn generated_passwords_sign_in() {
    let t = TestVault::new();
    let (user, pw) = t
        .vault
        .admin()
        .create_user("gen@studio.test", None, Plan::Pro)
        .unwrap();
    let pw = pw.unwrap();
    assert_eq!(pw.len(), 23);
    t.vault
        .login("gen@studio.test", &pw, None, &no_client())
        .unwrap();
    let (_, again) = t.vault.admin().reset_password(user.id, None).unwrap();
    assert!(
        t.vault
            .login("gen@studio.test", &pw, None, &no_client())
            .is_err()
    );
    t.vault
        .login("gen@studio.test", &again.unwrap(), None, &no_client())
        .unwrap();
}

#[test]
fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let t = TestVault::with_policy(|p| {
        p.session_idle_secs = 600;
        p.session_absolute_secs = 3600;
    });
    let (token, scope) = t.user("idle@studio.test");
    assert_eq!(t.vault.authenticate(&token).unwrap().scope, scope);
    t.advance_secs(601);
    assert!(matches!(
        t.vault.authenticate(&token),
        Err(VaultError::SessionInvalid)
    ));

    let (token, _) = {
        let (tok, auth) = t
            .vault
            .login("idle@studio.test", PASSWORD, None, &no_client())
            .unwrap();
        (tok, auth)
    };
    for _ in 0..6 {
        t.advance_secs(500);
        t.vault.authenticate(&token).unwrap();
    }
    t.advance_secs(601);
    assert!(
        matches!(
            t.vault.authenticate(&token),
            Err(VaultError::SessionInvalid)
        ),
        "absolute limit"
    );
}

/// The app's polls (the notification bell every 30 s) kept a tab left open signed in until the
/// absolute limit: only the owner's own requests count as activity now.
#[test]
fn polls_do_not_keep_an_idle_session_alive() {
    let t = TestVault::with_policy(|p| {
        p.session_idle_secs = 600;
        p.session_absolute_secs = 36_000;
    });
    let (token, scope) = t.user("poll@studio.test");
    for _ in 0..5 {
        t.advance_secs(119);
        let auth = t.vault.authenticate_in_background(&token).unwrap();
        assert_eq!(
            auth.scope, scope,
            "a poll is answered while the session lives"
        );
    }
    t.advance_secs(6);
    assert!(
        matches!(
            t.vault.authenticate_in_background(&token),
            Err(VaultError::SessionInvalid)
        ),
        "idle for 601 s, polled all along"
    );

    let (token, _) = t
        .vault
        .login("poll@studio.test", PASSWORD, None, &no_client())
        .unwrap();
    t.advance_secs(500);
    t.vault.authenticate(&token).unwrap();
    t.advance_secs(500);
    assert!(
        t.vault.authenticate_in_background(&token).is_ok(),
        "the owner's own request 500 s ago keeps it"
    );
}

#[test]
fn tokens_are_checked_strictly() {
    let t = TestVault::new();
    let (token, _) = t.user("tok@studio.test");
    let mut altered = token.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    for bad in [
        String::new(),
        "x".repeat(43),
        String::from_utf8(altered).unwrap(),
        format!("{token}="),
        token[..42].to_owned(),
    ] {
        assert!(
            matches!(t.vault.authenticate(&bad), Err(VaultError::SessionInvalid)),
            "{bad:?}"
        );
    }
}

#[test]
fn suspension_ends_sessions_and_sign_in() {
    let t = TestVault::new();
    let (token, scope) = t.user("sus@studio.test");
    let admin = t.vault.admin();
    admin.suspend(scope.owner()).unwrap();
    assert!(t.vault.authenticate(&token).is_err());
    assert!(matches!(
        t.vault
            .login("sus@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::AccountInactive(_))
    ));
    assert!(admin.suspend(scope.owner()).is_err(), "already suspended");
    admin.resume(scope.owner()).unwrap();
    t.vault
        .login("sus@studio.test", PASSWORD, None, &no_client())
        .unwrap();
}

#[test]
fn admins_list_and_revoke_sessions() {
    let t = TestVault::new();
    let (a1, scope) = t.user("rev@studio.test");
    let (a2, _) = t
        .vault
        .login("rev@studio.test", PASSWORD, None, &no_client())
        .unwrap();
    let (other, _) = t.user("keep@studio.test");
    let admin = t.vault.admin();
    assert_eq!(admin.sessions(Some(scope.owner())).unwrap().len(), 2);
    assert_eq!(admin.sessions(None).unwrap().len(), 3);
    let one = t.vault.authenticate(&a2).unwrap().session_id;
    admin.revoke_session(&one).unwrap();
    assert!(t.vault.authenticate(&a2).is_err());
    t.vault.authenticate(&a1).unwrap();
    assert_eq!(admin.revoke_sessions(scope.owner()).unwrap(), 1);
    assert!(t.vault.authenticate(&a1).is_err());
    t.vault.authenticate(&other).unwrap();
}

#[test]
fn owners_revoke_only_their_own_sessions() {
    let t = TestVault::new();
    let (mine, me) = t.user("me@studio.test");
    let (theirs, _) = t.user("them@studio.test");
    let their_id = t.vault.authenticate(&theirs).unwrap().session_id;
    let account = t.vault.account(&me);
    assert!(matches!(
        account.revoke_session(&their_id, &no_client()),
        Err(VaultError::NotFound)
    ));
    t.vault.authenticate(&theirs).unwrap();
    let my_id = t.vault.authenticate(&mine).unwrap().session_id;
    assert_eq!(account.sessions().unwrap().len(), 1);
    account.revoke_session(&my_id, &no_client()).unwrap();
    assert!(t.vault.authenticate(&mine).is_err());
}

#[test]
fn totp_codes_are_single_use_and_recovery_codes_work_once() {
    let t = TestVault::new();
    let (token, scope) = t.user("otp@studio.test");
    let account = t.vault.account(&scope);
    assert!(matches!(
        account.totp_setup("not my password", None, &no_client()),
        Err(VaultError::BadCredentials)
    ));
    let (secret, url) = account.totp_setup(PASSWORD, None, &no_client()).unwrap();
    assert!(
        url.starts_with("otpauth://totp/Studio%20Vault:otp%40studio.test?secret="),
        "{url}"
    );
    assert!(
        !account.me().unwrap().totp_enabled(),
        "not enforced before confirmation"
    );
    assert!(matches!(
        account.totp_enable("12345", &no_client()),
        Err(VaultError::BadTotp)
    ));
    let recovery = account
        .totp_enable(&code_at(&secret, now_secs(&t)), &no_client())
        .unwrap();
    assert_eq!(recovery.len(), 10);
    drop(token);

    assert!(matches!(
        t.vault
            .login("otp@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::TotpRequired)
    ));
    // The code that confirmed enrolment cannot sign in again.
    let used = code_at(&secret, now_secs(&t));
    assert!(matches!(
        t.vault
            .login("otp@studio.test", PASSWORD, Some(&used), &no_client()),
        Err(VaultError::BadTotp)
    ));
    t.advance_secs(30);
    let fresh = code_at(&secret, now_secs(&t));
    t.vault
        .login("otp@studio.test", PASSWORD, Some(&fresh), &no_client())
        .unwrap();
    assert!(
        t.vault
            .login("otp@studio.test", PASSWORD, Some(&fresh), &no_client())
            .is_err(),
        "replayed code"
    );

    let rc = recovery[3].to_uppercase();
    t.vault
        .login("otp@studio.test", PASSWORD, Some(&rc), &no_client())
        .unwrap();
    assert!(matches!(
        t.vault
            .login("otp@studio.test", PASSWORD, Some(&rc), &no_client()),
        Err(VaultError::BadTotp)
    ));

    t.advance_secs(30);
    assert!(
        account.totp_disable(PASSWORD, None, &no_client()).is_err(),
        "needs a code"
    );
    account
        .totp_disable(
            PASSWORD,
            Some(&code_at(&secret, now_secs(&t))),
            &no_client(),
        )
        .unwrap();
    t.vault
        .login("otp@studio.test", PASSWORD, None, &no_client())
        .unwrap();
}

#[test]
fn password_change_keeps_only_the_current_session() {
    let t = TestVault::new();
    let (current, scope) = t.user("pw@studio.test");
    let (other, _) = t
        .vault
        .login("pw@studio.test", PASSWORD, None, &no_client())
        .unwrap();
    let keep = t.vault.authenticate(&current).unwrap().session_id;
    let account = t.vault.account(&scope);
    assert!(
        account
            .change_password(
                "wrong password",
                None,
                "new password 123",
                &keep,
                &no_client()
            )
            .is_err()
    );
    account
        .change_password(PASSWORD, None, "new password 123", &keep, &no_client())
        .unwrap();
    t.vault.authenticate(&current).unwrap();
    assert!(t.vault.authenticate(&other).is_err());
    assert!(
        t.vault
            .login("pw@studio.test", PASSWORD, None, &no_client())
            .is_err()
    );
    t.vault
        .login("pw@studio.test", "new password 123", None, &no_client())
        .unwrap();
}

#[test]
fn deletion_disables_at_once_and_purges_after_the_grace() {
    let t = TestVault::with_policy(|p| p.deletion_grace_days = 30);
    let (token, scope) = t.user("gone@studio.test");
    let (_, neighbour) = t.user("stays@studio.test");
    for (scope, bytes) in [(&scope, 5000), (&scope, 7000), (&neighbour, 3000)] {
        let lib = t.vault.library(scope);
        let mut w = lib.begin_upload().unwrap();
        w.write(&vec![1u8; bytes]).unwrap();
        lib.commit_upload(
            w.finish().unwrap(),
            crate::TrackInfo::default(),
            Default::default(),
            &no_client(),
        )
        .unwrap();
    }
    let account = t.vault.account(&scope);
    account
        .request_deletion(PASSWORD, None, &no_client())
        .unwrap();
    assert!(t.vault.authenticate(&token).is_err());
    assert!(matches!(
        t.vault
            .login("gone@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::AccountInactive(_))
    ));

    let admin = t.vault.admin();
    t.advance_secs(29 * 86_400);
    assert!(admin.purge_due_accounts().unwrap().purged.is_empty());
    admin.cancel_deletion(scope.owner()).unwrap();
    t.vault
        .login("gone@studio.test", PASSWORD, None, &no_client())
        .unwrap();

    admin.schedule_deletion(scope.owner()).unwrap();
    t.advance_secs(30 * 86_400 + 1);
    assert_eq!(
        admin.purge_due_accounts().unwrap().purged,
        vec![scope.owner()]
    );
    assert!(matches!(
        admin.find("gone@studio.test"),
        Err(VaultError::NotFound)
    ));
    assert!(matches!(
        t.vault
            .login("gone@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::BadCredentials)
    ));
    let txn = t.vault.db().begin_read().unwrap();
    assert!(
        txn.open_table(TENANT_KEYS)
            .unwrap()
            .get(scope.owner().raw())
            .unwrap()
            .is_none(),
        "tenant key destroyed"
    );
}

/// A suspended account scheduled for deletion and then spared is suspended again, from the
/// same time: cancelling a deletion does not lift a suspension.
#[test]
fn cancelling_the_deletion_of_a_suspended_account_keeps_it_suspended() {
    let t = TestVault::new();
    let (_, scope) = t.user("held@studio.test");
    let (_, active) = t.user("active@studio.test");
    let admin = t.vault.admin();
    let since = admin.suspend(scope.owner()).unwrap().status;
    t.advance_secs(60);
    admin.schedule_deletion(scope.owner()).unwrap();
    admin.schedule_deletion(active.owner()).unwrap();
    t.advance_secs(60);
    assert_eq!(admin.cancel_deletion(scope.owner()).unwrap().status, since);
    assert!(matches!(
        t.vault
            .login("held@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::AccountInactive(_))
    ));
    admin.resume(scope.owner()).unwrap();
    t.vault
        .login("held@studio.test", PASSWORD, None, &no_client())
        .unwrap();
    // An active account's cancelled deletion leaves it active, and nothing of the earlier
    // suspension lingers for a later deletion of the resumed one.
    assert_eq!(
        admin.cancel_deletion(active.owner()).unwrap().status,
        AccountStatus::Active
    );
    admin.schedule_deletion(scope.owner()).unwrap();
    assert_eq!(
        admin.cancel_deletion(scope.owner()).unwrap().status,
        AccountStatus::Active
    );
}

#[test]
fn activity_shows_only_the_owners_records() {
    let t = TestVault::new();
    let (_, ana) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    t.vault.admin().suspend(ben.owner()).unwrap();
    let mine = t.vault.account(&ana).activity(None, 100).unwrap();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["session.create", "user.create"]);
    assert!(
        mine.iter()
            .all(|e| e.owner.as_deref() == Some(ana.owner().to_string().as_str()))
    );
    let page = t
        .vault
        .account(&ana)
        .activity(Some(mine[0].seq), 100)
        .unwrap();
    assert_eq!(page.len(), 1, "paging with `before`");
}

#[test]
fn plan_and_quota_overrides() {
    let t = TestVault::new();
    let (_, scope) = t.user("q@studio.test");
    let admin = t.vault.admin();
    let quotas = t.vault.policy().quotas;
    let rec = admin
        .set_plan_and_quota(scope.owner(), Some(Plan::Max), None)
        .unwrap();
    assert_eq!(rec.quota(&quotas), quotas.max);
    let rec = admin
        .set_plan_and_quota(scope.owner(), None, Some(Some(1234)))
        .unwrap();
    assert_eq!((rec.plan, rec.quota(&quotas)), (Plan::Max, 1234));
    let rec = admin
        .set_plan_and_quota(scope.owner(), None, Some(None))
        .unwrap();
    assert_eq!(rec.quota(&quotas), quotas.max);
}

#[test]
fn every_account_change_is_audited() {
    let t = TestVault::new();
    let (_, scope) = t.user("aud@studio.test");
    let admin = t.vault.admin();
    admin.suspend(scope.owner()).unwrap();
    admin.resume(scope.owner()).unwrap();
    let actions: Vec<String> = t
        .vault
        .audit_query(&Default::default())
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "session.create",
            "user.suspend",
            "user.resume"
        ]
    );
    assert!(t.vault.audit_verify().unwrap().ok);
}

fn session_count(t: &TestVault, scope: &OwnerScope) -> usize {
    t.vault.account(scope).sessions().unwrap().len()
}

fn last_record(t: &TestVault) -> studiovault_api::admin::AuditEntry {
    t.vault
        .audit_query(&Default::default())
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

#[test]
fn a_sign_in_verified_before_a_password_change_creates_no_session() {
    let t = TestVault::new();
    let (current, scope) = t.user("race@studio.test");
    let keep = t.vault.authenticate(&current).unwrap().session_id;
    // The sign-in's bcrypt ran against the old password...
    let verified = verify_login(&t.vault, "race@studio.test", PASSWORD, &no_client()).unwrap();
    // ...while the owner changed it, which ended every other session.
    t.vault
        .account(&scope)
        .change_password(PASSWORD, None, "new password 123", &keep, &no_client())
        .unwrap();
    assert_eq!(session_count(&t, &scope), 1);
    assert!(matches!(
        open_session(&t.vault, &verified, None, &no_client()),
        Err(VaultError::BadCredentials)
    ));
    assert_eq!(
        session_count(&t, &scope),
        1,
        "no session outlives the change"
    );
    let record = last_record(&t);
    assert_eq!(record.action, "session.login_failed");
    assert_eq!(
        record.detail.as_deref(),
        Some("the password changed during the sign-in")
    );

    // An admin's reset and a suspension in between refuse it the same way.
    let verified = verify_login(
        &t.vault,
        "race@studio.test",
        "new password 123",
        &no_client(),
    )
    .unwrap();
    t.vault
        .admin()
        .reset_password(scope.owner(), Some("reset password 456"))
        .unwrap();
    assert!(open_session(&t.vault, &verified, None, &no_client()).is_err());
    let verified = verify_login(
        &t.vault,
        "race@studio.test",
        "reset password 456",
        &no_client(),
    )
    .unwrap();
    t.vault.admin().suspend(scope.owner()).unwrap();
    assert!(matches!(
        open_session(&t.vault, &verified, None, &no_client()),
        Err(VaultError::AccountInactive(_))
    ));
    assert_eq!(session_count(&t, &scope), 0);

    // Nothing in between: the session opens.
    t.vault.admin().resume(scope.owner()).unwrap();
    let verified = verify_login(
        &t.vault,
        "race@studio.test",
        "reset password 456",
        &no_client(),
    )
    .unwrap();
    open_session(&t.vault, &verified, None, &no_client()).unwrap();
    assert_eq!(session_count(&t, &scope), 1);
    assert!(t.vault.audit_verify().unwrap().ok);
}

#[test]
fn failed_sign_ins_and_rechecks_are_audited() {
    let t = TestVault::new();
    let (_, scope) = t.user("fail@studio.test");
    let owner = scope.owner().to_string();
    let client = ClientInfo {
        ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: Some("guesser/1.0".into()),
    };

    // A wrong password for a known account: recorded for that account, by nobody signed in,
    // with the client only as its salted hash.
    let before = t.vault.audit_len().unwrap();
    assert!(matches!(
        t.vault
            .login("fail@studio.test", "wrong password!", None, &client),
        Err(VaultError::BadCredentials)
    ));
    assert_eq!(t.vault.audit_len().unwrap(), before + 1);
    let r = last_record(&t);
    assert_eq!(r.action, "session.login_failed");
    assert_eq!(r.actor, "anonymous");
    assert_eq!(r.owner.as_deref(), Some(owner.as_str()));
    assert_eq!(r.detail.as_deref(), Some("wrong password"));
    let hashed = r.client.clone().unwrap();
    assert!(!hashed.contains("203.0.113"), "{hashed}");

    // An unknown e-mail costs the same one record, which names no account and no address.
    assert!(matches!(
        t.vault
            .login("ghost@studio.test", "wrong password!", None, &client),
        Err(VaultError::BadCredentials)
    ));
    assert_eq!(t.vault.audit_len().unwrap(), before + 2);
    let r = last_record(&t);
    assert_eq!(
        (r.action.as_str(), r.owner.as_deref()),
        ("session.login_failed", None)
    );
    assert!(!format!("{r:?}").contains("ghost"), "{r:?}");
    assert_eq!(r.client.as_deref(), Some(hashed.as_str()));

    // Every re-check of a signed-in owner.
    let account = t.vault.account(&scope);
    let wrong = "not my password";
    assert!(
        account
            .reauthenticate(wrong, None, Recheck::Export, &client)
            .is_err()
    );
    assert_eq!(
        last_record(&t).detail.as_deref(),
        Some("export: wrong password")
    );
    assert!(
        account
            .change_password(wrong, None, "new password 123", "none", &client)
            .is_err()
    );
    assert_eq!(
        last_record(&t).detail.as_deref(),
        Some("password change: wrong password")
    );
    assert!(account.totp_setup(wrong, None, &client).is_err());
    assert!(account.request_deletion(wrong, None, &client).is_err());
    assert_eq!(
        last_record(&t).detail.as_deref(),
        Some("account deletion: wrong password")
    );
    let (secret, _) = account.totp_setup(PASSWORD, None, &client).unwrap();
    assert!(matches!(
        account.totp_enable("12345x", &client),
        Err(VaultError::BadTotp)
    ));
    assert_eq!(
        last_record(&t).detail.as_deref(),
        Some("two-factor enable: wrong second-factor code")
    );
    account
        .totp_enable(&code_at(&secret, now_secs(&t)), &client)
        .unwrap();
    assert!(
        account
            .totp_disable(PASSWORD, Some("aaaa-bbbb"), &client)
            .is_err()
    );
    assert_eq!(
        last_record(&t).detail.as_deref(),
        Some("two-factor disable: wrong second-factor code")
    );
    // A wrong second factor at sign-in, after the right password.
    assert!(matches!(
        t.vault
            .login("fail@studio.test", PASSWORD, Some("aaaa-bbbb"), &client),
        Err(VaultError::BadTotp)
    ));
    let r = last_record(&t);
    assert_eq!(r.action, "session.login_failed");
    assert_eq!(r.detail.as_deref(), Some("wrong second-factor code"));

    let failures: Vec<(String, String)> = account
        .activity(None, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action.ends_with("_failed"))
        .map(|e| (e.action, e.actor))
        .collect();
    let user = format!("user:{owner}");
    assert_eq!(
        failures,
        [
            ("session.login_failed".to_owned(), "anonymous".to_owned()),
            ("account.reauth_failed".to_owned(), user.clone()),
            ("account.reauth_failed".to_owned(), user.clone()),
            ("account.reauth_failed".to_owned(), user.clone()),
            ("account.reauth_failed".to_owned(), user.clone()),
            ("account.reauth_failed".to_owned(), user.clone()),
            ("account.reauth_failed".to_owned(), user),
            ("session.login_failed".to_owned(), "anonymous".to_owned()),
        ],
        "the owner sees every failure on their account, newest first, and not the unknown e-mail"
    );
    // A right password or code adds no failure.
    let n = t.vault.audit_len().unwrap();
    t.advance_secs(30);
    account
        .reauthenticate(
            PASSWORD,
            Some(&code_at(&secret, now_secs(&t))),
            Recheck::Export,
            &client,
        )
        .unwrap();
    assert_eq!(t.vault.audit_len().unwrap(), n);
    assert!(t.vault.audit_verify().unwrap().ok);
}

#[test]
fn display_names_are_validated_trimmed_and_audited() {
    let t = TestVault::new();
    let (_, scope) = t.user("ana@studio.test");
    let account = t.vault.account(&scope);
    for bad in [
        "x".repeat(81),
        "tab\there".into(),
        "line\nbreak".into(),
        "evil\u{202E}txt.exe".into(),
        "isolate\u{2066}".into(),
    ] {
        assert!(
            matches!(
                account.set_display_name(&bad, &no_client()),
                Err(VaultError::Invalid {
                    field: "display_name",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(account.me().unwrap().display_name, None, "nothing was kept");
    let me = account
        .set_display_name("  Ana Lucía Ortega  ", &no_client())
        .unwrap();
    assert_eq!(me.display_name.as_deref(), Some("Ana Lucía Ortega"));
    assert_eq!(
        account.me().unwrap().display_name.as_deref(),
        Some("Ana Lucía Ortega")
    );
    let me = account.set_display_name("   ", &no_client()).unwrap();
    assert_eq!(me.display_name, None, "blank clears it");
    let changes = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("account.name_change".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].actor, format!("user:{}", scope.owner()));
    assert!(
        changes.iter().all(|e| e.detail.is_none()),
        "the name itself stays out of the log"
    );
}

/// The token in the link of the newest `email-change` mail to the account.
fn link_token(t: &TestVault, owner: UserId) -> String {
    let mails = t
        .vault
        .messages_about(&format!("email-change/{owner}"))
        .unwrap();
    let mail = mails
        .iter()
        .filter(|m| m.template == "email-change")
        .max_by_key(|m| m.created_at_ms)
        .expect("an email-change mail");
    let link = &mail.values.iter().find(|(k, _)| k == "link").unwrap().1;
    assert!(
        link.starts_with("https://vault.test/confirm-email#sve_"),
        "{link}"
    );
    link.split_once('#').unwrap().1.to_owned()
}

fn start_change(t: &TestVault, scope: &OwnerScope, to: &str) -> Result<(String, i64)> {
    t.vault.account(scope).start_email_change(
        to,
        PASSWORD,
        None,
        "https://vault.test/confirm-email",
        &no_client(),
    )
}

#[test]
fn an_email_change_takes_effect_once_through_its_link() {
    let t = TestVault::new();
    let (_, scope) = t.user("ana@studio.test");
    let owner = scope.owner();
    let account = t.vault.account(&scope);
    // The password is re-checked, and a wrong one audited.
    assert!(matches!(
        account.start_email_change(
            "ana@label.test",
            "wrong password!",
            None,
            "https://vault.test/confirm-email",
            &no_client()
        ),
        Err(VaultError::BadCredentials)
    ));
    assert!(account.pending_email().unwrap().is_none());
    let (pending, expires) = start_change(&t, &scope, " Ana@Label.TEST ").unwrap();
    assert_eq!(pending, "ana@label.test");
    assert_eq!(
        account.pending_email().unwrap(),
        Some(("ana@label.test".to_owned(), expires))
    );
    let mails = t
        .vault
        .messages_about(&format!("email-change/{owner}"))
        .unwrap();
    let to = |template: &str| -> Vec<(String, Option<UserId>)> {
        mails
            .iter()
            .filter(|m| m.template == template)
            .map(|m| (m.to.clone(), m.account))
            .collect()
    };
    assert_eq!(
        to("email-change"),
        [("ana@label.test".to_owned(), Some(owner))]
    );
    assert_eq!(
        to("email-change-started"),
        [("ana@studio.test".to_owned(), Some(owner))],
        "the current address is told at once"
    );
    let token = link_token(&t, owner);
    // Only the secret's hash is stored.
    let secret = token.rsplit_once('_').unwrap().1;
    let txn = t.vault.db().begin_read().unwrap();
    let raw = txn
        .open_table(crate::store::EMAIL_CHANGES)
        .unwrap()
        .get(owner.raw())
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    drop(txn);
    assert!(!String::from_utf8_lossy(&raw).contains(secret));

    // Until the link is used, the old address signs in and the new one does not.
    assert!(
        t.vault
            .login("ana@label.test", PASSWORD, None, &no_client())
            .is_err()
    );
    // A tampered or cut-short token is refused alike.
    for bad in [
        format!("{token}x"),
        token[..token.len() - 1].to_owned(),
        token.replacen("sve_", "svw_", 1),
        "sve_nonsense".into(),
    ] {
        assert!(
            matches!(
                t.vault.confirm_email_change(&bad, &no_client()),
                Err(VaultError::EmailLinkInvalid)
            ),
            "{bad}"
        );
    }
    let user = t.vault.confirm_email_change(&token, &no_client()).unwrap();
    assert_eq!(user.email, "ana@label.test");
    assert!(account.pending_email().unwrap().is_none());
    t.vault
        .login("ana@label.test", PASSWORD, None, &no_client())
        .unwrap();
    assert!(matches!(
        t.vault
            .login("ana@studio.test", PASSWORD, None, &no_client()),
        Err(VaultError::BadCredentials)
    ));
    assert!(
        matches!(
            t.vault.confirm_email_change(&token, &no_client()),
            Err(VaultError::EmailLinkInvalid)
        ),
        "a link works once"
    );
    // The old address is told, and both steps are audited.
    let notices: Vec<_> = t
        .vault
        .messages_about(&format!("email-change/{owner}"))
        .unwrap()
        .into_iter()
        .filter(|m| m.template == "email-changed")
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to, "ana@studio.test");
    let log = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("account".into()),
            ..Default::default()
        })
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "account.email_change",
            "account.email_change_start",
            "account.reauth_failed"
        ]
    );
}

#[test]
fn an_address_change_can_be_cancelled_and_ends_when_the_credentials_are_taken_back() {
    let t = TestVault::new();
    let (session, scope) = t.user("ana@studio.test");
    let owner = scope.owner();
    let account = t.vault.account(&scope);
    let keep = t.vault.authenticate(&session).unwrap().session_id;

    // The owner cancels it: the link stops working, and the cancel is audited.
    start_change(&t, &scope, "ana@one.test").unwrap();
    let cancelled = link_token(&t, owner);
    account.cancel_email_change(&no_client()).unwrap();
    assert!(account.pending_email().unwrap().is_none());
    assert!(matches!(
        t.vault.confirm_email_change(&cancelled, &no_client()),
        Err(VaultError::EmailLinkInvalid)
    ));
    assert!(matches!(
        account.cancel_email_change(&no_client()),
        Err(VaultError::NotFound)
    ));
    let log = t
        .vault
        .audit_query(&studiovault_api::admin::AuditQuery {
            action: Some("account.email_change_cancel".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(log.len(), 1);

    // Whoever asked for a change held the password: once the owner changes it, an admin
    // resets it or ends the sessions, or the account is set for deletion, the link is void.
    let take_back: [(&str, &dyn Fn()); 4] = [
        ("password change", &|| {
            account
                .change_password(PASSWORD, None, "new password 123", &keep, &no_client())
                .unwrap();
            account
                .change_password("new password 123", None, PASSWORD, &keep, &no_client())
                .unwrap();
        }),
        ("password reset", &|| {
            t.vault
                .admin()
                .reset_password(owner, Some(PASSWORD))
                .unwrap();
        }),
        ("sessions revoked", &|| {
            t.vault.admin().revoke_sessions(owner).unwrap();
        }),
        ("deletion", &|| {
            account
                .request_deletion(PASSWORD, None, &no_client())
                .unwrap();
            t.vault.admin().cancel_deletion(owner).unwrap();
        }),
    ];
    for (what, take_back) in take_back {
        start_change(&t, &scope, "thief@elsewhere.test").unwrap();
        let stolen = link_token(&t, owner);
        take_back();
        assert!(account.pending_email().unwrap().is_none(), "{what}");
        assert!(
            matches!(
                t.vault.confirm_email_change(&stolen, &no_client()),
                Err(VaultError::EmailLinkInvalid)
            ),
            "{what}"
        );
        assert_eq!(account.me().unwrap().email, "ana@studio.test", "{what}");
    }
}

#[test]
fn a_password_change_asks_for_the_second_factor_when_it_is_on() {
    let t = TestVault::new();
    let (session, scope) = t.user("otp@studio.test");
    let account = t.vault.account(&scope);
    let keep = t.vault.authenticate(&session).unwrap().session_id;
    let (secret, _) = account.totp_setup(PASSWORD, None, &no_client()).unwrap();
    account
        .totp_enable(&code_at(&secret, now_secs(&t)), &no_client())
        .unwrap();
    t.advance_secs(30);
    assert!(matches!(
        account.change_password(PASSWORD, None, "new password 123", &keep, &no_client()),
        Err(VaultError::TotpRequired)
    ));
    assert!(matches!(
        account.change_password(
            PASSWORD,
            Some("000000"),
            "new password 123",
            &keep,
            &no_client()
        ),
        Err(VaultError::BadTotp)
    ));
    account
        .change_password(
            PASSWORD,
            Some(&code_at(&secret, now_secs(&t))),
            "new password 123",
            &keep,
            &no_client(),
        )
        .unwrap();
    assert!(password_matches(
        "new password 123",
        &account.me().unwrap().password_hash
    ));
}

#[test]
fn an_email_change_link_expires_is_replaced_and_never_takes_an_address_in_use() {
    let t = TestVault::new();
    let (_, scope) = t.user("ana@studio.test");
    let (_, ben) = t.user("ben@studio.test");
    let owner = scope.owner();
    // An address in use is answered as any other, so asking tells no one which addresses
    // have accounts; no link goes to it, and the current address is told as always.
    let (pending, _) = start_change(&t, &scope, "BEN@studio.test").unwrap();
    assert_eq!(pending, "ben@studio.test");
    let mails = t
        .vault
        .messages_about(&format!("email-change/{owner}"))
        .unwrap();
    assert!(mails.iter().all(|m| m.to != "ben@studio.test"), "{mails:?}");
    assert!(
        mails
            .iter()
            .any(|m| m.template == "email-change-started" && m.to == "ana@studio.test")
    );
    assert_eq!(ben.owner(), t.vault.account(&ben).me().unwrap().id);
    // One's own address is refused at once.
    assert!(matches!(
        start_change(&t, &scope, "ana@studio.test"),
        Err(VaultError::Invalid {
            field: "new_email",
            ..
        })
    ));
    assert!(matches!(
        start_change(&t, &scope, "not an address"),
        Err(VaultError::Invalid { field: "email", .. })
    ));

    // Expiry.
    start_change(&t, &scope, "ana@one.test").unwrap();
    let first = link_token(&t, owner);
    t.advance_secs(EMAIL_CHANGE_TTL_MS / 1000 + 1);
    assert!(t.vault.account(&scope).pending_email().unwrap().is_none());
    assert!(matches!(
        t.vault.confirm_email_change(&first, &no_client()),
        Err(VaultError::EmailLinkExpired)
    ));
    assert_eq!(t.vault.prune_email_changes().unwrap(), 1);
    assert!(matches!(
        t.vault.confirm_email_change(&first, &no_client()),
        Err(VaultError::EmailLinkInvalid)
    ));

    // A newer request replaces the one waiting.
    start_change(&t, &scope, "ana@two.test").unwrap();
    let second = link_token(&t, owner);
    t.advance_secs(1);
    start_change(&t, &scope, "ana@three.test").unwrap();
    let third = link_token(&t, owner);
    assert_ne!(second, third);
    assert!(matches!(
        t.vault.confirm_email_change(&second, &no_client()),
        Err(VaultError::EmailLinkInvalid)
    ));

    // Another account took the address meanwhile: refused, nothing changes.
    t.vault
        .account(&ben)
        .start_email_change(
            "ana@three.test",
            PASSWORD,
            None,
            "https://vault.test/confirm-email",
            &no_client(),
        )
        .unwrap();
    let bens = link_token(&t, ben.owner());
    t.vault.confirm_email_change(&bens, &no_client()).unwrap();
    assert!(matches!(
        t.vault.confirm_email_change(&third, &no_client()),
        Err(VaultError::EmailTaken)
    ));
    assert_eq!(
        t.vault.account(&scope).me().unwrap().email,
        "ana@studio.test"
    );
    assert_eq!(
        t.vault.admin().find("ana@three.test").unwrap().id,
        ben.owner()
    );
}
