//! The audio engine in the appliance: uploads are analysed in the background (in a sandboxed
//! process), and the library sorts and filters by what it found.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use studiovault_e2e::{Owner, Server, wav, wesnoth_track};

/// Waits until every track has left the `pending` state; answers the library page.
async fn settled(owner: &Owner) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, page) = owner
            .get_json("/api/tracks?limit=500&sort=name&order=asc")
            .await;
        let pending = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["analysis"]["state"] == "pending");
        if !pending {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "analysis did not finish within 60 s: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_analysed_and_the_library_sorts_and_filters_by_the_results() {
    let server = Server::start();
    server.add_user("pro@studio.test", "pro");
    let owner = Owner::signed_in(&server, "pro@studio.test").await;
    for name in ["battle.ogg", "elvish-theme.ogg", "the_king_is_dead.ogg"] {
        owner.upload_ok(name, wesnoth_track(name).unwrap()).await;
    }
    let page = settled(&owner).await;
    let items = page["items"].as_array().unwrap();
    for t in items {
        assert_eq!(t["analysis"]["state"], "done", "{t}");
        let bpm = t["tempo"]["bpm"].as_f64().unwrap();
        assert!((40.0..=240.0).contains(&bpm), "{t}");
        assert!(
            t["key"]["camelot"].as_str().unwrap().ends_with(['A', 'B']),
            "{t}"
        );
        let lufs = t["loudness"]["integrated_lufs"].as_f64().unwrap();
        assert!((-40.0..0.0).contains(&lufs), "{t}");
    }

    // Sorted by tempo, both ways.
    let (_, by_tempo) = owner.get_json("/api/tracks?sort=tempo&order=asc").await;
    let tempos: Vec<f64> = by_tempo["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tempo"]["bpm"].as_f64().unwrap())
        .collect();
    assert!(tempos.windows(2).all(|w| w[0] <= w[1]), "{tempos:?}");

    // Filtered by the key and tempo of one of them: that one comes back.
    let probe = &items[1];
    let (key, bpm) = (
        probe["key"]["name"].as_str().unwrap(),
        probe["tempo"]["bpm"].as_f64().unwrap(),
    );
    let query = format!(
        "/api/tracks?key={}&tempo_min={}&tempo_max={}",
        key.replace(' ', "%20").replace('#', "%23"),
        bpm - 2.0,
        bpm + 2.0
    );
    let (_, found) = owner.get_json(&query).await;
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == probe["id"]),
        "{query}: {found}"
    );
    let (_, camelot) = owner
        .get_json(&format!(
            "/api/tracks?key={}",
            probe["key"]["camelot"].as_str().unwrap()
        ))
        .await;
    assert!(camelot["total"].as_u64().unwrap() >= 1);
    let (status, _) = owner
        .get_json("/api/tracks?tempo_min=150&tempo_max=100")
        .await;
    assert_eq!(status, 400);
    // Length and date-added filters.
    let secs = probe["duration_secs"].as_f64().unwrap();
    let (_, by_length) = owner
        .get_json(&format!(
            "/api/tracks?duration_min={}&duration_max={}",
            secs - 0.5,
            secs + 0.5
        ))
        .await;
    assert!(
        by_length["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == probe["id"]),
        "{by_length}"
    );
    let added = probe["created_at"].as_i64().unwrap();
    let (_, later) = owner
        .get_json(&format!("/api/tracks?added_after={}", added + 1))
        .await;
    assert!(
        !later["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == probe["id"]),
        "{later}"
    );
    for bad in [
        "duration_min=-1",
        "duration_min=100&duration_max=10",
        "added_after=5&added_before=1",
    ] {
        let (status, body) = owner.get_json(&format!("/api/tracks?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // The scrubber's waveform, in both audiowaveform formats.
    let id = probe["id"].as_str().unwrap();
    let (status, peaks) = owner
        .get_json(&format!("/api/tracks/{id}/peaks?zoom=1024"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            peaks["version"].as_u64(),
            peaks["bits"].as_u64(),
            peaks["samples_per_pixel"].as_u64()
        ),
        (Some(2), Some(8), Some(1024))
    );
    assert_eq!(
        peaks["data"].as_array().unwrap().len() as u64,
        2 * peaks["length"].as_u64().unwrap()
    );
    let dat = owner
        .get(&format!(
            "/api/tracks/{id}/peaks?zoom=256&format=dat&bits=16"
        ))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(dat[0..4].try_into().unwrap()),
        2,
        "a version-2 .dat header"
    );
    assert_eq!(
        dat.len(),
        24 + 4 * u32::from_le_bytes(dat[16..20].try_into().unwrap()) as usize
    );
    assert_eq!(
        owner
            .get(&format!("/api/tracks/{id}/peaks?zoom=333"))
            .await
            .status(),
        400
    );

    // Melody to MIDI, on demand, audited as a transcription.
    let midi = owner.get(&format!("/api/tracks/{id}/melody.mid")).await;
    assert_eq!(midi.headers()["content-type"], "audio/midi");
    assert_eq!(midi.headers()["x-transcribed-from"], "track");
    let midi = midi.bytes().await.unwrap();
    assert_eq!(&midi[..4], b"MThd");
    let (_, activity) = owner.get_json("/api/account/activity").await;
    let actions: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"track.transcribe") && actions.contains(&"track.analyze"),
        "{actions:?}"
    );

    // Another tenant sees none of it.
    server.add_user("other@studio.test", "pro");
    let other = Owner::signed_in(&server, "other@studio.test").await;
    assert_eq!(
        other.get(&format!("/api/tracks/{id}/peaks")).await.status(),
        404
    );
    assert_eq!(
        other
            .get(&format!("/api/tracks/{id}/melody.mid"))
            .await
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn free_plans_analyse_only_when_the_owner_asks() {
    let server = Server::start();
    server.add_user("free@studio.test", "free");
    let owner = Owner::signed_in(&server, "free@studio.test").await;
    let id = owner.upload_ok("take.wav", wav(6.0, 4)).await;
    let (_, track) = owner.get_json(&format!("/api/tracks/{id}")).await;
    assert_eq!(track["analysis"]["state"], "off");
    assert_eq!(
        owner.get(&format!("/api/tracks/{id}/peaks")).await.status(),
        404
    );
    let (status, me) = owner
        .send(
            Method::PATCH,
            "/api/account/settings",
            Some(json!({"analysis": true})),
        )
        .await;
    assert_eq!((status, me["analysis"].as_bool()), (200, Some(true)));
    let asked = Instant::now();
    let page = settled(&owner).await;
    assert_eq!(page["items"][0]["analysis"]["state"], "done");
    // The commit that queued the analysis woke the runner: no wait for its 30-second tick.
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "analysed {:?} after it was turned on",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_its_limits_fails_alone_and_the_server_carries_on() {
    // Too long for the duration cap, and a memory limit no decoder fits in.
    let server = Server::start_with(&[("STUDIOVAULT_ANALYSIS__MAX_DURATION_MINUTES", "1")]);
    server.add_user("limits@studio.test", "pro");
    let owner = Owner::signed_in(&server, "limits@studio.test").await;
    let long = owner.upload_ok("long.wav", wav(70.0, 5)).await;
    let page = settled(&owner).await;
    let track = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == long)
        .unwrap()
        .clone();
    assert_eq!(track["analysis"]["state"], "failed");
    assert!(
        track["analysis"]["reason"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{track}"
    );

    let starved = Server::start_with(&[("STUDIOVAULT_ANALYSIS__MEMORY_LIMIT_MIB", "8")]);
    starved.add_user("tiny@studio.test", "pro");
    let owner = Owner::signed_in(&starved, "tiny@studio.test").await;
    owner.upload_ok("take.wav", wav(5.0, 6)).await;
    let page = settled(&owner).await;
    let track = &page["items"][0];
    assert_eq!(track["analysis"]["state"], "failed", "{track}");
    assert!(
        track["analysis"]["reason"]
            .as_str()
            .unwrap()
            .contains("memory"),
        "{track}"
    );
    // The server itself is untouched.
    assert_eq!(owner.get("/api/health").await.status(), 200);
    assert_eq!(
        owner
            .get(&format!(
                "/api/tracks/{}/audio",
                track["id"].as_str().unwrap()
            ))
            .await
            .status(),
        200
    );
}

#[test]
fn the_cli_analyses_a_file_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("battle.ogg");
    std::fs::write(&path, wesnoth_track("battle.ogg").unwrap()).unwrap();
    let out = std::process::Command::new(studiovault_e2e::binary())
        .arg("analyze")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["tempo_bpm"].as_f64().is_some()
            && v["key"].as_str().is_some()
            && v["integrated_lufs"].as_f64().is_some(),
        "{v}"
    );
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"RIFF\0\0\0\0WAVEnothing here at all").unwrap();
    let out = std::process::Command::new(studiovault_e2e::binary())
        .arg("analyze")
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("junk.wav"));
}

/// Twenty minutes of three voices moving over a scale, eight harmonics each, in 16-bit mono at
/// 11.025 kHz: long and busy enough that transcribing it takes seconds (about 6 s on one core
/// of the development machine).
fn long_tune_wav() -> Vec<u8> {
    const RATE: u32 = 11_025;
    const TABLE: usize = 4_096;
    let frames = 20 * 60 * RATE;
    // One period of the eight-harmonic wave, looked up by phase.
    let wave: Vec<f32> = (0..TABLE)
        .map(|i| {
            let x = i as f32 / TABLE as f32 * std::f32::consts::TAU;
            (1..=8).map(|h| (x * h as f32).sin() / h as f32).sum()
        })
        .collect();
    let scale = [220.0f32, 246.9, 277.2, 293.7, 329.6, 370.0, 415.3, 440.0];
    let voices = [(0usize, 5usize), (2, 3), (4, 7)];
    let mut phases = [0.0f32; 3];
    let mut out = Vec::with_capacity(44 + 2 * frames as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * frames).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(2 * RATE).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * frames).to_le_bytes());
    for i in 0..frames {
        let beat = (i / (RATE / 4)) as usize;
        let mut v = 0.0;
        for ((offset, step), phase) in voices.iter().zip(&mut phases) {
            let hz = scale[(beat * step + offset) % scale.len()] * (1.0 + *offset as f32 / 8.0);
            *phase = (*phase + hz / RATE as f32).fract();
            v += wave[(*phase * TABLE as f32) as usize % TABLE];
        }
        out.extend_from_slice(&((v * 2_500.0).clamp(-32_000.0, 32_000.0) as i16).to_le_bytes());
    }
    out
}

/// The server's transcription processes (`studiovault transcribe-job`) running now.
fn transcription_processes(server: &Server) -> usize {
    let parent = format!("--parent-pid\0{}\0", server.pid().unwrap());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .filter(|c| c.contains("\0transcribe-job\0") && c.contains(&parent))
        .count()
}

/// Waits up to `secs` for `done`; says whether it came.
async fn within(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn transcriptions_run_in_their_own_process_one_at_a_time_and_end_with_their_request() {
    let server = Server::start_with(&[("STUDIOVAULT_ANALYSIS__TRANSCRIPTION_WAIT_SECONDS", "1")]);
    server.add_user("turns@studio.test", "pro");
    let owner = Owner::signed_in(&server, "turns@studio.test").await;
    let long = owner.upload_ok("long.wav", long_tune_wav()).await;
    let short = owner.upload_ok("short.wav", wav(6.0, 7)).await;
    let page = settled(&owner).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["analysis"]["state"] == "done"),
        "{page}"
    );

    // The long transcription takes the one turn (`analysis.transcriptions` = 1), in a child
    // process of the server.
    let first = Owner::signed_in(&server, "turns@studio.test").await;
    let long_path = format!("/api/tracks/{long}/melody.mid");
    let running = tokio::spawn(async move { first.get(&long_path).await.status() });
    assert!(
        within(30, || transcription_processes(&server) == 1).await,
        "no transcription process started"
    );

    // Another waits a second for its turn and is told to come back.
    let busy = owner.get(&format!("/api/tracks/{short}/melody.mid")).await;
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"], "busy", "{body}");
    assert_eq!(
        transcription_processes(&server),
        1,
        "the long one still runs"
    );

    // The client of the long one goes away: its process is killed at once (left alone, it
    // would run for seconds more) and the turn passes on.
    running.abort();
    assert!(
        within(2, || transcription_processes(&server) == 0).await,
        "the transcription outlived its request"
    );
    let midi = owner.get(&format!("/api/tracks/{short}/melody.mid")).await;
    assert_eq!(midi.status(), 200);
    assert_eq!(&midi.bytes().await.unwrap()[..4], b"MThd");
}
