//! The owners' web app in a real, headless Chromium: sign-in with TOTP, uploads with progress,
//! playback and seeking, sessions, keyboard-only use and an accessibility check on every page.
//! Screenshots of each page land in the test artifacts directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use studiovault_e2e::browser::Browser;
use studiovault_e2e::{Owner, PASSWORD, Server, wav, wesnoth_track};
use totp_rs::{Algorithm, Secret, TOTP};

fn totp_now(secret: &str, step_offset: i64) -> String {
    let secret = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new())
        .generate((now + step_offset * 30) as u64)
}

async fn assert_accessible(browser: &Browser, page: &str) {
    let violations = browser.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{page}: axe-core found serious violations: {}",
        serde_json::to_string_pretty(&violations).unwrap()
    );
}

/// A track's status and name, as its owner's API answers them.
async fn track_name(owner: &Owner, id: &str) -> (u16, String) {
    let (status, track) = owner.get_json(&format!("/api/tracks/{id}")).await;
    (
        status,
        track["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Enables TOTP for `email` through the API; answers the secret.
async fn enable_totp(server: &Server, email: &str) -> String {
    let owner = Owner::signed_in(server, email).await;
    let (_, setup) = owner
        .send(
            reqwest::Method::POST,
            "/api/account/totp/setup",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let (status, _) = owner
        .send(
            reqwest::Method::POST,
            "/api/account/totp/enable",
            Some(json!({"code": totp_now(&secret, -1)})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        owner
            .send(reqwest::Method::DELETE, "/api/session", None)
            .await
            .0,
        204
    );
    secret
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_signs_in_with_totp_uploads_plays_and_revokes_a_session() {
    let server = Server::start_deployed();
    server.add_user("owner@studio.test", "pro");
    server.add_user("next@studio.test", "pro");
    let secret = enable_totp(&server, "owner@studio.test").await;
    let browser = Browser::start_for(&server).await;

    // Sign in: password first, then the two-factor field appears.
    browser.goto(&server.url("/login")).await;
    browser.wait("#email").await;
    browser.screenshot("01-sign-in").await;
    assert_accessible(&browser, "sign-in").await;
    browser.type_into("#email", "owner@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#totp").await;
    browser.type_into("#totp", &totp_now(&secret, 0)).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#tracks").await;
    assert_eq!(browser.eval("location.pathname").await, "/library");

    // Upload two real songs at once and watch both progress bars finish.
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for name in ["battle.ogg", "elvish-theme.ogg"] {
        let path = dir.path().join(name);
        std::fs::write(&path, wesnoth_track(name).unwrap()).unwrap();
        paths.push(path.display().to_string());
    }
    let input = browser
        .client
        .find(fantoccini::Locator::Css("#file-input"))
        .await
        .unwrap();
    input.send_keys(&paths.join("\n")).await.unwrap();
    browser
        .until(
            "two progress bars",
            "document.querySelectorAll('#uploads progress').length === 2",
        )
        .await;
    browser
        .until(
            "both uploads done",
            "[...document.querySelectorAll('#uploads progress')].every(p => p.value === 1)",
        )
        .await;
    browser
        .until(
            "two rows",
            "document.querySelectorAll('#tracks tbody tr').length === 2",
        )
        .await;
    browser.screenshot("02-library").await;
    browser
        .assert_http2("sign-in, two-factor and two uploads")
        .await;
    assert_accessible(&browser, "library").await;

    // Play one, then seek with the keyboard on the scrubber.
    browser
        .click("#tracks tbody tr button[aria-label^='Play']")
        .await;
    browser
        .until(
            "playback",
            "document.getElementById('audio').currentTime > 0.2",
        )
        .await;
    browser.click("#wave").await;
    browser.keys("\u{E00E}").await; // PageUp: +30 s
    browser
        .until(
            "a seek forward",
            "document.getElementById('audio').currentTime > 20",
        )
        .await;
    browser.screenshot("03-playing").await;

    // A take the browser cannot decode (AIFF is stored as sent; Chromium plays none) says so,
    // where it once stayed silent at 0:00.
    let aiff = studiovault_e2e::ffmpeg(&wav(2.0, 5), "wav", &[], "aiff").unwrap();
    let organ = dir.path().join("organ.aiff");
    std::fs::write(&organ, aiff).unwrap();
    input.send_keys(&organ.display().to_string()).await.unwrap();
    browser
        .until(
            "three rows",
            "document.querySelectorAll('#tracks tbody tr').length === 3",
        )
        .await;
    browser
        .eval(
            "[...document.querySelectorAll('#tracks tbody tr')].find(r => r.textContent.includes('organ')) \
             .querySelector(\"button[aria-label^='Play']\").click()",
        )
        .await;
    let said = browser
        .until(
            "why the take does not play",
            "document.getElementById('toast').textContent.includes('cannot play') \
             && document.getElementById('toast').textContent",
        )
        .await;
    assert!(said.as_str().unwrap().contains("AIFF"), "{said}");

    // A second session elsewhere, revoked from the account page.
    let elsewhere = Owner::new(&server);
    let res = elsewhere
        .login("owner@studio.test", PASSWORD, Some(&totp_now(&secret, 1)))
        .await;
    assert_eq!(res.status(), 200);
    browser.click("nav a[href='/account']").await;
    browser
        .until(
            "two sessions listed",
            "document.querySelectorAll('#sessions tbody tr').length === 2",
        )
        .await;
    browser.screenshot("04-account").await;
    assert_accessible(&browser, "account").await;
    browser
        .click("#sessions button[aria-label^='Revoke']")
        .await;
    browser
        .until(
            "one session left",
            "document.querySelectorAll('#sessions tbody tr').length === 1",
        )
        .await;
    browser.assert_http2("the session revoked").await;
    assert_eq!(
        elsewhere.get("/api/tracks").await.status(),
        401,
        "the revoked session is dead"
    );

    // Eighteen takes chosen at once, more than the 16 uploads the server keeps open for an
    // owner: each gets its row at once, some wait their turn, and every one arrives.
    browser.click("nav a[href='/library']").await;
    browser.wait("#tracks").await;
    let takes = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (1..=18)
        .map(|i| {
            let path = takes.path().join(format!("take-{i:02}.wav"));
            std::fs::write(&path, wav(3.0, i)).unwrap();
            path.display().to_string()
        })
        .collect();
    browser
        .eval(
            "(() => { window.firstNotes = []; new MutationObserver((changes) => { \
               for (const c of changes) for (const li of c.addedNodes) \
                 if (li.dataset?.file?.startsWith('take-')) window.firstNotes.push(li.lastChild.textContent); \
             }).observe(document.getElementById('uploads'), { childList: true }); return true; })()",
        )
        .await;
    let input = browser
        .client
        .find(fantoccini::Locator::Css("#file-input"))
        .await
        .unwrap();
    input.send_keys(&paths.join("\n")).await.unwrap();
    let takes_shown = "[...document.querySelectorAll('#uploads li')].filter(li => li.dataset.file.startsWith('take-'))";
    browser
        .until(
            "every take's upload settled",
            &format!(
                "{takes_shown}.length === 18 && {takes_shown}.every(li => \
                 li.classList.contains('failed') || li.lastChild.textContent === 'done')"
            ),
        )
        .await;
    assert_eq!(
        browser
            .eval(&format!(
                "{takes_shown}.filter(li => li.classList.contains('failed')).map(li => `${{li.dataset.file}}: ${{li.lastChild.textContent}}`)"
            ))
            .await,
        json!([]),
        "takes that did not arrive"
    );
    let waited = browser
        .eval("window.firstNotes.filter(n => n.startsWith('waiting')).length")
        .await;
    assert!(
        waited.as_u64().unwrap() >= 2,
        "the takes past the server's 16 did not wait: {}",
        browser.eval("window.firstNotes").await
    );
    browser
        .until(
            "two songs and eighteen takes listed",
            "document.querySelectorAll('#tracks tbody tr').length === 21",
        )
        .await;

    // A flaky connection: the first piece drops, the question where to resume finds the network
    // still down, and the next piece meets the server still holding the dropped request
    // (409 upload_busy). Each is retried, and the upload arrives.
    browser
        .eval(
            "(() => { window.flaky = { pieces: 0, offsets: 0 }; \
               const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send; \
               XMLHttpRequest.prototype.open = function (method, url, ...rest) { \
                 this.asked = `${method} ${url}`; return open.call(this, method, url, ...rest); }; \
               XMLHttpRequest.prototype.send = function (body) { \
                 if (this.asked.startsWith('PATCH /api/uploads/')) { \
                   const n = ++window.flaky.pieces; \
                   if (n === 1) { setTimeout(() => this.onerror(new ProgressEvent('error'))); return; } \
                   if (n === 2) { \
                     Object.defineProperty(this, 'status', { value: 409 }); \
                     Object.defineProperty(this, 'responseText', { value: JSON.stringify({ error: 'upload_busy', message: 'another request is writing to this upload' }) }); \
                     this.getResponseHeader = () => null; \
                     setTimeout(() => this.onload(new ProgressEvent('load'))); return; } } \
                 return send.call(this, body); }; \
               const real = window.fetch; \
               window.fetch = (input, init) => { \
                 if (/^\\/api\\/uploads\\/[0-9a-f]+$/.test(String(input)) && (init?.method ?? 'GET') === 'GET' \
                     && ++window.flaky.offsets === 1) return Promise.reject(new TypeError('Failed to fetch')); \
                 return real(input, init); }; \
               return true; })()",
        )
        .await;
    let flaky = takes.path().join("flaky.wav");
    std::fs::write(&flaky, wav(3.0, 99)).unwrap();
    input.send_keys(&flaky.display().to_string()).await.unwrap();
    let outcome = browser
        .until(
            "the flaky upload settled",
            "(() => { const li = document.querySelector(\"#uploads li[data-file='flaky.wav']\"); \
             return li && (li.classList.contains('failed') || li.lastChild.textContent === 'done') \
               && li.lastChild.textContent; })()",
        )
        .await;
    assert_eq!(outcome, "done", "the upload gave up on a flaky connection");
    assert_eq!(
        browser
            .eval("[window.flaky.pieces, window.flaky.offsets >= 2]")
            .await,
        json!([3, true]),
        "a piece dropped, the offset asked again after a failure, a piece refused as busy"
    );

    // Signing out forgets the song and the library's folders and search: Space on the sign-in
    // page plays nothing, and the next owner sees none of it.
    browser.type_into("#search", "take").await;
    browser
        .until(
            "the takes found",
            "document.querySelectorAll('#tracks tbody tr').length === 18",
        )
        .await;
    browser
        .eval(
            "(history.pushState(null, '', '/library?folder=Unreleased%20LP'), \
              dispatchEvent(new PopStateEvent('popstate')), true)",
        )
        .await;
    browser
        .until(
            "the folder chosen",
            "document.getElementById('folder-filter')?.value === 'Unreleased LP' \
             && document.getElementById('search').value === 'take'",
        )
        .await;
    assert_eq!(
        browser
            .eval(
                "document.getElementById('audio').getAttribute('src')?.startsWith('/api/tracks/')"
            )
            .await,
        json!(true),
        "the song is still loaded in the player"
    );
    // A sign-out the server never heard of (the network failed) must not look done: the next
    // person at this computer would reload into this owner's library.
    browser
        .eval(
            "(() => { const real = window.fetch; window.fetch = (url, init) => { \
             if (url === '/api/session' && init?.method === 'DELETE') { \
             window.fetch = real; return Promise.reject(new TypeError('Failed to fetch')); } \
             return real(url, init); }; return true; })()",
        )
        .await;
    browser.click("#sign-out").await;
    browser
        .until(
            "the failed sign-out told",
            "document.getElementById('toast').textContent.startsWith('Not signed out')",
        )
        .await;
    assert_eq!(
        browser
            .eval("[!!document.getElementById('email'), location.pathname === '/login']")
            .await,
        json!([false, false]),
        "a sign-out that failed showed the sign-in page"
    );
    browser.click("#sign-out").await;
    browser.wait("#email").await;
    let audio_requests =
        "performance.getEntriesByType('resource').filter(r => r.name.includes('/audio')).length";
    let before = browser.eval(audio_requests).await;
    browser.press_on_page(' ').await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        browser
            .eval(&format!(
                "(() => {{ const a = document.getElementById('audio'); \
                 return [a.paused, a.getAttribute('src'), a.readyState, {audio_requests}]; }})()"
            ))
            .await,
        json!([true, null, 0, before]),
        "Space on the sign-in page played the signed-out owner's song"
    );
    browser.type_into("#email", "next@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#tracks").await;
    browser
        .until(
            "the next owner's library",
            "document.querySelector('main [role=status]')?.textContent",
        )
        .await;
    assert_eq!(
        browser
            .eval(
                "[[...document.querySelectorAll('#folder-filter option')].map(o => o.textContent), \
                  document.getElementById('search').value, document.querySelector('main [role=status]').textContent, \
                  document.getElementById('player').hidden, document.getElementById('now-title').textContent]"
            )
            .await,
        json!([["All folders"], "", "No tracks yet: drop some audio above.", true, ""]),
        "the next owner sees the last one's folders, search or song"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_works_from_the_keyboard_alone() {
    let server = Server::start();
    server.add_user("keys@studio.test", "pro");
    let owner = Owner::signed_in(&server, "keys@studio.test").await;
    let take_a = owner.upload_ok("Take A.wav", wav(2.0, 1)).await;
    let take_b = owner.upload_ok("Take B.wav", wav(2.0, 2)).await;
    let browser = Browser::start_for(&server).await;
    browser.goto(&server.url("/")).await;
    browser.wait("#email").await;
    // The e-mail field has the focus; Tab moves through the form, Enter submits.
    browser.keys("keys@studio.test").await;
    browser.keys("\u{E004}").await;
    browser.keys(PASSWORD).await;
    browser.keys("\u{E007}").await;
    browser.wait("#tracks").await;
    browser
        .until(
            "focus on the page",
            "document.activeElement && document.activeElement.id === 'main'",
        )
        .await;

    // A rename confirmed with the mouse, then Escape on "Delete track?": nothing is deleted.
    browser
        .click(&format!(
            "#tracks tr[data-id='{take_a}'] button[aria-label^='Rename']"
        ))
        .await;
    browser
        .type_into("dialog[open] input", "Take A, clicked")
        .await;
    browser.click("dialog[open] button[value=ok]").await;
    browser
        .until(
            "the clicked rename listed",
            "[...document.querySelectorAll('#tracks tbody td.name')].some(td => td.textContent === 'Take A, clicked')",
        )
        .await;
    browser
        .click(&format!(
            "#tracks tr[data-id='{take_b}'] button[aria-label^='Delete']"
        ))
        .await;
    browser.wait("dialog[open]").await;
    // The question carries no answer yet: a browser that keeps a dialog's returnValue on
    // Escape (Chromium no longer does) would otherwise take the rename's "ok" for a yes.
    assert_eq!(
        browser
            .eval("document.querySelector('dialog[open]').returnValue")
            .await,
        json!(""),
        "the delete dialog opened with an answer already given"
    );
    browser.keys("\u{E00C}").await; // Escape
    browser
        .until(
            "the dialog closed",
            "!document.querySelector('dialog[open]')",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        track_name(&owner, &take_b).await,
        (200, "Take B".to_owned()),
        "Escape on the delete dialog deleted the track"
    );
    assert_eq!(
        browser
            .eval(&format!(
                "!!document.querySelector(\"#tracks tr[data-id='{take_b}']\")"
            ))
            .await,
        json!(true)
    );
    // A rename typed and sent with Enter.
    browser
        .click(&format!(
            "#tracks tr[data-id='{take_a}'] button[aria-label^='Rename']"
        ))
        .await;
    browser
        .type_into("dialog[open] input", "Take A, typed")
        .await;
    browser.keys("\u{E007}").await; // Enter
    browser
        .until(
            "the dialog closed",
            "!document.querySelector('dialog[open]')",
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while track_name(&owner, &take_a).await.1 != "Take A, typed" {
        assert!(
            std::time::Instant::now() < deadline,
            "Enter in the rename field did not rename: {:?}",
            track_name(&owner, &take_a).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Enter on a row's ▶ plays the take, and the focus stays on that button, though the table
    // is drawn anew on every play and pause (it fell to the page's body).
    browser
        .eval(&format!(
            "document.querySelector(\"#tracks tr[data-id='{take_b}'] button[aria-label^='Play']\").focus()"
        ))
        .await;
    browser.keys("\u{E007}").await; // Enter
    browser
        .until(
            "the row marked playing",
            &format!(
                "document.querySelector(\"#tracks tr[data-id='{take_b}']\").classList.contains('playing')"
            ),
        )
        .await;
    assert_eq!(
        browser
            .eval("document.activeElement.getAttribute('aria-label')")
            .await,
        json!("Play Take B")
    );

    // Wrong password shows the reason, and throttling shows a wait.
    let fresh = Browser::start_for(&server).await;
    fresh.goto(&server.url("/login")).await;
    for _ in 0..6 {
        fresh.type_into("#email", "keys@studio.test").await;
        fresh.type_into("#password", "not the passphrase").await;
        fresh.keys("\u{E007}").await;
        fresh
            .until(
                "an error",
                "document.getElementById('login-error').textContent.length > 0",
            )
            .await;
        if fresh
            .eval("document.getElementById('login-error').textContent.includes('Try again in')")
            .await
            == json!(true)
        {
            fresh.screenshot("05-throttled").await;
            return;
        }
        fresh
            .until(
                "the button back",
                "!document.querySelector('form button[type=submit]').disabled",
            )
            .await;
    }
    panic!("sign-in was never throttled");
}

/// Issue 9's "done when": a new owner uploads a folder, finds the take in A minor near
/// 120 BPM with the key and tempo filters, and plays it from the middle within a second; then
/// sorts by tempo and shares the take from the Shares page, and the recipient's link plays.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_owner_finds_the_a_minor_take_near_120_bpm_in_a_folder_and_shares_it() {
    let server = Server::start_deployed();
    server.add_user("new@studio.test", "pro");
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("take-07.wav"),
        studiovault_e2e::song_in_a_minor_at_120_bpm(40.0),
    )
    .unwrap();
    for name in ["knolls.ogg", "battle.ogg"] {
        std::fs::write(folder.path().join(name), wesnoth_track(name).unwrap()).unwrap();
    }
    std::fs::write(folder.path().join("notes.txt"), "lyrics, second verse").unwrap();

    let browser = Browser::start_for(&server).await;
    browser.goto(&server.url("/login")).await;
    browser.type_into("#email", "new@studio.test").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait("#tracks").await;
    let input = browser
        .client
        .find(fantoccini::Locator::Css("#folder-input"))
        .await
        .unwrap();
    input
        .send_keys(&folder.path().display().to_string())
        .await
        .unwrap();
    browser
        .until(
            "three uploads, the notes skipped",
            "document.querySelectorAll('#uploads progress').length === 3 \
             && [...document.querySelectorAll('#uploads progress')].every(p => p.value === 1)",
        )
        .await;
    // The library polls while analysis runs; wait until every row has a key.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let done = browser
            .eval(
                "document.querySelectorAll('#tracks tbody tr').length === 3 && \
                 ![...document.querySelectorAll('#tracks tbody td')].some(td => td.textContent === 'analysing…')",
            )
            .await;
        if done == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analysis did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // Searches answer out of order: the one for `t` (take-07 and battle) is held back until
    // the one for `tak` (take-07 alone) has been drawn. The later search's rows stay.
    browser
        .eval(
            "(() => { const real = window.fetch; window.fetch = (input, init) => { \
               const url = new URL(String(input), location.href); \
               if (url.pathname === '/api/tracks' && url.searchParams.get('q') === 't') { \
                 window.heldAsked = true; \
                 return new Promise((r) => setTimeout(r, 1500)).then(() => real(input, init)) \
                   .then((res) => { setTimeout(() => { window.heldAnswered = true; }, 300); return res; }); } \
               return real(input, init); }; return true; })()",
        )
        .await;
    browser.type_into("#search", "t").await;
    browser
        .until("the search for `t` to go out", "window.heldAsked === true")
        .await;
    browser.keys("ak").await;
    browser
        .until(
            "the search for `tak`",
            "document.querySelectorAll('#tracks tbody tr').length === 1",
        )
        .await;
    browser
        .until("the held answer to land", "window.heldAnswered === true")
        .await;
    assert_eq!(
        browser
            .eval(
                "[document.getElementById('search').value, \
                 [...document.querySelectorAll('#tracks tbody td.name')].map((td) => td.textContent)]"
            )
            .await,
        json!(["tak", ["take-07"]]),
        "an earlier search's answer drew over a later one's"
    );
    browser
        .eval(
            "(() => { const s = document.getElementById('search'); s.value = ''; \
               s.dispatchEvent(new Event('input')); return true; })()",
        )
        .await;
    browser
        .until(
            "every track again",
            "document.querySelectorAll('#tracks tbody tr').length === 3",
        )
        .await;

    // Key and tempo filters leave one take.
    browser
        .eval(
            "(() => { const s = document.getElementById('key-filter'); s.value = 'A minor'; \
             s.dispatchEvent(new Event('change')); return true; })()",
        )
        .await;
    browser.type_into("#tempo-min", "115").await;
    browser.type_into("#tempo-max", "125").await;
    browser
        .until(
            "one match",
            "document.querySelectorAll('#tracks tbody tr').length === 1 \
             && document.querySelector('#tracks tbody td.name').textContent === 'take-07'",
        )
        .await;
    // A length filter that still includes the 40-second take, then one that excludes it.
    let pick = |id: &str, value: &str| {
        format!(
            "(() => {{ const s = document.getElementById('{id}'); s.value = '{value}'; \
             s.dispatchEvent(new Event('change')); return true; }})()"
        )
    };
    browser.eval(&pick("length-filter", "Under 1 min")).await;
    browser
        .eval(&pick("added-filter", "Added in the last day"))
        .await;
    browser
        .until(
            "still one match",
            "document.querySelectorAll('#tracks tbody tr').length === 1 && !document.querySelector('[role=status]')?.textContent.includes('No track')",
        )
        .await;
    browser.eval(&pick("length-filter", "Over 6 min")).await;
    browser
        .until(
            "no match",
            "document.querySelectorAll('#tracks tbody tr').length === 0",
        )
        .await;
    browser.eval(&pick("length-filter", "Any length")).await;
    browser
        .until(
            "the take again",
            "document.querySelectorAll('#tracks tbody tr').length === 1",
        )
        .await;
    // Its melody downloads as a MIDI file, transcribed from the song (it has no stems).
    browser
        .eval(
            "(fetch(document.querySelector('#tracks tbody tr a.midi-melody').href,              { credentials: 'same-origin' }).then(async (r) => { window.midi = [r.status,              r.headers.get('content-type'), r.headers.get('x-transcribed-from'),              String.fromCharCode(...new Uint8Array(await r.arrayBuffer()).slice(0, 4))]; }), true)",
        )
        .await;
    browser
        .until("the MIDI file", "window.midi !== undefined")
        .await;
    assert_eq!(
        browser.eval("window.midi").await,
        json!([200, "audio/midi", "track", "MThd"])
    );
    // Clicked, the link says it is transcribing, then saves the file it fetched.
    browser
        .eval(
            "(window.savedMidi = [], URL.createObjectURL = ((make) => (blob) => { window.savedMidi.push(blob);              return make.call(URL, blob); })(URL.createObjectURL),              document.querySelector('#tracks tbody tr a.midi-melody').click(),              document.getElementById('toast').textContent)",
        )
        .await;
    browser
        .until(
            "the melody saved",
            "document.getElementById('toast').textContent.startsWith('Saved')",
        )
        .await;
    browser
        .eval(
            "(window.savedMidi[0].arrayBuffer().then((b) => { window.savedHead =              String.fromCharCode(...new Uint8Array(b).slice(0, 4)); }), true)",
        )
        .await;
    browser
        .until("the saved bytes", "window.savedHead !== undefined")
        .await;
    assert_eq!(browser.eval("window.savedHead").await, json!("MThd"));
    let key = browser
        .eval("document.querySelector('#tracks tbody tr').textContent")
        .await;
    assert!(key.as_str().unwrap().contains("A minor · 8A"), "{key}");
    browser.screenshot("05-found").await;

    // Play it, then jump to the middle: audio flows from there within a second.
    browser
        .click("#tracks tbody tr button[aria-label^='Play']")
        .await;
    browser
        .until(
            "playback",
            "document.getElementById('audio').currentTime > 0.1",
        )
        .await;
    // Timed in the page, from the seek to the first frame with the playhead moving past it.
    browser
        .eval(
            "(() => { const a = document.getElementById('audio'); window.__sound = 0; \
             a.addEventListener('seeking', () => { const from = performance.now(); \
               const target = a.currentTime; \
               const check = () => { if (!a.paused && a.currentTime > target + 0.02) \
                 window.__sound = performance.now() - from; else requestAnimationFrame(check); }; \
               requestAnimationFrame(check); }, { once: true }); return true; })()",
        )
        .await;
    browser.click("#wave").await;
    let elapsed = browser
        .until("sound after the seek", "window.__sound")
        .await;
    let position = browser
        .eval("document.getElementById('audio').currentTime / document.getElementById('audio').duration")
        .await;
    assert!(
        (0.45..0.6).contains(&position.as_f64().unwrap()),
        "played from {position} of the way in"
    );
    eprintln!("seek to the middle → sound: {elapsed} ms");
    assert!(
        elapsed.as_f64().unwrap() < 1000.0,
        "from the seek to sound took {elapsed} ms"
    );

    // Sorting by tempo, with the filters cleared.
    browser.type_into("#tempo-min", "").await;
    browser.type_into("#tempo-max", "").await;
    browser
        .eval(
            "(() => { const s = document.getElementById('key-filter'); s.value = ''; \
             s.dispatchEvent(new Event('change')); return true; })()",
        )
        .await;
    browser
        .until(
            "all three again",
            "document.querySelectorAll('#tracks tbody tr').length === 3",
        )
        .await;
    browser.click("th button[data-sort='tempo']").await;
    let tempos = browser
        .until(
            "tempo order",
            "(() => { const t = [...document.querySelectorAll('#tracks tbody tr')].map(r => \
             parseFloat(r.children[3].textContent)); \
             return t.length === 3 && t.every((v, i) => i === 0 || (t[i - 1] - v) * \
             (document.querySelector(\"th button[data-sort='tempo']\").dataset.arrow === '▲' ? -1 : 1) >= 0) \
             && t.join(','); })()",
        )
        .await;
    assert!(tempos.as_str().unwrap().contains("120"), "{tempos}");

    // Share the take from the Shares page; the recipient's own link plays it.
    browser.click("nav a[href='/shares']").await;
    browser.wait("details.new-share summary").await;
    browser.click("details.new-share summary").await;
    browser
        .click("#share-tracks input[type=checkbox]:not(:checked)")
        .await;
    browser
        .until(
            "the take picked",
            "[...document.querySelectorAll('#share-tracks li')].some(li => \
             li.textContent.includes('take-07') && li.querySelector('input').checked) || \
             (document.querySelector('#share-tracks input:checked') && \
              document.querySelector('#share-tracks input:checked').closest('li').textContent)",
        )
        .await;
    browser.type_into("#share-title", "Take 7 for Ivy").await;
    browser
        .type_into("#share-recipients", "Ivy Studio <ivy@studio.test>")
        .await;
    browser.click("#share-download").await;
    // A double click makes one share.
    browser
        .eval(
            "(() => { const b = document.querySelector('#share-form button[type=submit]'); \
               b.click(); b.click(); return true; })()",
        )
        .await;
    browser.wait("section.share button.copy-link").await;
    browser.screenshot("06-shares").await;
    browser.assert_http2("the upload and the share").await;
    assert_accessible(&browser, "shares").await;
    let link = browser
        .eval("document.querySelector('section.share button.copy-link').dataset.link")
        .await;
    browser.goto(link.as_str().unwrap()).await;
    browser.wait("#portal").await;
    browser.click(".playlist li:first-child .pick").await;
    browser
        .until(
            "the recipient hears it",
            "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.2",
        )
        .await;
    browser
        .assert_http2("the recipient's page and playback")
        .await;

    // Back in the app, "who accessed my files" names the recipient.
    browser.goto(&server.url("/account")).await;
    browser
        .until(
            "the recipient's play in the activity",
            "[...document.querySelectorAll('#activity tbody tr')].some(r => \
             r.textContent.includes('Ivy Studio (recipient)') && r.textContent.includes('played a shared track'))",
        )
        .await;
    browser.screenshot("07-activity").await;
    assert_accessible(&browser, "account with activity").await;

    let (_, shares) = Owner::signed_in(&server, "new@studio.test")
        .await
        .get_json("/api/shares")
        .await;
    assert_eq!(
        shares.as_array().unwrap().len(),
        1,
        "a double click made two: {shares}"
    );

    // Two-factor sign-in turned on here: every form that re-checks asks for a code at once,
    // without a reload (forms built before asked for none, and the server refused them).
    browser.type_into("#totp-password", PASSWORD).await;
    browser.click("#totp form button[type=submit]").await;
    browser.wait("#totp-secret").await;
    let secret = browser
        .eval("document.getElementById('totp-secret').textContent")
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    browser.type_into("#totp-code", &totp_now(&secret, 0)).await;
    browser.click("#totp form button[type=submit]").await;
    browser.wait("#recovery-codes").await;
    assert_eq!(
        browser
            .eval(
                "['email-code', 'password-code', 'export-code', 'delete-code'].map(id => { \
                   const input = document.getElementById(id); \
                   return !input.closest('.code-field').hidden && input.required; })",
            )
            .await,
        json!([true, true, true, true])
    );

    // Deleting the account asks first, in the app's own dialog: Escape keeps the account.
    browser
        .type_into("#delete-code", &totp_now(&secret, 1))
        .await;
    browser.type_into("#delete-password", PASSWORD).await;
    browser.click("#delete-form button[type=submit]").await;
    browser.question_naming("Delete your account?").await;
    browser.escape_question().await;
    let shown = server.cli_ok(&["user", "show", "new@studio.test"], None);
    assert!(
        !shown.contains("deletion scheduled"),
        "Escape deleted the account: {shown}"
    );
    browser.click("#delete-form button[type=submit]").await;
    browser.wait("dialog[open]").await;
    browser.click("dialog[open] button[value=ok]").await;
    browser
        .until(
            "the deletion confirmed",
            "document.querySelector('#main h1')?.textContent === 'Account scheduled for deletion'",
        )
        .await;
    let shown = server.cli_ok(&["user", "show", "new@studio.test"], None);
    assert!(shown.contains("deletion scheduled"), "{shown}");
}
