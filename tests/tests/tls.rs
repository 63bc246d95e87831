//! HTTPS end to end: the real binary with TLS on, a real ACME server (Debian's pebble) on
//! loopback, clients that trust only the right root, certificate swaps under open connections,
//! and the ACME failure paths: the CA down, a failing challenge, and a rate limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::Value;
use studiovault_e2e::pebble::Pebble;
use studiovault_e2e::rate_limit::RateLimitedCa;
use studiovault_e2e::tls::{self, ALL_VERSIONS, header};
use studiovault_e2e::{Server, free_port};

const DOMAIN: &str = "vault.studio.test";

fn tls_status(server: &Server) -> Value {
    let out = server.cli(&["tls", "status", "--json"], None);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tls status --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log()
        )
    })
}

/// `studiovault status` reports the "TLS certificate" capability as failing.
fn assert_certificate_capability_failing(server: &Server) {
    let full: Value =
        serde_json::from_slice(&server.cli(&["status", "--json"], None).stdout).unwrap();
    let cap = full["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "TLS certificate")
        .unwrap();
    assert_eq!(cap["state"], "failing", "{cap}");
}

/// Polls the admin status until `done` holds, or fails with both logs.
fn wait_status(
    server: &Server,
    pebble: Option<&Pebble>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = tls_status(server);
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "waited 60 s for {what}; status {status:#}\nserver log:\n{}\npebble log:\n{}",
            server.log(),
            pebble.map(Pebble::log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_mode_serves_the_api_over_tls13_with_strict_headers() {
    let (https, http) = (free_port(), free_port());
    let server = Server::start_https(
        https,
        http,
        &[
            ("STUDIOVAULT_TLS__MODE", "self-signed"),
            (
                "STUDIOVAULT_TLS__SELF_SIGNED__NAMES",
                "[\"studio.local\", \"127.0.0.1\"]",
            ),
        ],
    );
    let status = tls_status(&server);
    assert_eq!(status["mode"], "self-signed");
    let root_path = status["root_certificate"]["path"].as_str().unwrap();
    let root = std::fs::read_to_string(root_path).unwrap();
    assert!(
        status["certificate"]["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "studio.local")
    );
    // The CLI prints where the root is and its fingerprint for people.
    let text = String::from_utf8_lossy(&server.cli(&["tls", "status"], None).stdout).into_owned();
    assert!(text.contains(root_path), "{text}");
    assert!(
        text.contains(status["root_certificate"]["sha256"].as_str().unwrap()),
        "{text}"
    );

    // A client trusting only the local root gets the API, HTTP/2 offered first.
    let trusting = tls::client_config(&root, &["h2", "http/1.1"], ALL_VERSIONS);
    let stream = tls::connect(https, "studio.local", trusting).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let h1 = tls::client_config(&root, &["http/1.1"], ALL_VERSIONS);
    let mut stream = tls::connect(https, "studio.local", h1.clone())
        .await
        .unwrap();
    let (code, headers) = tls::get(&mut stream, "studio.local", "/api/health")
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "strict-transport-security"),
        "max-age=31536000"
    );
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    let csp = header(&headers, "content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src"),
        "{csp}"
    );
    assert!(!csp.contains("http"), "no third-party origin in {csp}");
    assert!(header(&headers, "permissions-policy").contains("camera=()"));
    // Errors carry the headers too.
    let (code, headers) = tls::get(&mut stream, "studio.local", "/nope")
        .await
        .unwrap();
    assert_eq!(code, 404);
    assert_eq!(
        header(&headers, "strict-transport-security"),
        "max-age=31536000"
    );

    // Names the certificate does not cover, clients without the root, and TLS 1.2 are refused.
    assert!(
        tls::connect(https, "other.local", h1.clone())
            .await
            .is_err()
    );
    let mozilla_only = tls::client_config("", &["http/1.1"], ALL_VERSIONS);
    assert!(
        tls::connect(https, "studio.local", mozilla_only)
            .await
            .is_err()
    );
    let tls12 = tls::client_config(&root, &["http/1.1"], &[&rustls::version::TLS12]);
    assert!(tls::connect(https, "studio.local", tls12).await.is_err());

    // Port 80 redirects to HTTPS, keeping path and query.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain
        .get(format!("http://127.0.0.1:{http}/s/abc?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        format!("https://127.0.0.1:{https}/s/abc?x=1").as_str()
    );
    let res = plain
        .get(format!(
            "http://127.0.0.1:{http}/.well-known/acme-challenge/guess"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no order waits, so no token answers");

    // The admin status reports the certificate as a working capability.
    let full: Value = serde_json::from_str(&server.cli_ok(&["status", "--json"], None)).unwrap();
    let cap = full["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "TLS certificate")
        .unwrap();
    assert_eq!(cap["state"], "ok", "{cap}");
    assert!(full["listen"].as_str().unwrap().starts_with("https://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_mode_swaps_changed_files_while_open_connections_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, issue) = test_ca();
    let (cert, key) = issue("first");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let (https, http) = (free_port(), free_port());
    let server = Server::start_https(
        https,
        http,
        &[
            ("STUDIOVAULT_TLS__MODE", "files"),
            ("STUDIOVAULT_TLS__FILES__CERT", cert_path.to_str().unwrap()),
            ("STUDIOVAULT_TLS__FILES__KEY", key_path.to_str().unwrap()),
        ],
    );
    let config = tls::client_config(&ca_pem, &["http/1.1"], ALL_VERSIONS);
    let mut old = tls::connect(https, DOMAIN, config.clone()).await.unwrap();
    let first = tls::leaf_sha256(&old);
    assert_eq!(
        tls::get(&mut old, DOMAIN, "/api/health").await.unwrap().0,
        200
    );

    // A broken pair is refused and the old certificate stays.
    std::fs::write(&key_path, issue("other").1).unwrap();
    wait_status(&server, None, "the mismatched key to be reported", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not fit"))
    });
    let probe = tls::connect(https, DOMAIN, config.clone()).await.unwrap();
    assert_eq!(tls::leaf_sha256(&probe), first);

    // The renewed pair is picked up without a restart ...
    let (cert, key) = issue("second");
    std::fs::write(&key_path, &key).unwrap();
    std::fs::write(&cert_path, &cert).unwrap();
    wait_status(&server, None, "the new files to load", |s| {
        s["last_error"].is_null()
            && s["certificate"]["subject"]
                .as_str()
                .is_some_and(|c| c.contains("second"))
    });
    let new = tls::connect(https, DOMAIN, config.clone()).await.unwrap();
    assert_ne!(tls::leaf_sha256(&new), first);
    // ... and the connection opened before the swap still answers.
    assert_eq!(
        tls::get(&mut old, DOMAIN, "/api/health").await.unwrap().0,
        200
    );

    // `studiovault tls renew` (and SIGHUP) re-read at once, without waiting for the poll.
    let (cert, key) = issue("third");
    std::fs::write(&key_path, &key).unwrap();
    std::fs::write(&cert_path, &cert).unwrap();
    server.cli_ok(&["tls", "renew"], None);
    let third = tls::connect(https, DOMAIN, config).await.unwrap();
    assert_ne!(tls::leaf_sha256(&third), tls::leaf_sha256(&new));
}

/// A throwaway CA (PEM) and a function issuing `DOMAIN` certificates with a given common name.
fn test_ca() -> (String, impl Fn(&str) -> (String, String)) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let ca_pem = ca.pem();
    let issuer = rcgen::Issuer::new(params, ca_key);
    (ca_pem, move |cn: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![DOMAIN.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    })
}

fn acme_env<'a>(
    pebble: &'a Pebble,
    directory: &'a str,
    ca_file: &'a str,
) -> Vec<(&'static str, &'a str)> {
    let _ = pebble;
    vec![
        ("STUDIOVAULT_TLS__MODE", "acme"),
        ("STUDIOVAULT_TLS__ACME__DOMAINS", "[\"vault.studio.test\"]"),
        ("STUDIOVAULT_TLS__ACME__EMAIL", "ops@studio.test"),
        ("STUDIOVAULT_TLS__ACME__DIRECTORY_URL", directory),
        ("STUDIOVAULT_TLS__ACME__CA_FILE", ca_file),
        ("STUDIOVAULT_TLS__ACME__RETRY_INITIAL_SECONDS", "1"),
        ("STUDIOVAULT_TLS__ACME__RETRY_MAX_SECONDS", "4"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_with_pebble_obtains_a_certificate_and_renews_it_under_open_connections() {
    for challenge in ["http-01", "tls-alpn-01"] {
        let (https, http) = (free_port(), free_port());
        let pebble = Pebble::start(http, https);
        let directory = pebble.directory_url();
        let ca_file = pebble.ca_file().display().to_string();
        let mut env = acme_env(&pebble, &directory, &ca_file);
        env.push(("STUDIOVAULT_TLS__ACME__CHALLENGE", challenge));
        let server = Server::start_https(https, http, &env);
        let status = wait_status(&server, Some(&pebble), "the first certificate", |s| {
            !s["certificate"].is_null()
        });
        assert!(status["last_error"].is_null(), "{status:#}");
        assert!(
            status["certificate"]["issuer"]
                .as_str()
                .unwrap()
                .contains("Pebble"),
            "{status:#}"
        );
        assert!(
            status["next_attempt"].as_i64().unwrap()
                < status["certificate"]["not_after"].as_i64().unwrap()
        );
        // The account key stays in the data directory, readable by the owner only.
        let account = server.data_dir().join("tls/acme-account.json");
        let mode = std::fs::metadata(&account).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );

        // A client trusting only pebble's root verifies the chain for the domain.
        let root = pebble.issuing_root().await;
        let config = tls::client_config(&root, &["http/1.1"], ALL_VERSIONS);
        let mut old = tls::connect(https, DOMAIN, config.clone())
            .await
            .unwrap_or_else(|e| panic!("{challenge}: {e}\n{}", server.log()));
        let chain = tls::chain(&old);
        assert!(chain.len() >= 2, "leaf and intermediate");
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        assert!(leaf.subject_alternative_name().unwrap().unwrap().value.general_names.iter().any(
            |n| matches!(n, x509_parser::extensions::GeneralName::DNSName(d) if *d == DOMAIN)
        ));
        let (code, headers) = tls::get(&mut old, DOMAIN, "/api/health").await.unwrap();
        assert_eq!(code, 200);
        assert!(header(&headers, "strict-transport-security").starts_with("max-age="));
        let first = tls::leaf_sha256(&old);

        // A forced renewal: new connections get the new certificate, the old one stays open.
        let renewed: Value =
            serde_json::from_str(&server.cli_ok(&["tls", "renew", "--json"], None)).unwrap();
        assert_ne!(renewed["serial"], status["certificate"]["serial"]);
        let new = tls::connect(https, DOMAIN, config.clone()).await.unwrap();
        assert_ne!(
            tls::leaf_sha256(&new),
            first,
            "{challenge}: new connections get the new certificate"
        );
        assert_eq!(tls::leaf_sha256(&old), first);
        assert_eq!(
            tls::get(&mut old, DOMAIN, "/api/health").await.unwrap().0,
            200
        );

        // A restart serves the stored certificate without a new order.
        drop(old);
        drop(new);
        let mut server = server;
        server.restart();
        let again = tls::connect(https, DOMAIN, config).await.unwrap();
        assert_eq!(
            hex_colon(&tls::leaf_sha256(&again)),
            renewed["sha256"].as_str().unwrap()
        );
    }
}

fn hex_colon(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_failures_back_off_and_show_on_the_admin_status() {
    // The CA is down: nothing listens at the directory URL.
    let (https, http) = (free_port(), free_port());
    let mut pebble = Pebble::start(http, https);
    let directory = pebble.directory_url();
    let ca_file = pebble.ca_file().display().to_string();
    pebble.stop();
    let server = Server::start_https(https, http, &acme_env(&pebble, &directory, &ca_file));
    let status = wait_status(&server, None, "two failures", |s| {
        s["failures"].as_u64() >= Some(2)
    });
    let error = status["last_error"].as_str().unwrap();
    assert!(error.contains("ACME"), "{error}");
    assert!(status["certificate"].is_null());
    // Backoff, not a tight loop: after ~6 s with 1 s doubling to at most 4 s, only a handful of
    // attempts have been made.
    std::thread::sleep(Duration::from_secs(6));
    let later = tls_status(&server);
    let failures = later["failures"].as_u64().unwrap();
    assert!(
        (3..=6).contains(&failures),
        "{failures} attempts in ~8 s: {later:#}"
    );
    assert_certificate_capability_failing(&server);
    let renew = server.cli(&["tls", "renew"], None);
    assert!(!renew.status.success());
    assert!(String::from_utf8_lossy(&renew.stderr).contains("ACME"));
    assert!(server.log().contains("getting a certificate failed"));
    drop(server);

    // The challenge fails: pebble validates HTTP-01 on a port where nobody answers.
    let (https, http) = (free_port(), free_port());
    let pebble = Pebble::start(free_port(), https);
    let directory = pebble.directory_url();
    let ca_file = pebble.ca_file().display().to_string();
    let server = Server::start_https(https, http, &acme_env(&pebble, &directory, &ca_file));
    let status = wait_status(&server, Some(&pebble), "the failed validation", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("acme-challenge"))
    });
    // The CA's own reason: it could not reach the challenge answer for the domain.
    let error = status["last_error"].as_str().unwrap();
    assert!(
        error.contains(DOMAIN) && error.contains("connection refused"),
        "{error}"
    );
    assert!(status["certificate"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_order_waits_as_long_as_the_ca_asks_then_succeeds() {
    let (https, http) = (free_port(), free_port());
    let pebble = Pebble::start(http, https);
    let ca = RateLimitedCa::start(&pebble, Duration::from_secs(6)).await;
    let directory = ca.directory_url();
    let ca_file = pebble.ca_file().display().to_string();
    // Backoff alone would try again after 1 s, then 2 s: the CA's 6 s must win.
    let server = Server::start_https(https, http, &acme_env(&pebble, &directory, &ca_file));
    let status = wait_status(&server, Some(&pebble), "the rate-limited order", |s| {
        s["failures"].as_u64() >= Some(1)
    });
    let error = status["last_error"].as_str().unwrap();
    assert!(
        error.contains("rateLimited") && error.contains("too many certificates"),
        "the CA's reason is kept: {error}"
    );
    assert!(error.contains("not to be asked again before"), "{error}");
    let refused = ca.new_orders();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].1, 429);
    let asked_at = unix_ms(refused[0].0);
    let wait_until = status["ca_wait_until"].as_i64().unwrap();
    assert!(
        wait_until >= asked_at + 6000 && wait_until < asked_at + 8000,
        "the wait follows Retry-After: {status:#}"
    );
    assert!(status["next_attempt"].as_i64().unwrap() >= wait_until);
    assert_certificate_capability_failing(&server);

    // A forced renewal inside the wait does not reach the CA and says until when.
    let renew = server.cli(&["tls", "renew"], None);
    assert!(!renew.status.success());
    let said = String::from_utf8_lossy(&renew.stderr);
    assert!(said.contains("asked not to be asked again"), "{said}");
    let text = String::from_utf8_lossy(&server.cli(&["tls", "status"], None).stdout).into_owned();
    assert!(text.contains("the CA asked for quiet until"), "{text}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ca.new_orders().len(),
        1,
        "nothing reached the CA while it asked for quiet"
    );

    // The limit is over; once the wait has passed, the order goes through.
    ca.lift();
    let status = wait_status(&server, Some(&pebble), "the certificate", |s| {
        !s["certificate"].is_null()
    });
    assert!(status["last_error"].is_null(), "{status:#}");
    assert!(status["ca_wait_until"].is_null(), "{status:#}");
    assert_eq!(status["failures"], 0);
    let orders = ca.new_orders();
    assert_eq!(
        orders.iter().map(|o| o.1).collect::<Vec<_>>(),
        [429, 201],
        "one refused order, then one that went through"
    );
    assert!(
        unix_ms(orders[1].0) >= wait_until,
        "{orders:?} before {wait_until}"
    );
    let root = pebble.issuing_root().await;
    let config = tls::client_config(&root, &["http/1.1"], ALL_VERSIONS);
    let mut conn = tls::connect(https, DOMAIN, config).await.unwrap();
    assert_eq!(
        tls::get(&mut conn, DOMAIN, "/api/health").await.unwrap().0,
        200
    );
}

fn unix_ms(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
