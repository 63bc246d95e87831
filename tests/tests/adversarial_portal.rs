//! The adversarial suite on the share portal (`/s/…`, `/m/…`): forged and swapped links,
//! unlock cookies offered for another recipient or tampered, every field of a signed media URL
//! tampered in turn, replays, one kind of token offered where another is expected (ASVS 9.2.2),
//! and hostile strings in the pages. Each `"name", METHOD, "/path"` is one case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use serde_json::{Value, json};
use studiovault_e2e::attack::{Answer, Arena, DELETE, GET, HEAD, POST, PUT, atk};
use studiovault_e2e::workers::enrol;
use studiovault_e2e::{Owner, PASSWORD, Server, wav};

const HOSTILE_TITLE: &str = "<script>alert('title')</script>";
const HOSTILE_NAME: &str = "\"><img src=x onerror=alert(1)>";

async fn share(owner: &Owner, body: Value) -> Value {
    let (status, share) = owner
        .send(reqwest::Method::POST, "/api/shares", Some(body))
        .await;
    assert_eq!(status, 201, "{share}");
    share
}

fn link_of(share: &Value, i: usize) -> String {
    share["recipients"][i]["link"]
        .as_str()
        .unwrap()
        .trim_start_matches("/s/")
        .to_owned()
}

/// Sets `{prefix}_rec`, `_track`, `_kind`, `_e`, `_n`, `_s` from a signed URL's path and query.
fn split_url(a: &Arena, prefix: &str, url: &str) {
    let (path, query) = url.split_once('?').unwrap();
    let parts: Vec<&str> = path.split('/').collect(); // "", m, recipient, track, kind
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    a.set(leak(format!("{prefix}_rec")), parts[2]);
    a.set(leak(format!("{prefix}_track")), parts[3]);
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap();
        a.set(leak(format!("{prefix}_{k}")), v);
    }
}

fn flip(hex_or_b64: &str) -> String {
    let mut t = hex_or_b64.to_owned();
    let last = t.pop().unwrap();
    t.push(if last == '0' || last == 'A' { '1' } else { '0' });
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn links_unlocks_and_media_urls_refuse_every_forgery() {
    let server = Server::start();
    server.add_user("alice@studio.test", "pro");
    server.add_user("bob@studio.test", "pro");
    let alice = Owner::signed_in(&server, "alice@studio.test").await;
    let bob = Owner::signed_in(&server, "bob@studio.test").await;
    let a = Arena::new(&server);
    let track = alice.upload_ok("a.wav", wav(1.0, 1)).await;
    let other = alice.upload_ok("not shared.wav", wav(1.0, 2)).await;
    let bob_track = bob.upload_ok("bob.wav", wav(1.0, 3)).await;
    a.set("track", track.clone());
    a.set("unshared", other);
    a.set("bob_track", bob_track.clone());
    let locked = share(
        &alice,
        json!({"title": "Rough mixes", "tracks": [track], "recipients": [{"name": "Dee"}, {"name": "Eli"}],
               "password": "open sesame", "allow_download": true}),
    )
    .await;
    a.set("dee", link_of(&locked, 0));
    a.set("eli", link_of(&locked, 1));
    a.set("dee_id", locked["recipients"][0]["id"].as_str().unwrap());
    a.set("share", locked["id"].as_str().unwrap());
    let open = share(
        &alice,
        json!({"title": HOSTILE_TITLE, "tracks": [track], "recipients": [{"name": HOSTILE_NAME}]}),
    )
    .await;
    a.set("fay", link_of(&open, 0));
    let bobs = share(
        &bob,
        json!({"tracks": [bob_track], "recipients": [{"name": "Gus"}], "allow_download": true}),
    )
    .await;
    a.set("gus", link_of(&bobs, 0));
    a.set("worker_token", enrol(&server, "portal-adversary"));
    let owner_login = Owner::new(&server)
        .login("alice@studio.test", PASSWORD, None)
        .await;
    a.set(
        "alice_token",
        owner_login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| {
                c.split(';')
                    .next()?
                    .split_once('=')
                    .map(|(_, v)| v.to_owned())
            })
            .unwrap(),
    );

    for (name, forged) in [
        ("forged_dee", flip(&a.var("dee"))),
        ("padded_dee", format!("{}=", a.var("dee"))),
        ("short_dee", a.var("dee")[..20].to_owned()),
        ("dee_id_only", a.var("dee_id")),
    ] {
        a.set(Box::leak(name.to_owned().into_boxed_str()), forged);
    }

    // Unlocking: wrong, malformed and cross-site tries first, then Dee and Eli unlock.
    let nf = "link_unavailable";
    atk("unlock: a wrong password", POST, "/s/{dee}/unlock")
        .form(&[("password", "guess")])
        .is(&a, 401, "")
        .await;
    atk(
        "unlock: the password as JSON, not the form",
        POST,
        "/s/{dee}/unlock",
    )
    .json(json!({"password": "open sesame"}))
    .is(&a, 400, "bad_request")
    .await;
    atk("unlock: a 5 KiB form", POST, "/s/{dee}/unlock")
        .form(&[("password", &"p".repeat(5 * 1024))])
        .is(&a, 413, "too_large")
        .await;
    atk("unlock: from another site", POST, "/s/{dee}/unlock")
        .header("origin", "https://evil.example")
        .form(&[("password", "open sesame")])
        .is(&a, 403, "cross_origin")
        .await;
    atk("unlock: a forged link", POST, "/s/{forged_dee}/unlock")
        .form(&[("password", "open sesame")])
        .is(&a, 404, "")
        .await
        .text();
    let dee_unlocked = atk("unlock: dee's right password", POST, "/s/{dee}/unlock")
        .form(&[("password", "open sesame")])
        .is(&a, 303, "")
        .await;
    a.set(
        "dee_unlock",
        studiovault_e2e::cookie_set_by(&dee_unlocked.headers).unwrap_or_default(),
    );
    let eli_unlocked = atk("unlock: eli's right password", POST, "/s/{eli}/unlock")
        .form(&[("password", "open sesame")])
        .is(&a, 303, "")
        .await;
    a.set(
        "eli_unlock",
        studiovault_e2e::cookie_set_by(&eli_unlocked.headers).unwrap_or_default(),
    );
    let (expiry, tag) = a
        .var("dee_unlock")
        .split_once('.')
        .map(|(e, t)| (e.to_owned(), t.to_owned()))
        .unwrap();
    a.set(
        "dee_unlock_later",
        format!("{}.{tag}", expiry.parse::<i64>().unwrap() + 86_400),
    );
    a.set("dee_unlock_flipped", format!("{expiry}.{}", flip(&tag)));
    a.set("dee_unlock_short", format!("{expiry}.{}", &tag[..16]));

    // Pages: every forged or foreign link answers the same 404 as one that never existed.
    let never = atk(
        "page: a link of the right shape never issued",
        GET,
        "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .is(&a, 404, "")
    .await
    .text();
    let same_as_never = |page: Answer| assert_eq!(page.text(), never, "the 404 page differs");
    same_as_never(
        atk(
            "page: dee's link with its last character changed",
            GET,
            "/s/{forged_dee}",
        )
        .is(&a, 404, "")
        .await,
    );
    same_as_never(
        atk(
            "page: dee's link with base64 padding",
            GET,
            "/s/{padded_dee}",
        )
        .is(&a, 404, "")
        .await,
    );
    same_as_never(
        atk("page: dee's link truncated", GET, "/s/{short_dee}")
            .is(&a, 404, "")
            .await,
    );
    same_as_never(
        atk(
            "page: dee's recipient id without its tag",
            GET,
            "/s/{dee_id_only}",
        )
        .is(&a, 404, "")
        .await,
    );
    same_as_never(
        atk("page: an unlock cookie as the link", GET, "/s/{dee_unlock}")
            .is(&a, 404, "")
            .await,
    );
    same_as_never(
        atk(
            "page: an owner's session token as the link",
            GET,
            "/s/{alice_token}",
        )
        .is(&a, 404, "")
        .await,
    );
    same_as_never(
        atk("page: a worker token as the link", GET, "/s/{worker_token}")
            .is(&a, 404, "")
            .await,
    );
    same_as_never(
        atk(
            "page: a traversal as the link",
            GET,
            "/s/..%2F..%2Fadmin.sock",
        )
        .is(&a, 404, "")
        .await,
    );
    let page = atk("page: dee's link with eli's unlock cookie", GET, "/s/{dee}")
        .cookie("sv_unlock", "{eli_unlock}")
        .is(&a, 200, "")
        .await;
    let locked_page = |page: &Answer| {
        assert!(
            page.text().contains("type=\"password\"") && !page.text().contains("Rough mixes"),
            "the playlist showed without dee's unlock: {}",
            page.text()
        )
    };
    locked_page(&page);
    locked_page(
        &atk(
            "page: dee's unlock cookie with a later expiry",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_unlock", "{dee_unlock_later}")
        .is(&a, 200, "")
        .await,
    );
    locked_page(
        &atk(
            "page: dee's unlock cookie with a changed tag",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_unlock", "{dee_unlock_flipped}")
        .is(&a, 200, "")
        .await,
    );
    locked_page(
        &atk(
            "page: dee's unlock cookie cut to half its tag",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_unlock", "{dee_unlock_short}")
        .is(&a, 200, "")
        .await,
    );
    locked_page(
        &atk(
            "page: the owner's session cookie on a locked link",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_session", "{alice_token}")
        .is(&a, 200, "")
        .await,
    );
    locked_page(
        &atk(
            "page: dee's link itself as the unlock cookie",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_unlock", "{dee}")
        .is(&a, 200, "")
        .await,
    );
    let unlocked = atk(
        "page: dee's link with her own unlock cookie",
        GET,
        "/s/{dee}",
    )
    .cookie("sv_unlock", "{dee_unlock}")
    .is(&a, 200, "")
    .await;
    assert!(
        unlocked.text().contains("Rough mixes"),
        "{}",
        unlocked.text()
    );
    // Hostile strings in the title and the recipient's name are text on the page.
    let hostile = atk(
        "page: markup in the share's title and the recipient's name",
        GET,
        "/s/{fay}",
    )
    .is(&a, 200, "")
    .await;
    let html = hostile.text();
    assert!(
        !html.contains("<script>alert") && !html.contains("<img src=x"),
        "markup rendered: {html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert("),
        "title missing: {html}"
    );
    assert!(
        hostile
            .header("content-security-policy")
            .contains("script-src 'self'")
    );

    // The state the page polls.
    atk(
        "state: a locked link without its unlock cookie",
        GET,
        "/s/{dee}/state",
    )
    .is(&a, 403, "forbidden")
    .await;
    atk(
        "state: dee's link with eli's unlock cookie",
        GET,
        "/s/{dee}/state",
    )
    .cookie("sv_unlock", "{eli_unlock}")
    .is(&a, 403, "forbidden")
    .await;
    atk("state: a forged link", GET, "/s/{forged_dee}/state")
        .is(&a, 404, nf)
        .await;
    // Waveforms: the share's own tracks only.
    atk(
        "peaks: a locked link without its unlock cookie",
        GET,
        "/s/{dee}/peaks/{track}",
    )
    .is(&a, 403, "forbidden")
    .await;
    atk(
        "peaks: a track of another owner through fay's link",
        GET,
        "/s/{fay}/peaks/{bob_track}",
    )
    .is(&a, 404, "not_found")
    .await;
    atk(
        "peaks: the owner's unshared track through fay's link",
        GET,
        "/s/{fay}/peaks/{unshared}",
    )
    .is(&a, 404, "not_found")
    .await;
    atk("peaks: a forged link", GET, "/s/{forged_dee}/peaks/{track}")
        .is(&a, 404, nf)
        .await;

    // Signed URLs: asked for only through a live, unlocked link, for the share's tracks.
    atk(
        "media url: a locked link without its unlock cookie",
        POST,
        "/s/{dee}/play/{track}",
    )
    .is(&a, 403, "forbidden")
    .await;
    atk(
        "media url: dee's link with eli's unlock cookie",
        POST,
        "/s/{dee}/play/{track}",
    )
    .cookie("sv_unlock", "{eli_unlock}")
    .is(&a, 403, "forbidden")
    .await;
    atk(
        "media url: another owner's track through fay's link",
        POST,
        "/s/{fay}/play/{bob_track}",
    )
    .is(&a, 404, "not_found")
    .await;
    atk(
        "media url: the owner's unshared track through fay's link",
        POST,
        "/s/{fay}/play/{unshared}",
    )
    .is(&a, 404, "not_found")
    .await;
    atk(
        "media url: a download on a stream-only share",
        POST,
        "/s/{fay}/download/{track}",
    )
    .is(&a, 403, "forbidden")
    .await;
    atk(
        "media url: an unknown kind of access",
        POST,
        "/s/{fay}/delete/{track}",
    )
    .is(&a, 404, "not_found")
    .await;
    atk(
        "media url: a forged link",
        POST,
        "/s/{forged_dee}/play/{track}",
    )
    .is(&a, 404, nf)
    .await;
    atk(
        "media url: from another site",
        POST,
        "/s/{fay}/play/{track}",
    )
    .header("origin", "https://evil.example")
    .is(&a, 403, "cross_origin")
    .await;
    let play = atk("media url: dee's play URL", POST, "/s/{dee}/play/{track}")
        .cookie("sv_unlock", "{dee_unlock}")
        .is(&a, 200, "")
        .await;
    split_url(&a, "play", play.json["url"].as_str().unwrap());
    let down = atk(
        "media url: dee's download URL",
        POST,
        "/s/{dee}/download/{track}",
    )
    .cookie("sv_unlock", "{dee_unlock}")
    .is(&a, 200, "")
    .await;
    split_url(&a, "down", down.json["url"].as_str().unwrap());
    let eli_play = atk("media url: eli's play URL", POST, "/s/{eli}/play/{track}")
        .cookie("sv_unlock", "{eli_unlock}")
        .is(&a, 200, "")
        .await;
    split_url(&a, "eli", eli_play.json["url"].as_str().unwrap());
    // A link holder looping play URLs (each one an audited write) is slowed down after a
    // burst no listener reaches, with the wait to honour; other recipients play on.
    let mut granted = 0;
    let flooded = loop {
        // Each case has a name of its own (the arena refuses two alike).
        let case = format!("media url: play URL {} of a flood", granted + 1).leak();
        let answer = atk(case, POST, "/s/{fay}/play/{track}").send(&a).await;
        if answer.status != 200 || granted > 40 {
            break answer;
        }
        granted += 1;
    };
    assert_eq!(granted, 30, "the burst: {}", flooded.text());
    assert_eq!(flooded.status, 429, "{}", flooded.text());
    assert_eq!(flooded.json["error"], "too_many_plays");
    assert!(
        flooded
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s >= 1),
        "{:?}",
        flooded.headers
    );
    atk("media url: eli plays on", POST, "/s/{eli}/play/{track}")
        .cookie("sv_unlock", "{eli_unlock}")
        .is(&a, 200, "")
        .await;
    // Download URLs and comments are each rated the same way, apart from plays (each once
    // wrote a recipient event, an audit record and a notification of the owner). Dee asked
    // for one download URL above.
    for (what, path, body, burst, code) in [
        (
            "download URL",
            "/s/{dee}/download/{track}",
            None,
            29,
            "too_many_downloads",
        ),
        (
            "comment",
            "/s/{dee}/comments/{track}",
            Some(json!({"text": "again", "at_secs": 0.0})),
            30,
            "too_many_comments",
        ),
    ] {
        let mut granted = 0;
        let flooded = loop {
            let case = format!("rates: {what} {} of a flood", granted + 1).leak();
            let mut attack = atk(case, POST, path).cookie("sv_unlock", "{dee_unlock}");
            if let Some(body) = body.clone() {
                attack = attack.json(body);
            }
            let answer = attack.send(&a).await;
            if !(200..300).contains(&answer.status) || granted > 40 {
                break answer;
            }
            granted += 1;
        };
        assert_eq!(granted, burst, "{what}: {}", flooded.text());
        assert_eq!(flooded.status, 429, "{what}: {}", flooded.text());
        assert_eq!(flooded.json["error"], code);
    }
    let e: i64 = a.var("play_e").parse().unwrap();
    a.set("play_e_later", (e + 3600).to_string());
    a.set("play_e_neg", format!("-{e}"));
    a.set("play_n_flip", flip(&a.var("play_n")));
    a.set("play_s_flip", flip(&a.var("play_s")));
    a.set("play_s_short", a.var("play_s")[..32].to_owned());
    a.set("play_s_long", format!("{}00", a.var("play_s")));
    a.set("link_tag_hex", hex_tag_of_link(&a.var("dee")));
    a.set(
        "unlock_tag",
        a.var("dee_unlock").split_once('.').unwrap().1.to_owned(),
    );

    // Every field of a play URL, tampered in turn: the same 403, no hint which.
    let f = "forbidden";
    let r = "bytes=0-9";
    let media = |name, method, path| atk(name, method, path).header("range", r);
    media(
        "media: dee's play URL as issued",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 206, "")
    .await;
    media(
        "media: a later expiry",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e_later}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: a negative expiry",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e_neg}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: another nonce",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n_flip}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: a signature with one digit changed",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s_flip}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: half the signature",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s_short}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: the signature with a byte more",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s_long}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: no signature",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: the signature twice, a forged one first",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s_flip}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: eli's recipient id in dee's URL",
        GET,
        "/m/{eli_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: the owner's unshared track in dee's URL",
        GET,
        "/m/{play_rec}/{unshared}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: a play URL as a download",
        GET,
        "/m/{play_rec}/{play_track}/download?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: eli's signature on dee's URL",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={eli_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: the link's tag as the signature",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={link_tag_hex}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: an unlock cookie's tag as the signature",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={unlock_tag}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: another method than the signed one",
        POST,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: PUT on a media URL",
        PUT,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: DELETE on a media URL",
        DELETE,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media("media: garbage ids", GET, "/m/x/y/play?e=1&n=00&s=00")
        .is(&a, 403, f)
        .await;
    media(
        "media: a traversal in the recipient",
        GET,
        "/m/..%2F..%2Fdata/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    atk(
        "media: a play URL without Range",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 416, "range_required")
    .await;
    atk(
        "media: HEAD on a download URL",
        HEAD,
        "/m/{down_rec}/{down_track}/download?e={down_e}&n={down_n}&s={down_s}",
    )
    .is(&a, 403, "")
    .await;
    let got = atk(
        "media: dee's download URL once",
        GET,
        "/m/{down_rec}/{down_track}/download?e={down_e}&n={down_n}&s={down_s}",
    )
    .is(&a, 200, "")
    .await;
    assert_eq!(&got.bytes[..4], b"RIFF");
    let disposition = got.header("content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    atk(
        "media: dee's download URL replayed",
        GET,
        "/m/{down_rec}/{down_track}/download?e={down_e}&n={down_n}&s={down_s}",
    )
    .is(&a, 403, f)
    .await;
    // Hex is read in either case: the same nonce in upper case is the same spent nonce.
    a.set("down_n_upper", a.var("down_n").to_uppercase());
    a.set("down_s_upper", a.var("down_s").to_uppercase());
    atk(
        "media: the spent download replayed in upper-case hex",
        GET,
        "/m/{down_rec}/{down_track}/download?e={down_e}&n={down_n_upper}&s={down_s_upper}",
    )
    .is(&a, 403, f)
    .await;
    atk(
        "media: the spent download's nonce on the play URL",
        GET,
        "/m/{down_rec}/{down_track}/play?e={down_e}&n={down_n}&s={down_s}",
    )
    .header("range", r)
    .is(&a, 403, f)
    .await;

    // Dee is revoked: her link, her unlock cookie and her URLs die; Eli's live on.
    alice
        .send(
            reqwest::Method::DELETE,
            &format!(
                "/api/shares/{}/recipients/{}",
                a.var("share"),
                a.var("dee_id")
            ),
            None,
        )
        .await;
    same_as_never(
        atk(
            "page: a revoked recipient's link with her unlock cookie",
            GET,
            "/s/{dee}",
        )
        .cookie("sv_unlock", "{dee_unlock}")
        .is(&a, 404, "")
        .await,
    );
    atk(
        "media url: a revoked recipient's link",
        POST,
        "/s/{dee}/play/{track}",
    )
    .cookie("sv_unlock", "{dee_unlock}")
    .is(&a, 404, nf)
    .await;
    atk(
        "unlock: a revoked recipient's link",
        POST,
        "/s/{dee}/unlock",
    )
    .form(&[("password", "open sesame")])
    .is(&a, 404, "")
    .await;
    media(
        "media: a revoked recipient's play URL",
        GET,
        "/m/{play_rec}/{play_track}/play?e={play_e}&n={play_n}&s={play_s}",
    )
    .is(&a, 403, f)
    .await;
    media(
        "media: eli's play URL after dee's revocation",
        GET,
        "/m/{eli_rec}/{eli_track}/play?e={eli_e}&n={eli_n}&s={eli_s}",
    )
    .is(&a, 206, "")
    .await;
    // A quarter of an hour later, Eli's play URL has expired too.
    server.advance_clock(16 * 60);
    media(
        "media: eli's play URL past its expiry",
        GET,
        "/m/{eli_rec}/{eli_track}/play?e={eli_e}&n={eli_n}&s={eli_s}",
    )
    .is(&a, 403, f)
    .await;
    atk(
        "state: eli's unlock cookie a quarter hour on",
        GET,
        "/s/{eli}/state",
    )
    .cookie("sv_unlock", "{eli_unlock}")
    .is(&a, 200, "")
    .await;
    server.advance_clock(13 * 3600);
    atk(
        "state: eli's unlock cookie past its 12 hours",
        GET,
        "/s/{eli}/state",
    )
    .cookie("sv_unlock", "{eli_unlock}")
    .is(&a, 403, "forbidden")
    .await;
    // A body trickled in: the unlock form must arrive whole within 10 seconds.
    let started = std::time::Instant::now();
    let answer = trickle(
        &server,
        &format!("/s/{}/unlock", a.var("eli")),
        100,
        b"password=open",
    )
    .await;
    a.check(
        "unlock: a form trickled in is cut off with 408",
        answer.starts_with("HTTP/1.1 408")
            && started.elapsed() < std::time::Duration::from_secs(20),
        &answer,
    );
    // Bob's recipient was never touched.
    atk(
        "page: another owner's recipient is unaffected",
        GET,
        "/s/{gus}",
    )
    .is(&a, 200, "")
    .await;
    println!("portal cases: {}", a.count());
}

/// Sends `path` a POST whose body announces `length` bytes, sends `start` of it, then nothing;
/// answers what the server says (or the empty string if it says nothing within 30 s).
async fn trickle(server: &Server, path: &str, length: usize, start: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut answer));
    match read.await {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
        _ => String::new(),
    }
}

/// The 128-bit tag of a link token (its last 16 bytes), in hex: the shape of a signature.
fn hex_tag_of_link(link: &str) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(link)
        .unwrap();
    let mut tag = hex::encode(&raw[16..]);
    tag.push_str(&"0".repeat(64 - tag.len()));
    tag
}
