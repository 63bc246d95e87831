//! The adversarial suite for review with clients: every route of comments, versions,
//! listening, upload links and notifications refuses a caller without credentials, another
//! owner's ids, another share's link and a forged link, and leaves the owner's things as they
//! were.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use serde_json::{Value, json};
use studiovault_e2e::attack::{Arena, DELETE, GET, POST, PUT, atk};
use studiovault_e2e::{Owner, Server, wav};

async fn post_ok(owner: &Owner, path: &str, body: Value) -> Value {
    let (status, answer) = owner.send(reqwest::Method::POST, path, Some(body)).await;
    assert!(status == 200 || status == 201, "{path}: {status} {answer}");
    answer
}

/// Alice and Bob, each with a track and a share of it; Alice with a comment of her recipient's,
/// an upload link and a notification.
async fn world(server: &Server) -> (Arena, Owner) {
    server.add_user("alice@studio.test", "pro");
    server.add_user("bob@studio.test", "pro");
    let alice = Owner::signed_in(server, "alice@studio.test").await;
    let bob = Owner::signed_in(server, "bob@studio.test").await;
    let arena = Arena::new(server);
    arena.set("cookie", "sv_session");
    arena.set(
        "bob_token",
        studiovault_e2e::session_token(server, "bob@studio.test").await,
    );
    for (owner, name) in [(&alice, "alice"), (&bob, "bob")] {
        let track = owner.upload_ok("Take.wav", wav(2.0, 1)).await;
        let share = post_ok(
            owner,
            "/api/shares",
            json!({"title": "Preview", "tracks": [track], "recipients": [{"name": "Ana"}]}),
        )
        .await;
        let link = share["recipients"][0]["link"].as_str().unwrap();
        let (track_var, share_var, link_var) = match name {
            "alice" => ("alice_track", "alice_share", "alice_link"),
            _ => ("bob_track", "bob_share", "bob_link"),
        };
        arena.set(track_var, track);
        arena.set(share_var, share["id"].as_str().unwrap());
        arena.set(link_var, link.trim_start_matches("/s/"));
    }
    let client = reqwest::Client::new();
    let comment: Value = client
        .post(server.url(&format!(
            "/s/{}/comments/{}",
            arena.var("alice_link"),
            arena.var("alice_track")
        )))
        .json(&json!({"text": "Alice's recipient speaks", "at_secs": 1.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    arena.set("alice_comment", comment["id"].as_str().unwrap());
    let link = post_ok(&alice, "/api/upload-links", json!({"name": "Cleo"})).await;
    arena.set("alice_upload_link", link["id"].as_str().unwrap());
    arena.set(
        "alice_upload_token",
        link["link"].as_str().unwrap().trim_start_matches("/u/"),
    );
    (arena, alice)
}

/// Alice's comment, upload link and notification are as they were.
async fn alice_is_intact(alice: &Owner, a: &Arena) {
    let (_, comments) = alice
        .get_json(&format!("/api/tracks/{}/comments", a.var("alice_track")))
        .await;
    assert_eq!(
        comments["comments"].as_array().unwrap().len(),
        1,
        "{comments}"
    );
    assert_eq!(comments["comments"][0]["resolved"], false);
    let (_, links) = alice.get_json("/api/upload-links").await;
    assert_eq!(links["links"][0]["status"], "active", "{links}");
    let (_, news) = alice.get_json("/api/notifications").await;
    assert_eq!(news["unread"], 1, "{news}");
    assert_eq!(news["mail"], "immediate");
}

#[tokio::test(flavor = "multi_thread")]
async fn review_routes_refuse_strangers_other_owners_and_forged_links() {
    let server = Server::start();
    let (a, alice) = world(&server).await;
    let a = &a;
    let (u, nf) = ("unauthenticated", "not_found");

    // No credentials.
    for (name, method, path) in [
        (
            "review/comments list: no credentials",
            GET,
            "/api/tracks/{alice_track}/comments",
        ),
        (
            "review/versions: no credentials",
            GET,
            "/api/tracks/{alice_track}/versions",
        ),
        (
            "review/listening: no credentials",
            GET,
            "/api/shares/{alice_share}/listening",
        ),
        (
            "review/upload links list: no credentials",
            GET,
            "/api/upload-links",
        ),
        (
            "review/notifications: no credentials",
            GET,
            "/api/notifications",
        ),
        (
            "review/comment delete: no credentials",
            DELETE,
            "/api/comments/{alice_comment}",
        ),
        (
            "review/upload link revoke: no credentials",
            DELETE,
            "/api/upload-links/{alice_upload_link}",
        ),
    ] {
        atk(name, method, path).is(a, 401, u).await;
    }
    atk(
        "review/comment add: no credentials",
        POST,
        "/api/tracks/{alice_track}/comments",
    )
    .json(json!({"text": "x", "at_secs": 0.5}))
    .is(a, 401, u)
    .await;
    atk(
        "review/comment change: no credentials",
        POST,
        "/api/comments/{alice_comment}",
    )
    .json(json!({"resolved": true}))
    .is(a, 401, u)
    .await;
    atk(
        "review/upload link create: no credentials",
        POST,
        "/api/upload-links",
    )
    .json(json!({"name": "x"}))
    .is(a, 401, u)
    .await;
    atk(
        "review/notifications read: no credentials",
        POST,
        "/api/notifications/read",
    )
    .json(json!({}))
    .is(a, 401, u)
    .await;
    atk(
        "review/notification mail: no credentials",
        PUT,
        "/api/notifications/mail",
    )
    .json(json!({"mail": "off"}))
    .is(a, 401, u)
    .await;

    // Bob, signed in, on Alice's ids.
    let bob = |name, method, path| atk(name, method, path).cookie("{cookie}", "{bob_token}");
    for (name, method, path) in [
        (
            "idor review/comments list: bob on alice's track",
            GET,
            "/api/tracks/{alice_track}/comments",
        ),
        (
            "idor review/versions: bob on alice's track",
            GET,
            "/api/tracks/{alice_track}/versions",
        ),
        (
            "idor review/listening: bob on alice's share",
            GET,
            "/api/shares/{alice_share}/listening",
        ),
        (
            "idor review/comment delete: bob on alice's comment",
            DELETE,
            "/api/comments/{alice_comment}",
        ),
        (
            "idor review/upload link revoke: bob on alice's link",
            DELETE,
            "/api/upload-links/{alice_upload_link}",
        ),
    ] {
        bob(name, method, path).is(a, 404, nf).await;
    }
    bob(
        "idor review/comment add: bob on alice's track",
        POST,
        "/api/tracks/{alice_track}/comments",
    )
    .json(json!({"text": "x", "at_secs": 0.5}))
    .is(a, 404, nf)
    .await;
    bob(
        "idor review/comment reply: bob into alice's thread",
        POST,
        "/api/tracks/{bob_track}/comments",
    )
    .json(json!({"text": "x", "parent": a.var("alice_comment")}))
    .is(a, 400, "invalid_input")
    .await;
    bob(
        "idor review/comment change: bob resolves alice's thread",
        POST,
        "/api/comments/{alice_comment}",
    )
    .json(json!({"resolved": true}))
    .is(a, 404, nf)
    .await;
    bob(
        "idor review/comment post to alice's share",
        POST,
        "/api/tracks/{bob_track}/comments",
    )
    .json(json!({"text": "x", "at_secs": 0.5, "share": a.var("alice_share")}))
    .is(a, 400, "invalid_input")
    .await;
    // Bob's own lists hold none of Alice's.
    let listed = bob(
        "review/upload links list: bob sees his own only",
        GET,
        "/api/upload-links",
    )
    .is(a, 200, "")
    .await;
    assert_eq!(listed.json["links"], json!([]));
    bob(
        "review/notifications read: bob marks alice's read",
        POST,
        "/api/notifications/read",
    )
    .json(json!({"ids": [a.var("alice_comment")]}))
    .is(a, 204, "")
    .await;
    bob(
        "review/notification mail: a setting that does not exist",
        PUT,
        "/api/notifications/mail",
    )
    .json(json!({"mail": "hourly"}))
    .is(a, 400, "bad_request")
    .await;
    bob(
        "review/upload link create: a cap of no files",
        POST,
        "/api/upload-links",
    )
    .json(json!({"name": "x", "max_files": 0}))
    .is(a, 400, "invalid_input")
    .await;

    // Another share's link, and forged links, on the portal and the upload link.
    let gone = "link_unavailable";
    atk(
        "portal review/comments: bob's link on alice's track",
        GET,
        "/s/{bob_link}/comments/{alice_track}",
    )
    .is(a, 404, nf)
    .await;
    atk(
        "portal review/comment: bob's link on alice's track",
        POST,
        "/s/{bob_link}/comments/{alice_track}",
    )
    .json(json!({"text": "x", "at_secs": 0.5}))
    .is(a, 404, nf)
    .await;
    atk(
        "portal review/comment: bob's link replies in alice's thread",
        POST,
        "/s/{bob_link}/comments/{bob_track}",
    )
    .json(json!({"text": "x", "parent": a.var("alice_comment")}))
    .is(a, 400, "invalid_input")
    .await;
    atk(
        "portal review/listen: a forged link",
        POST,
        "/s/AAAAforged/listen/{alice_track}",
    )
    .json(json!({"from_secs": 0.0, "to_secs": 1.0}))
    .is(a, 404, gone)
    .await;
    atk(
        "portal review/listen: nothing played yet",
        POST,
        "/s/{alice_link}/listen/{alice_track}",
    )
    .json(json!({"from_secs": 0.0, "to_secs": 1.0}))
    .is(a, 403, "forbidden")
    .await;
    atk(
        "portal review/listen: a time that is not one",
        POST,
        "/s/{alice_link}/listen/{alice_track}",
    )
    .json(json!({"from_secs": 5.0, "to_secs": 1.0}))
    .is(a, 400, "invalid_input")
    .await;
    atk(
        "portal review/open: a forged link",
        POST,
        "/s/AAAAforged/open",
    )
    .is(a, 404, gone)
    .await;
    atk("upload link/page: a forged link", GET, "/u/AAAAforged")
        .is(a, 404, "")
        .await;
    atk(
        "upload link/page: alice's link with its tag tampered",
        GET,
        "/u/{alice_upload_token}x",
    )
    .is(a, 404, "")
    .await;
    atk(
        "upload link/files: a forged link",
        POST,
        "/u/AAAAforged/files",
    )
    .raw(wav(0.2, 1), "multipart/form-data; boundary=x")
    .is(a, 404, gone)
    .await;

    alice_is_intact(&alice, a).await;
}
