//! The adversarial suite's route inventory and its counter. Warp cannot list its routes at run
//! time, so the routes are read from the router's source (`warp::path!(…)` and the method
//! filter beside it, under `appliance/server/src`), the cases from the suite's source (each
//! `"name", METHOD, "/path"`, and each `check("name", …)`), and every route of the owners'
//! API, the portal and the worker API must be attacked by at least one case. The admin
//! socket's routes are reachable only through the socket's file permission: one case shows it
//! is the owner's and the group's alone, and covers them all.
//!
//! Run `cargo test -p studiovault-e2e --test adversarial_inventory -- --nocapture` to see the
//! count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
/// The case that covers every admin route (`adversarial.rs`).
const ADMIN_SOCKET_CASE: &str = "admin socket: reachable by its owner and group only";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    method: String,
    segments: Vec<String>,
    file: String,
}

impl Route {
    fn show(&self) -> String {
        format!(
            "{} /{}  ({})",
            self.method,
            self.segments.join("/"),
            self.file
        )
    }

    fn admin(&self) -> bool {
        self.file.contains("/admin/")
    }

    /// Whether a case's method and path land on this route.
    fn matched_by(&self, method: &str, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        (self.method == "ANY" || self.method == method)
            && segments.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(&segments)
                .all(|(want, got)| want == "{}" || want == got)
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace() -> PathBuf {
    studiovault_e2e::crate_dir().parent().unwrap().to_owned()
}

/// Every `warp::path!(…)` of the server and the method filter that follows it (before the
/// handler), or `POST` for the account's re-checked routes (`rechecked(state, path, …)`), or
/// `ANY` where the route takes every method.
fn router_routes() -> Vec<Route> {
    let mut files = Vec::new();
    rust_files(&workspace().join("appliance/server/src"), &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        let mut from = 0;
        while let Some(at) = text[from..].find("warp::path!(") {
            let start = from + at + "warp::path!(".len();
            let end = start + text[start..].find(')').unwrap();
            let segments: Vec<String> = text[start..end]
                .split('/')
                .map(|s| {
                    let s = s.trim();
                    s.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .map_or_else(|| "{}".to_owned(), str::to_owned)
                })
                .collect();
            let after = &text[end + 1..];
            let handler = [".then(", ".map(", ".and_then(", ";", ","]
                .iter()
                .filter_map(|h| after.find(h))
                .min()
                .unwrap_or(after.len());
            let filters = &after[..handler];
            let before = &text[start.saturating_sub(120)..start];
            let mut methods: Vec<String> = METHODS
                .iter()
                .filter(|m| filters.contains(&format!("warp::{}()", m.to_lowercase())))
                .map(|m| (*m).to_owned())
                .collect();
            if before.contains("rechecked(") {
                methods.push("POST".into());
            }
            if methods.is_empty() {
                methods.push("ANY".into());
            }
            for method in methods {
                routes.insert(Route {
                    method,
                    segments: segments.clone(),
                    file: name.clone(),
                });
            }
            from = end;
        }
    }
    routes.into_iter().collect()
}

/// The string literals of `text`, with where each starts and ends (past its closing quote).
fn literals(text: &str) -> Vec<(usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i += text[i..].find('\n').unwrap_or(text.len() - i);
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            // A raw string, `r#"…"#`: no escapes inside, and never a case's name or path.
            b'r' if text[i..].starts_with("r#\"") => {
                i += text[i..].find("\"#").map_or(text.len() - i, |end| end + 2);
            }
            b'"' => {
                let start = i;
                let mut value = String::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    value.push(bytes[i] as char);
                    i += 1;
                }
                out.push((start, i + 1, value));
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[derive(Debug, Default)]
struct Cases {
    /// (name, method, path) of each request case.
    requests: Vec<(String, String, String)>,
    /// The names of the other cases (`check`).
    checks: Vec<String>,
}

fn suite_cases() -> Cases {
    let dir = workspace().join("tests/tests");
    let mut cases = Cases::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("adversarial") && n != "adversarial_inventory.rs")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no adversarial*.rs in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lits = literals(&text);
        for pair in lits.windows(2) {
            let ((_, name_end, name), (path_start, _, path)) = (&pair[0], &pair[1]);
            let between: Vec<&str> = text[*name_end..*path_start]
                .split(',')
                .map(str::trim)
                .collect();
            if let [_, method, _] = between.as_slice()
                && between[0].is_empty()
                && between[2].is_empty()
                && METHODS.contains(method)
            {
                cases
                    .requests
                    .push((name.clone(), (*method).to_owned(), path.clone()));
            }
        }
        for (start, _, name) in &lits {
            if text[..*start].trim_end().ends_with("check(") {
                cases.checks.push(name.clone());
            }
        }
    }
    cases
}

#[test]
fn every_route_is_attacked_and_the_cases_are_counted() {
    let routes = router_routes();
    // A scanner that found nothing would pass everything.
    assert!(
        routes.len() > 60 && routes.iter().filter(|r| !r.admin()).count() > 40,
        "the router scan found too few routes: {routes:#?}"
    );
    let cases = suite_cases();
    let mut names: Vec<&String> = cases
        .requests
        .iter()
        .map(|(n, _, _)| n)
        .chain(&cases.checks)
        .collect();
    let total = names.len();
    names.sort();
    let dupes: Vec<&&String> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(dupes.is_empty(), "case names used twice: {dupes:?}");
    // docs/SECURITY.md ("Adversarial suite") states the count; losing cases must be a choice.
    assert!(total >= 350, "the suite shrank to {total} cases");
    let admin_covered = cases.checks.iter().any(|c| c == ADMIN_SOCKET_CASE);

    let mut uncovered = Vec::new();
    let mut covered = 0;
    for route in &routes {
        let hit = if route.admin() {
            admin_covered
        } else {
            cases
                .requests
                .iter()
                .any(|(_, m, p)| route.matched_by(m, p))
        };
        if hit {
            covered += 1;
        } else {
            uncovered.push(route.show());
        }
    }
    println!(
        "adversarial suite: {total} distinct cases ({} requests, {} other checks); \
         {covered} of {} routes attacked ({} admin routes behind the socket)",
        cases.requests.len(),
        cases.checks.len(),
        routes.len(),
        routes.iter().filter(|r| r.admin()).count()
    );
    assert!(
        uncovered.is_empty(),
        "{} routes have no authorization case:\n{}",
        uncovered.len(),
        uncovered.join("\n")
    );
}

#[test]
fn the_scanners_read_what_they_should() {
    let lits = literals(
        r##"a("x, \"y\"", GET, "/api/{t}") // "no"
            x(r#"raw \" "#, "after")"##,
    );
    assert_eq!(lits.len(), 3, "{lits:?}");
    assert_eq!(lits[2].2, "after");
    assert_eq!(lits[0].2, "x, \"y\"");
    let route = Route {
        method: "GET".into(),
        segments: vec!["api".into(), "tracks".into(), "{}".into()],
        file: "x".into(),
    };
    assert!(route.matched_by("GET", "/api/tracks/{alice_track}?download=1"));
    assert!(!route.matched_by("POST", "/api/tracks/{alice_track}"));
    assert!(!route.matched_by("GET", "/api/tracks/{alice_track}/audio"));
    assert!(!route.matched_by("GET", "/api/shares/{share}"));
}
