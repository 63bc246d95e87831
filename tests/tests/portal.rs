//! The client portal in a real, headless Chromium: a recipient opens their link, enters the
//! password, plays, seeks, skips, downloads their watermarked copy, and the copy, re-encoded to
//! MP3 and cut to 30 seconds, traces back to them. A stream-only share shows no download and
//! refuses one; the portal stays usable at phone width and passes an accessibility check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use reqwest::Method;
use serde_json::json;
use studiovault_e2e::browser::Browser;
use studiovault_e2e::{Owner, Server, ffmpeg, wesnoth_track};

async fn assert_accessible(browser: &Browser, page: &str) {
    let violations = browser.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{page}: axe-core found serious violations: {}",
        serde_json::to_string_pretty(&violations).unwrap()
    );
}

fn excerpt(name: &str) -> Vec<u8> {
    ffmpeg(
        &wesnoth_track(name).unwrap(),
        "ogg",
        &["-ss", "15", "-t", "50", "-c:a", "flac"],
        "flac",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_plays_seeks_downloads_and_the_leak_is_traced() {
    let server = Server::start_deployed();
    server.add_user("artist@studio.test", "max");
    let owner = Owner::signed_in(&server, "artist@studio.test").await;
    let first = owner
        .upload_ok("Night Drive.flac", excerpt("battle.ogg"))
        .await;
    let second = owner
        .upload_ok("Elvish Theme.flac", excerpt("elvish-theme.ogg"))
        .await;
    let (status, share) = owner
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({
                "title": "Second album: first listen",
                "tracks": [first, second],
                "recipients": [{"name": "Gia Label", "email": "gia@label.test"}],
                "password": "first listen",
                "allow_download": true
            })),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    let link = server.url(share["recipients"][0]["link"].as_str().unwrap());

    let browser = Browser::start_for(&server).await;
    browser.goto(&link).await;
    browser.wait("#password").await;
    browser.assert_http2("the portal's password page").await;
    browser.screenshot("portal-01-password").await;
    assert_accessible(&browser, "portal password").await;
    browser.type_into("#password", "not it").await;
    browser.click("form button[type=submit]").await;
    browser.wait(".error").await;
    browser.type_into("#password", "first listen").await;
    browser.click("form button[type=submit]").await;
    browser.wait("#portal").await;
    browser
        .until(
            "both copies ready",
            "[...document.querySelectorAll('.playlist .status')].every(s => s.textContent === 'Ready')",
        )
        .await;
    let notice = browser
        .eval("document.querySelector('.notice').textContent")
        .await;
    assert!(
        notice
            .as_str()
            .unwrap()
            .contains("watermarked to you, Gia Label")
    );
    browser.screenshot("portal-02-playlist").await;
    assert_accessible(&browser, "portal playlist").await;

    // Play the first track; then seek to the middle by clicking the waveform.
    browser.click(".playlist li:first-child .pick").await;
    browser
        .until(
            "playback",
            "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.2",
        )
        .await;
    browser
        .until(
            "the waveform",
            "document.getElementById('wave').getAttribute('aria-valuemax') !== '0'",
        )
        .await;
    browser.click("#wave").await;
    let position = browser
        .until(
            "a seek to the middle",
            "(() => { const a = document.getElementById('audio'); \
             return Math.abs(a.currentTime - a.duration / 2) < 3 ? a.currentTime : 0; })()",
        )
        .await;
    assert!(position.as_f64().unwrap() > 20.0, "{position}");
    // Keyboard: End jumps near the end, ArrowLeft steps back five seconds.
    browser
        .eval("document.getElementById('wave').focus()")
        .await;
    browser.keys("\u{E010}").await; // End
    browser.keys("\u{E012}").await; // ArrowLeft
    browser
        .until(
            "keyboard seek",
            "(() => { const a = document.getElementById('audio'); \
             return a.currentTime > a.duration - 8 && a.currentTime < a.duration - 3; })()",
        )
        .await;
    browser.click("#next").await;
    browser
        .until(
            "the next track",
            "document.getElementById('now').textContent.includes('Elvish Theme')",
        )
        .await;

    // Download the first track: the file is the recipient's own marked FLAC.
    browser.click(".playlist li:first-child .download").await;
    let copy = browser.downloaded(".flac").await;
    assert_eq!(&copy[..4], b"fLaC");
    browser
        .assert_http2("unlock, play, seek and download")
        .await;
    let leaked = ffmpeg(
        &copy,
        "flac",
        &["-ss", "11", "-t", "30", "-b:a", "128k"],
        "mp3",
    )
    .unwrap();
    let trace = owner.trace(leaked).await;
    assert_eq!(trace["found"], true, "{trace}");
    assert_eq!(trace["recipient"]["name"], "Gia Label");

    // At phone width nothing overflows sideways.
    browser.client.set_window_size(390, 844).await.unwrap();
    assert_eq!(
        browser
            .eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true
    );
    browser.screenshot("portal-03-phone").await;

    // A stream-only share: no download button, and the server refuses one anyway.
    let (_, stream_only) = owner
        .send(
            Method::POST,
            "/api/shares",
            Some(json!({"tracks": [first], "recipients": [{"name": "Hal"}]})),
        )
        .await;
    let link = stream_only["recipients"][0]["link"].as_str().unwrap();
    browser.goto(&server.url(link)).await;
    browser.wait("#portal").await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('.download').length")
            .await,
        0
    );
    let refused = browser
        .until(
            "a refused download",
            &format!(
                "window.__refused ?? (fetch('{link}/download/{first}', {{method: 'POST'}}).then(r => window.__refused = r.status), null)"
            ),
        )
        .await;
    assert_eq!(refused, 403);
}
