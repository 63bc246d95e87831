//! The adversarial suite on the stem workers' API (`/api/worker`): every route without a token
//! and with the other surfaces' credentials (an owner's session cookie or bearer token, a share
//! link), revoked, drained and malformed worker tokens, another worker's job, and bodies over
//! their limits. Each `"name", METHOD, "/path"` is one case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use serde_json::json;
use studiovault_e2e::attack::{Arena, GET, POST, PUT, atk};
use studiovault_e2e::workers::enrol;
use studiovault_e2e::{Owner, PASSWORD, Server, wav};

fn caps() -> serde_json::Value {
    json!({"capabilities": {"backend": "command", "host": "adversary", "version": "0"}, "wait_secs": 0})
}

fn layout() -> String {
    json!({"stems": ["vocals", "drums", "bass", "other"], "channels": 2, "sample_rate": 44100,
           "frames": 1, "backend": "x", "model": "x", "draft": false})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_routes_take_only_a_live_workers_token_for_its_own_job() {
    let server = Server::start();
    server.add_user("alice@studio.test", "pro");
    let alice = Owner::new(&server);
    let login = alice.login("alice@studio.test", PASSWORD, None).await;
    let session = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .next()?
                .split_once('=')
                .map(|(_, v)| v.to_owned())
        })
        .unwrap();
    let track = alice.upload_ok("song.wav", wav(1.0, 4)).await;
    let (status, view) = alice
        .send(
            reqwest::Method::POST,
            &format!("/api/tracks/{track}/stems"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{view}");
    let (_, share) = alice
        .send(
            reqwest::Method::POST,
            "/api/shares",
            Some(json!({"tracks": [track], "recipients": [{"name": "x"}]})),
        )
        .await;

    let a = Arena::new(&server);
    a.set("session", session);
    a.set("track", track.clone());
    a.set(
        "link",
        share["recipients"][0]["link"]
            .as_str()
            .unwrap()
            .trim_start_matches("/s/"),
    );
    a.set("holder", enrol(&server, "holder"));
    a.set("idle", enrol(&server, "idle"));
    a.set("revoked", enrol(&server, "revoked"));
    a.set("drained", enrol(&server, "drained"));
    server.cli_ok(&["worker", "revoke", "revoked"], None);
    server.cli_ok(&["worker", "drain", "drained"], None);

    let u = "worker_unknown";
    atk("worker lease: no token", POST, "/api/worker/lease")
        .json(caps())
        .is(&a, 401, u)
        .await;
    atk(
        "worker lease: an owner's session cookie",
        POST,
        "/api/worker/lease",
    )
    .cookie("sv_session", "{session}")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: an owner's session token as bearer",
        POST,
        "/api/worker/lease",
    )
    .bearer("{session}")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: a share link as bearer",
        POST,
        "/api/worker/lease",
    )
    .bearer("{link}")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: the token's prefix alone",
        POST,
        "/api/worker/lease",
    )
    .bearer("svw_")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: the token without its Bearer scheme",
        POST,
        "/api/worker/lease",
    )
    .header("authorization", "{holder}")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: the token as a cookie",
        POST,
        "/api/worker/lease",
    )
    .cookie("sv_session", "{holder}")
    .json(caps())
    .is(&a, 401, u)
    .await;
    atk(
        "worker lease: a revoked worker's token",
        POST,
        "/api/worker/lease",
    )
    .bearer("{revoked}")
    .json(caps())
    .is(&a, 401, "worker_revoked")
    .await;
    let drained = atk(
        "worker lease: a drained worker gets no job",
        POST,
        "/api/worker/lease",
    )
    .bearer("{drained}")
    .json(caps())
    .is(&a, 200, "")
    .await;
    assert_eq!(
        (drained.json["job"].is_null(), &drained.json["draining"]),
        (true, &json!(true)),
        "{}",
        drained.text()
    );
    atk(
        "worker lease: an unknown field in the capabilities",
        POST,
        "/api/worker/lease",
    )
    .bearer("{idle}")
    .json(json!({"capabilities": {"backend": "x", "host": "x", "version": "0", "owner": "alice"}}))
    .is(&a, 400, "bad_request")
    .await;
    atk("worker lease: a 20 KiB body", POST, "/api/worker/lease")
        .bearer("{idle}")
        .raw(vec![b' '; 20 * 1024], "application/json")
        .is(&a, 413, "too_large")
        .await;
    let leased = atk(
        "worker lease: the holder leases alice's job",
        POST,
        "/api/worker/lease",
    )
    .bearer("{holder}")
    .json(caps())
    .is(&a, 200, "")
    .await;
    let job = leased.json["job"]["job"].as_str().unwrap().to_owned();
    a.set("job", job.clone());
    a.set("job_upper", job.to_uppercase());
    a.set("job_short", job[1..].to_owned());

    // The job's routes: another worker, a path trick, other surfaces' credentials.
    let lost = "lease_lost";
    atk(
        "worker source: no token",
        GET,
        "/api/worker/jobs/{job}/source",
    )
    .is(&a, 401, u)
    .await;
    atk(
        "worker source: an owner's session as bearer",
        GET,
        "/api/worker/jobs/{job}/source",
    )
    .bearer("{session}")
    .is(&a, 401, u)
    .await;
    atk(
        "worker source: another worker's job",
        GET,
        "/api/worker/jobs/{job}/source",
    )
    .bearer("{idle}")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker source: a revoked worker on the job",
        GET,
        "/api/worker/jobs/{job}/source",
    )
    .bearer("{revoked}")
    .is(&a, 401, "worker_revoked")
    .await;
    atk(
        "worker source: the job id in upper case",
        GET,
        "/api/worker/jobs/{job_upper}/source",
    )
    .bearer("{idle}")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker source: a track id as the job id",
        GET,
        "/api/worker/jobs/{track}/source",
    )
    .bearer("{holder}")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker source: a traversal as the job id",
        GET,
        "/api/worker/jobs/..%2F..%2Fblobs/source",
    )
    .bearer("{holder}")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker heartbeat: no token",
        POST,
        "/api/worker/jobs/{job}/heartbeat",
    )
    .json(json!({"progress": 0.5}))
    .is(&a, 401, u)
    .await;
    atk(
        "worker heartbeat: another worker's job",
        POST,
        "/api/worker/jobs/{job}/heartbeat",
    )
    .bearer("{idle}")
    .json(json!({"progress": 0.5}))
    .is(&a, 409, lost)
    .await;
    atk(
        "worker heartbeat: an owner's session cookie",
        POST,
        "/api/worker/jobs/{job}/heartbeat",
    )
    .cookie("sv_session", "{session}")
    .json(json!({"progress": 0.5}))
    .is(&a, 401, u)
    .await;
    atk(
        "worker heartbeat: a job id one digit short",
        POST,
        "/api/worker/jobs/{job_short}/heartbeat",
    )
    .bearer("{holder}")
    .json(json!({"progress": 0.5}))
    .is(&a, 409, lost)
    .await;
    atk(
        "worker heartbeat: an oversized body",
        POST,
        "/api/worker/jobs/{job}/heartbeat",
    )
    .bearer("{holder}")
    .raw(vec![b' '; 20 * 1024], "application/json")
    .is(&a, 413, "too_large")
    .await;
    atk("worker fail: no token", POST, "/api/worker/jobs/{job}/fail")
        .json(json!({"reason": "x", "retry": false}))
        .is(&a, 401, u)
        .await;
    atk(
        "worker fail: another worker fails the job",
        POST,
        "/api/worker/jobs/{job}/fail",
    )
    .bearer("{idle}")
    .json(json!({"reason": "sabotage", "retry": false}))
    .is(&a, 409, lost)
    .await;
    atk(
        "worker fail: a share link as bearer",
        POST,
        "/api/worker/jobs/{job}/fail",
    )
    .bearer("{link}")
    .json(json!({"reason": "sabotage", "retry": false}))
    .is(&a, 401, u)
    .await;
    atk(
        "worker stems: no token",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .header("x-stem-layout", layout())
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 401, u)
    .await;
    atk(
        "worker stems: another worker uploads into the job",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{idle}")
    .header("x-stem-layout", layout())
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker stems: an owner's session as bearer",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{session}")
    .header("x-stem-layout", layout())
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 401, u)
    .await;
    atk(
        "worker stems: a layout that is not JSON",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{holder}")
    .header("x-stem-layout", "{not json")
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 400, "bad_request")
    .await;

    atk(
        "worker stems: a body without a Content-Length",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{holder}")
    .header("x-stem-layout", layout())
    .chunked(vec![0; 32])
    .is(&a, 411, "length_required")
    .await;
    atk(
        "worker stems: a layout of a trillion frames",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{holder}")
    .header(
        "x-stem-layout",
        layout().replace("\"frames\":1", "\"frames\":1000000000000"),
    )
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 422, "stems_rejected")
    .await;
    atk(
        "worker stems: a layout header of 64 KiB",
        PUT,
        "/api/worker/jobs/{job}/stems",
    )
    .bearer("{holder}")
    .header(
        "x-stem-layout",
        format!("{{\"stems\":[\"{}\"]}}", "v".repeat(64 * 1024)),
    )
    .raw(vec![0; 32], "application/octet-stream")
    .is(&a, 400, "")
    .await;

    // Plans: a free owner cannot queue work for the workers at all.
    server.add_user("carol@studio.test", "free");
    let carol = Owner::signed_in(&server, "carol@studio.test").await;
    a.set(
        "carol_track",
        carol.upload_ok("free.wav", wav(0.5, 6)).await,
    );
    let carol_login = Owner::new(&server)
        .login("carol@studio.test", PASSWORD, None)
        .await;
    a.set(
        "carol",
        carol_login
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
    atk(
        "stems/request: a free plan asks for stems",
        POST,
        "/api/tracks/{carol_track}/stems",
    )
    .cookie("sv_session", "{carol}")
    .is(&a, 403, "plan_required")
    .await;

    // The owner cancels: the holder's lease dies with the job.
    let (status, _) = alice
        .send(
            reqwest::Method::POST,
            &format!("/api/tracks/{track}/stems/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    atk(
        "worker source: the holder after the owner cancelled",
        GET,
        "/api/worker/jobs/{job}/source",
    )
    .bearer("{holder}")
    .is(&a, 409, lost)
    .await;
    atk(
        "worker heartbeat: the holder after the owner cancelled",
        POST,
        "/api/worker/jobs/{job}/heartbeat",
    )
    .bearer("{holder}")
    .json(json!({"progress": 0.9}))
    .is(&a, 409, lost)
    .await;
    // Revoked mid-job: the token dies on every route.
    server.cli_ok(&["worker", "revoke", "holder"], None);
    atk(
        "worker lease: the holder after its revocation",
        POST,
        "/api/worker/lease",
    )
    .bearer("{holder}")
    .json(caps())
    .is(&a, 401, "worker_revoked")
    .await;
    atk(
        "worker fail: the holder after its revocation",
        POST,
        "/api/worker/jobs/{job}/fail",
    )
    .bearer("{holder}")
    .json(json!({"reason": "x", "retry": true}))
    .is(&a, 401, "worker_revoked")
    .await;
    // Nothing the attacks did reached alice's track.
    let (status, stems) = alice.get_json(&format!("/api/tracks/{track}/stems")).await;
    assert_eq!(status, 200, "{stems}");
    assert_eq!(stems["stems"], json!([]), "{stems}");
    println!("worker cases: {}", a.count());
}
