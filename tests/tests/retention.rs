//! Retention on the real server, with its clock moved: the table `studiovault retention`
//! shows follows the config, and a housekeeping pass past each limit removes what aged out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use studiovault_e2e::{Owner, Server};

fn rule<'a>(table: &'a Value, what: &str) -> &'a Value {
    table
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["what"] == what))
        .unwrap_or_else(|| panic!("no `{what}` in the retention table: {table}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_retention_table_follows_the_config_and_housekeeping_enforces_it() {
    let server = Server::start_with(&[
        ("STUDIOVAULT_PRIVACY__SALT_RETENTION_DAYS", "3"),
        ("STUDIOVAULT_PRIVACY__ENDED_SHARE_COPIES_DAYS", "2"),
        ("STUDIOVAULT_ACCOUNTS__DELETION_GRACE_DAYS", "5"),
    ]);
    let table: Value =
        serde_json::from_str(&server.cli_ok(&["retention", "--json"], None)).unwrap();
    assert_eq!(table.as_array().map(Vec::len), Some(14), "{table}");
    assert_eq!(
        rule(
            &table,
            "Tracks deleted while a legal hold holds the account"
        )["kept"],
        "until no hold holds the account"
    );
    assert_eq!(
        rule(&table, "Daily salts of client hashes")["kept"],
        "3 days"
    );
    assert_eq!(
        rule(&table, "Recipients' marked copies after their share ends")["kept"],
        "2 days"
    );
    assert_eq!(
        rule(&table, "Deleted accounts")["kept"],
        "5 days grace, then purged"
    );
    assert_eq!(rule(&table, "Server logs")["kept"], "90 days");
    assert_eq!(
        rule(&table, "Snapshots (backups)")["kept"],
        "24 hourly, 7 daily, 12 weekly (12 weeks)"
    );
    let human = server.cli_ok(&["retention"], None);
    assert!(
        human.contains("set by privacy.salt_retention_days"),
        "{human}"
    );

    // Activity today: a salt for the client hashes, a session, an account to delete.
    server.add_user("stays@studio.test", "free");
    server.add_user("goes@studio.test", "free");
    let owner = Owner::signed_in(&server, "stays@studio.test").await;
    server.cli_ok(&["user", "delete", "goes@studio.test"], None);
    let nothing_yet = server.housekeeping();
    assert_eq!(
        (
            nothing_yet["salts"].as_u64(),
            nothing_yet["sessions"].as_u64()
        ),
        (Some(0), Some(0)),
        "{nothing_yet}"
    );
    assert_eq!(nothing_yet["purged"], serde_json::json!([]));

    // Past every limit: the salt (3 days), the session (30 days at most), the grace (5 days).
    server.advance_clock(31 * 86_400);
    let report = server.housekeeping();
    assert!(report["salts"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["sessions"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        report["purged"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        owner.get("/api/tracks").await.status(),
        401,
        "the expired session is refused"
    );
}
